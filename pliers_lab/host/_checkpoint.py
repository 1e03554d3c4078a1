"""WAL checkpoints off the request path.

In WAL mode SQLite copies the log back into the database file every
``wal_autocheckpoint`` pages, inside whichever commit crosses the mark, and with
``synchronous=NORMAL`` that checkpoint is the only write that waits for the disk. Here it
took 5-17 ms once every ~80 submissions: a quarter of the pipeline's mean time went to
one commit in eighty. A ``Checkpointer`` runs passive checkpoints from its own
connection in a daemon thread instead (SQLite releases the GIL while it writes), and
the writer keeps a large ``wal_autocheckpoint`` only as a safety net for when the thread
falls behind. Once a second, not more: on this machine's virtual disk every fsync
stalls the writer's own writes, so frequent checkpoints cost more than they save
(measured mean per submission: 277 µs in-commit every 1,000 pages, 439 µs with a 50 ms
thread, 245 µs with a 1 s thread).
"""

from __future__ import annotations

import sqlite3
import threading

__all__ = ["SAFETY_NET_PAGES", "Checkpointer"]

#: ``wal_autocheckpoint`` of the writing connection while a checkpointer runs.
SAFETY_NET_PAGES = 20_000


class Checkpointer:
    """Checkpoint the WAL of ``path`` every ``interval_s`` seconds in a daemon thread."""

    def __init__(self, path: str, interval_s: float = 1.0) -> None:
        self.path = path
        self.interval_s = interval_s
        self.runs = 0
        self.last_error: sqlite3.Error | None = None
        self._stop = threading.Event()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA busy_timeout=1000")
        self._thread = threading.Thread(
            target=self._serve, name=f"pliers-checkpoint:{path}", daemon=True
        )
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                self.runs += 1
            except sqlite3.Error as exc:  # busy or locked: try again next round
                self.last_error = exc

    def close(self) -> None:
        """Stop the thread and close its connection (a final checkpoint is the writer's)."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._conn.close()
