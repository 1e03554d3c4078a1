"""An inline (trusted, in-process) plugin that calls ``sys.exit()`` or raises another
``BaseException`` fails alone: the caller of ``fire``/``afire`` keeps running, the other
plugins answer, the engine keeps working. A real Ctrl-C (``KeyboardInterrupt``) still
interrupts."""

from __future__ import annotations

import asyncio
import sys

import pytest
from support import manifest

from pliers_lab import PluginError, PluginErrorType, PluginState, hook

HOOK = "integration.sync"  # a collect hook


class Stop(BaseException):
    """A BaseException that is neither SystemExit nor KeyboardInterrupt."""


def exits(ctx):
    sys.exit(3)


async def exits_async(ctx):
    await asyncio.sleep(0)
    sys.exit(3)


def answers(ctx):
    return "still here"


def add(engine, name, fn, *, priority=100, retries=0, **extra):
    return engine.add_plugin(
        manifest(name, {HOOK: {"priority": priority, "retries": retries}}, **extra),
        {"handler": hook(HOOK)(fn)},
    )


def assert_contained(result, culprit="quitter", code="3"):
    outcome = result.outcome(culprit)
    assert outcome.status == "error"
    error = outcome.error
    assert error.type is PluginErrorType.RUNTIME_ERROR
    assert (error.plugin_id, error.hook) == (culprit, HOOK)
    assert f"called sys.exit({code})" in error.message
    assert isinstance(error.cause, SystemExit)
    assert result.value == ["still here"]
    assert result.outcome("other").status == "ok"


@pytest.fixture
def engine():
    from pliers_lab import Engine

    eng = Engine(default_isolation="inline")
    yield eng
    eng.close()


def test_sys_exit_in_a_handler_is_that_plugins_runtime_error(engine):
    add(engine, "quitter", exits, priority=200)
    add(engine, "other", answers)
    result = engine.fire(HOOK, {})
    assert_contained(result)
    assert engine.errors.for_plugin("quitter")[-1] is result.outcome("quitter").error
    assert engine.metrics("quitter").execution.errorCount == 1
    # The engine keeps working, the plugin too (recovery policy: the default).
    again = engine.fire(HOOK, {})
    assert again.value == ["still here"] and again.outcome("quitter").status == "error"
    assert engine.plugin("other").state is PluginState.ACTIVE


@pytest.mark.parametrize(
    ("code", "shown"), [(None, ""), (0, "0"), ("bye", "'bye'")], ids=["none", "zero", "text"]
)
def test_every_exit_code_is_named(engine, code, shown):
    add(engine, "quitter", lambda ctx: sys.exit(code), priority=200)
    add(engine, "other", answers)
    assert_contained(engine.fire(HOOK, {}), code=shown)


def test_sys_exit_in_a_non_collect_hook_is_contained(engine):
    def quit_waterfall(ctx):
        raise SystemExit(3)

    hooks = {"submission.transform": {"priority": 200}}
    engine.add_plugin(
        manifest("quitter", hooks), {"h": hook("submission.transform")(quit_waterfall)}
    )
    engine.add_plugin(
        manifest("other", {"submission.transform": {}}),
        {"h": hook("submission.transform")(lambda ctx: {**ctx.data, "seen": True})},
    )
    result = engine.fire("submission.transform", {"x": 1})
    assert result.value == {"x": 1, "seen": True}
    assert "called sys.exit(3)" in result.outcome("quitter").error.message


@pytest.mark.parametrize("raised", [GeneratorExit(), Stop("stop")], ids=["GeneratorExit", "Stop"])
def test_other_base_exceptions_are_contained_too(engine, raised):
    def raise_it(ctx):
        raise raised

    add(engine, "quitter", raise_it, priority=200)
    add(engine, "other", answers)
    result = engine.fire(HOOK, {})
    error = result.outcome("quitter").error
    assert error.type is PluginErrorType.RUNTIME_ERROR
    assert f"handler raised {type(raised).__name__}" in error.message
    assert result.value == ["still here"]


def test_sys_exit_is_retried_like_any_failure(engine):
    calls = []

    def exits_once(ctx):
        calls.append(1)
        if len(calls) == 1:
            sys.exit(3)
        return "recovered"

    add(engine, "quitter", exits_once, retries=1, recovery={"backoffMs": 1})
    result = engine.fire(HOOK, {})
    assert result.value == ["recovered"] and result.outcome("quitter").retries == 1


def test_sys_exit_in_every_retry_is_contained(engine):
    add(engine, "quitter", exits, retries=2, priority=200, recovery={"backoffMs": 1})
    add(engine, "other", answers)
    assert_contained(engine.fire(HOOK, {}))


def test_keyboard_interrupt_from_a_handler_still_interrupts(engine):
    def interrupted(ctx):
        raise KeyboardInterrupt

    add(engine, "ctrl-c", interrupted, priority=200)
    add(engine, "other", answers)
    with pytest.raises(KeyboardInterrupt):
        engine.fire(HOOK, {})
    # Nothing is broken afterwards.
    engine.unload("ctrl-c")
    assert engine.fire(HOOK, {}).value == ["still here"]


