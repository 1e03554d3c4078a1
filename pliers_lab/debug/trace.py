"""Recording a plugin's execution line by line, and stepping through the recording.

``sandbox.guest_debug.Recorder`` (a ``sys.settrace`` function) keeps only frames whose
code lives in the plugin's own files, snapshots their local variables as short reprs, and
stops at ``max_frames`` so a runaway loop cannot eat the notebook's memory; it runs
around an inline plugin's handlers or inside a sandboxed plugin's worker, and
``TraceSink`` collects its rows either way. The recording is then a tape:
``step``/``back``/``goto``, and ``continue_``/``reverse_continue`` to the next or previous
breakpoint hit — time travel over what really happened.
"""

from __future__ import annotations

import dataclasses
import itertools
import linecache
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["Breakpoint", "DebugTrace", "ExecutionFrame", "TraceSink"]

_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class ExecutionFrame:
    """One recorded event of the plugin's code (the spec's ``ExecutionFrame``)."""

    index: int
    event: Literal["call", "line", "return", "exception"]
    function: str
    file: str
    line: int
    variables: dict[str, str]
    timestamp: float  # ms since the trace started
    depth: int
    hook: str | None = None
    execution_id: str | None = None
    value: str | None = None  # the return value or exception, for those events
    duration: float | None = None  # ms until the next recorded event


@dataclass(frozen=True, slots=True)
class Breakpoint:
    """Where to stop: a line of a file (name or path suffix) or a function, maybe only
    when ``condition`` (a Python expression over the frame's locals) is true."""

    file: str | None = None
    line: int | None = None
    function: str | None = None
    condition: str | None = None


@dataclass
class DebugTrace:
    """The spec's ``DebugTrace``: a recording plus a cursor that moves through it."""

    plugin_id: str
    start_time: float = field(default_factory=time.time)
    id: str = field(default_factory=lambda: f"trace-{next(_ids)}")
    execution: list[ExecutionFrame] = field(default_factory=list)
    state: Literal["running", "paused", "completed", "error"] = "running"
    breakpoints: list[Breakpoint] = field(default_factory=list)
    truncated: bool = False
    dropped: int = 0  # rows a worker sent that were not trace rows
    cursor: int = -1
    hits: set[int] = field(default_factory=set)
    #: Each recorded file's lines as they were when it ran: a plugin redefined or edited
    #: since then must not show its new code against the old run's line numbers.
    sources: dict[str, list[str]] = field(default_factory=dict)

    # -- moving through the tape ------------------------------------------------------
    @property
    def current(self) -> ExecutionFrame | None:
        return self.execution[self.cursor] if 0 <= self.cursor < len(self.execution) else None

    def goto(self, index: int) -> ExecutionFrame:
        if not self.execution:
            raise IndexError(f"{self.id}: nothing was recorded")
        if not -len(self.execution) <= index < len(self.execution):
            raise IndexError(f"{self.id}: frame {index} is outside 0..{len(self.execution) - 1}")
        self.cursor = index % len(self.execution)
        self.state = "paused"
        return self.execution[self.cursor]

    def step(self) -> ExecutionFrame | None:
        """One event forward (None at the end, which completes the trace)."""
        if self.cursor + 1 >= len(self.execution):
            self.state = "completed"
            self.cursor = len(self.execution)
            return None
        return self.goto(self.cursor + 1)

    def back(self) -> ExecutionFrame | None:
        """One event backward (None before the start)."""
        if self.cursor <= 0:
            self.cursor = -1
            return None
        return self.goto(self.cursor - 1)

    def continue_(self, hits: Collection[int] | None = None) -> ExecutionFrame | None:
        """Forward to the next breakpoint hit (or the end).

        ``hits`` replaces the recorded ones: breakpoints chosen after the fact, say
        ``frames_at(line)``, since the whole run is on the tape.
        """
        stops = self.hits if hits is None else hits
        for index in range(self.cursor + 1, len(self.execution)):
            if index in stops:
                return self.goto(index)
        self.cursor, self.state = len(self.execution), "completed"
        return None

    def reverse_continue(self, hits: Collection[int] | None = None) -> ExecutionFrame | None:
        """Backward to the previous breakpoint hit (or the start); ``hits`` as in
        ``continue_``."""
        stops = self.hits if hits is None else hits
        for index in range(min(self.cursor, len(self.execution)) - 1, -1, -1):
            if index in stops:
                return self.goto(index)
        self.cursor = -1
        return None

    # -- breakpoints after the fact ---------------------------------------------------
    def files(self) -> list[str]:
        """The files whose lines were recorded, in the order they first ran."""
        return list(dict.fromkeys(f.file for f in self.execution))

    def lines(self, file: str | None = None) -> list[int]:
        """The line numbers that ran (in ``file``, a path or name suffix), sorted."""
        return sorted({f.line for f in self.execution if file is None or _same(f.file, file)})

    def source(self, file: str) -> list[str]:
        """The lines of ``file`` as recorded (empty when its source could not be read)."""
        return self.sources.get(file, [])

    def frames_at(
        self, line: int, file: str | None = None, function: str | None = None
    ) -> list[int]:
        """The frames a breakpoint on ``line`` (of ``file``, in ``function``) would stop
        at, had it been set before recording (as the recorder matches: every event)."""
        return [
            f.index
            for f in self.execution
            if f.line == line
            and (file is None or _same(f.file, file))
            and (function is None or f.function == function)
        ]

    def history(self, name: str) -> list[tuple[int, int, str]]:
        """How variable ``name`` changed: (frame index, line, value) at each change."""
        out: list[tuple[int, int, str]] = []
        last: str | None = None
        for frame in self.execution:
            value = frame.variables.get(name)
            if value is not None and value != last:
                out.append((frame.index, frame.line, value))
                last = value
        return out

    def changes(self) -> list[dict[str, str]]:
        """Per event, the variables it shows new or changed since the previous event of
        the same call (a call's first event: its arguments): what each step did, where
        the full ``variables`` repeat everything, ``ctx`` first, on every row."""
        out: list[dict[str, str]] = []
        last: dict[int, dict[str, str]] = {}  # by call depth: the latest variables seen
        for f in self.execution:
            before = {} if f.event == "call" else last.get(f.depth, {})
            out.append({k: v for k, v in f.variables.items() if before.get(k) != v})
            last[f.depth] = f.variables
        return out

    def frame(self) -> Any:
        """The recording as a DataFrame (one row per event); ``changed`` says what each
        event set, as ``name=value`` (``changes``)."""
        from ..observe.frames import frame

        changed = [", ".join(f"{k}={v}" for k, v in c.items()) for c in self.changes()]
        rows = [
            (f.index, f.event, f.function, Path(f.file).name, f.line, f.depth, f.timestamp,
             f.duration, f.hook, f.execution_id, f.value, f.index in self.hits, c, f.variables)
            for f, c in zip(self.execution, changed, strict=True)
        ]  # fmt: skip
        return frame(rows, ("index", "event", "function", "file", "line", "depth", "ms",
                            "duration_ms", "hook", "execution_id", "value", "breakpoint",
                            "changed", "variables"))  # fmt: skip


