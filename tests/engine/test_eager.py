"""``async def`` handlers that cannot suspend run without an event loop (issue 17)."""

from __future__ import annotations

import asyncio

import pytest
from support import manifest

from pliers_lab import Engine, PluginErrorType, hook
from pliers_lab.engine._eager import eager, never_suspends

HOOK = "test.gather"
CUSTOM = {HOOK: {"mode": "collect", "description": "answers gathered in a list"}}


def plugin(name, priority=100):
    return manifest(name, {HOOK: {"priority": priority}}, customHooks=CUSTOM)


async def no_await(ctx):
    return {"seen": ctx.data}


async def awaits(ctx):
    await asyncio.sleep(0)
    return "awaited"


async def asks_for_the_loop(ctx):
    return asyncio.get_running_loop().time()


async def loops_async(ctx):
    async for item in ctx.data:
        return item


async def nested_helper_needs_the_loop(ctx):
    def later():
        return asyncio.current_task()

    return later


def test_only_code_without_a_suspension_point_or_a_loop_name_is_eager():
    assert never_suspends(no_await)
    assert not never_suspends(awaits)
    assert not never_suspends(asks_for_the_loop)
    assert not never_suspends(loops_async)
    assert not never_suspends(nested_helper_needs_the_loop)
    assert not never_suspends(lambda ctx: None)  # not a coroutine function at all


def test_an_eager_handler_answers_and_raises_as_the_coroutine_would():
    assert eager(no_await)(type("Ctx", (), {"data": 3})()) == {"seen": 3}

    async def fails(ctx):
        raise ValueError("bad answer")

    with pytest.raises(ValueError, match="bad answer"):
        eager(fails)(None)


def test_a_handler_that_suspends_after_all_is_refused_by_name():
    class Suspends:  # a coroutine-like object that yields once, as an await would
        def send(self, _value):
            return "a future"

        def close(self):
            self.closed = True

    def late(ctx):
        return Suspends()

    with pytest.raises(RuntimeError, match=r"'.*late' suspended although its code has no await"):
        eager(late)(None)


def test_a_hook_whose_async_handlers_never_await_takes_the_synchronous_path():
    engine = Engine()
    try:
        engine.add_plugin(plugin("eager"), {"check": hook(HOOK)(no_await)})
        (impl,) = engine.handlers(HOOK)
        assert impl.is_async is False
        result = engine.fire(HOOK, {"a": 1})
        assert result.value == [{"seen": {"a": 1}}]
        assert engine._loop._loop is None  # no event loop was started for it
    finally:
        engine.close()


def test_an_awaiting_handler_still_runs_on_the_loop_beside_an_eager_one():
    engine = Engine()
    try:
        engine.add_plugin(plugin("eager", priority=200), {"check": hook(HOOK)(no_await)})
        engine.add_plugin(plugin("waits"), {"check": hook(HOOK)(awaits)})
        assert [i.is_async for i in engine.handlers(HOOK)] == [False, True]
        assert engine.fire(HOOK, 5).value == [{"seen": 5}, "awaited"]
    finally:
        engine.close()


def test_an_eager_handlers_failure_is_the_plugins_error():
    async def broken(ctx):
        raise KeyError("missing field")

    engine = Engine()
    try:
        engine.add_plugin(plugin("broken"), {"check": hook(HOOK)(broken)})
        result = engine.fire(HOOK, {})
        (error,) = result.errors
        assert error.type is PluginErrorType.RUNTIME_ERROR and "missing field" in error.message
        assert error.plugin_id == "broken" and error.hook == HOOK
    finally:
        engine.close()
