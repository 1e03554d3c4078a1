"""The store: trusted keys, the lock, leftovers, and what is installed, in SQLite."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import pytest

from pliers_lab.market import NotFoundError, PluginStore, SigningKey


def test_trusted_keys_live_in_the_store(tmp_path: Path, key: SigningKey) -> None:
    store = PluginStore(tmp_path / "s")
    assert store.trusted_keys() == {}
    assert store.trust_key(key.public_key, "ann") == key.key_id
    again = PluginStore(tmp_path / "s")  # another process, another object: same store
    assert again.trusted_keys() == {key.key_id: key.public_key}
    again.untrust_key(key.key_id)
    assert store.trusted_keys() == {}
    with pytest.raises(NotFoundError, match=f"key {key.key_id} is not trusted"):
        store.untrust_key(key.key_id)


def test_the_layout(tmp_path: Path) -> None:
    store = PluginStore(tmp_path / "s")
    assert store.db == tmp_path / "s/store.db"
    assert store.version_dir("csv-export", "1.2.0") == tmp_path / "s/csv-export/1.2.0"
    assert store.data_dir("csv-export") == tmp_path / "s/.data/csv-export"
    with pytest.raises(NotFoundError, match="plugin 'x' is not installed"):
        store.get("x")
    assert "x" not in store and store.installed() == {} and store.history() == []


def test_the_lock_serialises_writers_and_sweeps_leftovers(tmp_path: Path) -> None:
    store = PluginStore(tmp_path / "s")
    with store.lock():
        crash = store.staging()
        (crash / "half-unpacked.py").write_text("x")
    with store.lock():
        assert not crash.exists()  # a crash's leftovers go at the next lock
    order: list[str] = []

    def second() -> None:
        with PluginStore(tmp_path / "s").lock():
            order.append("second")

    with store.lock():
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.2)
        order.append("first")
    thread.join()
    assert order == ["first", "second"]


def _hold(root: str, started, release) -> None:  # pragma: no cover - runs in a child
    with PluginStore(root).lock():
        started.set()
        release.wait(10)


def test_the_lock_holds_across_processes(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    started, release = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_hold, args=(str(tmp_path / "s"), started, release))
    PluginStore(tmp_path / "s")
    child.start()
    try:
        assert started.wait(30)
        got = threading.Event()

        def take() -> None:
            with PluginStore(tmp_path / "s").lock():
                got.set()

        taker = threading.Thread(target=take)
        taker.start()
        assert not got.wait(0.3)  # the other process holds it
        release.set()
        assert got.wait(10)
        taker.join()
    finally:
        release.set()
        child.join(10)
    assert child.exitcode == 0


def test_dependents_follow_the_active_manifests(market, publish, store) -> None:
    publish("base", "1.0.0")
    publish("left", dependencies={"base": "^1.0.0"})
    publish("right", optionalDependencies={"base": "^1.0.0"})
    publish("top", dependencies={"left": "*"})
    for name in ("left", "right", "top"):
        market.install(name)
    assert store.dependents("base") == ["left", "top"]  # optional does not count
    assert store.dependents("top") == []
