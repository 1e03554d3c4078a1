"""Quarantines that outlast the engine: a small SQLite file (``Engine(security_store=…)``).

An engine started on the same file starts its quarantined plugins quarantined (loaded,
not activated) until they are released. Every quarantine and release is also kept as a
row of ``security_actions`` — who or what did it (``source``), why, and the evidence —
so the record survives restarts too. Opened through the one SQLite layer.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from ..storage.sqlite import Migration, SchemaError, connect, dumps, loads, migrate, wal

__all__ = ["QuarantineStore"]

_MIGRATIONS = (
    Migration(
        1,
        "quarantined plugins and the record of quarantines and releases",
        """
        CREATE TABLE quarantines (
            plugin_id TEXT PRIMARY KEY,
            reason TEXT NOT NULL,
            version TEXT,
            source TEXT NOT NULL,
            evidence TEXT NOT NULL DEFAULT '[]',
            at REAL NOT NULL
        );
        CREATE TABLE security_actions (
            seq INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            action TEXT NOT NULL,
            plugin_id TEXT NOT NULL,
            version TEXT,
            reason TEXT NOT NULL,
            source TEXT NOT NULL,
            evidence TEXT NOT NULL DEFAULT '[]'
        );
        CREATE INDEX security_actions_plugin ON security_actions (plugin_id, seq);
        """,
    ),
)


class QuarantineStore:
    """The quarantines and the record of actions in the SQLite file at ``path``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = connect(self.path, shared=True)
            wal(db)
            migrate(db, _MIGRATIONS, what=f"the security store {self.path}")
        except (sqlite3.Error, SchemaError, OSError) as exc:
            raise ValueError(f"security store {self.path}: cannot use this file: {exc}") from None
        self._db = db

    def reasons(self) -> dict[str, str]:
        """Plugin id → why it is quarantined."""
        with self._lock:
            rows = self._db.execute("SELECT plugin_id, reason FROM quarantines").fetchall()
        return {r["plugin_id"]: r["reason"] for r in rows}

    def detail(self, plugin_id: str) -> dict[str, Any] | None:
        """The quarantine of ``plugin_id`` (reason, version, source, evidence, at)."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM quarantines WHERE plugin_id = ?", (plugin_id,)
            ).fetchone()
        if row is None:
            return None
        return {**dict(row), "evidence": loads(row["evidence"], [])}

    def quarantine(
        self,
        plugin_id: str,
        reason: str,
        *,
        version: str | None,
        source: str,
        evidence: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (),
    ) -> None:
        """Keep ``plugin_id`` quarantined (replacing an earlier reason) and record it."""
        now, text = time.time(), dumps(list(evidence))
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO quarantines VALUES (?, ?, ?, ?, ?, ?)",
                    (plugin_id, reason, version, source, text, now),
                )
                self._record(now, "quarantine", plugin_id, version, reason, source, text)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def release(
        self, plugin_id: str, *, version: str | None, source: str, reason: str = "released"
    ) -> bool:
        """Lift the quarantine of ``plugin_id`` and record it; False when there was none."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                gone = self._db.execute(
                    "DELETE FROM quarantines WHERE plugin_id = ?", (plugin_id,)
                ).rowcount
                if gone:
                    self._record(now, "release", plugin_id, version, reason, source, "[]")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return bool(gone)

    def _record(self, *row: Any) -> None:
        self._db.execute(
            "INSERT INTO security_actions (at, action, plugin_id, version, reason, source,"
            " evidence) VALUES (?, ?, ?, ?, ?, ?, ?)",
            row,
        )

    def actions(self, plugin_id: str | None = None) -> list[dict[str, Any]]:
        """Every quarantine and release recorded, oldest first."""
        sql = "SELECT * FROM security_actions"
        args: tuple[str, ...] = ()
        if plugin_id is not None:
            sql, args = sql + " WHERE plugin_id = ?", (plugin_id,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY seq", args).fetchall()
        return [{**dict(r), "evidence": loads(r["evidence"], [])} for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
