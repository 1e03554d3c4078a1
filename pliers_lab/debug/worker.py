"""Trace and profile sessions for sandboxed plugins, whose code runs in a worker.

While a session is open, each hook call to the plugin's worker carries a ``debug``
request; the worker records there (``sandbox.guest_debug``) and sends the recording back
with its answer, which lands here: trace rows become ``ExecutionFrame`` entries of the
``DebugTrace`` (timestamps from the session's start, breakpoint hits matched in the
worker, where the frame's locals are), profile rows are summed into the
``ProfileResult``. Rows are the plugin's word: one that is not a row is counted in
``dropped``, never trusted.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import EngineError
from .profile import ProfileResult
from .trace import DebugTrace, ExecutionFrame

__all__ = ["worker_profile", "worker_trace"]


def _claim(process: Any, plugin_id: str) -> None:
    if process.debug is not None:
        raise EngineError(
            f"plugin {plugin_id!r} is already being traced or profiled; close that session first"
        )


def _frame(
    row: Any, index: int, base_ms: float, hook: str | None, eid: str | None
) -> ExecutionFrame:
    if row["event"] not in ("call", "line", "return", "exception"):
        raise ValueError(f"not a trace event: {row['event']!r}")
    variables = row["variables"]
    if not isinstance(variables, dict):
        raise TypeError("variables must be a mapping")
    duration = row.get("duration")
    value = row.get("value")
    return ExecutionFrame(
        index,
        row["event"],
        str(row["function"]),
        str(row["file"]),
        int(row["line"]),
        {str(k): str(v) for k, v in variables.items()},
        base_ms + float(row["timestamp"]),
        int(row["depth"]),
        hook,
        eid,
        None if value is None else str(value),
        None if duration is None else float(duration),
    )


@contextmanager
def worker_trace(process: Any, trace: DebugTrace, max_frames: int) -> Iterator[None]:
    """Record the plugin's lines in its worker into ``trace`` while the block runs."""
    _claim(process, trace.plugin_id)
    t0 = time.perf_counter()
    breakpoints = [dataclasses.asdict(bp) for bp in trace.breakpoints]

    def request() -> dict[str, Any]:
        left = max(0, max_frames - len(trace.execution))
        return {"trace": {"max_frames": left, "breakpoints": breakpoints}}

    def sink(recorded: dict[str, Any], hook: str | None, eid: str | None, started: float) -> None:
        base = (started - t0) * 1000.0
        rows = recorded.get("frames")
        for row in rows if isinstance(rows, list) else []:
            index = len(trace.execution)
            try:
                frame = _frame(row, index, base, hook, eid)
            except (KeyError, TypeError, ValueError):
                trace.dropped += 1
                continue
            trace.execution.append(frame)
            if isinstance(row, dict) and row.get("hit") is True:
                trace.hits.add(index)
        if recorded.get("truncated") is True:
            trace.truncated = True

    process.debug, process.debug_sink = request, sink
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
        rows = [(n, f, ln, int(c), o, cu) for (n, f, ln), (c, o, cu) in totals.items()]
        rows.sort(key=lambda r: r[5], reverse=True)
        result.calls = calls[0]
        result.total_ms = sum(r[4] for r in rows)
        result.functions = rows
