"""Profiling a plugin's handlers with the standard library's cProfile."""

from __future__ import annotations

import cProfile
import pstats
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ProfileResult"]


@dataclass
class ProfileResult:
    """The spec's ``ProfileResult``: where a plugin's handlers spent their time.

    ``functions`` rows: (function, file, line, calls, own_ms, cumulative_ms), heaviest
    cumulative first; ``calls`` counts handler calls made while profiling.
    """

    plugin_id: str
    calls: int = 0
    total_ms: float = 0.0
    functions: list[tuple[str, str, int, int, float, float]] = field(default_factory=list)

    @classmethod
    def from_profile(cls, plugin_id: str, profiler: cProfile.Profile, calls: int) -> ProfileResult:
        stats = pstats.Stats(profiler)
        rows = []
        for (file, line, name), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            rows.append((name, file, line, ncalls, tottime * 1000.0, cumtime * 1000.0))
        rows.sort(key=lambda r: r[5], reverse=True)
        total = sum(r[4] for r in rows)
        return cls(plugin_id, calls, total, rows)

    def top(self, n: int = 10, *, own_files: str | Path | None = None) -> list[tuple[Any, ...]]:
        """The ``n`` heaviest functions (only those under ``own_files`` when given)."""
        rows = self.functions
        if own_files is not None:
            root = str(Path(own_files).resolve())
            rows = [r for r in rows if str(Path(r[1]).resolve()).startswith(root)]
        return rows[:n]

    def frame(self) -> Any:
        from ..observe.frames import frame

        return frame(
            self.functions, ("function", "file", "line", "calls", "own_ms", "cumulative_ms")
        )
