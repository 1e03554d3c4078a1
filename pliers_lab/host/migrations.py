"""The host's schema, as numbered migrations recorded in ``schema_migrations``.

A migration is applied once, in its own transaction, together with its row in
``schema_migrations``; a database written by a newer host (a version we do not know) is
refused rather than guessed at. Add a migration at the end; never edit an applied one.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

__all__ = ["MIGRATIONS", "Migration", "SchemaError", "migrate", "schema_version"]


class SchemaError(Exception):
    """The database's schema cannot be brought to this host's version."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: its version number, what it does, and its SQL."""

    version: int
    description: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "forms with their fields, workflow statuses and transitions",
        """
        CREATE TABLE forms (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            definition TEXT NOT NULL,          -- JSON: the whole normalized form
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            created_by TEXT
        );
        CREATE TABLE form_fields (
            form_id TEXT NOT NULL REFERENCES forms(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            name TEXT NOT NULL,
            type TEXT NOT NULL,
            required INTEGER NOT NULL,
            definition TEXT NOT NULL,          -- JSON: the field
            PRIMARY KEY (form_id, name)
        );
        CREATE TABLE workflow_statuses (
            form_id TEXT NOT NULL REFERENCES forms(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            category TEXT NOT NULL,
            is_initial INTEGER NOT NULL,
            is_final INTEGER NOT NULL,
            position INTEGER NOT NULL,
            PRIMARY KEY (form_id, name)
        );
        CREATE TABLE workflow_transitions (
            form_id TEXT NOT NULL REFERENCES forms(id) ON DELETE CASCADE,
            from_status TEXT NOT NULL,
            to_status TEXT NOT NULL,
            auto INTEGER NOT NULL,
            required_roles TEXT NOT NULL,      -- JSON list
            conditions TEXT NOT NULL,          -- JSON list
            PRIMARY KEY (form_id, from_status, to_status)
        );
        """,
    ),
    Migration(
        2,
        "submissions, status history, notifications outbox, scheduled tasks",
        """
        CREATE TABLE submissions (
            id TEXT PRIMARY KEY,
            form_id TEXT NOT NULL,
            form_version INTEGER NOT NULL,
            data TEXT NOT NULL,                -- JSON
            metadata TEXT NOT NULL,            -- JSON
            status TEXT NOT NULL,
            submitted_by TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE INDEX submissions_by_form ON submissions (form_id, status);
        CREATE TABLE status_history (
            id INTEGER PRIMARY KEY,
            submission_id TEXT NOT NULL,
            from_status TEXT NOT NULL,
            to_status TEXT NOT NULL,
            by TEXT,
            reason TEXT,
            at REAL NOT NULL
        );
        CREATE INDEX status_history_by_submission ON status_history (submission_id);
        CREATE TABLE notifications (
            id INTEGER PRIMARY KEY,
            submission_id TEXT,
            channel TEXT NOT NULL,             -- email | sms
            recipient TEXT NOT NULL,
            subject TEXT,
            body TEXT NOT NULL,
            status TEXT NOT NULL,              -- queued | sent
            receipt TEXT,                      -- JSON: what the sending plugin answered
            created_at REAL NOT NULL
        );
        CREATE INDEX notifications_by_submission ON notifications (submission_id);
        CREATE TABLE tasks (
            id INTEGER PRIMARY KEY,
            plugin_id TEXT,
            name TEXT NOT NULL,
            payload TEXT NOT NULL,             -- JSON
            run_at REAL NOT NULL,
            status TEXT NOT NULL,              -- scheduled | done
            created_at REAL NOT NULL
        );
        CREATE INDEX tasks_due ON tasks (status, run_at);
        """,
    ),
    Migration(
        3,
        "event log and the registry of per-plugin tables",
        """
        CREATE TABLE events (
            position INTEGER PRIMARY KEY,      -- global order of publication
            id TEXT NOT NULL,                  -- uuid; not indexed: one B-tree less per commit
            type TEXT NOT NULL,
            version INTEGER NOT NULL,
            aggregate_type TEXT NOT NULL,
            aggregate_id TEXT NOT NULL,
            sequence INTEGER NOT NULL,         -- gap-free per aggregate (event engine spec)
            causation_id TEXT,
            correlation_id TEXT,
            source TEXT NOT NULL,
            timestamp REAL NOT NULL,
            metadata TEXT NOT NULL,            -- JSON
            payload TEXT NOT NULL,             -- JSON
            UNIQUE (aggregate_type, aggregate_id, sequence)
        );
        CREATE TABLE plugin_tables (
            name TEXT PRIMARY KEY,             -- plugin_<plugin>_<table>
            plugin_id TEXT NOT NULL,
            short_name TEXT NOT NULL,
            created_at REAL NOT NULL,
            UNIQUE (plugin_id, short_name)
        );
        """,
    ),
)


def schema_version(conn: sqlite3.Connection) -> int:
    """The highest applied migration (0 for a new database)."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at REAL NOT NULL)"
    )
    row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
    return int(row[0])


def migrate(conn: sqlite3.Connection, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
    """Apply the migrations the database lacks; returns their versions.

    ``conn`` must be in autocommit mode (``isolation_level=None``): each migration runs
    in a transaction of its own.
    """
    current = schema_version(conn)
    newest = max((m.version for m in migrations), default=0)
    if current > newest:
        raise SchemaError(
            f"the database is at schema version {current}, newer than this host knows "
            f"({newest}); use a newer pliers_lab or another database file"
        )
    applied = []
    for migration in sorted(migrations, key=lambda m: m.version):
        if migration.version <= current:
            continue
        try:
            conn.execute("BEGIN IMMEDIATE")
            for statement in _statements(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.description, time.time()),
            )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise SchemaError(
                f"migration {migration.version} ({migration.description}) failed: {exc}"
            ) from exc
        applied.append(migration.version)
    return applied


def _statements(script: str) -> list[str]:
    """Split a migration into statements (our migrations hold no ';' inside literals)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
