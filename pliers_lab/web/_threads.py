"""A pool of daemon threads for plugin code.

``concurrent.futures.ThreadPoolExecutor`` joins its threads when the interpreter exits,
so one endpoint handler stuck in an endless loop would keep a notebook kernel or the
``serve`` command from ever exiting. Plugin code runs here instead: the same ``submit``
returning a ``Future``, daemon threads started on demand up to ``max_workers`` and
reused while idle.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

__all__ = ["DaemonPool"]

T = TypeVar("T")
_Item = tuple["Future[Any]", Callable[..., Any], tuple[Any, ...]] | None


class DaemonPool:
    """At most ``max_workers`` daemon threads running submitted calls."""

    def __init__(self, max_workers: int, name: str = "pliers-web") -> None:
        if max_workers < 1:
            raise ValueError("a pool needs at least one worker")
        self.max_workers = max_workers
        self.name = name
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self._closed = False

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``fn(*args)`` in a worker thread."""
        if self._closed:
            raise RuntimeError("the pool is shut down")
        future: Future[T] = Future()
        self._queue.put((future, fn, args))
        if not self._idle.acquire(blocking=False):
            with self._lock:
                if len(self._threads) < self.max_workers:
                    thread = threading.Thread(
                        target=self._work, name=f"{self.name}-{next(self._numbers)}", daemon=True
                    )
                    self._threads.append(thread)
                    thread.start()
        return future

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            future, fn, args = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except BaseException as exc:  # delivered to whoever waits
                    future.set_exception(exc)
            del item, future, fn, args
            self._idle.release()

    def shutdown(self) -> None:
        """Let idle threads end; busy ones end when their call returns (they are daemons)."""
        self._closed = True
        for _ in self._threads:
            self._queue.put(None)

    @property
    def threads(self) -> int:
        return len(self._threads)
