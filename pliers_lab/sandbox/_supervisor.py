"""The supervisor of one plugin: its workers, restarts, limits and the calls into them.

Recovery (issue 8): a crashed worker is restarted on the next call, after a backoff that
grows with the crashes in the window; a crash loop (3 in 5 minutes by default) disables
the plugin with that reason. A security violation (forbidden syscall, protocol abuse, a
refused capability) is reported with ``sandbox_action="quarantine"`` for the engine to act
on. Every failure becomes a ``PluginError`` naming plugin, hook and execution.

Load (issue 14 §1): a worker serves one call at a time, and a plugin has up to
``SandboxPolicy.workers_for(plugin)`` of them (``Limits.workers``, 1 by default). A caller
that finds every worker busy **waits** for one, first come first served, up to its call's
own timeout; one that gets none in that time, or finds ``Limits.concurrency`` callers
already waiting, gets a ``HostOverload``: the host's limit, never counted against the
plugin. Extra workers start when a call finds the running ones busy, replay ``on_load`` /
``on_activate`` like a restarted worker, and are stopped before any other lifecycle call
runs (on the first worker, the *primary*, which also keeps the plugin's event
subscriptions). A call made while the same thread's call to this plugin is open (an
event the handler published, delivered back to it) runs on that thread's worker.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import datetime
import decimal
import enum
import errno
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, final

from ..errors import HostOverload, NotRun, PluginError, PluginErrorType
from ._data_quota import DataQuota
from ._plugin_limits import LimitHit, LimitLog
from ._process import Failure, Worker, WorkerSpec
from ._usage import Measured, PluginUsage
from .guest import BYTES_KEY
from .procinfo import rlimits
from .wire import make_encoder

if TYPE_CHECKING:
    from ..observe.metrics import Resources
    from .hostapi import HostApi
    from .policy import SandboxPolicy

__all__ = ["PluginProcess"]

T = PluginErrorType
_REPLAYED = ("on_load", "on_activate")
#: Lifecycle handlers that may run on any worker; the others run on the primary once the
#: extra workers are stopped (they replay the plugin's state when they start again).
_ANY_WORKER = ("on_error",)
#: Wire names of ``HookContext._extra`` (user, session, event, request, trace), in order.
_EXTRA_KEYS = ("userId", "sessionId", "event", "requestId", "traceId")
_ident = threading.get_ident


def _host_value(value: Any) -> Any:
    """What host data (datetimes, decimals, sets…) becomes on the wire."""
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID | PurePath):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


HOST_ENCODER = make_encoder(_host_value)


@final
class _Slot:
    """One of the plugin's workers (index 0: the primary) and what the host keeps per
    worker: the configuration it was sent, the host API's refusals of its current call,
    the request-scoped services of that call."""

    __slots__ = ("index", "refusals", "replaying", "sent_config", "services", "starts", "worker")

    def __init__(self, index: int) -> None:
        self.index = index
        self.worker: Worker | None = None
        self.sent_config: Any = None
        self.refusals: list[str] = []
        self.services: dict[str, Any] = {}
        self.replaying = False
        """True while the worker replays ``on_load``/``on_activate`` after its start."""
        self.starts = 0
        """Workers started here since the slot was last emptied on purpose; a start after
        the first is a restart (counted in the plugin's ``health.restarts``)."""


@final
class _Waiter:
    """A caller waiting for a worker: ``want`` a given slot (or any), handed ``slot``."""

    __slots__ = ("lock", "slot", "want")

    def __init__(self, want: int | None) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()
        self.slot: _Slot | None = None
        self.want = want


class PluginProcess:
    """One plugin's workers and everything around them (restarts, metrics, host API)."""

    def __init__(
        self, spec: WorkerSpec, policy: SandboxPolicy, host_api: HostApi, workers: int = 1
    ) -> None:
        self.spec = spec
        self.policy = policy
        self.host_api = host_api
        self.slots = [_Slot(i) for i in range(max(1, workers))]
        self.crashes: collections.deque[float] = collections.deque(maxlen=64)
        self.restarts = 0
        self.disabled_reason: str | None = None
        self.suspended = False
        self._stops = 0
        """How many times ``stop`` ran (quarantine, unload, a reload's old version): a
        call that waited across one is not run (``NotRun``) rather than starting a worker
        for a plugin that was stopped meanwhile."""
        self.lifecycle_done: list[str] = []
        self.config: dict[str, Any] = {}
        # Who may use which worker: idle slots, callers waiting in arrival order, and the
        # slot each thread holds (a nested call reuses it). C locks only on the way in
        # and out: threading.Semaphore/Condition cost microseconds per call.
        self._mutex = threading.Lock()
        self._idle: list[_Slot] = list(reversed(self.slots))
        self._waiters: collections.deque[_Waiter] = collections.deque()
        self._held: dict[int, _Slot] = {}
        self._plugin: Any = None  # the engine's Plugin, for calls the host makes by itself
        self.nice = 0  # the workers' scheduling priority (ResourceOptimizer)
        self.debug: Callable[[], dict[str, Any]] | None = None
        """Set by the debugger: the ``debug`` request each hook call carries (trace or
        profile); what the worker recorded goes to ``debug_sink``."""
        self.debug_sink: Callable[[dict[str, Any], str | None, str | None, float], None] | None
        self.debug_sink = None
        host_api.deliver = self._event_handler
        self._on_frame = self._side_frame  # bound once: passed to every exchange
        self.account = PluginUsage(
            self._measure, host_api.files, host_api.outbound, policy.usage_sample_s
        )
        """Its workers' resource figures, across restarts (``_usage``)."""
        self._last_disk_check = 0.0
        self.limit_log = LimitLog()
        """The limits this plugin hit (``_plugin_limits``): counted, kept, told to the engine."""
        grants = spec.grants
        self._writes_data = grants.data_dir is not None and grants.data_access == "write"
        self.disk_bytes = 0
        self.quota = DataQuota(spec.plugin, None, "the runtime gave it none")
        """Its data folder's quota: the kernel's (a file system of its own) or measured."""
        self.layers: dict[str, str] = {}
        self.violations = 0
        """Security violations the host established (refusals, SIGSYS, protocol abuse)."""
        self.overloads = 0
        """Calls refused for the host's limits (no worker in time, or the queue full)."""
        self.waits = 0
        self.waited_s = 0.0
        """Calls that had to wait for a worker, and their total wait (a sandboxed call's
        ``duration_ms`` includes its wait: it is measured from the caller's side)."""

    @property
    def worker(self) -> Worker | None:
        """The primary worker (the first; it keeps the event subscriptions)."""
        return self.slots[0].worker

    @property
    def workers(self) -> int:
        """How many workers the plugin may have."""
        return len(self.slots)

    # ------------------------------------------------------------------ lifecycle
    def start(self, config: dict[str, Any]) -> Worker:
        """Start the primary worker (a load error surfaces here, at load time)."""
        self.config = config
        slot = self.slots[0]
        try:
            slot.worker = self._spawn(slot)
        except Failure as exc:
            raise self._error(exc, None, None) from None
        slot.starts = 1
        return slot.worker

    def _spawn(self, slot: _Slot) -> Worker:
        worker = Worker(self.spec)
        worker.start(self.config)
        if self.nice:
            with contextlib.suppress(OSError):  # a worker that just exited: the call says so
                os.setpriority(os.PRIO_PROCESS, worker.pid, self.nice)
        slot.sent_config = self.config
        self.layers = dict(worker.layers)
        return worker

    def _ensure_worker(self, slot: _Slot, plugin: Any = None) -> Worker:
        worker = slot.worker
        if worker is not None and worker.alive:
            return worker
        if self.disabled_reason:
            raise Failure(
                T.RUNTIME_ERROR, self.disabled_reason, detail={"sandbox_action": "disable"}
            )
        self._retire(slot)
        now = time.monotonic()
        recent = [t for t in self.crashes if now - t < self.policy.crash_loop[1]]
        if recent:
            backoff = self.policy.restart_backoff_s
            wait = backoff[min(len(recent) - 1, len(backoff) - 1)] - (now - recent[-1])
            if wait > 0:
                time.sleep(wait)
        try:
            worker = self._spawn(slot)
        except Failure as exc:
            exc.crashed = True
            raise
        slot.worker = worker
        if slot.starts:
            self.restarts += 1
            owner = plugin if plugin is not None else self._plugin
            if owner is not None:
                owner.stats.restarts += 1  # the plugin's health.restarts (issue 14 §1)
        slot.starts += 1
        slot.replaying = True
        try:
            for name in list(self.lifecycle_done):
                msg = {"t": "life", "name": name, "args": []}
                self._exchange(slot, worker, msg, self._plugin, None)
        finally:
            slot.replaying = False
        return worker

    def _retire(self, slot: _Slot) -> None:
        worker = slot.worker
        if worker is not None:
            # Its event handlers died with it; a replayed on_activate subscribes again.
            self.host_api.drop_subscriptions(slot.index)
            worker.kill()  # its last figures are read first (memory is gone after it)
            ended = worker.measured()
            with self.account.lock:  # its figures move to the totals in one step
                if ended is not None:
                    self.account.retire(ended, worker.io_error)
                slot.worker = None

    def _stop_slot(self, slot: _Slot) -> None:
        worker = slot.worker
        if worker is not None:
            if self.suspended:
                with contextlib.suppress(OSError):
                    worker.signal(signal.SIGCONT)
            worker.stop(self.policy.stop_grace_s)
            self._retire(slot)

    def stop(self) -> None:
        """Stop every worker cleanly (killed after the grace period if it does not exit),
        each once its call in flight has ended."""
        self._stops += 1
        for slot in reversed(self.slots):
            if slot.worker is None:
                continue
            with self._holding(slot.index, self._drain_budget(), force=True):
                self._stop_slot(slot)
        self.suspended = False

    def _retire_extras(self) -> None:
        """Stop the extra workers (after their calls in flight); they start again, with
        the current configuration and a replayed lifecycle, when calls need them."""
        for slot in self.slots[1:]:
            if slot.worker is None:
                continue
            with self._holding(slot.index, self._drain_budget(), force=True):
                self._stop_slot(slot)
                slot.starts = 0  # emptied on purpose: its next start is not a restart

    def _drain_budget(self) -> float:
        # A call in flight ends within its timeout (the worker is killed at the limit).
        return self.spec.limits.execution_time_ms / 1000 + self.policy.stop_grace_s + 1.0

    # ------------------------------------------------------------------ calls
    def call_hook(self, ctx: Any, hook: str, fn: str, timeout_s: float) -> Any:
        """Run ``fn`` for ``hook`` in a worker with the context's data and state."""
        execution_id = ctx.execution_id
        meta: dict[str, Any] = {"executionId": execution_id, "timestamp": ctx.timestamp}
        msg: dict[str, Any] = {"t": "call", "hook": hook, "fn": fn, "data": ctx.data, "meta": meta}
        # HookContext keeps user, session, event, request and trace ids in one tuple, and
        # creates ``state`` on first use: read both without creating anything per call.
        extra = getattr(ctx, "_extra", None)
        if extra:
            for key, value in zip(_EXTRA_KEYS, extra, strict=True):
                if value is None:
                    continue
                if key == "event":
                    msg["event"] = value
                else:
                    meta[key] = value
        state = getattr(ctx, "_state", None)
        if state:
            msg["state"] = state
        if self.debug is not None:
            msg["debug"] = self.debug()
        reply = self._call(msg, ctx.plugin, hook, execution_id, timeout_s)
        answered = reply.get("state")
        if isinstance(answered, dict):
            ctx.state.clear()
            ctx.state.update(answered)
        return reply.get("value")

    def call_endpoint(self, request: Any, fn: str, timeout_s: float) -> Any:
        """Run endpoint function ``fn`` (middleware or handler) in the worker with the
        request record; ``request.state`` travels both ways, a bytes body comes back."""
        record = request.to_dict()
        record["scheme"], record["client"] = request.scheme, request.client
        if isinstance(record.get("body"), bytes | bytearray):
            record["body"], record["bodyIsRaw"] = None, True  # the bytes are in rawBody
        # Request-scoped services (``request.api.create_submission``...) stay here: the
        # worker calls them by name as service "request" while this call is open.
        extra = dict(getattr(request, "_extra", None) or {})
        services = getattr(request.plugin.api, "_services", None) or {}
        msg = {
            "t": "call",
            "fn": fn,
            "request": record,
            "state": request.state,
            "services": sorted(extra),
            "offers": sorted({*extra, *services, "cache"}),
        }
        where = f"{request.method} {request.endpoint}"
        reply = self._call(
            msg, request.plugin, where, request.metadata.request_id, timeout_s, services=extra
        )
        state = reply.get("state")
        if isinstance(state, dict):
            request.state.clear()
            request.state.update(state)
        value = reply.get("value")
        if not isinstance(value, dict):
            return value  # None (middleware passing on) or not a record (checked later)
        body = value.get("body")
        if isinstance(body, dict) and set(body) == {BYTES_KEY}:
            try:
                value = {**value, "body": base64.b64decode(body[BYTES_KEY], validate=True)}
            except (ValueError, TypeError):
                raise PluginError(
                    T.VALIDATION_ERROR,
                    f"{fn}: the response body is not valid base64",
                    plugin_id=self.spec.plugin,
                ) from None
        return value

    def collect_garbage(self, clear_cache: bool = False) -> dict[str, Any]:
        """Run ``gc.collect()`` in the primary worker (and empty its ``api.cache``): what
        it freed."""
        reply = self._call(
            {"t": "gc", "clear_cache": clear_cache},
            self._plugin,
            None,
            None,
            self.spec.limits.execution_time_ms / 1000,
            want=0,
            urgent=True,
        )
        value = reply.get("value")
        return dict(value) if isinstance(value, dict) else {}

    def recycle(self) -> int:
        """Replace the primary worker by a fresh one (its lifecycle replayed) and stop the
        extra ones: memory a long-lived interpreter keeps is returned to the system. The
        new primary's pid."""
        self._retire_extras()
        with self._holding(0, self._drain_budget(), force=True) as slot:
            worker = slot.worker
            if worker is not None:
                worker.stop(self.policy.stop_grace_s)
                self._retire(slot)
            return self._ensure_worker(slot).pid

    def set_nice(self, nice: int) -> None:
        """Schedule the workers at ``nice`` (0 normal … 19 lowest); kept across restarts.
        ``PermissionError`` when the host may not raise a worker's priority back."""
        self.nice = nice
        for worker in self._live():
            os.setpriority(os.PRIO_PROCESS, worker.pid, nice)

    def call_lifecycle(self, plugin: Any, name: str, args: list[Any]) -> None:
        """Run a lifecycle handler in the primary worker, the extra ones stopped first
        (``on_error`` runs on any); replayed after a (re)start when needed."""
        self.config = plugin.config
        budget = self.spec.limits.execution_time_ms / 1000
        if name in _ANY_WORKER:
            self._call({"t": "life", "name": name, "args": args}, plugin, None, None, budget)
            return
        self._retire_extras()
        msg = {"t": "life", "name": name, "args": args}
        self._call(msg, plugin, None, None, budget, want=0, urgent=True)
        if name in _REPLAYED and name not in self.lifecycle_done:
            self.lifecycle_done.append(name)
        elif name == "on_deactivate" and "on_activate" in self.lifecycle_done:
            self.lifecycle_done.remove("on_activate")
        elif name == "on_unload":
            self.lifecycle_done.clear()

    def _event_handler(
        self, plugin: Any, number: int, index: int = 0
    ) -> Callable[[dict[str, Any]], None]:
        """The host-side handler of event handler ``number`` of the worker in slot
        ``index`` (the one that subscribed)."""
        timeout_s = self.spec.limits.execution_time_ms / 1000

        def deliver(event: dict[str, Any]) -> None:
            self._call(
                {"t": "event", "cb": number, "event": event},
                plugin,
                f"event {event.get('type')}",
                None,
                timeout_s,
                want=index,
            )

        deliver.__qualname__ = f"{self.spec.plugin}:event handler {number} (process)"
        return deliver

    def _call(
        self,
        msg: dict[str, Any],
        plugin: Any,
        hook: str | None,
        execution_id: str | None,
        timeout_s: float,
        services: dict[str, Any] | None = None,
        want: int | None = None,
        urgent: bool = False,
    ) -> dict[str, Any]:
        """One call into a worker (``want``: that one), restarting it first if it died.

        The caller waits for a free worker up to ``timeout_s`` (its own budget; the call
        itself then gets its full timeout); ``HostOverload`` when none came in time or
        the queue is full. ``services``: the request-scoped services the worker may call
        during this call. ``urgent``: the host's own call (lifecycle, gc), served before
        the callers waiting and never refused for the queue's length.
        """
        ident = _ident()
        held = self._held.get(ident)
        slot: _Slot
        if held is not None and (want is None or want == held.index):
            slot, nested = held, True
        else:
            # The single caller's path: the idle worker, under one C lock; the rest
            # (choosing among workers, waiting, refusing) is in ``_acquire``.
            with self._mutex:
                idle = self._idle
                free = idle.pop() if want is None and len(idle) == 1 else None
            if free is None:
                # The host's own call waits at most for the call in flight (see _holding).
                wait_s = self._drain_budget() if urgent else timeout_s
                free = self._acquire(want, wait_s, hook, execution_id, urgent)
            slot = free
            nested = False
            self._held[ident] = slot
            if slot.refusals:
                slot.refusals.clear()
        if plugin is not None:
            self._plugin = plugin
            self.config = plugin.config
        outer = slot.services
        if services is not None:
            slot.services = services
        try:
            # The exchange, holding the slot; a worker found dead before the call reached
            # it is replaced and the call sent once more (the plugin never saw it).
            for attempt in (1, 2):
                try:
                    worker = slot.worker
                    if worker is None or not worker.alive:
                        worker = self._ensure_worker(slot, plugin)
                    return self._exchange(
                        slot, worker, msg, plugin, (hook, execution_id), timeout_s
                    )
                except Failure as exc:
                    if exc.crashed:
                        self._crashed(exc)
                    if slot.worker is not None and not slot.worker.alive:
                        self._retire(slot)
                    if attempt == 1 and exc.detail.get("undelivered"):
                        continue
                    raise self._error(exc, hook, execution_id) from None
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            slot.services = outer
            if not nested:
                if held is None:
                    del self._held[ident]
                else:
                    self._held[ident] = held
                with self._mutex:
                    if self._waiters:
                        self._hand_over(slot)
                    else:
                        self._idle.append(slot)

    # ------------------------------------------------------------------ the queue
    def _acquire(
        self,
        want: int | None,
        budget_s: float,
        hook: str | None,
        execution_id: str | None,
        urgent: bool = False,
    ) -> _Slot:
        """A free worker slot (``want``: that one), waiting up to ``budget_s``; an
        ``urgent`` caller waits at the head of the queue, whatever its length."""
        limit = self.spec.limits.concurrency
        with self._mutex:
            idle = self._idle
            if idle and want is None and len(idle) == 1:
                return idle.pop()
            slot = self._pick(want)
            if slot is not None:
                return slot
            waiting = len(self._waiters)
            waiter = None if waiting >= limit and not urgent else _Waiter(want)
            if waiter is not None:
                if urgent:
                    self._waiters.appendleft(waiter)
                else:
                    self._waiters.append(waiter)
        if waiter is None:
            raise self._overload(
                f"{waiting} calls already wait for its "
                f"{'worker' if len(self.slots) == 1 else f'{len(self.slots)} workers'} "
                f"(the host's queue limit, Limits.concurrency={limit}); refused at once",
                hook,
                execution_id,
                limit="queue",
                waiting=waiting,
            )
        stops = self._stops
        started = time.monotonic()
        waiter.lock.acquire(timeout=max(budget_s, 0.0))
        waited = time.monotonic() - started
        with self._mutex:
            slot = waiter.slot
            if slot is None:
                self._waiters.remove(waiter)
                waiting = len(self._waiters)
            self.waits += 1
            self.waited_s += waited
        if slot is None:
            busy = "its worker was" if len(self.slots) == 1 else "all its workers were"
            raise self._overload(
                f"{busy} busy for this call's whole budget ({budget_s * 1000:.0f} ms, the "
                f"hook's timeout); waited {waited * 1000:.0f} ms",
                hook,
                execution_id,
                limit="budget",
                waiting=waiting,
                waited_ms=round(waited * 1000, 1),
            )
        if self._stops != stops and not urgent:
            self._release(slot)
            raise NotRun(
                "not run: the plugin's workers were stopped (quarantine, unload or reload) "
                "while this call waited for one",
                plugin_id=self.spec.plugin,
                hook=hook,
                execution_id=execution_id,
                metadata={"cause": "stopped"},
            )
        return slot

    def _pick(self, want: int | None) -> _Slot | None:
        """An idle slot (under the mutex): ``want`` itself, else a running worker before
        one to start, the primary first."""
        idle = self._idle
        if want is not None:
            for i, slot in enumerate(idle):
                if slot.index == want:
                    return idle.pop(i)
            return None
        if not idle:
            return None
        best = min(range(len(idle)), key=lambda i: (idle[i].worker is None, idle[i].index))
        return idle.pop(best)

    def _release(self, slot: _Slot) -> None:
        """Hand ``slot`` to the first waiter that may take it, or make it idle."""
        with self._mutex:
            self._hand_over(slot)

    def _hand_over(self, slot: _Slot) -> None:
        """``_release`` under the mutex: first come, first served."""
        for waiter in self._waiters:
            if waiter.want is None or waiter.want == slot.index:
                self._waiters.remove(waiter)
                waiter.slot = slot
                waiter.lock.release()
                return
        self._idle.append(slot)

    @contextlib.contextmanager
    def _holding(self, index: int, budget_s: float, force: bool = False) -> Iterator[_Slot]:
        """Hold slot ``index`` for the block (control paths: stop, drain, recycle). A slot
        this thread holds already is used as is; with ``force`` a slot that stays busy
        past the budget is taken anyway (its call then fails as its worker stops)."""
        ident = _ident()
        held = self._held.get(ident)
        if held is not None and held.index == index:
            yield held
            return
        try:
            slot: _Slot | None = self._acquire(index, budget_s, None, None, urgent=True)
        except HostOverload:
            if not force:
                raise
            slot = None
        if slot is None:
            yield self.slots[index]
            return
        self._held[ident] = slot
        try:
            yield slot
        finally:
            if held is None:
                del self._held[ident]
            else:
                self._held[ident] = held
            self._release(slot)

    def _overload(
        self, why: str, hook: str | None, execution_id: str | None, **detail: Any
    ) -> HostOverload:
        self.overloads += 1
        return HostOverload(
            f"host overload: {why}. Load, not a failure of the plugin: not counted against it",
            plugin_id=self.spec.plugin,
            hook=hook,
            execution_id=execution_id,
            metadata={"workers": len(self.slots), **detail},
        )

    def queue(self) -> dict[str, int]:
        """Workers running, busy and idle, and callers waiting, now."""
        with self._mutex:
            idle = len(self._idle)
            waiting = len(self._waiters)
        running = sum(1 for s in self.slots if s.worker is not None and s.worker.alive)
        return {
            "workers": len(self.slots),
            "running": running,
            "busy": len(self.slots) - idle,
            "waiting": waiting,
        }

    def _exchange(
        self,
        slot: _Slot,
        worker: Worker,
        msg: dict[str, Any],
        plugin: Any,
        where: tuple[str | None, str | None] | None,
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        limits = self.spec.limits
        if slot.sent_config is not self.config:
            msg["config"] = self.config
            slot.sent_config = self.config
        timeout = timeout_s if timeout_s is not None else limits.execution_time_ms / 1000
        debugged = "debug" in msg
        started = time.perf_counter() if debugged else 0.0
        # The kernel's refusals: the same list before and after the call (it only grows).
        denials = worker.denials
        denied_at, refused_at = len(denials), len(slot.refusals)
        hits = self.limit_log.total
        try:
            reply = worker.exchange(
                msg, timeout, limits.cpu_ms, self._on_frame, HOST_ENCODER, (plugin, where, slot)
            )
        except (TypeError, ValueError) as exc:
            raise Failure(
                T.VALIDATION_ERROR, f"the call's data cannot cross to the worker: {exc}"
            ) from None
        except Failure as exc:
            self._record_kill(exc)
            failed = self._overruled(exc, worker.denials[denied_at:]) or exc
            raise self._limited(failed, hits, worker.denials[denied_at:]) from None
        if debugged:
            recorded = reply.get("debug")
            if isinstance(recorded, dict) and self.debug_sink is not None:
                hook, execution_id = where or (None, None)
                self.debug_sink(recorded, hook, execution_id, started)
        if self._writes_data:
            self._check_disk(_errno(reply) in (errno.ENOSPC, errno.EDQUOT))
        ok = reply.get("ok")
        if ok and len(denials) == denied_at:
            return reply  # the usual call: answered, and the kernel refused nothing
        # The kernel's refusals overrule whatever the plugin did; the host API's confirm a
        # security error the plugin let out (one it caught is a handled 403, not an attack).
        denied = denials[denied_at:]
        refused = slot.refusals[refused_at:]
        failure = None if ok else self._reported_failure(worker, reply, refused)
        if failure is not None and _error_class(reply) == "MemoryError":
            self._record_memory_error(worker)
        failure = self._overruled(failure, denied)
        if failure is not None:
            raise self._limited(failure, hits, denied)
        return reply

    def _side_frame(
        self,
        frame: dict[str, Any],
        worker: Worker,
        call: tuple[Any, tuple[str | None, str | None] | None, _Slot],
    ) -> None:
        """A ``log`` or ``api`` frame the worker sent during a call (``Worker.exchange``
        passes the call's ``(plugin, (hook, execution id), slot)`` back)."""
        plugin, where, slot = call
        hook, execution_id = where or (None, None)
        if frame["t"] == "log":
            limit = self.spec.limits.max_log_frames
            if worker.logs_in_call > limit:
                worker.kill("flood")
                raise Failure(
                    T.RESOURCE_ERROR,
                    f"output flood: over {limit} log frames in one call; the worker was killed",
                )
            self._log(plugin, hook, execution_id, frame)
        elif frame["t"] == "api":
            answer = self.host_api.handle(frame, plugin, hook, execution_id, slot)
            worker.reply(answer, HOST_ENCODER)

    def _record_kill(self, failure: Failure) -> None:
        """The limit a worker was killed (or timed out) for, recorded as every limit hit
        is: error metadata (``_limited``), ``limits_exceeded``, the activity feed."""
        kill = failure.detail.pop("limit_kill", None)
        if isinstance(kill, dict):
            self.limit_log.record(
                LimitHit(
                    self.spec.plugin,
                    str(kill["limit"]),
                    kill["value"] if kill["value"] is not None else "not measured",
                    kill["cap"],
                    str(kill["unit"]),
                    str(kill["action"]),
                    detail=str(kill.get("detail") or ""),
                )
            )

    def _record_memory_error(self, worker: Worker) -> None:
        """A handler that failed with MemoryError: an allocation refused under RLIMIT_AS
        (the worker lives on). The plugin could raise one itself, so the record says what
        the host measured (the worker's peak resident memory) next to the cap."""
        lim = self.spec.limits
        self.limit_log.record(
            LimitHit(
                self.spec.plugin,
                "memory",
                worker.peak_memory_bytes() or "not measured",
                (lim.memory_mb + lim.address_space_headroom_mb) << 20,
                "bytes",
                "refused (MemoryError)",
                detail="the handler failed with MemoryError: RLIMIT_AS refuses allocations "
                "past the cap (the worker lives on); the value is the worker's peak resident "
                "memory, the cap its address space",
            )
        )

    def _limited(self, failure: Failure, hits: int, denied: list[str]) -> Failure:
        """``failure`` carrying the limit the plugin hit in this call, if one: the host's
        record (``limit_log``), or a blocked module's file the kernel refused."""
        from ._seccomp_notify import BLOCKED_MODULE

        for refusal in denied:
            if BLOCKED_MODULE in refusal:
                action = "refused (a security violation: the plugin is quarantined)"
                self.limit_log.record(
                    LimitHit(self.spec.plugin, "blockedModules", refusal, "", "", action)
                )
        new = self.limit_log.since(hits)
        if new:  # the one that stopped the call rather than one that slowed it
            stopped = [h for h in new if not h.action.startswith("throttled")]
            hit = (stopped or new)[-1]
            failure.detail["limit"] = hit.to_dict()
            if not failure.violation and failure.kind is not T.TIMEOUT_ERROR:
                failure.kind = T.RESOURCE_ERROR
            if hit.limit == "disk" and "disk limit" not in failure.message:
                failure.detail.setdefault("plugin_said", failure.message[:1000])
                failure.message = f"disk limit: {hit.message}. The call failed: {failure.message}"
        return failure

    def _reported_failure(
        self, worker: Worker, reply: dict[str, Any], refused: list[str]
    ) -> Failure:
        """The worker's account of a failed call. Its error type is the plugin's word: a
        security error stands only with the host API's refusals behind it; otherwise it
        is recorded as a runtime error (kernel refusals overrule it in ``_overruled``)."""
        error = reply.get("error")
        err: dict[str, Any] = error if isinstance(error, dict) else {}
        kind = err.get("type", "runtime_error")
        kind = kind if kind in T._value2member_map_ else "runtime_error"
        message = str(err.get("message", "the handler failed"))[:4000]
        if kind == "security_error" and refused:
            return Failure(
                T.SECURITY_ERROR,
                f"{message} (refused by the host API: {'; '.join(refused[:3])})",
                violation=True,
                detail={"trace": err.get("trace", ""), "refusals": refused[:20]},
            )
        if kind == "security_error":
            kind = "runtime_error"
            message += (
                "; the plugin reports a refusal the host did not see"
                if worker.host_sees_refusals
                else "; the plugin reports a refusal the host cannot confirm on this machine"
            )
        attempts = reply.get("attempts")
        if attempts:
            message += f" (the worker reported: {'; '.join(map(str, attempts[:3]))})"
        return Failure(
            T(kind),
            message,
            detail={"trace": err.get("trace", ""), "exception": err.get("exc")},
        )

    @staticmethod
    def _overruled(failure: Failure | None, seen: list[str]) -> Failure | None:
        """The call's outcome, overruled by what the host saw: a call the kernel refused
        (the seccomp listener) makes it a security violation, whatever the plugin raised,
        caught or returned."""
        if not seen or (failure is not None and failure.violation):
            return failure
        detail = dict(failure.detail) if failure is not None else {}
        detail["refusals"] = seen[:20]
        message = "refused by the sandbox (seen by the host): " + "; ".join(seen[:3])
        if len(seen) > 3:
            message += f"; and {len(seen) - 3} more"
        if failure is not None:
            detail["plugin_said"] = failure.message[:1000]
            message += f". The call then failed: {failure.message[:300]}"
        return Failure(
            T.SECURITY_ERROR,
            message,
            crashed=failure.crashed if failure is not None else False,
            violation=True,
            detail=detail,
        )

    def _check_disk(self, refused: bool = False) -> None:
        """After a call: the data folder's size against its limit. With a file system of
        its own the kernel has refused the writes past it (ENOSPC: ``refused`` when the
        call failed with it); the host records the hit, and a call that failed with it
        fails for its disk limit (``_limited``). Without one, measured here."""
        data_dir = self.spec.grants.data_dir
        if data_dir is None or self.spec.grants.data_access != "write":
            return
        limit = self.spec.limits.disk_mb << 20
        held = self.quota.full(refused)  # a statvfs: cheap enough after every call
        if held is not None:
            self.disk_bytes = held
            image = self.quota.image
            free = image.free() if image is not None else 0
            self.limit_log.record(
                LimitHit(
                    self.spec.plugin,
                    "disk",
                    held,
                    limit,
                    "bytes",
                    "refused by the kernel (ENOSPC)",
                    detail="the data folder is a file system of its own: writes past its "
                    f"end fail; {free} bytes were left"
                    + ("; the worker reports a write that failed" if refused else ""),
                )
            )
            return
        now = time.monotonic()
        if now - self._last_disk_check < self.policy.disk_check_interval_s:
            return
        self._last_disk_check = now
        image = self.quota.image
        self.disk_bytes = image.used() if image is not None else _folder_size(str(data_dir))
        # Measured where the kernel does not hold the limit: no image, or one sized for
        # another limit (a reload overlapping its old version, a resize that failed).
        if (image is None or image.sized_for != limit) and self.disk_bytes > limit:
            hit = self.limit_log.record(
                LimitHit(
                    self.spec.plugin,
                    "disk",
                    self.disk_bytes,
                    limit,
                    "bytes",
                    "refused (the call failed after the data folder was measured)",
                )
            )
            raise Failure(
                T.RESOURCE_ERROR,
                f"disk limit: the data folder holds "
                f"{self.disk_bytes / 1e6:.1f} MB, over {self.spec.limits.disk_mb} MB",
                detail={"limit": hit.to_dict()},
            )

    def _log(
        self, plugin: Any, hook: str | None, execution_id: str | None, frame: dict[str, Any]
    ) -> None:
        if plugin is None:
            return
        level = frame.get("level")
        raw = frame.get("fields")
        fields: dict[str, Any] = raw if isinstance(raw, dict) else {}
        logger = plugin.logger.bind(hook, execution_id)
        method = getattr(
            logger, level if level in ("debug", "info", "warning", "error") else "info"
        )
        method(str(frame.get("msg", ""))[:10_000], **{str(k): v for k, v in fields.items()})

    def _crashed(self, exc: Failure) -> None:
        now = time.monotonic()
        self.crashes.append(now)
        limit, window = self.policy.crash_loop
        recent = sum(1 for t in self.crashes if now - t < window)
        if recent >= limit and not self.disabled_reason:
            self.disabled_reason = (
                f"crash loop: {recent} crashes in {window:.0f} s (last: {exc.message}); "
                "the plugin is disabled"
            )
            exc.detail["sandbox_action"] = "disable"
            exc.message += f"; {self.disabled_reason}"

    def _error(self, exc: Failure, hook: str | None, execution_id: str | None) -> PluginError:
        metadata = dict(exc.detail)
        trace = metadata.pop("trace", None)
        if exc.violation:
            with self._mutex:
                self.violations += 1
                violations = self.violations
            metadata["violations"] = violations
            if violations >= self.policy.quarantine_after:
                metadata.setdefault("sandbox_action", "quarantine")
        error = PluginError(
            exc.kind,
            exc.message,
            plugin_id=self.spec.plugin,
            hook=hook,
            execution_id=execution_id,
            metadata=metadata,
        )
        if trace:
            error.stack = trace
        return error

    # ------------------------------------------------------------------ control
    def _live(self) -> list[Worker]:
        return [s.worker for s in self.slots if s.worker is not None and s.worker.alive]

    def set_stopped(self, stopped: bool) -> bool:
        """SIGSTOP / SIGCONT the workers (suspend/resume); False when none runs."""
        self.suspended = stopped
        live = self._live()
        for worker in live:
            with contextlib.suppress(ProcessLookupError):
                worker.signal(signal.SIGSTOP if stopped else signal.SIGCONT)
        return bool(live)

    def throttle(self, cpu_fraction: float | None) -> bool:
        """Cap each worker's cgroup at ``cpu_fraction`` of a core (None lifts it)."""
        groups = [s.worker.group for s in self.slots if s.worker is not None]
        if not groups or any(g is None for g in groups):
            return False
        return all([g.throttle(cpu_fraction) for g in groups if g is not None])

    def _measure(self) -> list[tuple[Measured, str | None]]:
        """What each worker in a slot contributes to the figures now (``PluginUsage``)."""
        out = []
        for slot in self.slots:
            worker = slot.worker
            measured = worker.measured() if worker is not None else None
            if worker is not None and measured is not None:
                out.append((measured, worker.io_error))
        return out

    def resources(self) -> Resources:
        """The spec's ``resources`` of the plugin: measured figures, or not measured with
        the reason (``_usage`` says where each comes from)."""
        return self.account.resources()

    def limits_exceeded(self) -> dict[str, dict[str, Any]]:
        """The limits the plugin hit, per limit (``LimitLog.by_limit``): the record that
        ``PluginMetrics``, the status endpoint and ``/v3/metrics`` show."""
        return self.limit_log.by_limit()

    def usage(self) -> dict[str, Any]:
        """Memory (MiB: resident now summed over the workers, and the peak), CPU time
        (ms, every worker since the plugin loaded), restarts, crashes, the primary's pid
        and every worker's, the queue and the layers."""
        live = self._live()
        primary = self.slots[0].worker
        pid = primary.pid if primary is not None and primary.alive else None
        figures = self.resources()
        return {
            "pid": pid if pid is not None or not live else live[0].pid,
            "pids": [w.pid for w in live],
            "memory_mb": figures["memoryUsage"]["current"],
            "peak_memory_mb": figures["memoryUsage"]["peak"],
            "cpu_ms": figures["cpuUsage"]["total"],
            "restarts": self.restarts,
            "crashes": len(self.crashes),
            "overloads": self.overloads,
            **self.queue(),
            "waits": self.waits,
            "waited_ms": self.waited_s * 1000,
            "disk_mb": self.disk_bytes / (1 << 20),
            "disabled_reason": self.disabled_reason,
            "layers": dict(self.layers),
            "limits_exceeded": self.limit_log.summary(),
            "data_quota": "kernel" if self.quota.kernel else f"measured only ({self.quota.reason})",
        }

    def applied_limits(self) -> dict[str, Any]:
        """The limits the plugin's workers run under. Read back from the kernel for a
        running worker (its cgroup files, ``/proc/<pid>/limits``); with none running, the
        ones its next worker gets. Limits the host enforces itself (CPU per call, wall
        clock, the data folder's size, the queue) are the policy's: nothing else holds
        them. ``enforcedBy`` says what applies each; ``notApplied`` why one is None."""
        lim = self.spec.limits
        live = self._live()
        worker = live[0] if live else None
        planned = self.spec.init_frame({})["rlimits"]
        kernel = rlimits(worker.pid) if worker is not None else {}
        used = kernel or {
            "as": planned["as"],
            "cpu": planned["cpu"],
            "fsize": planned["fsize"],
            "nofile": planned["nofile"],
        }
        where = f"/proc/{worker.pid}/limits" if kernel and worker is not None else "the policy"
        out: dict[str, Any] = {
            "applied": True,
            "source": (
                f"worker {worker.pid}: its cgroup files and /proc/{worker.pid}/limits"
                if worker is not None
                else "no worker running: the limits its next worker gets"
            ),
            "memoryBytes": None,
            "addressSpaceBytes": used.get("as"),
            "cpuMsPerCall": lim.cpu_ms,
            "cpuSecondsLifetime": used.get("cpu"),
            "cpuQuota": None,
            "pids": None,
            "fileSizeBytes": used.get("fsize"),
            "openFiles": used.get("nofile"),
            "dataFolderBytes": lim.disk_mb << 20,
            "dataQuota": self.quota.describe(),
            "executionTimeMs": lim.execution_time_ms,
            "workers": len(self.slots),
            "waitingCallers": lim.concurrency,
        }
        enforced = {
            "addressSpaceBytes": f"RLIMIT_AS ({where}): allocations past it fail",
            "cpuMsPerCall": "the host, polling the worker's CPU time during a call "
            "(first at 50 ms, then every 100 ms): killed past it",
            "cpuSecondsLifetime": f"RLIMIT_CPU ({where}): SIGXCPU",
            "fileSizeBytes": f"RLIMIT_FSIZE ({where}): SIGXFSZ",
            "openFiles": f"RLIMIT_NOFILE ({where})",
            "dataFolderBytes": (
                "the kernel: the data folder is a file system of its own (layers.datafs); "
                "writes past it fail with ENOSPC, and the host records the hit"
                if self.quota.kernel
                else "measured only: the host measures the data folder at most once a "
                f"second after a call and fails the call past it ({self.quota.reason})"
            ),
            "executionTimeMs": "the host: the worker is killed at the wall-clock limit (a "
            "hook's own lower timeout wins)",
            "workers": "the host's policy (Limits.workers, SandboxPolicy.plugin_workers)",
            "waitingCallers": "the host's queue (Limits.concurrency): one more is refused",
        }
        missing: dict[str, str] = {}
        group = worker.group if worker is not None else None
        if group is not None:
            applied = group.applied()
            kind = f"cgroup {group.kind}"
            for key, value, file in (
                ("memoryBytes", applied.get("memory"), "memory limit (OOM kill)"),
                ("pids", applied.get("pids"), "pids.max (threads)"),
                ("cpuQuota", applied.get("cpu_quota"), "CPU quota (throttle)"),
            ):
                out[key] = value
                if value is not None:
                    enforced[key] = f"{kind} {file} of the worker's group"
            if out["cpuQuota"] is None:
                missing["cpuQuota"] = "not throttled (engine.throttle sets a quota)"
        else:
            if self.spec.cgroup_owner is None:
                why = (
                    "no cgroup on this host for the workers: memory is capped by RLIMIT_AS "
                    "only, threads are not capped"
                )
            elif worker is None:
                why = "no worker running: its cgroup is made when it starts"
            else:
                why = f"worker {worker.pid} runs without a cgroup (its placement failed)"
            for key in ("memoryBytes", "pids", "cpuQuota"):
                missing[key] = why
        out["enforcedBy"] = {k: v for k, v in enforced.items() if out.get(k) is not None}
        out["notApplied"] = missing
        return out


def _errno(reply: dict[str, Any]) -> int | None:
    """The errno of the OSError a failed call's handler raised (as the worker says)."""
    error = reply.get("error")
    number = error.get("errno") if isinstance(error, dict) else None
    return number if isinstance(number, int) else None


def _error_class(reply: dict[str, Any]) -> str | None:
    error = reply.get("error")
    return str(error.get("exc")) if isinstance(error, dict) else None


def _folder_size(path: str) -> int:
    total = 0
    stack = [path]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    else:
                        total += entry.stat(follow_symlinks=False).st_blocks * 512
        except OSError:
            continue
    return total
