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
(``wal_autocheckpoint``), that checkpoint had a second of frames to sync: one commit in
~1,800 stalled 18-45 ms here, ~20 µs per submission on average. So the thread hands the
last step to the writer: when the log has grown past ``HANDOFF_FRAMES``, it checkpoints
until a pass takes under ``SHORT_PASS_S`` (each pass copies what was committed during
the one before), then sets ``due``; the writer, before its next transaction, checkpoints
the few frames left (``handoff``, ~2 ms here) and its transaction restarts the log. The
writer keeps a large ``wal_autocheckpoint`` only as a safety net for when the thread
falls behind. Rounds every 0.1 s: once the log restarts, frequent rounds no longer cost
more than they save (before, a 50 ms thread was slower than a 1 s one). Measured here,
20,000 submissions one by one: mean 333 µs and the slowest 43-49 ms with 1 s rounds and
no hand-off; 322-325 µs and 4-5 ms with 0.1 s rounds and hand-offs.
"""

from __future__ import annotations

import sqlite3
import threading
import time

__all__ = ["HANDOFF_FRAMES", "SAFETY_NET_PAGES", "Checkpointer"]

#: ``wal_autocheckpoint`` of the writing connection while a checkpointer runs.
SAFETY_NET_PAGES = 20_000
#: Frames in the log past which the writer is asked to finish a checkpoint (~16 MB).
HANDOFF_FRAMES = 4_000
#: A pass this short leaves the writer little to copy.
SHORT_PASS_S = 0.002
#: Passes per round at most before the writer is asked anyway.
MAX_PASSES = 4


class Checkpointer:
    """Checkpoint the WAL of ``path`` every ``interval_s`` seconds in a daemon thread;
    the writer calls ``handoff`` before each transaction."""

    def __init__(self, path: str, interval_s: float = 0.1, idle_s: float = 1.0) -> None:
        self.path = path
        self.interval_s = interval_s
        self.idle_s = max(idle_s, interval_s)
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
        wait, last = self.interval_s, -1
        while not self._stop.wait(wait):
            try:
                frames = self._round()
            except sqlite3.Error as exc:  # busy or locked: try again next round
                self.last_error = exc
                frames = -1
            # Waking ten times a second costs an idle host little, but nothing is better:
            # while the log does not change, the wait doubles up to ``idle_s``.
            wait = min(wait * 2, self.idle_s) if frames == last else self.interval_s
            last = frames

    def _round(self) -> int:
        """One round of passive checkpoints; the frames in the log at the last pass."""
        for _ in range(MAX_PASSES):
            started = time.perf_counter()
            row = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.runs += 1
            frames = int(row[1])
            if frames <= HANDOFF_FRAMES:
                return frames  # a short log: it restarts by itself once the writes pause
            if time.perf_counter() - started < SHORT_PASS_S:
                break
        self.due.set()
        return frames

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
        self.handoffs += 1
        self.handoff_s += time.perf_counter() - started
        return started

    def close(self) -> None:
        """Stop the thread and close its connection (a final checkpoint is the writer's)."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._conn.close()
