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
from pliers_lab.host._checkpoint import Checkpointer, next_wait
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
    d.checkpointer = Checkpointer(d.path, min_wait_s=3600)
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
    found, _left, handed = db.checkpointer._round()
    assert found > checkpoint.HANDOFF_FRAMES and handed
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
    found, _left, handed = db.checkpointer._round()
    assert found <= checkpoint.HANDOFF_FRAMES and not handed
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
        assert "restarts" in step.note
        assert result.trace.names.index("checkpoint") == 0
        # It spans the writer's checkpoint, which ended before the operation's first hook.
        first_hook = result.trace.steps[1]
        assert step.t0 < step.t1 <= first_hook.t0
        assert step.t1 - step.t0 >= host.db.checkpointer.handoff_s
        assert host.db.checkpointer.handoffs == 1
    finally:
        host.close()
        engine.close()


def test_rounds_come_as_often_as_the_log_grows() -> None:
    per_round = checkpoint.ROUND_FRAMES
    assert next_wait(0, 1.0, 0.1, 1.0) == 1.0  # idle: the longest wait
    assert next_wait(per_round // 2, 1.0, 0.1, 1.0) == 1.0
    assert next_wait(per_round * 4, 1.0, 0.1, 1.0) == pytest.approx(0.25)
    assert next_wait(per_round * 4, 0.5, 0.1, 1.0) == pytest.approx(0.125)
    assert next_wait(per_round * 100, 1.0, 0.1, 1.0) == 0.1  # never more often than this


def test_an_idle_checkpointer_waits_the_longest(tmp_path: Path) -> None:
    path = tmp_path / "idle.sqlite3"
    Database(path, background_checkpoints=False).close()
    cp = Checkpointer(str(path), min_wait_s=0.01, max_wait_s=0.15)
    try:
        time.sleep(0.6)
        # Every 0.15 s: about 4 rounds, not the 60 of its shortest wait.
        assert 1 <= cp.runs <= 8
        assert cp.last_error is None
    finally:
        cp.close()
