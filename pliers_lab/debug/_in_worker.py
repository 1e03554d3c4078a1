"""Trace and profile sessions for sandboxed plugins, whose code runs in a worker.

While a session is open, each hook call to the plugin's worker carries a ``debug``
request; the worker records there (``sandbox.guest_debug``) and sends the recording back
with its answer, which lands here: trace rows go to the session's ``TraceSink`` (as an
inline trace's do), profile rows are summed into the ``ProfileResult``. Rows are the
plugin's word: they are checked, never trusted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import EngineError
from ._profile import ProfileResult
from .trace import DebugTrace, TraceSink

__all__ = ["worker_profile", "worker_trace"]


def _claim(process: Any, plugin_id: str) -> None:
    if process.debug is not None:
        raise EngineError(
            f"plugin {plugin_id!r} is already being traced or profiled; close that session first"
        )


@contextmanager
def worker_trace(process: Any, trace: DebugTrace, max_frames: int) -> Iterator[None]:
    """Record the plugin's lines in its worker into ``trace`` while the block runs."""
    _claim(process, trace.plugin_id)
    sink = TraceSink(trace, max_frames)
    process.debug, process.debug_sink = sink.request, sink
    try:
        yield
    finally:
        process.debug = process.debug_sink = None


@contextmanager
def worker_profile(process: Any, result: ProfileResult) -> Iterator[None]:
    """Profile the plugin's hook calls in its worker; ``result`` fills in at the end."""
    _claim(process, result.plugin_id)
    totals: dict[tuple[str, str, int], list[float]] = {}
    calls = [0]

    def sink(recorded: dict[str, Any], hook: str | None, eid: str | None, started: float) -> None:
        calls[0] += 1
        rows = recorded.get("profile")
        for row in rows if isinstance(rows, list) else []:
            try:
                name, file, line, ncalls, own, cum = row
                key = (str(name), str(file), int(line))
                sums = totals.setdefault(key, [0, 0.0, 0.0])
                sums[0] += int(ncalls)
                sums[1] += float(own)
                sums[2] += float(cum)
            except (TypeError, ValueError):
                continue  # not a profile row: the plugin's word, not ours

    process.debug, process.debug_sink = (lambda: {"profile": True}), sink
    try:
        yield
    finally:
        process.debug = process.debug_sink = None
        rows = [[n, f, ln, c, o, cu] for (n, f, ln), (c, o, cu) in totals.items()]
        done = ProfileResult.from_rows(result.plugin_id, rows, calls[0])
        result.calls, result.total_ms, result.functions = done.calls, done.total_ms, done.functions
