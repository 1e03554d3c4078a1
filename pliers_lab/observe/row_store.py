"""A bounded, thread-safe-enough store of rows (appends are atomic on a deque)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar

from .frames import frame

T = TypeVar("T")


class BoundedStore(Generic[T]):
    """Keeps the newest ``capacity`` items; ``frame()`` flattens them into a DataFrame.

    ``dropped`` counts what fell out, so a report can say it is partial.
    """

    def __init__(
        self,
        capacity: int,
        columns: Sequence[str],
        to_rows: Callable[[T], list[tuple[Any, ...]]],
        time_columns: Sequence[str] = (),
    ) -> None:
        if capacity < 1:
            raise ValueError(f"store capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self.columns = tuple(columns)
        self.time_columns = tuple(time_columns)
        self._items: deque[T] = deque(maxlen=capacity)
        self._to_rows = to_rows
        self.total = 0

    def append(self, item: T) -> None:
        self._items.append(item)
        self.total += 1

    @property
    def dropped(self) -> int:
        return self.total - len(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._items))

    def clear(self) -> None:
        self._items.clear()

    def rows(self) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        for item in list(self._items):
            out.extend(self._to_rows(item))
        return out

    def frame(self) -> Any:
        """The stored items as a pandas DataFrame (pandas imported here, not before)."""
        return frame(self.rows(), self.columns, time_columns=self.time_columns)
