"""The administrator's notifications: each ``plugin.admin.notified`` event of the engine
(a recovery decision for a plugin whose ``recovery.notifyAdmin`` is true) becomes one row
of ``admin_notifications``, addressed to the host's admin recipient.

The engine tells its listeners on the thread that made the decision, often inside a host
operation that the failure is about to roll back, and sometimes on the engine's loop
thread, which must never wait for the database. So an event is only queued here; the
queue is written in a transaction of its own when the outermost host operation ends —
committed or rolled back, the notice survives — and before anyone reads the table
through ``Host.admin_notifications``. The table is internal: no plugin can read or erase
what is said about it (``_tables.INTERNAL_TABLES``).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._exceptions import HostError

if TYPE_CHECKING:
    from ._db import Database

__all__ = ["EVENT", "AdminNotices"]

#: The activity event the engine emits for the administrator.
EVENT = "plugin.admin.notified"

_INSERT = (
    "INSERT INTO admin_notifications (recipient, plugin_id, action, detail, error_id,"
    " error_type, hook, message, status, decided_at, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?)"
)
_COLUMNS = (
    "id",
    "recipient",
    "plugin_id",
    "action",
    "detail",
    "error_id",
    "error_type",
    "hook",
    "message",
    "status",
    "decided_at",
    "created_at",
)


class AdminNotices:
    """Queued admin notifications of one host, and their table.

    Args:
        db: the host's database.
        recipient: to whom the rows are addressed (a user id, a role or an address).
        in_loop_thread: True on the engine's loop thread, which never writes (it could
            wait for an operation that waits for it).
    """

    def __init__(
        self, db: Database, recipient: str, in_loop_thread: Callable[[], bool] = lambda: False
    ) -> None:
        self.db = db
        self.recipient = recipient
        self._in_loop_thread = in_loop_thread
        self._queue: deque[tuple[Any, ...]] = deque()
        self._flushing = threading.Lock()

    def take(self, event: Mapping[str, Any]) -> None:
        """Queue one ``plugin.admin.notified`` event (any thread; never waits)."""
        data = event.get("data") or {}
        self._queue.append(
            (
                self.recipient,
                str(event.get("pluginId") or ""),
                str(data.get("action") or ""),
                str(data.get("detail") or ""),
                data.get("errorId"),
                data.get("errorType"),
                data.get("hook"),
                data.get("message"),
                float(event.get("timestamp") or time.time()),
            )
        )

    @property
    def pending(self) -> int:
        return len(self._queue)

    def flush(self) -> int:
        """Write what is queued in one transaction of its own; how many rows. Called
        when no host operation holds the database; if one does after all (another
        thread's), the rows stay queued for that operation's end."""
        if not self._queue or self.db.in_operation or self._in_loop_thread():
            return 0
        with self._flushing:
            rows = []
            while self._queue:
                rows.append(self._queue.popleft())
            if not rows:
                return 0
            now = time.time()
            try:
                with self.db.operation():
                    for row in rows:
                        self.db.execute(_INSERT, (*row, now))
            except (HostError, sqlite3.Error):
                self._queue.extendleft(reversed(rows))  # kept, in order, for the next flush
                return 0
            return len(rows)

    def rows(self, plugin_id: str | None = None) -> list[dict[str, Any]]:
        """The notifications written so far (after writing the queued ones), oldest first."""
        self.flush()
        where, args = ("WHERE plugin_id = ?", (plugin_id,)) if plugin_id else ("", ())
        found = self.db.query(
            f"SELECT {', '.join(_COLUMNS)} FROM admin_notifications {where} ORDER BY id", args
        )
        return [dict(zip(_COLUMNS, tuple(r), strict=True)) for r in found]
