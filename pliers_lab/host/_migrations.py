"""The host's schema, as numbered migrations (applied by ``pliers_lab.storage``, the one
SQLite layer: each in its own transaction, recorded in ``schema_migrations``; a database
written by a newer host is refused). Add a migration at the end; never edit an applied one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from ..storage.sqlite import Migration, SchemaError, schema_version
from ..storage.sqlite import migrate as _migrate

__all__ = ["MIGRATIONS", "Migration", "SchemaError", "migrate", "schema_version"]


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
    Migration(
        4,
        "the administrator's notifications of plugin recovery decisions",
        """
        CREATE TABLE admin_notifications (
            id INTEGER PRIMARY KEY,
            recipient TEXT NOT NULL,
            plugin_id TEXT NOT NULL,
            action TEXT NOT NULL,              -- the recovery decision: restart, circuit_open...
            detail TEXT NOT NULL,
            error_id TEXT,
            error_type TEXT,
            hook TEXT,
            message TEXT,
            status TEXT NOT NULL,              -- queued
            decided_at REAL NOT NULL,          -- when the engine decided
            created_at REAL NOT NULL
        );
        CREATE INDEX admin_notifications_by_plugin ON admin_notifications (plugin_id);
        """,
    ),
)


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> list[int]:
    """Bring a host database to ``migrations`` (the storage layer's ``migrate``)."""
    return _migrate(conn, migrations, what="the host's database")
