"""The dispatch loops: run a hook's handlers in priority order and fold their answers.

Everything that can be decided at registration (order, mode, timeout need, retry count)
is decided in ``HookImpl`` and ``HookTable``; the loops below stay flat: per handler they
call it, read the clock and record its duration in the execution's trail. Counting is
the ledger's, per batch. Failures leave the fast path for ``_attempt_again*``, which
retries with backoff, and the engine's failure callback, which records and applies the
recovery policy.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, final

from ..catalog import ResultMode
from ..context import HookContext
from ..errors import NotRun, PluginError, PluginErrorType, must_propagate, raised_text
from ..observe.metrics import PluginStats
from ..recovery import RecoveryPolicy
from ._modes import FOLDS, Fold, ShapeError
from .hook_results import ERROR, OK, OVERLOADED, SKIPPED, TIMEOUT, HookResult

__all__ = [
    "HookImpl",
    "HookTable",
    "Trail",
    "begin",
    "collected",
    "run_async",
    "run_collect",
    "run_sync",
]

perf = time.perf_counter

#: Called with (impl, error, ctx) after a handler failed for good; returns
#: (has_value, value) when a fallback plugin answered in its place. Also called for a
#: host overload (``error.counted`` is False), only to record it.
FailureHandler = Callable[["HookImpl", PluginError, HookContext], tuple[bool, Any]]


@final
class HookImpl:
    """One plugin's handler for one hook, with everything dispatch needs pre-bound."""

    __slots__ = (
        "afn",
        "fn",
        "hook",
        "is_async",
        "plugin_id",
        "policy",
        "priority",
        "retries",
        "stats",
        "timeout",
    )

    def __init__(
        self,
        plugin_id: str,
        hook: str,
        fn: Callable[[HookContext], Any],
        *,
        priority: int = 100,
        timeout: float = 30.0,
        retries: int = 0,
        is_async: bool = False,
        stats: PluginStats | None = None,
        policy: RecoveryPolicy | None = None,
        afn: Callable[[HookContext], Awaitable[Any]] | None = None,
    ) -> None:
        self.plugin_id = plugin_id
        self.hook = hook
        self.fn = fn
        # What ``afire`` awaits instead of calling a sync ``fn`` that blocks (a sandboxed
        # plugin's proxy waits on its worker: the event loop must not wait with it).
        self.afn = afn
        self.priority = priority
        self.timeout = timeout
        self.is_async = is_async
        self.stats = stats if stats is not None else PluginStats()
        self.policy = policy if policy is not None else RecoveryPolicy()
        self.retries = self.policy.attempts(retries)

    def with_fn(
        self,
        fn: Callable[[HookContext], Any],
        afn: Callable[[HookContext], Awaitable[Any]] | None = None,
    ) -> HookImpl:
        """The same handler record calling ``fn`` instead (debugger wrappers, a circuit
        breaker's gate); ``afn``: what ``afire`` awaits instead, if anything."""
        twin = HookImpl.__new__(HookImpl)
        for name in HookImpl.__slots__:
            setattr(twin, name, getattr(self, name))
        twin.fn = fn
        twin.afn = afn  # by default the wrapper is what runs now, in both dispatch loops
        return twin

    def sort_key(self) -> tuple[int, str]:
        """Higher priority first; ties by plugin id, so order never depends on load order."""
        return (-self.priority, self.plugin_id)

    def __repr__(self) -> str:
        return f"<HookImpl {self.plugin_id}:{self.hook} prio={self.priority}>"


@final
class HookTable:
    """The handlers of one hook, sorted once; rebuilt when a plugin comes or goes."""

    __slots__ = (
        "collect",
        "entries",
        "fold",
        "has_async",
        "impls",
        "mode",
        "mode_name",
        "name",
        "single",
        "stats",
        "straight",
        "trails",
    )

    def __init__(self, name: str, mode: ResultMode, impls: Iterable[HookImpl]) -> None:
        self.name = name
        self.mode = mode
        self.mode_name = mode.value
        self.collect = mode is ResultMode.COLLECT
        self.fold: Fold = FOLDS[mode]
        self.impls = tuple(sorted(impls, key=HookImpl.sort_key))
        # Unpacked once here so the collect loop reads locals instead of attributes; the
        # handler record itself (``impls[index]``) is only needed when a call fails.
        self.entries = tuple((i.plugin_id, i.fn, i.timeout) for i in self.impls)
        self.has_async = any(impl.is_async for impl in self.impls)
        #: The one handler of a collect hook that has one (a common case: most hooks of
        #: a host have a single plugin on them): called without the loop.
        self.single = self.entries[0] if self.collect and len(self.entries) == 1 else None
        self.stats = tuple(impl.stats for impl in self.impls)
        #: A collect table's handlers as one unrolled function (``_straight``): set by
        #: the registry when it builds the table for dispatch.
        self.straight: Callable[[Any, FailureHandler], bool] | None = None
        #: Trails of executions where every handler ran and simply succeeded, one after
        #: the other in one flat list (each ``len(impls) + 2`` long), waiting to be
        #: counted (a slice per handler: its durations) and kept in the execution store
        #: (``Ledger.settle``).
        #: Extended on the hot path rather than appended to: the join is then done
        #: where the trail is still in the cache, and a batch is ready to pack.
        self.trails: list[float] = []


