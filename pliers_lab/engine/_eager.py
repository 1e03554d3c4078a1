"""``async def`` handlers that can never suspend, run without an event loop.

A coroutine suspends only at an ``await`` (``async for`` and ``async with`` await too).
A handler whose own code has none — plugin authors write ``async def`` out of habit —
finishes on its first step, so starting an event loop for it (a task, a loop turn, the
selector polled: tens of microseconds per hook, issue 17) buys nothing. Its code is read
once, when the plugin is activated: if it cannot suspend and names nothing that needs a
running loop, the dispatch loops call it through ``eager`` as a plain function, and a
hook whose handlers are all like it takes the synchronous path. Anything else keeps the
event loop; so does a handler that, against its code, suspends after all (it is then
refused, by name, not left half-run).
"""

from __future__ import annotations

import dis
import inspect
from collections.abc import Callable, Coroutine
from types import CodeType
from typing import Any

__all__ = ["eager", "never_suspends"]

#: Opcodes of an await, an async for/with, or an async comprehension (CPython 3.11-3.13).
_SUSPENDING = frozenset({
    "GET_AWAITABLE", "GET_AITER", "GET_ANEXT", "BEFORE_ASYNC_WITH", "SEND", "YIELD_VALUE",
    "END_ASYNC_FOR", "ASYNC_GEN_WRAP", "CLEANUP_THROW",
})  # fmt: skip
#: Names whose use means the handler expects a running loop even before it awaits.
_LOOP_NAMES = frozenset({
    "asyncio", "get_running_loop", "get_event_loop", "current_task", "all_tasks",
    "create_task", "ensure_future", "run_coroutine_threadsafe", "timeout", "wait_for",
    "sleep", "gather", "shield", "to_thread", "anyio", "trio",
})  # fmt: skip


def never_suspends(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` is an ``async def`` whose code has no suspension point and names
    nothing of a running event loop."""
    if not inspect.iscoroutinefunction(fn):
        return False
    code = getattr(inspect.unwrap(fn), "__code__", None)
    return isinstance(code, CodeType) and _plain(code)


def _plain(code: CodeType) -> bool:
    if _LOOP_NAMES.intersection(code.co_names):
        return False
    if any(i.opname in _SUSPENDING for i in dis.get_instructions(code)):
        return False
    # Nested functions and lambdas may be called from the body: they must not need a loop
    # either (their own awaits, if any, only matter if they are awaited, which is caught
    # above).
    return all(_plain(c) for c in code.co_consts if isinstance(c, CodeType))


def eager(fn: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
    """``fn`` as a plain function: its coroutine is run to the end in one step."""

    def run(*args: Any) -> Any:
        coroutine = fn(*args)
        try:
            coroutine.send(None)
        except StopIteration as done:
            return done.value
        coroutine.close()
        raise RuntimeError(
            f"{getattr(fn, '__qualname__', fn)!r} suspended although its code has no await; "
            "it is run without an event loop (pliers_lab.engine._eager)"
        )

    run.__name__ = getattr(fn, "__name__", "handler")
    run.__qualname__ = getattr(fn, "__qualname__", run.__name__)
    run.__wrapped__ = fn  # type: ignore[attr-defined]
    return run
