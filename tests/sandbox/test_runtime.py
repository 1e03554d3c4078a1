"""The process runtime inside a real engine: answers, context, lifecycle, errors."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from sandbox.helpers import MakePlugin
from support import manifest

from pliers_lab import Engine, PluginError, PluginErrorType, PluginState
from pliers_lab.sandbox import ProcessRuntime, SandboxPolicy

ECHO = """
import os
from pliers_lab import hook

@hook("submission.afterSave")
def after(ctx):
    ctx.logger.info("seen", n=len(ctx.data))
    print("printed from the worker")
    return {"pid": os.getpid(), "data": ctx.data, "cfg": ctx.config, "exec": ctx.execution_id}
"""


def test_process_and_inline_plugins_answer_the_same_hook(
    sandbox: Engine, make_plugin: MakePlugin
) -> None:
    sandbox.load(make_plugin("boxed", ECHO))
    sandbox.add_plugin(
        manifest("inline-one", {"submission.afterSave": {"handler": "after"}}),
        {"after": lambda ctx: {"inline": os.getpid()}},
    )
    result = sandbox.fire("submission.afterSave", {"a": 1})
    answers = {o.plugin_id: o for o in result.outcomes}
    assert answers["inline-one"].value == {"inline": os.getpid()}
    boxed = answers["boxed"].value
    assert boxed["pid"] != os.getpid() and boxed["data"] == {"a": 1}
    assert boxed["exec"] == result.execution_id
    plugin = sandbox.plugin("boxed")
    assert plugin.isolation == "process" and sandbox.plugin("inline-one").isolation == "inline"
    assert set(plugin.layers) >= {
        "rlimits",
        "netns",
        "landlock",
        "capabilities",
        "seccomp",
        "cgroup",
    }
    messages = [e.message for e in sandbox.logs.for_plugin("boxed")]
    assert "seen" in messages and "printed from the worker" in messages


def test_state_data_and_result_modes_cross(sandbox: Engine, make_plugin: MakePlugin) -> None:
    code = """
    from pliers_lab import Veto, hook

    @hook("submission.transform")
    def transform(ctx):
        ctx.state["seen_by"] = ctx.state.get("seen_by", []) + ["boxed"]
        return {**ctx.data, "name": ctx.data["name"].upper()}

    @hook("submission.beforeValidate")
    def validate(ctx):
        return {"valid": False, "errors": [{"field": "name", "message": "too short"}]}

    @hook("submission.beforeSave")
    def before(ctx):
        return Veto("not today")
    """
    hooks = {
        "submission.transform": {},
        "submission.beforeValidate": {},
        "submission.beforeSave": {},
    }
    sandbox.load(make_plugin("modes", code, hooks))
    out = sandbox.fire("submission.transform", {"name": "ann"})
    assert out.value == {"name": "ANN"}
    assert out.context.state == {"seen_by": ["boxed"]}
    assert (
        sandbox.fire("submission.beforeValidate", {}).value["errors"][0]["message"] == "too short"
    )
    verdict = sandbox.fire("submission.beforeSave", {}).value
    assert not verdict.allowed and verdict.reason == "not today" and verdict.plugin == "modes"


def test_config_and_lifecycle(sandbox: Engine, make_plugin: MakePlugin) -> None:
    code = """
    from pliers_lab import hook
    events = []

    def on_load(plugin):
        events.append("load:" + plugin.id)

    def on_activate(plugin):
        events.append("activate")

    def on_config_change(plugin, config):
        events.append("config:" + str(config.get("level")))

    @hook("submission.afterSave")
    def after(ctx):
        return {"events": events, "level": ctx.config.get("level")}
    """
    schema = {"type": "object", "properties": {"level": {"type": "integer", "default": 1}}}
    folder = make_plugin(
        "life", code, configuration={"schema": "schema.json"}, files={"schema.json": schema}
    )
    sandbox.load(folder)
    first = sandbox.fire("submission.afterSave", {}).value[0]
    assert first == {"events": ["load:life", "activate"], "level": 1}
    sandbox.configure("life", {"level": 5})
    second = sandbox.fire("submission.afterSave", {}).value[0]
    assert second["level"] == 5 and second["events"][-1] == "config:5"


def test_handler_errors_are_plugin_errors(sandbox: Engine, make_plugin: MakePlugin) -> None:
    sandbox.load(
        make_plugin(
            "raiser",
            """
    from pliers_lab import hook
    @hook("submission.afterSave")
    def after(ctx):
        raise ValueError("bad input " + str(ctx.data["x"]))
    """,
        )
    )
    sandbox.load(make_plugin("fine", ECHO))
    result = sandbox.fire("submission.afterSave", {"x": 7})
    outcome = {o.plugin_id: o for o in result.outcomes}
    err = outcome["raiser"].error
    assert err.type is PluginErrorType.RUNTIME_ERROR and "ValueError: bad input 7" in err.message
    assert err.hook == "submission.afterSave" and err.execution_id == result.execution_id
    assert "Traceback" in (err.stack or "")
    assert outcome["fine"].status == "ok"
    assert sandbox.fire("submission.afterSave", {"x": 8}).outcomes  # the worker survived


def test_answers_that_cannot_cross(sandbox: Engine, make_plugin: MakePlugin) -> None:
    sandbox.load(
        make_plugin(
            "weird",
            """
    from pliers_lab import hook
    @hook("submission.afterSave")
    def after(ctx):
        return {"s": {1, 2}} if ctx.data["kind"] == "set" else float("nan")
    """,
        )
    )
    for kind in ("set", "nan"):
        err = sandbox.fire("submission.afterSave", {"kind": kind}).outcomes[0].error
        assert err.type is PluginErrorType.VALIDATION_ERROR
        assert "cannot cross" in err.message


def test_load_errors_read_like_inline(sandbox: Engine, make_plugin: MakePlugin) -> None:
    broken = make_plugin("broken", "def oops(:\n")
    with pytest.raises(PluginError, match="SyntaxError") as info:
        sandbox.load(broken)
    assert info.value.type is PluginErrorType.LOAD_ERROR
    assert sandbox.plugin("broken").state is PluginState.ERROR
    missing = make_plugin("nohandler", "x = 1\n")
    with pytest.raises(PluginError, match="has no handler"):
        sandbox.load(missing)


def test_unload_stops_the_worker(
    sandbox: Engine, runtime: ProcessRuntime, make_plugin: MakePlugin
) -> None:
    sandbox.load(make_plugin("gone", ECHO))
    pid = runtime.usage("gone")["pid"]
    os.kill(pid, 0)
    sandbox.unload("gone")
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_missing_layer_refuses_unless_accepted(tmp_path: Path, make_plugin: MakePlugin) -> None:
    folder = make_plugin("strict", ECHO)
    refusing = ProcessRuntime(
        SandboxPolicy(data_root=tmp_path, simulate_missing=frozenset({"landlock"}))
    )
    with Engine(default_isolation="process") as engine:
        engine.register_runtime(refusing)
        with pytest.raises(
            PluginError, match="required isolation layer missing on this host — landlock"
        ) as info:
            engine.load(folder)
        assert info.value.metadata["missing_layers"] == ["landlock"]
    accepting = ProcessRuntime(
        SandboxPolicy(
            data_root=tmp_path,
            simulate_missing=frozenset({"landlock"}),
            accept_missing=frozenset({"landlock"}),
        )
    )
    with Engine(default_isolation="process") as engine:
        engine.register_runtime(accepting)
        plugin = engine.load(folder)
        assert "landlock" not in plugin.layers and "seccomp" in plugin.layers
        assert engine.fire("submission.afterSave", {}).outcomes[0].status == "ok"
    accepting.close()
    refusing.close()


def test_usage_reports_memory_and_cpu(
    sandbox: Engine, runtime: ProcessRuntime, make_plugin: MakePlugin
) -> None:
    sandbox.load(
        make_plugin(
            "busy",
            """
    from pliers_lab import hook
    @hook("submission.afterSave")
    def after(ctx):
        block = bytearray(30 << 20)
        total = sum(range(2_000_000))
        return len(block) + total
    """,
        )
    )
    sandbox.fire("submission.afterSave", {})
    time.sleep(0.05)
    usage = runtime.usage("busy")
    assert usage["peak_memory_mb"] >= 30
    assert usage["peak_memory_mb"] >= usage["memory_mb"] > 0
    assert usage["cpu_ms"] > 0
    runtime.process("busy").stop()  # a gone worker keeps its own peak, not its parent's
    after = runtime.usage("busy")
    assert 30 <= after["peak_memory_mb"] < 100 and after["memory_mb"] == 0


def test_afire_does_not_block_the_event_loop_on_a_worker(
    sandbox: Engine, make_plugin: MakePlugin
) -> None:
    """``afire`` awaits a sandboxed handler from a thread: the loop keeps running while
    the worker works (a sync wait would freeze every other task of an async host)."""
    import asyncio

    sandbox.load(
        make_plugin(
            "slow",
            """
import time
from pliers_lab import hook

@hook("submission.afterSave")
def after(ctx):
    time.sleep(0.3)
    return ctx.data["n"] * 2
""",
        )
    )

    async def scenario() -> tuple[object, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        result = await sandbox.afire("submission.afterSave", {"n": 21})
        task.cancel()
        return result.value, ticks

    value, ticks = asyncio.run(scenario())
    assert value == [42]
    assert ticks >= 10, f"the event loop ran only {ticks} times in 0.3 s"
