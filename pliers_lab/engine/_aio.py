"""Run coroutines from sync code, even inside a running event loop (a Jupyter kernel).

A kernel's loop is already running in the caller's thread, so ``asyncio.run`` fails and
blocking on that loop would deadlock. There the engine hands coroutines to a private loop
in a daemon thread; no nest_asyncio, no patched loops. Where no loop runs in the calling
thread (a script, a server's worker thread, a replay partition) the coroutine runs on a
loop kept for that thread instead: no thread hand-off, about ten times cheaper.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import EngineError

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
        self._local = threading.local()
        self._local_loops: list[asyncio.AbstractEventLoop] = []

    def _thread_loop(self) -> asyncio.AbstractEventLoop:
        import asyncio

        loop: asyncio.AbstractEventLoop | None = getattr(self._local, "loop", None)
        if loop is None or loop.is_closed():
            loop = self._local.loop = asyncio.new_event_loop()
            with self._lock:
                self._local_loops.append(loop)
        return loop

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

        try:
            asyncio.get_running_loop()
        except RuntimeError:  # nothing runs here: use this thread's own loop
            return self._thread_loop().run_until_complete(coro)
        loop = self._start()
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    def settle(self, awaitable: Awaitable[T]) -> T:
        """``run`` for any awaitable (what an async lifecycle handler returned)."""
        return self.run(_awaited(awaitable))

    def close(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
            local_loops, self._local_loops = self._local_loops, []
        for local in local_loops:
            if not local.is_running():
                local.close()
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            loop.close()


async def _awaited(awaitable: Awaitable[T]) -> T:
    return await awaitable
