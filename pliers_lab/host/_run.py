"""``Run``: one host operation in progress. It fires hooks, records the trace and decides
what a plugin failure does (the error policy).

Error policy, per step (a plugin *failure* is a raise or a timeout; a veto or an invalid
verdict is an answer, not a failure):

============  ===================================  ======================================
mode          hooks                                a plugin fails →
============  ===================================  ======================================
veto          ``*.before*``, ``workflow.condition``,  **abort** (fail closed): a guard
              ``auth.authorize``                    that cannot decide must not let
                                                    the operation through
waterfall     sanitize, transform, enrich, render,  continue: that plugin's change is
              ``email.template``, import.transform  dropped, the previous data goes on
validate      ``*.validate``, beforeValidate,       continue: its checks are missing;
              ``form.validation.custom``            the others still decide
collect       after-hooks, afterValidate, action,   continue: reported; the operation
              ``notification.send``, sync           still commits (after-hooks run
                                                    inside the transaction)
first         ``sms.send``, ``export.format``,      continue: the next plugin may answer
              ``auth.authenticate``
============  ===================================  ======================================

A ``security_error`` (a denied api call) aborts at every step: the operation is rolled
back, so nothing the plugin wrote before the denied call stays. Every failure, aborting
or not, is in the trace (the step's outcomes) and in the engine's error store. The
defaults can be changed per hook: ``Host(on_plugin_error={"submission.transform":
"abort"})``, or ``{"*": "abort"}`` to make every plugin failure abort.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar, final

from ..errors import PluginErrorType
from ._exceptions import MalformedPayload, OperationVetoed, StepAborted
from ._pipeline_trace import Trace

if TYPE_CHECKING:
    from ..engine import Engine
    from ..engine.hook_results import HookResult

__all__ = ["AsyncRunner", "ErrorPolicy", "Policies", "Run"]

T = TypeVar("T")
perf = time.perf_counter
_SECURITY = PluginErrorType.SECURITY_ERROR


class ErrorPolicy(StrEnum):
    """What a plugin failure at a step does to the host operation."""

    CONTINUE = "continue"
    ABORT = "abort"


_BY_MODE = {"veto": ErrorPolicy.ABORT}


class Policies:
    """Per-hook error policies: overrides, then ``"*"``, then the mode's default."""

    def __init__(self, overrides: Mapping[str, str | ErrorPolicy] | None = None) -> None:
        self._overrides = {k: ErrorPolicy(v) for k, v in (overrides or {}).items()}
        self._all = self._overrides.get("*")

    def of(self, hook: str, mode: str) -> ErrorPolicy:
        found = self._overrides.get(hook) or self._all
        return found if found is not None else _BY_MODE.get(mode, ErrorPolicy.CONTINUE)