def _error(
    kind: PluginErrorType, impl: HookImpl, ctx: HookContext, message: str, cause: Any = None
) -> PluginError:
    return PluginError(
        kind,
        message,
        plugin_id=impl.plugin_id,
        hook=impl.hook,
        execution_id=ctx.execution_id,
        cause=cause,
    )


def _raised(impl: HookImpl, ctx: HookContext, exc: BaseException) -> PluginError:
    if isinstance(exc, PluginError):
        # Raised by engine code the handler called (e.g. ``ctx.api``): add where it was.
        exc.plugin_id = exc.plugin_id or impl.plugin_id
        exc.hook = exc.hook or impl.hook
        exc.execution_id = exc.execution_id or ctx.execution_id
        return exc
    return _error(PluginErrorType.RUNTIME_ERROR, impl, ctx, f"handler {raised_text(exc)}", exc)


def _overran(impl: HookImpl, ctx: HookContext, duration: float) -> PluginError:
    return _error(
        PluginErrorType.TIMEOUT_ERROR,
        impl,
        ctx,
        f"handler ran {duration * 1000:.0f} ms, over its {impl.timeout * 1000:.0f} ms timeout; "
        "its answer was discarded (a synchronous inline handler cannot be interrupted)",
    )


def _cancelled(impl: HookImpl, ctx: HookContext) -> PluginError:
    return _error(
        PluginErrorType.TIMEOUT_ERROR,
        impl,
        ctx,
        f"handler did not finish within {impl.timeout * 1000:.0f} ms and was cancelled",
    )


def _attempt_again(
    impl: HookImpl, ctx: HookContext, error: PluginError
) -> tuple[Any, int, PluginError | None]:
    """Retry a failed sync handler with backoff; (value, retries used, final error).

    What the host decided (an overload, an open breaker) is not retried; a retry the
    host could not run ends the retries with the plugin's own last failure."""
    if not error.counted:
        return None, 0, error
    for attempt in range(1, impl.retries + 1):
        time.sleep(impl.policy.delay(attempt))
        t0 = perf()
        try:
            value = impl.fn(ctx)
        except BaseException as exc:
            if must_propagate(exc):
                raise
            failure = _raised(impl, ctx, exc)
            if not failure.counted:
                return None, attempt - 1, error
            error = failure
            continue
        if perf() - t0 > impl.timeout:
            error = _overran(impl, ctx, perf() - t0)
            continue
        return value, attempt, None
    return None, impl.retries, error


#: What one execution records, cheaply (``HookResult._trail``): its number, the clock
#: read (``perf_counter``) before the first handler, then each handler's duration in
#: seconds (one clock read per handler: handler ``i + 1`` starts where ``i`` ended;
#: ``context.clock_reads`` gives the starts). Durations rather than clock reads: the
#: ledger counts a batch of them per handler with ``sum`` and ``max`` over one slice,
#: so the hot path adds to no counter. ``HookResult._answers`` holds each handler's
#: answer in order (handlers after ``len(answers)`` did not run: a veto or a first answer
#: stopped the chain); ``HookResult._notes`` maps index → (status, error, retries, reason)
#: only for calls that did not simply succeed (None when every call did).
Trail = list[float]
Note = tuple[str, "PluginError | None", int, "str | None"]


def begin(
    table: HookTable,
    hook: str,
    data: Any,
    env: tuple[dict[str, Any], str],
    seq: int,
    extra: Any = None,
) -> HookResult:
    """A new execution of ``table``: the object handed to handlers as their context and
    returned to the caller as the result (built without ``__init__``: the hot path)."""
    res = HookResult()
    res.hook = hook
    res.data = data
    res._env = env
    res._extra = extra
    res._table = table
    res._answers = []
    res._notes = None
    res._state = None
    res._trail = [seq, perf()]
    return res


