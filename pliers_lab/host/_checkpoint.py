"""WAL checkpoints off the request path, and a log that restarts instead of growing.

In WAL mode SQLite copies the log back into the database file every
``wal_autocheckpoint`` pages, inside whichever commit crosses the mark, and with
``synchronous=NORMAL`` that checkpoint is the only write that waits for the disk: its
fsync of the log flushes every frame written since the last one. A ``Checkpointer``
runs passive checkpoints from its own connection in a daemon thread instead (SQLite
releases the GIL while it copies and syncs).

A passive checkpoint never blocks the writer, so under a steady stream of commits it
never catches up with the log's end, and the log can only restart (be overwritten from
its start) after a checkpoint the writer itself runs. Left to the safety net
(``wal_autocheckpoint``), that checkpoint had up to a second of frames to sync: one
commit in ~1,800 stalled 18-57 ms here. So the thread hands the last step to the
writer: when the log has grown past ``HANDOFF_FRAMES``, it repeats passes (each copies
what was committed during the one before) until one is short, then sets ``due``; the
writer, before its next transaction, checkpoints the frames left (``handoff``, ~5 ms
here) and its transaction restarts the log.

When: every round costs a few fsyncs, whatever it copies, and pages that many commits
changed are copied once, so rounds should be as rare as the safety net allows. The
thread aims each round at ``ROUND_FRAMES`` frames from the rate the log grew (at most
once per ``min_wait_s``, at least once per ``max_wait_s``; an idle log waits the
longest). 0.5 s at most: a burst after a pause meets a round before the safety net
even from a host without plugins, the fastest writer here (~60,000 frames a second;
the safety net's in-commit checkpoint would sync all of it). Rounds every 0.1 s made
bench_pipeline's host without plugins 15 % slower (its three databases share one
disk). Measured here, 20,000 submissions one by one: the slowest wait for a checkpoint
4-7 ms instead of 18-57 ms, the mean 329-348 µs instead of 357; bench_pipeline's
throughput is the same within its noise.
"""

from __future__ import annotations

import sqlite3
import threading
import time

__all__ = ["HANDOFF_FRAMES", "ROUND_FRAMES", "SAFETY_NET_PAGES", "Checkpointer", "next_wait"]

#: ``wal_autocheckpoint`` of the writing connection while a checkpointer runs (160 MB
#: of log at 4 KiB pages): reached only when the thread falls behind.
SAFETY_NET_PAGES = 40_000
#: Frames a round aims to find in the log: half the safety net.
ROUND_FRAMES = SAFETY_NET_PAGES // 2
#: Frames in the log past which the writer is asked to finish a checkpoint (~16 MB).
HANDOFF_FRAMES = 4_000
#: A pass this short leaves the writer little to copy; a round makes at most
#: ``MAX_PASSES`` before it asks the writer anyway.
SHORT_PASS_S = 0.002
MAX_PASSES = 4


def next_wait(grown: int, elapsed_s: float, min_wait_s: float, max_wait_s: float) -> float:
    """Seconds until the next round, for a log that grew by ``grown`` frames in
    ``elapsed_s``: the time it takes to grow ``ROUND_FRAMES`` more at that rate."""
    if grown <= 0 or elapsed_s <= 0:
        return max_wait_s
    return min(max_wait_s, max(min_wait_s, ROUND_FRAMES * elapsed_s / grown))


class Checkpointer:
    """Checkpoint the WAL of ``path`` from a daemon thread, between every ``min_wait_s``
    and every ``max_wait_s`` seconds; the writer calls ``handoff`` before each
    transaction."""

    def __init__(self, path: str, min_wait_s: float = 0.1, max_wait_s: float = 0.5) -> None:
        self.path = path
        self.min_wait_s = min_wait_s
        self.max_wait_s = max(max_wait_s, min_wait_s)
        self.runs = 0
        #: Checkpoints the writer finished, and the seconds they took it.
        self.handoffs = 0
        self.handoff_s = 0.0
        self.last_error: sqlite3.Error | None = None
        #: Set when the writer should finish a checkpoint before its next transaction.
        self.due = threading.Event()
        self._stop = threading.Event()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA busy_timeout=1000")
        self._thread = threading.Thread(
            target=self._serve, name=f"pliers-checkpoint:{path}", daemon=True
        )
        self._thread.start()

    def _serve(self) -> None:
        wait, left, handed, ended = self.max_wait_s, 0, False, time.monotonic()
        while not self._stop.wait(wait):
            # A hand-off the writer took restarted the log: all it holds now is new.
            restarted = handed and not self.due.is_set()
            try:
                found, now_left, handed = self._round()
            except sqlite3.Error as exc:  # busy or locked: try again next round
                self.last_error = exc
                found, now_left, handed = left, left, False
            grown = found if restarted or found < left else found - left
            now = time.monotonic()
            wait = next_wait(grown, now - ended, self.min_wait_s, self.max_wait_s)
            left, ended = now_left, now

    def _round(self) -> tuple[int, int, bool]:
        """One round: the frames in the log at its first pass and at its last, and
        whether the writer was asked to finish."""
        found = frames = self._pass()
        if frames <= HANDOFF_FRAMES:
            return found, frames, False  # a short log restarts by itself when writes pause
        for _ in range(MAX_PASSES - 1):  # each pass copies what came during the one before
            started = time.perf_counter()
            frames = self._pass()
            if time.perf_counter() - started < SHORT_PASS_S:
                break
        self.due.set()
        return found, frames, True

    def _pass(self) -> int:
        """A passive checkpoint; the frames in the log."""
        row = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.runs += 1
        return int(row[1])

    def handoff(self, conn: sqlite3.Connection) -> float | None:
        """The writer's part, outside any transaction on ``conn``: when ``due``, checkpoint
        what the thread left, so that the next transaction restarts the log. Returns when
        it started (``perf_counter``), None when nothing was due."""
        if not self.due.is_set():
            return None
        self.due.clear()
        started = time.perf_counter()
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:  # the thread's next round tries again
            self.last_error = exc
        else:  # counted when finished, as the counters say
            self.handoffs += 1
            self.handoff_s += time.perf_counter() - started
        return started

    def close(self) -> None:
        """Stop the thread and close its connection (a final checkpoint is the writer's)."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._conn.close()
