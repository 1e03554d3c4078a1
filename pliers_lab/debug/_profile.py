"""Profiling a plugin's handlers with the standard library's cProfile."""

from __future__ import annotations

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
    def from_rows(cls, plugin_id: str, rows: list[Any], calls: int) -> ProfileResult:
        """From ``sandbox.guest_debug.summarise`` rows, heaviest cumulative first."""
        functions = [
            (str(n), str(f), int(ln), int(c), float(o), float(cu)) for n, f, ln, c, o, cu in rows
        ]
        functions.sort(key=lambda r: r[5], reverse=True)
        return cls(plugin_id, calls, sum(r[4] for r in functions), functions)

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