def _failed(
    impl: HookImpl,
    ctx: HookContext,
    error: PluginError,
    t0: float,
    retries: int,
    on_failure: FailureHandler,
) -> tuple[str, bool, Any]:
    """Count a failed call and hand it to the engine; (status, has_value, value).

    A call the host did not run (``error.counted`` False) is not the plugin's: it is
    counted apart (``skipped`` behind an open breaker, ``overloaded`` when no worker was
    free in time), never in the plugin's calls, errors or failure streak."""
    if not error.counted:
        if isinstance(error, NotRun):  # an open breaker, a plugin stopped meanwhile
            impl.stats.skipped += 1
            return SKIPPED, False, None
        impl.stats.overloaded += 1
        on_failure(impl, error, ctx)  # recorded (error store, activity), nothing applied
        return OVERLOADED, False, None
    _count(impl, t0)
    timed_out = error.type is PluginErrorType.TIMEOUT_ERROR
    impl.stats.failed(timeout=timed_out)
    has_value, value = on_failure(impl, error, ctx)
    return (TIMEOUT if timed_out else ERROR), has_value, value


def _note(res: HookResult, index: int, note: Note) -> None:
    notes = res._notes
    if notes is None:
        notes = res._notes = {}
    notes[index] = note


def _after_failure(
    res: HookResult,
    acc: Any,
    index: int,
    error: PluginError,
    t0: float,
    retries: int,
    on_failure: FailureHandler,
) -> tuple[Any, bool, float]:
    """Record a failed call and fold a fallback's answer; returns (acc, stop, the clock
    read that ended the call: where the next handler starts)."""
    table = res._table
    status, has_value, value = _failed(table.impls[index], res, error, t0, retries, on_failure)
    if error.counted:
        _note(res, index, (status, error, retries, None))
    else:  # the host's decision: an open breaker's skip carries no error, only its reason
        _note(res, index, (status, None if status == SKIPPED else error, retries, error.message))
    res._answers.append(value)
    now = perf()
    res._trail.append(now - t0)
    if has_value:
        try:
            return (*table.fold(acc, value, res), now)
        except ShapeError:
            pass
    return acc, False, now


def run_sync(res: HookResult, acc: Any, on_failure: FailureHandler) -> Any:
    """Run every (synchronous) handler of ``res``'s table in order; returns the value.

    The hot path per handler is: switch the context's plugin, call, read the clock,
    fold, record the answer and the duration. One clock read per handler: the fold of
    one answer is counted in the next handler's interval (a few hundred nanoseconds).
    Counters are folded later, in batches (``Ledger``), from the trail.
    """
    table = res._table
    if table.collect:
        return run_collect(res, on_failure)
    trail, answers = res._trail, res._answers
    t0 = trail[1]
    fold = table.fold
    impls = table.impls
    for index, (plugin_id, fn, timeout) in enumerate(table.entries):
        impl = impls[index]
        res.plugin_id = plugin_id
        retries = 0
        try:
            value = fn(res)
        except BaseException as exc:  # sys.exit() in a handler must not end the caller
            if must_propagate(exc):
                raise
            value, retries, error = _attempt_again(impl, res, _raised(impl, res, exc))
        else:
            t1 = perf()
            duration = t1 - t0
            if duration <= timeout:
                try:
                    acc, stop = fold(acc, value, res)
                except ShapeError as exc:
                    error = _error(
                        PluginErrorType.VALIDATION_ERROR, impl, res, f"wrong answer: {exc}"
                    )
                else:
                    trail.append(duration)  # counted by the ledger, per batch
                    answers.append(value)
                    t0 = t1
                    if stop:
                        break
                    continue
            else:
                value, retries, error = _attempt_again(impl, res, _overran(impl, res, duration))
        if error is None:  # a retry succeeded
            try:
                acc, stop = fold(acc, value, res)
            except ShapeError as exc:
                error = _error(PluginErrorType.VALIDATION_ERROR, impl, res, f"wrong answer: {exc}")
            else:
                duration = _count(impl, t0)
                _note(res, index, (OK, None, retries, None))
                answers.append(value)
                trail.append(duration)
                t0 += duration
                if stop:
                    break
                continue
        acc, stop, t0 = _after_failure(res, acc, index, error, t0, retries, on_failure)
        if stop:
            break
    return acc


def collected(answers: list[Any]) -> list[Any]:
    """A collect hook's value: every answer but the ``None`` ones."""
    return [value for value in answers if value is not None]


