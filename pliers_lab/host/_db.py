"""The host's SQLite database: one connection, WAL, and one transaction per host operation.

Threads. A host operation (submit, transition, create a form...) holds the operation lock
from its ``BEGIN`` to its ``COMMIT``/``ROLLBACK``. Plugin code runs *inside* that window,
but not always in the operation's thread: async handlers run on the engine's loop thread,
and a process sandbox will answer api calls from its reader thread. So the api does not
ask "which thread am I?" (contextvars do not reliably cross those hops) but "is an
operation open?": while one is, every api call joins its transaction (inside a savepoint,
so a failed call leaves no half of itself); otherwise the call is its own short
transaction. Host operations from other threads wait for the lock, and a nested operation
in the owning thread becomes a savepoint. Statements are serialized by a second lock, so
the connection (opened with ``check_same_thread=False``) is never used by two threads at
once.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from ..storage.sqlite import connect, schema_version, wal
from ._checkpoint import SAFETY_NET_PAGES, Checkpointer
from ._exceptions import HostError
from ._migrations import migrate

__all__ = ["Database", "default_path", "dumps", "loads", "new_id", "plugin_table_name"]

#: Compact, strict JSON (NaN is not JSON).
_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
loads = json.loads
_make_encoder = getattr(json.encoder, "c_make_encoder", None)
_encode_text = json.encoder.encode_basestring


def dumps(value: Any) -> str:
    """``_encoder.encode(value)``, calling the C encoder it would build directly: the two
    Python frames around it (``encode``, ``iterencode``) cost as much as encoding a
    small dict. A new encoder (and circular-reference memo) per call, as ``encode``
    makes one, so threads never share one."""
    if type(value) is str:
        return _encode_text(value)
    if _make_encoder is None:  # an interpreter without the C accelerator
        return _encoder.encode(value)
    encode = _make_encoder({}, _encoder.default, _encode_text, None, ":", ",", False, False, False)
    return "".join(encode(value, 0))


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


#: Ids need uniqueness, not secrecy: a seeded PRNG saves a system call per id.
_random_bits = random.Random(os.urandom(16)).getrandbits


#: The version (7) and variant (RFC 4122) bits of an id: cleared, then set, in one step.
_ID_CLEAR = ~((0xF << 76) | (0x3 << 62))
_ID_SET = (0x7 << 76) | (0x2 << 62)


def new_id() -> str:
    """A time-ordered UUID (version 7 layout: 48-bit milliseconds, then random bits).

    Ids that grow with time are appended at the right edge of the primary-key B-tree
    instead of landing on a random page, so a commit writes a few pages to the WAL, not
    one per index (this halved the commit cost of a submission in bench_pipeline).
    """
    value = ((time.time_ns() // 1_000_000) << 80 | _random_bits(80)) & _ID_CLEAR | _ID_SET
    h = "%032x" % value  # noqa: UP031 (a third faster than a format spec: three ids a submission)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def default_path(engine: Any = None) -> Path:
    """Where the embedded database lives when no path is given.

    The engine's data folder (``engine.data_dir``) when it has one, else
    ``$PLIERS_LAB_DATA``, else ``~/.local/share/pliers_lab``; the file is ``host.sqlite3``.
    """
    folder = getattr(engine, "data_dir", None) or os.environ.get("PLIERS_LAB_DATA")
    base = Path(folder) if folder else Path.home() / ".local" / "share" / "pliers_lab"
    base.mkdir(parents=True, exist_ok=True)
    return base / "host.sqlite3"


def plugin_table_name(plugin_id: str, table: str) -> str:
    """``plugin_<plugin>_<table>``: a plugin's own table (hyphens become underscores)."""
    return f"plugin_{plugin_id.replace('-', '_')}_{table}"


def check_identifier(name: object, what: str) -> str:
    """``name`` if it is a plain SQL identifier, else ``ValueError`` naming ``what``."""
    if not isinstance(name, str) or not _IDENT.match(name) or len(name) > 64:
        raise ValueError(f"{what} {name!r} is not a plain identifier (letters, digits, '_')")
    return name


class _Operation:
    """``Database.operation``'s context manager: a class, not a generator, because
    every host operation enters one (a generator-based one costs ~0.9 us more)."""

    __slots__ = ("db", "nested")

    def __init__(self, db: Database) -> None:
        self.db = db
        self.nested: AbstractContextManager[None] | None = None

    def __enter__(self) -> float | None:
        """Begin; returns when a checkpoint the writer had to finish first started
        (``perf_counter``; see checkpoint.py), None when there was none."""
        db, me = self.db, threading.get_ident()
        if db._owner == me:
            self.nested = db._savepoint()
            self.nested.__enter__()
            return None
        if db._owner is not None and db._in_worker_thread():
            raise HostError(
                "a host operation was started from plugin code running inside another host "
                "operation (the engine's loop thread); it would wait for itself. Plugins "
                "change host data through ctx.api, which joins the running operation"
            )
        db._op_lock.acquire()
        db._owner = me
        checkpointed = None
        try:
            if db.checkpointer is not None and db.checkpointer.due.is_set():
                with db._stmt_lock:
                    checkpointed = db.checkpointer.handoff(db.conn)
            db.run("BEGIN IMMEDIATE")
        except BaseException:
            db._owner = None
            db._op_lock.release()
            raise
        return checkpointed

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: Any
    ) -> bool:
        if self.nested is not None:
            return bool(self.nested.__exit__(kind, error, tb))
        db = self.db
        try:
            if kind is not None:
                db.run("ROLLBACK")
                db._columns.clear()  # tables created in this operation are gone
                return False
            try:
                db.run("COMMIT")
            except sqlite3.Error:
                if db.conn.in_transaction:
                    db.run("ROLLBACK")
                raise
            return False
        finally:
            db._owner = None
            db._op_lock.release()