class AsyncRunner:
    """Runs hooks with async handlers on a host-owned event loop, in the calling thread.

    ``Engine.fire`` hands async handlers to the engine's loop thread, so that it works
    inside a running loop (a Jupyter cell); that costs a thread hop and a GIL handoff
    per hook (about 3x the cost of the hook here, more on a busy machine). A host
    operation in a thread without a running loop instead awaits ``Engine.afire`` on a
    loop of its own; inside a running loop it leaves the hook to ``Engine.fire``.
    Host operations are serialized, so the loop is never run twice at once.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._seen: dict[str, tuple[tuple[Any, ...], bool]] = {}

    def takes(self, hook: str, impls: tuple[Any, ...]) -> bool:
        """True when ``hook`` has async handlers and no loop runs in this thread."""
        seen = self._seen.get(hook)
        if seen is None or seen[0] is not impls:
            seen = (impls, any(i.is_async for i in impls))
            self._seen[hook] = seen
        if not seen[1]:
            return False
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return True
        return False

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(coro)

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()
            self._loop = None


@final
class Run:
    """The state of one host operation: who asked, its trace, the hook running now."""

    __slots__ = (
        "aio",
        "current_hook",
        "engine",
        "event",
        "event_meta",
        "failures",
        "operation",
        "policies",
        "request_id",
        "session_id",
        "trace",
        "user_id",
    )

    def __init__(
        self,
        engine: Engine,
        policies: Policies,
        operation: str,
        target: str | None = None,
        *,
        user_id: str | None = None,
        session_id: str | None = None,
        request_id: str | None = None,
        event: Any = None,
        aio: AsyncRunner | None = None,
    ) -> None:
        self.aio = aio
        self.engine = engine
        self.policies = policies
        self.operation = operation
        self.trace = Trace(operation, target)
        self.user_id = user_id
        self.session_id = session_id
        self.request_id = request_id
        self.event = event
        self.current_hook: str | None = None
        self.event_meta: dict[str, Any] | None = None
        self.failures = 0

    def fire(self, hook: str, data: Any) -> HookResult | None:
        """Fire ``hook`` (None when no plugin handles it; nothing is dispatched then)."""
        impls = self.engine.handlers(hook)
        if not impls:
            return None
        self.current_hook = hook
        try:
            if self.aio is not None and self.aio.takes(hook, impls):
                return self.aio.run(
                    self.engine.afire(
                        hook,
                        data,
                        user_id=self.user_id,
                        session_id=self.session_id,
                        event=self.event,
                        request_id=self.request_id,
                        trace_id=self.trace.id,
                    )
                )
            return self.engine.fire(
                hook,
                data,
                user_id=self.user_id,
                session_id=self.session_id,
                event=self.event,
                request_id=self.request_id,
                trace_id=self.trace.id,
            )
        finally:
            self.current_hook = None

    def _settle(
        self,
        hook: str,
        data: Any,
        result: HookResult | None,
        t0: float,
        after: Any,
        status: str = "ok",
        note: str = "",
    ) -> None:
        """Record the step; raise ``StepAborted`` when a failure's policy says abort."""
        if result is not None and not result.ok:
            policy = self.policies.of(hook, result.mode)
            for error in result.errors:
                self.failures += 1
                if error.type is _SECURITY or policy is ErrorPolicy.ABORT:
                    why = (
                        "security error"
                        if error.type is _SECURITY
                        else f"{result.mode} hooks fail closed"
                    )
                    self.trace.hook(
                        hook, data, result, t0, data, "aborted", f"{error.plugin_id} failed ({why})"
                    )
                    raise StepAborted(self.operation, error)
            note = note or f"{len(result.errors)} plugin failure(s) contained"
        self.trace.hook(hook, data, result, t0, after, status, note)

    # ------------------------------------------------------------------ by result mode
    def veto(self, hook: str, data: Any) -> None:
        """Fire a veto hook; a refusal raises ``OperationVetoed`` with the plugin's reason."""
        t0 = perf()
        result = self.fire(hook, data)
        verdict = result.value if result is not None else None
        if verdict is not None and not verdict.allowed:
            self.trace.hook(
                hook, data, result, t0, data, "vetoed", f"{verdict.plugin}: {verdict.reason}"
            )
            raise OperationVetoed(self.operation, hook, verdict.plugin, verdict.reason or "refused")
        self._settle(hook, data, result, t0, data)

    def allowed(self, hook: str, data: Any) -> tuple[bool, str | None, str | None]:
        """Fire a veto hook used as a condition: (allowed, plugin, reason), no raise."""
        t0 = perf()
        result = self.fire(hook, data)
        verdict = result.value if result is not None else None
        if verdict is not None and not verdict.allowed:
            self._settle(
                hook, data, result, t0, data, "refused", f"{verdict.plugin}: {verdict.reason}"
            )
            return False, verdict.plugin, verdict.reason
        self._settle(hook, data, result, t0, data)
        return True, None, None

    def waterfall(
        self, hook: str, data: Any, check: Callable[[Any], str | None] | None = None
    ) -> Any:
        """Fire a waterfall hook; returns the last output. ``check(new) -> problem`` guards
        the payload's shape (a broken one is a ``MalformedPayload`` naming the plugin)."""
        t0 = perf()
        result = self.fire(hook, data)
        if result is None:
            self.trace.hook(hook, data, None, t0, data)
            return data
        after = result.value
        if after is not data and check is not None:
            problem = check(after)
            if problem is not None:
                culprit = next(
                    (o.plugin_id for o in reversed(result.outcomes) if o.value is not None), None
                )
                self.trace.hook(hook, data, result, t0, data, "aborted", f"{culprit}: {problem}")
                raise MalformedPayload(f"{hook} (plugin {culprit!r})", "ctx.data", problem)
        self._settle(hook, data, result, t0, after)
        return after

    def validate(self, hook: str, data: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Fire a validate hook; returns (errors, warnings), each tagged with its plugin."""
        t0 = perf()
        result = self.fire(hook, data)
        if result is None:
            self.trace.hook(hook, data, None, t0, data)
            return [], []
        value = result.value
        errors, warnings = value["errors"], value["warnings"]
        status = "ok" if value["valid"] else "invalid"
        self._settle(
            hook, data, result, t0, value, status, f"{len(errors)} error(s)" if errors else ""
        )
        return errors, warnings

    def collect(self, hook: str, data: Any) -> list[Any]:
        """Fire a collect hook; returns the plugins' answers in order."""
        t0 = perf()
        result = self.fire(hook, data)
        if result is None:
            self.trace.hook(hook, data, None, t0, data)
            return []
        self._settle(hook, data, result, t0, result.value)
        return list(result.value)

    def first(self, hook: str, data: Any) -> Any:
        """Fire a first hook; returns the first answer (None when nobody answered)."""
        t0 = perf()
        result = self.fire(hook, data)
        if result is None:
            self.trace.hook(hook, data, None, t0, None)
            return None
        self._settle(hook, data, result, t0, result.value)
        return result.value

    def host_step(
        self, name: str, before: Any, after: Any, t0: float, status: str = "ok", note: str = ""
    ) -> None:
        self.trace.host(name, before, after, t0, status, note)
