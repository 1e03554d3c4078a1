"""Run coroutines from sync code, even inside a running event loop (a Jupyter kernel).

A kernel's loop is already running in the caller's thread, so ``asyncio.run`` fails and
blocking on that loop would deadlock. The engine keeps one private loop in a daemon thread
and hands coroutines to it; no nest_asyncio, no patched loops.
"""

from __future__ import annotations

import threading
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import EngineError

if TYPE_CHECKING:
    import asyncio

T = TypeVar("T")


class LoopThread:
    """A private event loop in a daemon thread, started on first use."""

    def __init__(self, name: str = "pliers-engine-loop") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _start(self) -> asyncio.AbstractEventLoop:
        import asyncio  # ~20 ms, and only engines with async handlers need it

        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def serve() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                thread = threading.Thread(target=serve, name=self._name, daemon=True)
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
            return self._loop

    def in_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the private loop and wait for its result in this thread."""
        if self.in_loop_thread():
            coro.close()
            raise EngineError(
                "a synchronous engine call was made from an async handler; "
                "use the async form (e.g. `await engine.afire(...)`) there"
            )
        import asyncio

        loop = self._start()
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    def close(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            loop.close()