class Database:
    """One SQLite connection with the host's schema and its transaction discipline.

    Args:
        path: a file path, or ``":memory:"`` for tests.
        in_worker_thread: returns True in a thread that runs plugin code for an open
            operation (the engine's loop thread); a host operation started there would
            wait on its own operation forever, so it is refused instead.
        background_checkpoints: checkpoint the WAL from a thread (see checkpoint.py)
            rather than inside the commit that crosses the mark.
    """

    def __init__(
        self,
        path: str | Path = ":memory:",
        *,
        in_worker_thread: Callable[[], bool] | None = None,
        background_checkpoints: bool = True,
    ) -> None:
        self.path = str(path)
        self.conn = connect(self.path, shared=True, timeout_s=5.0)  # the storage layer's
        self.journal_mode = wal(self.conn)
        self._in_worker_thread = in_worker_thread or (lambda: False)
        self._op_lock = threading.Lock()
        self._stmt_lock = threading.RLock()
        self._owner: int | None = None
        self._savepoints = itertools.count(1)
        self._columns: dict[str, tuple[str, ...]] = {}
        #: One cursor for statements whose cursor nobody keeps (``run``, ``returning``): a new
        #: cursor per statement is an object, a weak reference and a deallocation.
        self._cursor = self.conn.cursor()
        self.applied_migrations = migrate(self.conn)
        self.schema_version = schema_version(self.conn)
        self.checkpointer: Checkpointer | None = None
        if self.journal_mode.lower() == "wal" and background_checkpoints:
            self.conn.execute(f"PRAGMA wal_autocheckpoint={SAFETY_NET_PAGES}")
            self.checkpointer = Checkpointer(self.path)

    # ------------------------------------------------------------------ statements
    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        with self._stmt_lock:
            return self.conn.execute(sql, params)

    def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        """``execute`` for a statement whose cursor the caller does not need (no rows, no
        ``rowcount``): on the database's own cursor."""
        with self._stmt_lock:
            self._cursor.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[sqlite3.Row]:
        with self._stmt_lock:
            return self.conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        with self._stmt_lock:
            row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
            return row

    def returning(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """The row of a one-row ``INSERT ... RETURNING``, on the database's own cursor.
        Every row is read, so the statement is finished (reset) when this returns; a
        half-read statement on a kept cursor would hold its read snapshot open."""
        with self._stmt_lock:
            rows: list[sqlite3.Row] = self._cursor.execute(sql, params).fetchall()
            return rows[0] if rows else None

    # ------------------------------------------------------------------ transactions
    @property
    def in_operation(self) -> bool:
        """True while a host operation holds the database."""
        return self._owner is not None

    def operation(self) -> _Operation:
        """One host operation: a transaction, or a savepoint when nested in this thread.

        Commits when the block ends, rolls back (to the savepoint) when it raises.
        """
        return _Operation(self)

    @contextmanager
    def joined(self, *, atomic: bool = True) -> Iterator[None]:
        """For api calls: join the open operation (any thread), else run as one.

        Inside an operation the block runs in a savepoint, so a call that fails halfway
        leaves nothing; ``atomic=False`` skips it for single statements.
        """
        if self._owner is None:
            with self.operation():
                yield
        elif atomic:
            with self._savepoint():
                yield
        else:
            yield

    @contextmanager
    def _savepoint(self) -> Iterator[None]:
        name = f"sp{next(self._savepoints)}"
        self.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self.execute(f"ROLLBACK TO {name}")
            self.execute(f"RELEASE {name}")
            self._columns.clear()
            raise
        self.execute(f"RELEASE {name}")

    # ------------------------------------------------------------------ schema
    def columns(self, table: str) -> tuple[str, ...]:
        """The columns of ``table`` (empty when there is no such table); cached."""
        cols = self._columns.get(table)
        if cols is None:
            rows = self.query(f"PRAGMA table_info({check_identifier(table, 'table')})")
            cols = tuple(str(r["name"]) for r in rows)
            if cols:
                self._columns[table] = cols
        return cols

    def forget_columns(self, table: str) -> None:
        self._columns.pop(table, None)

    def tables(self) -> list[str]:
        rows = self.query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " ORDER BY name"
        )
        return [str(r["name"]) for r in rows]

    def counts(self) -> dict[str, int]:
        """Rows per table: what tests compare before and after a failed operation."""
        return {t: int(self.query(f"SELECT COUNT(*) FROM {t}")[0][0]) for t in self.tables()}

    def close(self) -> None:
        """Stop the checkpointer, checkpoint what is left, close the connection."""
        if self.checkpointer is not None:
            self.checkpointer.close()
            self.checkpointer = None
        with self._stmt_lock:
            if self.journal_mode.lower() == "wal":
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.conn.close()

    def __repr__(self) -> str:
        return f"<Database {self.path} schema v{self.schema_version} {self.journal_mode}>"
