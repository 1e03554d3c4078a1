"""The store of hook executions: rows, not result objects.

Dispatch keeps nothing per execution but its trail (the execution number, a clock read
and each handler's duration) and, for calls that did not simply succeed, a note. The engine's
``Ledger`` hands them over in batches as *chunks*, one per hook table and batch, so the
store holds a few plain lists of floats instead of thousands of result objects that keep
payloads alive and that the garbage collector must walk again and again. Rows are built
when a frame is asked for.

Full ``HookResult`` objects (values, the data, every outcome) are kept only for the last
``recent`` executions: what the debugger's replay and the PDK harness read.
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..context import clock_reads, wall_time
from .frames import frame

if TYPE_CHECKING:
    from ..engine._dispatch import HookTable, Trail
    from ..engine.hook_results import HookResult, Notes

__all__ = ["COLUMNS", "Chunk", "ExecutionStore"]

COLUMNS = (
    "execution_id",
    "hook",
    "mode",
    "plugin_id",
    "priority",
    "start",
    "duration_ms",
    "status",
    "error_type",
    "error",
    "retries",
    "reason",
)

#: Executions of one table handed over together: (first execution number, the table,
#: their trails one after the other in one flat array of floats — each ``len(impls) + 2``
#: wide —, and for an odd execution (one only) how far its trail really goes and its
#: notes; None when every call of every execution simply succeeded).
Chunk = tuple[int, "HookTable", "array[float]", "list[tuple[int, Notes | None]] | None"]

_CUT = "an earlier handler ended the chain (a veto or a first answer)"


def _nothing() -> None:
    return None


class ExecutionStore:
    """Recent hook executions as rows, bounded by plugin calls (rows), not executions,
    so a hook with 100 handlers does not keep 100 times the memory; ``frame()`` has one
    row per plugin call. The full results of the last ``recent`` executions are kept
    apart (``results()``, ``find``).
    """

    def __init__(self, capacity: int, tag: str, recent: int = 1000) -> None:
        if capacity < 1:
            raise ValueError(f"store capacity must be at least 1, got {capacity}")
        if recent < 1:
            raise ValueError(f"recent results kept must be at least 1, got {recent}")
        self.capacity = capacity
        self.columns = COLUMNS
        self.tag = tag
        self._chunks: deque[Chunk] = deque()
        #: The full results of the last executions (dispatch appends, the deque drops).
        self.recent: deque[HookResult] = deque(maxlen=recent)
        #: Brings the store up to date (the engine's ``Ledger.settle``).
        self.settle: Callable[[], None] = _nothing
        self._total = 0
        self._held = 0
        self._rows_held = 0
        self._rows_dropped = 0

    # ------------------------------------------------------------------ writing
    def extend(self, chunks: list[Chunk]) -> None:
        """Add settled chunks (oldest first), then drop the oldest executions while the
        rows held exceed the capacity (the newest execution always stays)."""
        for chunk in chunks:
            executions = len(chunk[2]) // (len(chunk[1].impls) + 2)
            self._chunks.append(chunk)
            self._total += executions
            self._held += executions
            self._rows_held += executions * len(chunk[1].impls)
        self._trim()

    def _trim(self) -> None:
        chunks = self._chunks
        while self._rows_held > self.capacity and self._held > 1:
            _first, table, flat, _odd = chunks[0]
            per = len(table.impls)
            width = per + 2
            executions = len(flat) // width
            if per:
                rows_over = -(-(self._rows_held - self.capacity) // per)  # in executions
                drop = min(executions, rows_over, self._held - 1)
            else:  # executions of a hook no plugin handled: no rows, nothing to keep
                drop = min(executions, self._held - 1)
            if drop == executions:
                chunks.popleft()
            else:  # only a batch of plain executions holds more than one
                del flat[: drop * width]
            self._held -= drop
            self._rows_held -= drop * per
            self._rows_dropped += drop * per

    def clear(self) -> None:
        self.settle()
        self._chunks.clear()
        self.recent.clear()
        self._held = self._rows_held = 0

    # ------------------------------------------------------------------ reading
    @property
    def total(self) -> int:
        """Executions recorded since the engine started (dropped ones included)."""
        self.settle()
        return self._total

    @property
    def rows_held(self) -> int:
        self.settle()
        return self._rows_held

    @property
    def rows_dropped(self) -> int:
        self.settle()
        return self._rows_dropped

    @property
    def dropped(self) -> int:
        """Executions that fell out of the store."""
        self.settle()
        return self._total - self._held

    def __len__(self) -> int:
        """Executions whose rows are held."""
        self.settle()
        return self._held

    def results(self) -> list[HookResult]:
        """The full results of the last executions, oldest first (at most ``recent``)."""
        return list(self.recent)

    def find(self, execution_id: str) -> HookResult | None:
        """A recent execution's full result, or None when it is no longer kept."""
        for result in reversed(self.recent):
            if result.execution_id == execution_id:
                return result
        return None

    def rows(self) -> list[tuple[Any, ...]]:
        """One tuple per plugin call (``COLUMNS``), oldest execution first."""
        self.settle()
        numbered: list[tuple[int, list[tuple[Any, ...]]]] = []
        for _first, table, flat, odd in list(self._chunks):
            width = len(table.impls) + 2
            trails = flat.tolist()
            for at in range(0, len(trails), width):
                trail = trails[at : at + width]
                notes: Notes | None = None
                if odd is not None:
                    ran, notes = odd[0]
                    trail = trail[:ran]
                numbered.append((int(trail[0]), self._rows_of(table, trail, notes)))
        numbered.sort(key=lambda pair: pair[0])
        return [row for _seq, rows in numbered for row in rows]

    def _rows_of(
        self, table: HookTable, trail: Trail, notes: Notes | None
    ) -> list[tuple[Any, ...]]:
        execution_id = f"{self.tag}-{int(trail[0])}"
        ran = len(trail) - 2
        starts = clock_reads(trail)
        end = starts[-1]
        out = []
        for i, impl in enumerate(table.impls):
            if i < ran:
                start, duration = starts[i], trail[i + 2]
                status, error, retries, reason = (notes or {}).get(i, ("ok", None, 0, None))
            else:
                start, duration = end, 0.0
                status, error, retries, reason = "skipped", None, 0, _CUT
            out.append(
                (
                    execution_id,
                    table.name,
                    table.mode_name,
                    impl.plugin_id,
                    impl.priority,
                    wall_time(start),
                    duration * 1000.0,
                    status,
                    error.type.value if error is not None else None,
                    error.message if error is not None else None,
                    retries,
                    reason,
                )
            )
        return out

    def frame(self) -> Any:
        """The rows as a pandas DataFrame (pandas imported here, not before)."""
        return frame(self.rows(), self.columns, time_columns=("start",))
