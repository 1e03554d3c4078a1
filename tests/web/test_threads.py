"""The daemon pool plugin code runs in."""

from __future__ import annotations

import threading

import pytest

from pliers_lab.web._threads import DaemonPool


def test_results_exceptions_and_reuse() -> None:
    pool = DaemonPool(2)
    assert pool.submit(lambda a, b: a + b, 2, 3).result(timeout=5) == 5
    failing = pool.submit(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        failing.result(timeout=5)
    for _ in range(20):
        pool.submit(lambda: None).result(timeout=5)
    assert pool.threads <= 2
    pool.shutdown()
    with pytest.raises(RuntimeError):
        pool.submit(lambda: None)


def test_threads_are_daemons_and_capped() -> None:
    pool = DaemonPool(2)
    release = threading.Event()
    started = threading.Barrier(3)

    def block() -> bool:
        started.wait(5)
        return release.wait(5)

    busy = [pool.submit(block) for _ in range(2)]
    started.wait(5)
    queued = pool.submit(lambda: "later")
    assert pool.threads == 2 and not queued.done()
    assert all(t.daemon for t in threading.enumerate() if t.name.startswith("pliers-web-"))
    release.set()
    assert [f.result(timeout=5) for f in busy] == [True, True]
    assert queued.result(timeout=5) == "later"
    pool.shutdown()
