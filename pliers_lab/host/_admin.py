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

A plugin that fails on every call would otherwise write a row per call (thousands a
second). At most one notice per plugin, action and error type is written per window
(``window_s``, a minute by default); the ones within it are counted, and one summary row
("N more like this") is written once the window has passed, or when the host closes.
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

__all__ = ["EVENT", "WINDOW_S", "AdminNotices"]

#: At most one notice per plugin, action and error type in this many seconds.
WINDOW_S = 60.0

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
        window_s: at most one notice per plugin, action and error type in this many
            seconds; the others are summed up in one row after it.
    """

    def __init__(
        self,
        db: Database,
        recipient: str,
        in_loop_thread: Callable[[], bool] = lambda: False,
        window_s: float = WINDOW_S,
    ) -> None:
        self.db = db
        self.recipient = recipient
        self.window_s = window_s
        self._in_loop_thread = in_loop_thread
        self._queue: deque[tuple[Any, ...]] = deque()
        self._flushing = threading.Lock()
        self._taking = threading.Lock()
        #: When each (plugin, action, error type) last had a notice queued.
        self._last: dict[tuple[str, str, Any], float] = {}
        #: Notices held back since then: how many, and the latest one's row.
        self._held: dict[tuple[str, str, Any], tuple[int, tuple[Any, ...]]] = {}

    def take(self, event: Mapping[str, Any]) -> None:
        """Queue one ``plugin.admin.notified`` event, or count it when one like it was
        queued less than ``window_s`` ago (any thread; never waits on the database)."""
        data = event.get("data") or {}
        row = (
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
        key = (row[1], row[2], row[5])
        with self._taking:
            last = self._last.get(key)
            if last is not None and row[8] - last < self.window_s:
                count = self._held[key][0] if key in self._held else 0
                self._held[key] = (count + 1, row)
                return
            self._summarise(key)
            self._last[key] = row[8]
            self._queue.append(row)

    def _summarise(self, key: tuple[str, str, Any]) -> None:
        """Queue the summary of the notices held back for ``key`` (``_taking`` held)."""
        held = self._held.pop(key, None)
        if held is None:
            return
        count, row = held
        after, until = (
            time.strftime("%H:%M:%S", time.localtime(t)) for t in (self._last[key], row[8])
        )
        detail = (
            f"{row[3]}: {count} more like this after the notice of {after}, up to {until},"
            f" written as one (at most one notice per plugin, action and error type every"
            f" {self.window_s:g} s); the error fields are the last one's"
        )
        self._queue.append((*row[:3], detail, *row[4:]))

    @property
    def pending(self) -> int:
        """Rows queued, and kinds of notice held back awaiting their summary."""
        return len(self._queue) + len(self._held)

    def flush(self, everything: bool = False) -> int:
        """Write what is queued in one transaction of its own; how many rows. Summaries
        of held-back notices are queued first once their window has passed (all of
        them with ``everything``: the host is closing). Called when no host operation
        holds the database; if one does after all (another thread's), the rows stay
        queued for that operation's end."""
        if self._held:
            now = time.time()
            with self._taking:
                for key in list(self._held):
                    if everything or now - self._last[key] >= self.window_s:
                        self._summarise(key)
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