class TraceSink:
    """Where recordings land: rows of ``sandbox.guest_debug.Recorder`` — made around an
    inline handler or sent back by a worker — become the trace's ``ExecutionFrame`` s.

    Timestamps count from the session's start; rows are checked (a worker's rows are the
    plugin's word): one that is not a trace row is counted in ``trace.dropped``.
    """

    def __init__(self, trace: DebugTrace, max_frames: int) -> None:
        self.trace = trace
        self.max_frames = max_frames
        self.t0 = time.perf_counter()
        self.breakpoints = [dataclasses.asdict(bp) for bp in trace.breakpoints]

    @property
    def left(self) -> int:
        """Frames the session may still record."""
        return max(0, self.max_frames - len(self.trace.execution))

    def request(self) -> dict[str, Any]:
        """What a worker's call carries to record for this session."""
        return {"trace": {"max_frames": self.left, "breakpoints": self.breakpoints}}

    def recorder(self, ours: Callable[[str], bool]) -> Any:
        """A recorder for one inline call."""
        from ..sandbox.guest_debug import Recorder

        return Recorder(ours, self.left, self.breakpoints)

    def __call__(
        self, recorded: dict[str, Any], hook: str | None, eid: str | None, started: float
    ) -> None:
        trace = self.trace
        base = (started - self.t0) * 1000.0
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
            if frame.file not in trace.sources:
                trace.sources[frame.file] = _source_now(frame.file)
        if recorded.get("truncated") is True:
            trace.truncated = True


def _source_now(file: str) -> list[str]:
    """``file``'s lines now: re-read from disk when it changed, or as the lab registered a
    cell-defined plugin (``<pliers plugin …>``, which has no file to go stale)."""
    linecache.checkcache(file)
    return list(linecache.getlines(file))


def _same(recorded: str, wanted: str) -> bool:
    """Whether ``recorded`` (a frame's file) is ``wanted``: the path, or a suffix of it."""
    return recorded == wanted or recorded.endswith("/" + wanted.lstrip("/"))


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
        # Only names the code could write: a comprehension's or generator's hidden ``.0``
        # is the iterator it consumes (``<dict_valueiterator …>``), not a variable.
        {str(k): str(v) for k, v in variables.items() if str(k).isidentifier()},
        base_ms + float(row["timestamp"]),
        int(row["depth"]),
        hook,
        eid,
        None if value is None else str(value),
        None if duration is None else float(duration),
    )
