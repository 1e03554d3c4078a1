"""The debugger's recorder: a plugin's frames as rows, standard library only.

One implementation for both places a plugin runs: ``engine.debugger`` runs it around an
inline plugin's handlers, and a worker runs it around a sandboxed one's (a worker sees
only the sandbox package and cannot import ``pliers_lab.debug``, hence its home here). A
``sys.settrace`` recorder keeps the plugin's own frames as JSON-able rows (local
variables as short reprs; breakpoints matched here, where the frame's locals are), and
``profiled`` summarises a cProfile run as rows. ``debug.trace.TraceSink`` turns trace
rows into ``ExecutionFrame`` entries.
"""

from __future__ import annotations

import reprlib
import sys
import time

TYPE_CHECKING = False  # not typing's: the worker must not pay for importing typing
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType
    from typing import Any

__all__ = ["Recorder", "profiled", "summarise", "under"]

_repr = reprlib.Repr()
_repr.maxstring = 80
_repr.maxother = 80
_repr.maxlist = _repr.maxdict = 8


def _matches(bp: dict[str, Any], row: dict[str, Any], frame: FrameType) -> bool:
    file = bp.get("file")
    if file and not (row["file"] == file or row["file"].endswith("/" + file)):
        return False
    if bp.get("line") is not None and row["line"] != bp["line"]:
        return False
    if bp.get("function") and row["function"] != bp["function"]:
        return False
    condition = bp.get("condition")
    if not condition:
        return True
    try:
        return bool(eval(condition, {}, dict(frame.f_locals)))  # the user's own expression
    except Exception:
        return False


def under(root: str) -> Callable[[str], bool]:
    """The files of a plugin's folder (what a worker traces)."""
    prefix = root.rstrip("/") + "/"
    return lambda filename: filename.startswith(prefix)


class Recorder:
    """A trace function keeping the frames of files ``ours`` accepts as rows (dicts)."""

    def __init__(
        self, ours: Callable[[str], bool], max_frames: int, breakpoints: list[dict[str, Any]]
    ) -> None:
        self.ours = ours
        self.max_frames = max_frames
        self.breakpoints = breakpoints
        self.rows: list[dict[str, Any]] = []
        self.truncated = False
        self.t0 = time.perf_counter()
        self._depth: dict[int, int] = {}

    def __call__(self, frame: FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
        if event != "call" or not self.ours(frame.f_code.co_filename):
            return None
        back = frame.f_back
        self._depth[id(frame)] = self._depth.get(id(back), -1) + 1 if back is not None else 0
        self._record(frame, "call", None)
        return self._local

    def _local(self, frame: FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
        if event == "line":
            self._record(frame, "line", None)
        elif event == "return":
            self._record(frame, "return", _repr.repr(arg))
            self._depth.pop(id(frame), None)
        elif event == "exception":
            self._record(frame, "exception", f"{arg[0].__name__}: {arg[1]}")
        return self._local

    def _record(self, frame: FrameType, event: str, value: str | None) -> None:
        if len(self.rows) >= self.max_frames:
            self.truncated = True
            return
        now = (time.perf_counter() - self.t0) * 1000.0
        if self.rows:
            self.rows[-1]["duration"] = now - self.rows[-1]["timestamp"]
        row = {
            "event": event,
            "function": frame.f_code.co_name,
            "file": frame.f_code.co_filename,
            "line": frame.f_lineno,
            "variables": {
                k: _repr.repr(v) for k, v in frame.f_locals.items() if not k.startswith("__")
            },
            "timestamp": now,
            "depth": self._depth.get(id(frame), 0),
            "value": value,
            "duration": None,
        }
        row["hit"] = any(_matches(bp, row, frame) for bp in self.breakpoints)
        self.rows.append(row)

    def run(self, call: Callable[[], Any]) -> Any:
        previous = sys.gettrace()
        sys.settrace(self)
        try:
            return call()
        finally:
            sys.settrace(previous)

    def result(self) -> dict[str, Any]:
        return {"frames": self.rows, "truncated": self.truncated}


def summarise(profiler: Any) -> list[list[Any]]:
    """A cProfile run as rows: (function, file, line, calls, own ms, cumulative ms)."""
    import pstats

    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    return [
        [name, file, line, ncalls, tottime * 1000.0, cumtime * 1000.0]
        for (file, line, name), (_cc, ncalls, tottime, cumtime, _callers) in stats.items()
    ]


def profiled(call: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
    """``call()`` under cProfile: its value and ``{"profile": rows}`` (``summarise``)."""
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        value = call()
    finally:
        profiler.disable()
    return value, {"profile": summarise(profiler)}
