"""WAL checkpoints: the thread does the bulk, the writer finishes, the log restarts."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest
from host.helpers import SIMPLE_FORM

from pliers_lab import Engine
from pliers_lab.host import Host
from pliers_lab.host import _checkpoint as checkpoint
from pliers_lab.host._checkpoint import Checkpointer
from pliers_lab.host._db import Database


def write(db: Database, rows: int) -> None:
    """``rows`` operations, each inserting one task with a 2 KB payload (a page or so)."""
    for i in range(rows):
        with db.operation():
            db.run(
                "INSERT INTO tasks (plugin_id, name, payload, run_at, status, created_at)"
                " VALUES (NULL, ?, ?, 0, 'scheduled', 0)",
                (f"t{i}", "x" * 2000),
            )


def log_size(db: Database) -> int:
    """Bytes in the write-ahead log file: it grows while frames are appended and stays
    as it is once the log restarts (frames are written from its start again)."""
    return os.path.getsize(db.path + "-wal")


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A host database whose checkpointer only runs when the test calls a round."""
    monkeypatch.setattr(checkpoint, "HANDOFF_FRAMES", 20)
    d = Database(tmp_path / "host.sqlite3")
    assert d.checkpointer is not None
    d.checkpointer.close()
    d.checkpointer = Checkpointer(d.path, interval_s=3600)
    d.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the migrations' frames
    yield d
    d.close()


def test_a_long_log_is_handed_to_the_writer_and_restarts(db: Database) -> None:
    assert db.checkpointer is not None
    write(db, 20)
    # A reader's snapshot keeps the thread's checkpoint from the frames written after
    # it, as the writer's commits during a round do.
    reader = sqlite3.connect(db.path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM tasks").fetchone()
    write(db, 20)
    assert db.checkpointer._round() > checkpoint.HANDOFF_FRAMES
    assert db.checkpointer.due.is_set()
    reader.execute("COMMIT")
    reader.close()
    size = log_size(db)

    with db.operation() as started:  # the writer finishes the checkpoint, then begins
        assert started is not None
    assert db.checkpointer.handoffs == 1
    assert not db.checkpointer.due.is_set()
    write(db, 3)
    # The operations after the hand-off wrote from the log's start again.
    assert log_size(db) == size


def test_a_short_log_is_not_handed_off(db: Database) -> None:
    assert db.checkpointer is not None
    write(db, 2)
    assert db.checkpointer._round() <= checkpoint.HANDOFF_FRAMES
    assert not db.checkpointer.due.is_set()
    with db.operation() as started:
        assert started is None
    assert db.checkpointer.handoffs == 0


def test_the_trace_shows_the_checkpoint_the_operation_waited_for(tmp_path: Path) -> None:
    engine = Engine(default_isolation="inline")
    host = Host(engine, tmp_path / "host.sqlite3")
    try:
        host.forms.create(SIMPLE_FORM)
        result = host.submit("simple", {"name": "Ada", "email": "ada@example.org"})
        assert "checkpoint" not in result.trace.names
        assert host.db.checkpointer is not None
        host.db.checkpointer.due.set()  # as a round that found a long log leaves it
        result = host.submit("simple", {"name": "Grace", "email": "grace@example.org"})
        step = result.trace.step("checkpoint")
        assert step.kind == "host"
        assert step.duration_ms >= 0
        assert "restarts" in step.note
        assert result.trace.names.index("checkpoint") == 0
        assert host.db.checkpointer.handoffs == 1
    finally:
        host.close()
        engine.close()


def test_an_idle_checkpointer_backs_off(tmp_path: Path) -> None:
    path = tmp_path / "idle.sqlite3"
    Database(path, background_checkpoints=False).close()
    cp = Checkpointer(str(path), interval_s=0.01, idle_s=0.16)
    try:
        time.sleep(0.6)
        # Waits of 0.01, 0.02, 0.04, 0.08, then 0.16 s: about 7 rounds, not 60.
        assert 1 <= cp.runs <= 12
        assert cp.last_error is None
    finally:
        cp.close()
