"""The host database: WAL, migrations, transactions, savepoints, threads."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from pathlib import Path

import pytest

from pliers_lab.host._checkpoint import Checkpointer
from pliers_lab.host._db import Database, default_path, new_id, plugin_table_name
from pliers_lab.host._exceptions import HostError
from pliers_lab.host._migrations import MIGRATIONS, Migration, SchemaError, migrate


@pytest.fixture
def db(tmp_path: Path):
    d = Database(tmp_path / "host.sqlite3")
    yield d
    d.close()


def count(d: Database, table: str = "tasks") -> int:
    return int(d.query(f"SELECT COUNT(*) FROM {table}")[0][0])


def add_task(d: Database, name: str = "t") -> None:
    d.execute(
        "INSERT INTO tasks (plugin_id, name, payload, run_at, status, created_at)"
        " VALUES (NULL, ?, '{}', 0, 'scheduled', 0)",
        (name,),
    )


def test_file_database_is_wal_with_normal_sync_and_a_checkpointer(db: Database) -> None:
    assert db.journal_mode == "wal"
    assert db.query("PRAGMA synchronous")[0][0] == 1  # NORMAL
    assert db.checkpointer is not None
    with db.operation():
        add_task(db)
    deadline = time.time() + 5
    while db.checkpointer.runs == 0 and time.time() < deadline:
        time.sleep(0.05)
    assert db.checkpointer.runs >= 1
    assert db.checkpointer.last_error is None


def test_memory_database_has_no_checkpointer() -> None:
    d = Database(":memory:")
    assert d.checkpointer is None
    assert d.journal_mode == "memory"
    d.close()


def test_migrations_are_versioned_and_applied_once(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    first = Database(path)
    assert first.applied_migrations == [m.version for m in MIGRATIONS]
    assert first.schema_version == MIGRATIONS[-1].version
    versions = [r[0] for r in first.query("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == [m.version for m in MIGRATIONS]
    first.close()
    again = Database(path)
    assert again.applied_migrations == []
    assert {
        "forms",
        "form_fields",
        "workflow_statuses",
        "workflow_transitions",
        "submissions",
        "status_history",
        "notifications",
        "tasks",
        "events",
        "plugin_tables",
    } <= set(again.tables())
    again.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "n.sqlite3"
    Database(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_migrations VALUES (99, 'from the future', 0)")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaError, match="schema version 99, newer than this pliers_lab knows"):
        Database(path)


def test_a_failing_migration_leaves_the_schema_where_it_was() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrate(conn)
    last = MIGRATIONS[-1].version
    broken = (
        *MIGRATIONS,
        Migration(
            last + 1, "half broken", "CREATE TABLE extra (x); INSERT INTO nowhere VALUES (1)"
        ),
    )
    with pytest.raises(
        SchemaError, match=rf"migration {last + 1} .half broken. failed: no such table: nowhere"
    ):
        migrate(conn, broken)
    assert conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0] == last
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'extra'").fetchone() is None
    conn.close()


def test_an_operation_commits_or_rolls_back(db: Database) -> None:
    with db.operation():
        add_task(db)
    with pytest.raises(RuntimeError), db.operation():
        add_task(db)
        add_task(db)
        raise RuntimeError("abort")
    assert count(db) == 1
    assert not db.in_operation


def test_a_nested_operation_is_a_savepoint(db: Database) -> None:
    with db.operation():
        add_task(db, "outer")
        with pytest.raises(ValueError), db.operation():
            add_task(db, "inner")
            raise ValueError("inner fails")
        add_task(db, "after")
    assert [r[0] for r in db.query("SELECT name FROM tasks ORDER BY id")] == ["outer", "after"]


def test_joined_calls_from_another_thread_belong_to_the_open_operation(db: Database) -> None:
    def api_call() -> None:
        with db.joined():
            add_task(db, "from a worker thread")

    with pytest.raises(RuntimeError), db.operation():
        worker = threading.Thread(target=api_call)
        worker.start()
        worker.join(5)
        assert count(db) == 1  # visible inside the operation...
        raise RuntimeError("the operation fails")
    assert count(db) == 0  # ...and rolled back with it


def test_joined_outside_an_operation_is_its_own_transaction(db: Database) -> None:
    with db.joined():
        add_task(db)
    assert count(db) == 1
    with pytest.raises(KeyError), db.joined():
        add_task(db)
        raise KeyError("x")
    assert count(db) == 1


def test_operations_from_two_threads_are_serialized(db: Database) -> None:
    order: list[str] = []
    inside = threading.Event()

    def other() -> None:
        inside.wait(5)
        with db.operation():
            order.append("other")

    thread = threading.Thread(target=other)
    thread.start()
    with db.operation():
        inside.set()
        time.sleep(0.1)
        order.append("first")
    thread.join(5)
    assert order == ["first", "other"]


def test_an_operation_from_the_plugin_worker_thread_is_refused_not_deadlocked(
    tmp_path: Path,
) -> None:
    worker_ident: list[int] = []
    d = Database(
        tmp_path / "w.sqlite3", in_worker_thread=lambda: threading.get_ident() in worker_ident
    )
    errors: list[BaseException] = []

    def plugin_code() -> None:
        worker_ident.append(threading.get_ident())
        try:
            with d.operation():
                pass
        except HostError as exc:
            errors.append(exc)

    with d.operation():
        thread = threading.Thread(target=plugin_code)
        thread.start()
        thread.join(5)
    assert "would wait for itself" in str(errors[0])
    d.close()


def test_default_path_follows_engine_then_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLIERS_LAB_DATA", str(tmp_path / "env"))
    assert default_path() == tmp_path / "env" / "host.sqlite3"

    class WithDataDir:
        data_dir = tmp_path / "engine"

    assert default_path(WithDataDir()) == tmp_path / "engine" / "host.sqlite3"
    assert (tmp_path / "engine").is_dir()


def test_ids_are_time_ordered_uuid7() -> None:
    ids = [new_id() for _ in range(50)]
    assert all(uuid.UUID(i).version == 7 for i in ids)
    assert len(set(ids)) == 50
    earlier = new_id()
    time.sleep(0.002)
    assert new_id() > earlier


def test_plugin_tables_are_namespaced() -> None:
    assert plugin_table_name("audit-log", "entries") == "plugin_audit_log_entries"


def test_checkpointer_stops_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    Database(path, background_checkpoints=False).close()
    cp = Checkpointer(str(path), min_wait_s=0.01, max_wait_s=0.01)
    time.sleep(0.05)
    cp.close()
    assert cp.runs >= 1
    assert not cp._thread.is_alive()


def test_counts_lists_every_table(db: Database) -> None:
    counts = db.counts()
    assert counts["schema_migrations"] == len(MIGRATIONS)
    assert counts["submissions"] == 0


def test_dumps_answers_as_the_strict_compact_encoder_does() -> None:
    """``dumps`` calls the C encoder directly: same text, same errors as
    ``JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode``."""
    import json

    from pliers_lab.host._db import dumps

    reference = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    values = ['a"é\n', 1, 1.5, True, None, {"a": [1, 2.5, {"b": None}], "é": "x", 3: 4}, [], {}]
    for value in values:
        assert dumps(value) == reference.encode(value)
    cyclic: dict[str, object] = {}
    cyclic["self"] = cyclic
    for bad in (float("nan"), {"a": float("inf")}, {"x": object()}, cyclic):
        with pytest.raises((TypeError, ValueError)) as ours:
            dumps(bad)
        with pytest.raises((TypeError, ValueError)) as theirs:
            reference.encode(bad)
        assert (type(ours.value), str(ours.value)) == (type(theirs.value), str(theirs.value))
