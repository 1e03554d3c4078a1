"""One SQLite layer for what the engine keeps on disk: the host's database, the
marketplace's registry and store, the sandbox's access log.

- ``connect`` opens every file the same way (autocommit, rows, foreign keys,
  ``synchronous=NORMAL`` — WAL's documented safe setting — and a busy timeout).
- ``transaction`` gives each thread one cached connection per file (sqlite3 connections
  are not shareable across threads; reopening per call would checkpoint the WAL every
  time, ~3 ms; a forked child opens its own) and runs writes in ``BEGIN IMMEDIATE``,
  which takes the write lock up front instead of failing halfway with "database is
  locked".
- ``migrate`` applies numbered ``Migration``s, each in its own transaction together with
  its row in ``schema_migrations``; a file written by a newer pliers_lab is refused rather
  than guessed at. Add a migration at the end; never edit an applied one. A migration
  may create triggers (their ``BEGIN ... END`` bodies are kept whole).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "Migration",
    "SchemaError",
    "connect",
    "dumps",
    "loads",
    "migrate",
    "migrate_file",
    "now",
    "numbered",
    "schema_version",
    "transaction",
    "wal",
]

#: How long a writer waits for another process's transaction before giving up.
BUSY_TIMEOUT_S = 30.0
#: Database files a thread keeps open at once.
MAX_CACHED = 8


def now() -> str:
    """The current UTC time as ISO 8601 (what every timestamp column holds)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dumps(value: Any) -> str:
    """Canonical JSON for a TEXT column."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def loads(text: str | None, default: Any = None) -> Any:
    return default if text is None else json.loads(text)


_local = threading.local()


def connect(
    path: str | Path, *, shared: bool = False, timeout_s: float = BUSY_TIMEOUT_S
) -> sqlite3.Connection:
    """A connection opened the same way for every file: autocommit (transactions are
    explicit), rows as ``sqlite3.Row``, foreign keys on, ``synchronous=NORMAL``, a busy
    timeout. ``shared``: usable from several threads (the caller serialises)."""
    conn = sqlite3.connect(
        path, timeout=timeout_s, isolation_level=None, check_same_thread=not shared
    )
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def wal(conn: sqlite3.Connection) -> str:
    """Switch the file to write-ahead logging; the journal mode in force (an in-memory
    database stays ``memory``)."""
    return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])


def _cached(path: Path) -> sqlite3.Connection:
    """This thread's connection to ``path`` (a new one after a fork)."""
    cache: dict[str, sqlite3.Connection] | None = getattr(_local, "conns", None)
    if cache is None or getattr(_local, "pid", None) != os.getpid():
        cache = _local.conns = {}
        _local.pid = os.getpid()
    key = str(path.absolute())
    conn = cache.pop(key, None)
    if conn is None:
        conn = connect(path)
        while len(cache) >= MAX_CACHED:  # the least recently used goes
            cache.pop(next(iter(cache))).close()
    cache[key] = conn  # (re)inserted last: the most recently used
    return conn


@contextmanager
def transaction(path: Path, *, write: bool = False) -> Iterator[sqlite3.Connection]:
    """A connection inside one transaction: committed on success, rolled back on error."""
    conn = _cached(path)
    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # also after a failed COMMIT: the connection is reused
            conn.execute("ROLLBACK")
        raise


class SchemaError(RuntimeError):
    """The database's schema cannot be brought to this host's version."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: its version number, what it does, and its SQL."""

    version: int
    description: str
    sql: str


def schema_version(conn: sqlite3.Connection) -> int:
    """The highest applied migration (0 for a new database)."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at REAL NOT NULL)"
    )
    row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
    return int(row[0])


def migrate(
    conn: sqlite3.Connection, migrations: Sequence[Migration], *, what: str = "the database"
) -> list[int]:
    """Apply the migrations the database lacks; returns their versions.

    ``conn`` must be in autocommit mode (``isolation_level=None``): each migration runs
    in a transaction of its own. A file whose versions are recorded only in ``PRAGMA
    user_version`` (the marketplace's files before this layer) is adopted at that version.
    ``user_version`` is kept equal to the newest version, so an older pliers_lab that
    reads it still opens its own files.
    """
    recorded = schema_version(conn)
    counted = int(conn.execute("PRAGMA user_version").fetchone()[0])
    current = max(recorded, counted)
    newest = max((m.version for m in migrations), default=0)
    if current > newest:
        raise SchemaError(
            f"{what} is at schema version {current}, newer than this pliers_lab knows "
            f"({newest}); use a newer pliers_lab or another database file"
        )
    if counted > recorded:
        _adopt(conn, recorded, counted)
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
    if counted != newest:
        conn.execute(f"PRAGMA user_version = {int(newest)}")
    return applied


def _adopt(conn: sqlite3.Connection, recorded: int, counted: int) -> None:
    """Record as applied the versions an earlier layer counted only in ``PRAGMA
    user_version`` (the marketplace's files before this layer)."""
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)",
        [(v, "adopted: applied before this layer (PRAGMA user_version)", time.time())
         for v in range(recorded + 1, counted + 1)],
    )  # fmt: skip
    conn.execute("COMMIT")


def migrate_file(path: Path, migrations: Sequence[Migration], *, what: str) -> None:
    """Create or upgrade the file at ``path`` (WAL) to the newest of ``migrations``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(path)
    try:
        wal(conn)
        migrate(conn, migrations, what=what)
    finally:
        conn.close()


def numbered(scripts: Sequence[str], what: str) -> tuple[Migration, ...]:
    """``Migration``s 1..n from SQL scripts listed in order (one per schema step)."""
    return tuple(Migration(i, f"{what} schema step {i}", sql) for i, sql in enumerate(scripts, 1))


def _statements(script: str) -> list[str]:
    """Split a migration into statements: at each ';' that ends one, as
    ``sqlite3.complete_statement`` tells, so a trigger's ``BEGIN ... END`` body (or a
    ';' inside a literal) stays whole. Comments are ``--`` to the end of the line (our
    migrations hold no ``--`` inside literals)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    statements, pending = [], ""
    for piece in "\n".join(lines).split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\r\n;"):
                statements.append(pending.strip().removesuffix(";").strip())
            pending = ""
    if pending.strip(" \t\r\n;"):
        statements.append(pending.strip().removesuffix(";").strip())
    return statements
