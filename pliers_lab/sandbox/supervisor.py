"""The supervisor of one plugin: its worker, restarts, limits and the calls into it.

Recovery (issue 8): a crashed worker is restarted on the next call, after a backoff that
grows with the crashes in the window; a crash loop (3 in 5 minutes by default) disables
the plugin with that reason. A security violation (forbidden syscall, protocol abuse, a
refused capability) is reported with ``sandbox_action="quarantine"`` for the engine to act
on. Calls to one worker are serialised; more than ``concurrency`` waiting callers are
refused. Every failure becomes a ``PluginError`` naming plugin, hook and execution.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import datetime
import decimal
import enum
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from ..errors import PluginError, PluginErrorType
from .guest import BYTES_KEY
from .process import Failure, Worker, WorkerSpec
from .procinfo import memory_kb
from .wire import make_encoder

if TYPE_CHECKING:
    from .hostapi import HostApi
    from .policy import SandboxPolicy

__all__ = ["PluginProcess"]

T = PluginErrorType
_REPLAYED = ("on_load", "on_activate")
#: Wire names of ``HookContext._extra`` (user, session, event, request, trace), in order.
_EXTRA_KEYS = ("userId", "sessionId", "event", "requestId", "traceId")


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


class PluginProcess:
    """One plugin's worker and everything around it (restarts, metrics, host API)."""

    def __init__(self, spec: WorkerSpec, policy: SandboxPolicy, host_api: HostApi) -> None:
        self.spec = spec
        self.policy = policy
        self.host_api = host_api
        self.worker: Worker | None = None
        self.crashes: collections.deque[float] = collections.deque(maxlen=64)
        self.restarts = 0
        self.disabled_reason: str | None = None
        self.suspended = False
        self.lifecycle_done: list[str] = []
        self.config: dict[str, Any] = {}
        self._sent_config: Any = None
        # Re-entrant: an event a handler publishes may be delivered to this same plugin
        # while its call is still open (a nested call on the same thread and wire).
        self._lock = threading.RLock()
        self._count_lock = threading.Lock()
        self._plugin: Any = None  # the engine's Plugin, for calls the host makes by itself
        self.nice = 0  # the worker's scheduling priority (ResourceOptimizer)
        self.debug: Callable[[], dict[str, Any]] | None = None
        """Set by the debugger: the ``debug`` request each hook call carries (trace or
        profile); what the worker recorded goes to ``debug_sink``."""
        self.debug_sink: Callable[[dict[str, Any], str | None, str | None, float], None] | None
        self.debug_sink = None
        host_api.deliver = self._event_handler
        self._callers = 0
        self._cpu_dead_ms = 0.0
        self._peak_dead = 0
        self._last_disk_check = 0.0
        self.disk_bytes = 0
        self.layers: dict[str, str] = {}
        self.violations = 0
        """Security violations the host established (refusals, SIGSYS, protocol abuse)."""

    # ------------------------------------------------------------------ lifecycle
    def start(self, config: dict[str, Any]) -> Worker:
        """Start the first worker (a load error surfaces here, at load time)."""
        self.config = config
        try:
            self.worker = self._spawn()
        except Failure as exc:
            raise self._error(exc, None, None) from None
        return self.worker

    def _spawn(self) -> Worker:
        worker = Worker(self.spec)
        worker.start(self.config)
        if self.nice:
            with contextlib.suppress(OSError):  # a worker that just exited: the call says so
                os.setpriority(os.PRIO_PROCESS, worker.pid, self.nice)
        self._sent_config = self.config
        self.layers = dict(worker.layers)
        return worker

    def _ensure_worker(self) -> Worker:
        worker = self.worker
        if worker is not None and worker.alive:
            return worker
        if self.disabled_reason:
            raise Failure(
                T.RUNTIME_ERROR, self.disabled_reason, detail={"sandbox_action": "disable"}
            )
        self._retire(worker)
        now = time.monotonic()
        recent = [t for t in self.crashes if now - t < self.policy.crash_loop[1]]
        if recent:
            backoff = self.policy.restart_backoff_s
            wait = backoff[min(len(recent) - 1, len(backoff) - 1)] - (now - recent[-1])
            if wait > 0:
                time.sleep(wait)
        try:
            worker = self._spawn()
        except Failure as exc:
            exc.crashed = True
            raise
        self.worker = worker
        self.restarts += 1
        for name in list(self.lifecycle_done):
            self._exchange(worker, {"t": "life", "name": name, "args": []}, self._plugin, None)
        return worker

    def _retire(self, worker: Worker | None) -> None:
        if worker is not None:
            # Its event handlers died with it; a replayed on_activate subscribes again.
            self.host_api.drop_subscriptions()
            peak = worker.peak_memory_bytes()  # before the kill: /proc is gone after it
            worker.kill()
            self._cpu_dead_ms += worker.cpu_ms()
            self._peak_dead = max(self._peak_dead, peak)
            self.worker = None

    def stop(self) -> None:
        """Stop the worker cleanly (killed after the grace period if it does not exit)."""
        with self._lock:
            worker = self.worker
            if worker is not None:
                if self.suspended:
                    self.set_stopped(False)
                worker.stop(self.policy.stop_grace_s)
                self._retire(worker)

    # ------------------------------------------------------------------ calls
    def call_hook(self, ctx: Any, hook: str, fn: str, timeout_s: float) -> Any:
        """Run ``fn`` for ``hook`` in the worker with the context's data and state."""
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
        """Run ``gc.collect()`` in the worker (and empty its ``api.cache``): what it freed."""
        reply = self._call(
            {"t": "gc", "clear_cache": clear_cache},
            self._plugin,
            None,
            None,
            self.spec.limits.execution_time_ms / 1000,
        )
        value = reply.get("value")
        return dict(value) if isinstance(value, dict) else {}

    def recycle(self) -> int:
        """Replace the worker by a fresh one (its lifecycle replayed): memory a long-lived
        interpreter keeps is returned to the system. The new worker's pid."""
        with self._lock:
            worker = self.worker
            if worker is not None:
                worker.stop(self.policy.stop_grace_s)
                self._retire(worker)
            return self._ensure_worker().pid

    def set_nice(self, nice: int) -> None:
        """Schedule the worker at ``nice`` (0 normal … 19 lowest); kept across restarts.
        ``PermissionError`` when the host may not raise a worker's priority back."""
        self.nice = nice
        worker = self.worker
        if worker is not None and worker.alive:
            os.setpriority(os.PRIO_PROCESS, worker.pid, nice)

    def call_lifecycle(self, plugin: Any, name: str, args: list[Any]) -> None:
        """Run a lifecycle handler in the worker; replayed after a restart when needed."""
        self.config = plugin.config
        self._call(
            {"t": "life", "name": name, "args": args},
            plugin,
            None,
            None,
            self.spec.limits.execution_time_ms / 1000,
        )
        if name in _REPLAYED and name not in self.lifecycle_done:
            self.lifecycle_done.append(name)
        elif name == "on_deactivate" and "on_activate" in self.lifecycle_done:
            self.lifecycle_done.remove("on_activate")
        elif name == "on_unload":
            self.lifecycle_done.clear()

    def _event_handler(self, plugin: Any, number: int) -> Callable[[dict[str, Any]], None]:
        """The host-side handler of the worker's event handler ``number``."""
        timeout_s = self.spec.limits.execution_time_ms / 1000

        def deliver(event: dict[str, Any]) -> None:
            self._call(
                {"t": "event", "cb": number, "event": event},
                plugin,
                f"event {event.get('type')}",
                None,
                timeout_s,
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
    ) -> dict[str, Any]:
        """One call into the worker (serialised), restarting it first if it died.

        ``services``: the request-scoped services the worker may call during this call.
        """
        with self._count_lock:  # C locks: threading.Semaphore costs microseconds per call
            self._callers += 1
            over = self._callers > self.spec.limits.concurrency
        if over:
            with self._count_lock:
                self._callers -= 1
            raise PluginError(
                T.RESOURCE_ERROR,
                f"concurrency limit: {self.spec.limits.concurrency} calls already "
                "waiting for this plugin",
                plugin_id=self.spec.plugin,
                hook=hook,
                execution_id=execution_id,
            )
        try:
            with self._lock:
                if plugin is not None:
                    self._plugin = plugin
                    self.config = plugin.config
                outer = self.host_api.request_services
                if services is not None:
                    self.host_api.request_services = services
                try:
                    return self._attempts(msg, plugin, hook, execution_id, timeout_s)
                finally:
                    self.host_api.request_services = outer
        finally:
            with self._count_lock:
                self._callers -= 1

    def _attempts(
        self,
        msg: dict[str, Any],
        plugin: Any,
        hook: str | None,
        execution_id: str | None,
        timeout_s: float,
    ) -> dict[str, Any]:
        """The exchange, under the lock; a worker found dead before the call reached it
        is replaced and the call sent once more (the plugin never saw it)."""
        for attempt in (1, 2):
            try:
                worker = self._ensure_worker()
                return self._exchange(worker, msg, plugin, (hook, execution_id), timeout_s)
            except Failure as exc:
                if exc.crashed:
                    self._crashed(exc)
                self._retire(self.worker if self.worker and not self.worker.alive else None)
                if attempt == 1 and exc.detail.get("undelivered"):
                    continue
                raise self._error(exc, hook, execution_id) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _exchange(
        self,
        worker: Worker,
        msg: dict[str, Any],
        plugin: Any,
        where: tuple[str | None, str | None] | None,
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        limits = self.spec.limits
        if self._sent_config is not self.config:
            msg["config"] = self.config
            self._sent_config = self.config
        logs = [0]
        hook, execution_id = where or (None, None)

        def on_frame(frame: dict[str, Any]) -> None:
            if frame["t"] == "log":
                logs[0] += 1
                if logs[0] > limits.max_log_frames:
                    worker.kill("flood")
                    raise Failure(
                        T.RESOURCE_ERROR,
                        f"output flood: over {limits.max_log_frames} "
                        "log frames in one call; the worker was killed",
                    )
                self._log(plugin, hook, execution_id, frame)
            elif frame["t"] == "api":
                worker.reply(self.host_api.handle(frame, plugin, hook, execution_id), HOST_ENCODER)

        timeout = timeout_s if timeout_s is not None else limits.execution_time_ms / 1000
        started = time.perf_counter()
        marks = (len(worker.denials), len(self.host_api.refusals))
        try:
            reply = worker.exchange(msg, timeout, limits.cpu_ms, on_frame, HOST_ENCODER)
        except (TypeError, ValueError) as exc:
            raise Failure(
                T.VALIDATION_ERROR, f"the call's data cannot cross to the worker: {exc}"
            ) from None
        except Failure as exc:
            raise self._overruled(exc, worker.denials[marks[0] :]) or exc from None
        recorded = reply.get("debug")
        if isinstance(recorded, dict) and self.debug_sink is not None:
            self.debug_sink(recorded, hook, execution_id, started)
        self._check_disk()
        # The kernel's refusals overrule whatever the plugin did; the host API's confirm a
        # security error the plugin let out (one it caught is a handled 403, not an attack).
        denied = worker.denials[marks[0] :]
        refused = self.host_api.refusals[marks[1] :]
        failure = None if reply.get("ok") else self._reported_failure(worker, reply, refused)
        failure = self._overruled(failure, denied)
        if failure is not None:
            raise failure
        return reply

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

    def _check_disk(self) -> None:
        data_dir = self.spec.grants.data_dir
        if data_dir is None or self.spec.grants.data_access != "write":
            return
        now = time.monotonic()
        if now - self._last_disk_check < self.policy.disk_check_interval_s:
            return
        self._last_disk_check = now
        self.disk_bytes = _folder_size(str(data_dir))
        limit = self.spec.limits.disk_mb << 20
        if self.disk_bytes > limit:
            raise Failure(
                T.RESOURCE_ERROR,
                f"disk limit: the data folder holds "
                f"{self.disk_bytes / 1e6:.1f} MB, over {self.spec.limits.disk_mb} MB",
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
            self.violations += 1
            metadata["violations"] = self.violations
            if self.violations >= self.policy.quarantine_after:
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
    def set_stopped(self, stopped: bool) -> bool:
        """SIGSTOP / SIGCONT the worker (suspend/resume); False when no worker runs."""
        worker = self.worker
        self.suspended = stopped
        if worker is None or not worker.alive:
            return False
        os.kill(worker.pid, signal.SIGSTOP if stopped else signal.SIGCONT)
        return True

    def throttle(self, cpu_fraction: float | None) -> bool:
        worker = self.worker
        if worker is None or worker.group is None:
            return False
        return worker.group.throttle(cpu_fraction)

    def usage(self) -> dict[str, Any]:
        """Peak memory (MB), CPU time (ms), restarts, crashes, pid and layers."""
        worker = self.worker
        live_cpu = worker.cpu_ms() if worker is not None and worker.alive else 0.0
        live_peak = worker.peak_memory_bytes() if worker is not None and worker.alive else 0
        alive = worker is not None and worker.alive
        current_kb = memory_kb(worker.pid).get("rss", 0) if worker is not None and alive else 0
        return {
            "pid": worker.pid if worker is not None and alive else None,
            "memory_mb": current_kb / 1024,
            "peak_memory_mb": max(live_peak, self._peak_dead, current_kb * 1024) / (1 << 20),
            "cpu_ms": self._cpu_dead_ms + live_cpu,
            "restarts": self.restarts,
            "crashes": len(self.crashes),
            "disk_mb": self.disk_bytes / (1 << 20),
            "disabled_reason": self.disabled_reason,
            "layers": dict(self.layers),
        }


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
