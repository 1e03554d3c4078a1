"""SQLite for the registry and the store: a connection per operation, a schema per file.

A server thread, a notebook and a command line may share one database file. Each thread
keeps its own connection per file (sqlite3 connections are not shareable across threads;
reopening per call would checkpoint the WAL every time, ~3 ms), a forked child opens its
own, and every write runs in ``BEGIN IMMEDIATE``, which takes the write lock up front
instead of failing halfway through with "database is locked". WAL lets readers go on
meanwhile; ``synchronous=NORMAL`` is WAL's documented safe setting (a power cut may lose
the last commit, never corrupt the file).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["dumps", "loads", "migrate", "now", "transaction"]

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


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def _cached(path: Path) -> sqlite3.Connection:
    """This thread's connection to ``path`` (a new one after a fork)."""
    cache: dict[str, sqlite3.Connection] | None = getattr(_local, "conns", None)
    if cache is None or getattr(_local, "pid", None) != os.getpid():
        cache = _local.conns = {}
        _local.pid = os.getpid()
    key = str(path.absolute())
    conn = cache.pop(key, None)
    if conn is None:
        conn = _connect(path)
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


def migrate(path: Path, steps: Sequence[str]) -> None:
    """Bring the schema to ``len(steps)``: step *i* (a SQL script) moves version i → i+1.

    ``PRAGMA user_version`` records how far a file is, so an older store is upgraded in
    place and a newer one is refused instead of misread.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = _connect(path)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            if current > len(steps):
                raise RuntimeError(
                    f"{path} has schema version {current}; this pliers_lab knows up to "
                    f"{len(steps)} (upgrade pliers_lab to open it)"
                )
            for index in range(current, len(steps)):
                for statement in _statements(steps[index]):
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {len(steps)}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        conn.close()


def _statements(script: str) -> list[str]:
    """Split a schema script on ``;`` (ours hold no semicolons inside literals)."""
    return [s.strip() for s in script.split(";") if s.strip()]
