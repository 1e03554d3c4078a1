"""The access log: every host capability a sandboxed plugin asked for, allowed or not.

Spec: Runtime Security Monitoring (``checkPermission``, ``logAccess``). One row per request
— plugin, hook, execution id, category/verb/resource, the operation, the verdict
(``allowed``, ``denied``, or ``audit`` for what audit mode let through but would have
denied) and the time. Bounded in memory; given a ``path``, every row is also written to
a SQLite file (WAL), so the trail survives restarts and outlives the memory bound, and
``rows()`` reads the whole of it. ``frame()`` builds a pandas DataFrame on demand.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from ..storage.sqlite import Migration, SchemaError, connect, migrate, wal

__all__ = ["AccessLog", "AccessRecord"]

ALLOWED, DENIED, AUDIT = "allowed", "denied", "audit"


class AccessRecord(NamedTuple):
    """One capability request and what the host decided."""

    timestamp: float
    plugin_id: str
    hook: str | None
    execution_id: str | None
    category: str
    verb: str
    resource: str
    operation: str
    verdict: str
    detail: str = ""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS access_log (
    seq INTEGER PRIMARY KEY,
    timestamp REAL NOT NULL,
    plugin_id TEXT NOT NULL,
    hook TEXT,
    execution_id TEXT,
    category TEXT NOT NULL,
    verb TEXT NOT NULL,
    resource TEXT NOT NULL,
    operation TEXT NOT NULL,
    verdict TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS access_log_plugin ON access_log (plugin_id, verdict);
"""
_COLUMNS = ", ".join(AccessRecord._fields)

_MIGRATIONS = (Migration(1, "the access log and its index", _SCHEMA),)


class AccessLog:
    """Thread-safe store of ``AccessRecord`` rows: the last ``capacity`` in memory, all of
    them in the SQLite file at ``path`` when one is given."""

    def __init__(self, capacity: int = 50_000, path: str | Path | None = None) -> None:
        self._rows: deque[AccessRecord] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self.path = Path(path) if path is not None else None
        self._db: sqlite3.Connection | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                db = connect(self.path, shared=True)
                wal(db)
                migrate(db, _MIGRATIONS, what=f"the access log {self.path}")
            except (sqlite3.Error, SchemaError) as exc:
                raise ValueError(f"access log {self.path}: cannot use this file: {exc}") from None
            self._db = db

    def record(
        self,
        plugin_id: str,
        hook: str | None,
        execution_id: str | None,
        category: str,
        verb: str,
        resource: str,
        operation: str,
        verdict: str,
        detail: str = "",
    ) -> AccessRecord:
        row = AccessRecord(
            time.time(),
            plugin_id,
            hook,
            execution_id,
            category,
            verb,
            resource,
            operation,
            verdict,
            detail,
        )
        with self._lock:
            self._rows.append(row)
            if self._db is not None:
                self._db.execute(
                    f"INSERT INTO access_log ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", row
                )
        return row

    def rows(self, plugin_id: str | None = None, verdict: str | None = None) -> list[AccessRecord]:
        """Rows in the order recorded (from the file, all of them, when there is one)."""
        if self._db is not None:
            where, args = [], []
            for column, value in (("plugin_id", plugin_id), ("verdict", verdict)):
                if value is not None:
                    where.append(f"{column} = ?")
                    args.append(value)
            sql = f"SELECT {_COLUMNS} FROM access_log"
            sql += f" WHERE {' AND '.join(where)}" if where else ""
            with self._lock:
                found = self._db.execute(sql + " ORDER BY seq", args).fetchall()
            return [AccessRecord(*r) for r in found]
        with self._lock:
            rows = list(self._rows)
        return [
            r
            for r in rows
            if (plugin_id is None or r.plugin_id == plugin_id)
            and (verdict is None or r.verdict == verdict)
        ]

    def __iter__(self) -> Iterator[AccessRecord]:
        return iter(self.rows())

    def __len__(self) -> int:
        if self._db is not None:
            with self._lock:
                (count,) = self._db.execute("SELECT count(*) FROM access_log").fetchone()
            return int(count)
        return len(self._rows)

    def clear(self) -> None:
        """Forget every row (the file's too)."""
        with self._lock:
            self._rows.clear()
            if self._db is not None:
                self._db.execute("DELETE FROM access_log")

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def frame(self, plugin_id: str | None = None) -> Any:
        """The log as a pandas DataFrame, times in UTC like every other frame."""
        from ..observe.frames import frame

        return frame(self.rows(plugin_id), AccessRecord._fields, time_columns=("timestamp",))
