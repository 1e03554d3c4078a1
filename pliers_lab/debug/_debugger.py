"""``engine.debugger``: the spec's ``PluginDebugger`` over one engine.

Tracing and profiling an inline plugin swap its handlers for wrapped ones in the hook
tables (one atomic replace, undone when the session ends), so nothing is slowed down
while no session is open. A sandboxed plugin's code runs in its worker: there, each hook
call of an open session carries a ``debug`` request and the worker records
(``debug.worker``). Either way the result is the same ``DebugTrace`` / ``ProfileResult``.
"""

from __future__ import annotations

import copy
import cProfile
import inspect
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import EngineError
from ..observe.logs import LogEntry
from ._in_worker import worker_profile, worker_trace
from ._profile import ProfileResult
from .error_reports import (
    ErrorAnalysis,
    ErrorGroup,
    advice,
    group_errors,
    severity_of,
    signature,
    source_line,
)
from .trace import Breakpoint, DebugTrace, TraceSink

if TYPE_CHECKING:
    from ..context import HookContext
    from ..engine import Engine
    from ..engine.hook_results import HookResult
    from ..plugin import Plugin

__all__ = ["Debugger"]

Wrap = Callable[[Callable[..., Any], str], Callable[..., Any]]


class Debugger:
    """Trace, step, profile, explain errors and replay executions of an engine's plugins."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.traces: dict[str, DebugTrace] = {}
        self._breakpoints: dict[str, list[Breakpoint]] = {}

    # ------------------------------------------------------------------ wrapping
    @contextmanager
    def _wrapped(self, plugin: Plugin, wrap: Wrap) -> Iterator[None]:
        with self.engine.handlers_swapped(
            plugin.id, lambda impl: impl.with_fn(wrap(impl.fn, impl.hook))
        ):
            yield

    # ------------------------------------------------------------------ tracing
    def breakpoint(self, plugin_id: str, location: Breakpoint | str) -> Breakpoint:
        """Add a breakpoint for the plugin's next traces: a ``Breakpoint``, ``"file:line"``
        or a function name."""
        if isinstance(location, str):
            file, _, line = location.rpartition(":")
            location = (
                Breakpoint(file=file, line=int(line))
                if line.isdigit() and file
                else Breakpoint(function=location)
            )
        self._breakpoints.setdefault(plugin_id, []).append(location)
        return location

    @contextmanager
    def trace(self, plugin_id: str, *, max_frames: int = 10_000) -> Iterator[DebugTrace]:
        """Record every line the plugin's handlers run while the block is open.

        ``with engine.debugger.trace("p") as t: engine.fire(...)``; afterwards step
        through ``t`` (``t.step()``, ``t.back()``, ``t.continue_()``, ``t.frame()``).
        """
        plugin = self.engine.plugin(plugin_id)
        trace = DebugTrace(plugin_id, breakpoints=list(self._breakpoints.get(plugin_id, [])))
        self.traces[trace.id] = trace
        process = self.engine.worker(plugin.id)
        session = (
            worker_trace(process, trace, max_frames)
            if process is not None
            else self._inline_trace(plugin, TraceSink(trace, max_frames))
        )
        try:
            with session:
                yield trace
        except BaseException:
            trace.state = "error"
            raise
        trace.state = "paused" if trace.execution else "completed"
        trace.cursor = -1

    def _inline_trace(self, plugin: Plugin, sink: TraceSink) -> Any:
        """Wrap an inline plugin's handlers: each call records, then lands in ``sink``."""
        files = {str(Path(f).resolve()) for f in _plugin_files(plugin)}

        def ours(filename: str) -> bool:
            return filename in files or str(Path(filename).resolve()) in files

        def wrap(fn: Callable[..., Any], hook: str) -> Callable[..., Any]:
            if inspect.iscoroutinefunction(fn):

                async def traced_async(ctx: HookContext) -> Any:
                    recorder, started = sink.recorder(ours), time.perf_counter()
                    previous = sys.gettrace()
                    sys.settrace(recorder)
                    try:
                        return await fn(ctx)
                    finally:
                        sys.settrace(previous)
                        sink(recorder.result(), hook, ctx.execution_id, started)

                return traced_async

            def traced(ctx: HookContext) -> Any:
                recorder, started = sink.recorder(ours), time.perf_counter()
                try:
                    return recorder.run(lambda: fn(ctx))
                finally:
                    sink(recorder.result(), hook, ctx.execution_id, started)

            return traced

        return self._wrapped(plugin, wrap)

    def step(self, trace_id: str) -> Any:
        """The spec's ``step(traceId)``: the next recorded frame of that trace."""
        try:
            return self.traces[trace_id].step()
        except KeyError:
            raise EngineError(
                f"no trace {trace_id!r} (traces: {', '.join(self.traces) or 'none'})"
            ) from None

    # ------------------------------------------------------------------ profiling
    @contextmanager
    def profile(self, plugin_id: str) -> Iterator[ProfileResult]:
        """Profile the plugin's handlers while the block is open; the result fills in
        when it closes."""
        plugin = self.engine.plugin(plugin_id)
        result = ProfileResult(plugin_id)
        process = self.engine.worker(plugin.id)
        if process is not None:
            with worker_profile(process, result):
                yield result
            return
        profiler = cProfile.Profile()
        calls = [0]

        def wrap(fn: Callable[..., Any], hook: str) -> Callable[..., Any]:
            if inspect.iscoroutinefunction(fn):

                async def profiled_async(ctx: HookContext) -> Any:
                    calls[0] += 1
                    profiler.enable()
                    try:
                        return await fn(ctx)
                    finally:
                        profiler.disable()

                return profiled_async

            def profiled(ctx: HookContext) -> Any:
                calls[0] += 1
                profiler.enable()
                try:
                    return fn(ctx)
                finally:
                    profiler.disable()

            return profiled

        with self._wrapped(plugin, wrap):
            yield result
        from ..sandbox.guest_debug import summarise

        done = ProfileResult.from_rows(plugin_id, summarise(profiler), calls[0])
        result.calls, result.total_ms, result.functions = done.calls, done.total_ms, done.functions

    # ------------------------------------------------------------------ logs, metrics
    def get_logs(
        self, plugin_id: str, level: str | None = None, search: str | None = None
    ) -> list[LogEntry]:
        entries = self.engine.logs.for_plugin(plugin_id, level)
        return [e for e in entries if not search or search.lower() in e.message.lower()]

    def watch_logs(
        self, plugin_id: str, callback: Callable[[LogEntry], None]
    ) -> Callable[[], None]:
        """Call ``callback`` with each new log entry of the plugin; returns an unsubscribe."""
        return self.engine.logs.subscribe(
            lambda e: callback(e) if e.plugin_id == plugin_id else None
        )

    def get_metrics(self, plugin_id: str) -> Any:
        return self.engine.metrics(plugin_id)

    # ------------------------------------------------------------------ errors
    def errors(self, plugin_id: str | None = None) -> list[ErrorGroup]:
        """The engine's errors (of one plugin) grouped by cause, most frequent first."""
        found = [e for e in self.engine.errors if plugin_id is None or e.plugin_id == plugin_id]
        return group_errors(found)

    def errors_frame(self, plugin_id: str | None = None) -> Any:
        from ..observe.frames import frame

        rows = [
            (g.plugin_id, g.type, g.hook, g.severity, g.occurrences, g.first_seen, g.last_seen,
             g.pattern, g.location)
            for g in self.errors(plugin_id)
        ]  # fmt: skip
        return frame(rows, ("plugin_id", "type", "hook", "severity", "occurrences",
                            "first_seen", "last_seen", "message", "location"),
                     time_columns=("first_seen", "last_seen"))  # fmt: skip

    def analyze_error(self, error_id: str) -> ErrorAnalysis:
        """What one error was, how often it happens, where, and what to try."""
        error = next((e for e in self.engine.errors if e.id == error_id), None)
        if error is None:
            raise EngineError(
                f"no error {error_id!r} is kept (the store holds the newest "
                f"{self.engine.errors.capacity})"
            )
        group = next(g for g in self.errors(error.plugin_id) if error in g.errors)
        location = signature(error)[4]
        recoveries = [r for r in self.engine.recoveries if r.error_id == error.id]
        return ErrorAnalysis(
            error,
            severity_of(error),
            group,
            location,
            source_line(location),
            advice(error),
            recoveries,
        )

    # ------------------------------------------------------------------ replay
    def replay(self, execution_id: str) -> tuple[HookResult, list[str]]:
        """Fire a recorded execution's hook again with a copy of its data.

        Returns the new result and what changed, per plugin (status, value); an empty
        list means the run reproduced exactly.
        """
        old = self.engine.executions.find(execution_id)
        if old is None:
            raise EngineError(
                f"execution {execution_id!r} is not in the store (it keeps the "
                f"newest {self.engine.executions.capacity} plugin calls)"
            )
        ctx = old.context
        new = self.engine.fire(
            old.hook,
            copy.deepcopy(old.data),
            user_id=ctx.user_id,
            session_id=ctx.session_id,
            event=ctx.event,
        )
        return new, _differences(old, new)


def _differences(old: HookResult, new: HookResult) -> list[str]:
    changes = []
    before = {o.plugin_id: o for o in old.outcomes}
    after = {o.plugin_id: o for o in new.outcomes}
    for plugin_id in sorted(set(before) | set(after)):
        a, b = before.get(plugin_id), after.get(plugin_id)
        if a is None or b is None:
            changes.append(f"{plugin_id}: {'ran only now' if a is None else 'did not run now'}")
        elif a.status != b.status:
            changes.append(f"{plugin_id}: status {a.status} -> {b.status}")
        elif a.value != b.value:
            changes.append(f"{plugin_id}: answered differently")
    if old.value != new.value:
        changes.append("the hook's value differs")
    return changes


def _plugin_files(plugin: Plugin) -> list[str]:
    files = []
    module = plugin.module
    file = getattr(module, "__file__", None)
    if file:
        files.append(file)
    if plugin.root is not None:
        files.extend(str(p) for p in plugin.root.rglob("*.py"))
    for fn in plugin.handlers.values():
        code = getattr(fn, "__code__", None)
        if code is not None:
            files.append(code.co_filename)
    return files