def test_keyboard_interrupt_in_a_retry_still_interrupts(engine):
    calls = []

    def fails_then_interrupted(ctx):
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("first")
        raise KeyboardInterrupt

    add(engine, "ctrl-c", fails_then_interrupted, retries=1, recovery={"backoffMs": 1})
    with pytest.raises(KeyboardInterrupt):
        engine.fire(HOOK, {})


# ---------------------------------------------------------------------- async handlers
def test_sys_exit_in_an_async_handler_through_fire(engine):
    add(engine, "quitter", exits_async, priority=200)
    add(engine, "other", answers)
    assert_contained(engine.fire(HOOK, {}))
    assert_contained(engine.fire(HOOK, {}))  # the thread's loop still runs


def test_sys_exit_in_an_async_handler_through_fire_inside_a_running_loop(engine):
    """As in a Jupyter cell: the handler runs on the engine's loop thread, which must
    survive it (a SystemExit there would stop the loop and leave fire waiting)."""
    add(engine, "quitter", exits_async, priority=200)
    add(engine, "other", answers)

    async def cell():
        return engine.fire(HOOK, {}), engine.fire(HOOK, {})

    first, second = asyncio.run(cell())
    assert_contained(first)
    assert_contained(second)


def test_sys_exit_in_an_async_handler_through_afire(engine):
    add(engine, "quitter", exits_async, priority=200)
    add(engine, "other", answers)

    async def main():
        result = await engine.afire(HOOK, {})
        await asyncio.sleep(0)  # the caller's loop is still ours
        return result

    assert_contained(asyncio.run(main()))


def test_sys_exit_in_a_sync_handler_through_afire(engine):
    add(engine, "quitter", exits, priority=200)
    add(engine, "other", answers)
    assert_contained(asyncio.run(engine.afire(HOOK, {})))


def test_a_cancelled_error_a_handler_raises_itself_is_its_failure(engine):
    async def raises_cancelled(ctx):
        raise asyncio.CancelledError

    add(engine, "quitter", raises_cancelled, priority=200)
    add(engine, "other", answers)
    result = asyncio.run(engine.afire(HOOK, {}))
    assert result.outcome("quitter").error.type is PluginErrorType.RUNTIME_ERROR
    assert result.value == ["still here"]


def test_cancelling_afire_still_cancels_it(engine):
    started = asyncio.Event()

    async def waits(ctx):
        started.set()
        await asyncio.sleep(30)

    add(engine, "waiter", waits)

    async def main():
        task = asyncio.create_task(engine.afire(HOOK, {}))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert list(engine.errors) == []


# ---------------------------------------------------------------------- lifecycle handlers
@pytest.mark.parametrize(
    ("handler", "kind"),
    [("on_load", PluginErrorType.LOAD_ERROR), ("on_activate", PluginErrorType.INIT_ERROR)],
)
def test_sys_exit_in_a_lifecycle_handler_fails_that_plugin(engine, handler, kind):
    with pytest.raises(PluginError) as info:
        engine.add_plugin(manifest("quitter"), {handler: lambda plugin: sys.exit(3)})
    assert info.value.type is kind and info.value.plugin_id == "quitter"
    assert f"{handler} called sys.exit(3)" in info.value.message
    assert engine.plugin("quitter").state is PluginState.ERROR


def test_sys_exit_in_on_deactivate_and_on_config_change(engine):
    engine.add_plugin(
        manifest("quitter"),
        {
            "on_deactivate": lambda plugin: sys.exit(3),
            "on_config_change": lambda plugin, config: sys.exit(4),
        },
    )
    with pytest.raises(PluginError, match=r"on_config_change called sys.exit\(4\)") as info:
        engine.configure("quitter", {})
    assert info.value.type is PluginErrorType.CONFIG_ERROR
    engine.enable("quitter")
    with pytest.raises(PluginError, match=r"on_deactivate called sys.exit\(3\)"):
        engine.disable("quitter")
    assert engine.plugin("quitter").state is PluginState.ERROR


def test_keyboard_interrupt_in_a_lifecycle_handler_still_interrupts(engine):
    def interrupted(plugin):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        engine.add_plugin(manifest("ctrl-c"), {"on_activate": interrupted})


def test_sys_exit_in_on_error_is_recorded(engine):
    engine.add_plugin(
        manifest("quitter", {HOOK: {"priority": 200}}),
        {"handler": hook(HOOK)(lambda ctx: 1 / 0), "on_error": lambda p, e: sys.exit(5)},
    )
    add(engine, "other", answers)
    result = engine.fire(HOOK, {})
    assert result.value == ["still here"]
    messages = [e.message for e in engine.errors.for_plugin("quitter")]
    assert "on_error called sys.exit(5)" in messages


def test_sys_exit_in_a_fallback_plugin_is_its_failure_too(engine):
    add(engine, "backup", exits, priority=1)
    add(
        engine,
        "quitter",
        lambda ctx: 1 / 0,
        priority=200,
        recovery={"strategy": "fallback", "fallbackPlugin": "backup"},
    )
    result = engine.fire(HOOK, {})
    assert result.outcome("quitter").status == "error"
    assert any(
        "fallback 'backup' failed too: it called sys.exit(3)" in r.detail for r in engine.recoveries
    )
