"""Bringing counters and the execution store up to date, in batches.

On the hot path a successful execution costs extending its table's flat list
(``HookTable.trails``) with its trail, which holds its handlers' durations. The ledger
settles those trails later — every ``BATCH`` executions, and before anything reads a
count or the store: each handler of a table is counted once per batch (its count grows
by the batch's executions, its total and longest call come from ``sum`` and ``max`` over
one slice of the batch: a C loop each) and the batch's trails become one flat array of
floats in the execution store, freed while still in the CPU's cache.

Executions that did not simply succeed (a failure, a retry, a chain a veto or a first
answer cut short) are *odd*: the slow path already counted their noted calls, so the
ledger counts their plain successes at once and keeps their notes for the rows.
"""

from __future__ import annotations

import struct
import threading
from array import array
from functools import lru_cache
from operator import itemgetter
from typing import TYPE_CHECKING

from ..observe.executions import Chunk, ExecutionStore

if TYPE_CHECKING:
    from ._dispatch import HookTable, Trail
    from .hook_results import HookResult, Notes

__all__ = ["BATCH", "Ledger"]

#: Executions between two settlements (a power of two: the dispatcher tests the
#: execution number with a mask). Small enough that a batch is still in the CPU's
#: cache when it is folded; its trails then become one flat ``array`` of floats.
BATCH = 128


class Ledger:
    """The tables with unsettled trails, the odd executions, and how to settle them."""

    def __init__(self, store: ExecutionStore) -> None:
        #: Tables that got a trail since they were last settled (dispatch adds).
        self.dirty: set[HookTable] = set()
        self._odd: list[tuple[HookTable, Trail, Notes | None]] = []
        self._lock = threading.Lock()
        self._store = store
        store.settle = self.settle

    def keep(self, res: HookResult) -> None:
        """What an execution leaves: a plain one its trail, an odd one its notes too
        (``Dispatcher.fire`` does the same inline)."""
        table = res._table
        if res._notes is None and len(res._answers) == len(table.entries):
            table.trails.extend(res._trail)
            self.dirty.add(table)
        else:
            self.odd(res)

    def odd(self, res: HookResult) -> None:
        """An execution that did not simply succeed: count its plain successes now (the
        slow path counted the noted calls)."""
        table, notes, trail = res._table, res._notes, res._trail
        stats = table.stats
        with self._lock:  # a settle in another thread writes the same counts
            for i in range(len(res._answers)):
                if notes is None or i not in notes:
                    duration = trail[i + 2]
                    stats[i].add_calls(1, duration, duration)
            self._odd.append((table, trail, notes))

    def settle(self) -> None:
        """Fold every pending trail into its plugins' counters and the store."""
        if not self.dirty and not self._odd:
            return
        with self._lock:
            chunks: list[Chunk] = []
            for table in list(self.dirty):
                self.dirty.discard(table)  # a fire after this adds it again
                trails = table.trails
                taken = len(trails)  # whole trails: each extend is one C call
                if not taken:
                    continue
                batch = trails[:taken]
                del trails[:taken]  # trails added meanwhile stay for the next time
                width = len(table.impls) + 2
                executions = taken // width
                for i, stats in enumerate(table.stats):  # every call simply succeeded
                    durations = batch[i + 2 :: width]
                    stats.add_calls(executions, sum(durations), max(durations))
                chunks.append((int(batch[0]), table, _flat(batch), None))
            odd = self._odd
            taken = len(odd)
            for table, trail, notes in odd[:taken]:
                # An odd trail may be short (a cut chain): padded to the table's width
                # with zero durations, so every execution takes the same room.
                width = len(table.impls) + 2
                padded = trail + [0.0] * (width - len(trail))
                chunks.append((int(trail[0]), table, array("d", padded), [(len(trail), notes)]))
            del odd[:taken]
            chunks.sort(key=itemgetter(0))
            self._store.extend(chunks)


def _flat(batch: list[float]) -> array[float]:
    """The batch's trails (already one after the other in one list) as one array.

    ``array("d", iterable)`` parses each item through the argument parser (~20 ns
    each); packing the list with a prepared ``Struct`` converts it in C and the array
    takes the bytes whole: 2-3x faster, and settling is on the hot path's bill.
    """
    flat = array("d")
    flat.frombytes(_packer(len(batch)).pack(*batch))
    return flat


@lru_cache(maxsize=64)
def _packer(count: int) -> struct.Struct:
    """A ``Struct`` for ``count`` doubles: batches repeat the same few lengths."""
    return struct.Struct(f"{count}d")