def run_collect(
    res: HookResult,
    on_failure: FailureHandler,
    failure: BaseException | float | None = None,
    t0: float | None = None,
) -> list[Any]:
    """``run_sync`` for collect hooks, the commonest mode, with the fold inlined.

    The dispatcher runs the same loop inline while every handler simply succeeds and
    hands over here at the first that did not — the next handler to run, given the
    exception it raised or the duration it overran and the clock read it started at
    (``t0``; by default the execution's start) — so one handler never runs twice.

    A duration includes about 0.1 µs of this loop's own bookkeeping, the price of one
    clock read per handler.
    """
    table = res._table
    trail, answers = res._trail, res._answers
    answer, mark = answers.append, trail.append
    if t0 is None:
        t0 = trail[1]
    impls = table.impls
    for plugin_id, fn, timeout in table.entries[len(answers) :]:
        if failure is None:
            res.plugin_id = plugin_id
            try:
                value = fn(res)
            except BaseException as exc:  # sys.exit() in a handler must not end the caller
                failure = exc
            else:
                t1 = perf()
                duration = t1 - t0
                if duration <= timeout:
                    mark(duration)  # counted by the ledger
                    answer(value)
                    t0 = t1
                    continue
                failure = duration
        impl = impls[len(answers)]
        if isinstance(failure, BaseException):
            if must_propagate(failure):
                raise failure
            value, retries, error = _attempt_again(impl, res, _raised(impl, res, failure))
        else:
            value, retries, error = _attempt_again(impl, res, _overran(impl, res, failure))
        failure = None
        index = len(answers)
        if error is None:
            duration = _count(impl, t0)
            _note(res, index, (OK, None, retries, None))
            answer(value)
            mark(duration)
            t0 += duration
        else:
            _acc, answered, t0 = _after_failure(res, [], index, error, t0, retries, on_failure)
            if not answered:
                answers[index] = None  # no fallback answered: nothing to collect
    return collected(answers)


def _count(impl: HookImpl, t0: float) -> float:
    """Count one call of ``impl`` that started at ``t0`` now (the slow paths: retries,
    failures); returns its duration."""
    duration = perf() - t0
    impl.stats.add_call(duration)
    return duration


async def _call_async(impl: HookImpl, ctx: HookContext) -> Any:
    if not impl.is_async:
        if impl.afn is not None:  # the runtime enforces the timeout itself
            return await impl.afn(ctx)
        t0 = perf()
        value = impl.fn(ctx)
        if perf() - t0 > impl.timeout:
            raise _overran(impl, ctx, perf() - t0)
        return value
    import asyncio  # already loaded: an event loop is running

    try:
        async with asyncio.timeout(impl.timeout):
            return await impl.fn(ctx)
    except TimeoutError:
        raise _cancelled(impl, ctx) from None


def _cancelled_from_outside(exc: BaseException) -> bool:
    """True when ``exc`` is the cancellation of the task running the hook (not one a
    handler raised on its own): it must reach whoever cancelled."""
    import asyncio

    if not isinstance(exc, asyncio.CancelledError):
        return False
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0


async def _attempt_async(impl: HookImpl, ctx: HookContext) -> tuple[Any, int, PluginError | None]:
    error: PluginError | None = None
    for attempt in range(impl.retries + 1):
        if attempt:
            import asyncio

            await asyncio.sleep(impl.policy.delay(attempt))
        try:
            return await _call_async(impl, ctx), attempt, None
        except BaseException as exc:  # sys.exit() would stop the event loop
            if must_propagate(exc) or _cancelled_from_outside(exc):
                raise
            failure = _raised(impl, ctx, exc)
            if not failure.counted:  # the host's decision: no (more) retries
                return None, max(attempt - 1, 0), error or failure
            error = failure
    return None, impl.retries, error


async def run_async(res: HookResult, acc: Any, on_failure: FailureHandler) -> Any:
    """Like ``run_sync``, awaiting async handlers, each under its own timeout."""
    table = res._table
    trail, answers = res._trail, res._answers
    t0 = trail[1]
    fold = table.fold
    for index, impl in enumerate(table.impls):
        res.plugin_id = impl.plugin_id
        value, retries, error = await _attempt_async(impl, res)
        if error is None:
            try:
                acc, stop = fold(acc, value, res)
            except ShapeError as exc:
                error = _error(PluginErrorType.VALIDATION_ERROR, impl, res, f"wrong answer: {exc}")
            else:
                if retries:
                    duration = _count(impl, t0)
                    _note(res, index, (OK, None, retries, None))
                else:  # counted by the ledger, per batch
                    duration = perf() - t0
                answers.append(value)
                trail.append(duration)
                t0 += duration
                if stop:
                    break
                continue
        acc, stop, t0 = _after_failure(res, acc, index, error, t0, retries, on_failure)
        if stop:
            break
    return acc
