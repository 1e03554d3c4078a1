"""Recording a plugin's execution line by line, and stepping through the recording.

``sys.settrace`` sees every frame; we keep only frames whose code lives in the plugin's
own files, snapshot their local variables as short reprs, and stop recording at
``max_frames`` so a runaway loop cannot eat the notebook's memory. The recording is then
a tape: ``step``/``back``/``goto``, and ``continue_``/``reverse_continue`` to the next or
previous breakpoint hit — time travel over what really happened.
"""

from __future__ import annotations

import itertools
import reprlib
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Literal

__all__ = ["Breakpoint", "DebugTrace", "ExecutionFrame", "Recorder"]

_ids = itertools.count(1)
_repr = reprlib.Repr()
_repr.maxstring = 80
_repr.maxother = 80
_repr.maxlist = _repr.maxdict = 8


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

    def matches(self, frame: ExecutionFrame) -> bool:
        if self.file and not (frame.file == self.file or frame.file.endswith("/" + self.file)):
            return False
        if self.line is not None and frame.line != self.line:
            return False
        return not (self.function and frame.function != self.function)


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

    def continue_(self) -> ExecutionFrame | None:
        """Forward to the next breakpoint hit (or the end)."""
        for index in range(self.cursor + 1, len(self.execution)):
            if index in self.hits:
                return self.goto(index)
        self.cursor, self.state = len(self.execution), "completed"
        return None

    def reverse_continue(self) -> ExecutionFrame | None:
        """Backward to the previous breakpoint hit (or the start)."""
        for index in range(min(self.cursor, len(self.execution)) - 1, -1, -1):
            if index in self.hits:
                return self.goto(index)
        self.cursor = -1
        return None

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

    def frame(self) -> Any:
        """The recording as a DataFrame (one row per event)."""
        from ..observe.frames import frame

        rows = [
            (f.index, f.event, f.function, Path(f.file).name, f.line, f.depth, f.timestamp,
             f.duration, f.hook, f.execution_id, f.value, f.index in self.hits, f.variables)
            for f in self.execution
        ]  # fmt: skip
        return frame(rows, ("index", "event", "function", "file", "line", "depth", "ms",
                            "duration_ms", "hook", "execution_id", "value", "breakpoint",
                            "variables"))  # fmt: skip


class Recorder:
    """The trace function: records frames of ``files`` into ``trace``."""

    def __init__(self, trace: DebugTrace, files: Iterable[str], max_frames: int) -> None:
        self.trace = trace
        self.files = {str(Path(f).resolve()) for f in files}
        self.max_frames = max_frames
        self.t0 = time.perf_counter()
        self.hook: str | None = None
        self.execution_id: str | None = None
        self._depth: dict[int, int] = {}

    def _ours(self, frame: FrameType) -> bool:
        filename = frame.f_code.co_filename
        return filename in self.files or str(Path(filename).resolve()) in self.files

    def __call__(self, frame: FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
        if event != "call" or not self._ours(frame):
            return None
        self._depth[id(frame)] = self._depth.get(id(frame.f_back), -1) + 1 if frame.f_back else 0
        self._record(frame, "call", None)
        return self._local

    def _local(self, frame: FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
        if event == "line":
            self._record(frame, "line", None)
        elif event == "return":
            self._record(frame, "return", _repr.repr(arg))
            self._depth.pop(id(frame), None)
        elif event == "exception":
            exc_type, exc, _tb = arg
            self._record(frame, "exception", f"{exc_type.__name__}: {exc}")
        return self._local

    def _record(self, frame: FrameType, event: Any, value: str | None) -> None:
        trace = self.trace
        if len(trace.execution) >= self.max_frames:
            trace.truncated = True
            return
        now = (time.perf_counter() - self.t0) * 1000.0
        if trace.execution:
            previous = trace.execution[-1]
            trace.execution[-1] = _with_duration(previous, now - previous.timestamp)
        variables = {
            name: _repr.repr(val)
            for name, val in frame.f_locals.items()
            if not name.startswith("__")
        }
        recorded = ExecutionFrame(
            len(trace.execution), event, frame.f_code.co_name, frame.f_code.co_filename,
            frame.f_lineno, variables, now, self._depth.get(id(frame), 0), self.hook,
            self.execution_id, value,
        )  # fmt: skip
        for bp in trace.breakpoints:
            if bp.matches(recorded) and _holds(bp.condition, frame):
                trace.hits.add(recorded.index)
        trace.execution.append(recorded)

    def run(self, call: Callable[[], Any]) -> Any:
        """Run ``call`` with this recorder as the thread's trace function."""
        previous = sys.gettrace()
        sys.settrace(self)
        try:
            return call()
        finally:
            sys.settrace(previous)


def _with_duration(f: ExecutionFrame, duration: float) -> ExecutionFrame:
    return ExecutionFrame(
        f.index, f.event, f.function, f.file, f.line, f.variables, f.timestamp, f.depth,
        f.hook, f.execution_id, f.value, duration,
    )  # fmt: skip


def _holds(condition: str | None, frame: FrameType) -> bool:
    if not condition:
        return True
    try:
        return bool(eval(condition, {}, dict(frame.f_locals)))  # the user's own expression
    except Exception:
        return False
