"""``Engine.fire``'s hot path keeps its contract: arguments, results and observations."""

from __future__ import annotations

from typing import Any

import pytest
from support import manifest

from pliers_lab import Engine, hook

HOOK = "test.echo"


def _echo_engine(handlers: int = 1, **options: Any) -> Engine:
    engine = Engine(**options)
    for i in range(handlers):

        @hook(HOOK)
        def echo(ctx: Any) -> Any:
            return ctx.data

        engine.add_plugin(
            manifest(
                f"echo-{i}", {HOOK: {"priority": 100 - i}}, customHooks={HOOK: {"mode": "collect"}}
            ),
            {"echo": echo},
        )
    return engine


def test_context_arguments_are_keyword_only() -> None:
    with _echo_engine() as engine:
        with pytest.raises(TypeError):
            engine.fire(HOOK, {}, "user-1")
        with pytest.raises(TypeError):
            engine.fire(HOOK, {}, None, "user-1")
        result = engine.fire(HOOK, {"x": 1}, user_id="user-1", trace_id="t-9")
        assert (result.user_id, result.session_id, result.trace_id) == ("user-1", None, "t-9")
        assert result.metadata.user_id == "user-1"
        plain = engine.fire(HOOK, {"x": 1})
        assert (plain.user_id, plain.event, plain.request_id) == (None, None, None)


def test_falsy_context_arguments_read_as_before() -> None:
    # Empty ids are no ids; an event is kept whatever its truth value.
    with _echo_engine() as engine:
        blank = engine.fire(HOOK, {}, user_id="", session_id="", request_id="", trace_id="")
        assert (blank.user_id, blank.session_id, blank.request_id, blank.trace_id) == (None,) * 4
        zero = engine.fire(HOOK, {}, event=0)
        assert zero.event == 0 and zero.user_id is None


def test_the_ledger_settles_by_itself_every_batch() -> None:
    from pliers_lab.engine._ledger import BATCH

    with _echo_engine() as engine:
        store = engine.executions
        for _ in range(3 * BATCH + 5):
            engine.fire(HOOK, {})
        # Unread, the store holds exactly the settled batches; the last five wait.
        assert store._total == 3 * BATCH
        assert store.total == 3 * BATCH + 5  # a read settles the rest
        for _ in range(BATCH - 5):
            engine.fire(HOOK, {})
        assert store._total == 4 * BATCH


def test_a_result_is_built_empty_and_filled_by_dispatch() -> None:
    from pliers_lab.engine.hook_results import HookResult

    with _echo_engine(2) as engine:
        result = engine.fire(HOOK, {"x": 1})
        assert type(result) is HookResult and result.context is result
        assert result.value == [{"x": 1}, {"x": 1}] and result.calls == 2
        assert [o.plugin_id for o in result.outcomes] == ["echo-0", "echo-1"]
        assert result.answers == result.value and result.answers is not result.value
        result.value.append("mine")  # the caller's list: the rows keep what ran
        assert len(result.rows) == 2 and result.answers == [{"x": 1}, {"x": 1}]


def test_a_hook_with_one_handler_is_recorded_like_any_other() -> None:
    # One handler takes its own path through fire (no loop): answers, outcomes, rows and
    # metrics are what the loop gives, for each way a call can end.
    import time

    for handlers in (1, 2):  # the second plugin, when there, runs after the first
        engine = Engine()

        @hook("test.one")
        def first(ctx: Any) -> Any:
            if ctx.data == "raise":
                raise ValueError("boom")
            if ctx.data == "slow":
                time.sleep(0.02)
            return None if ctx.data == "none" else ctx.data

        @hook("test.one")
        def second(ctx: Any) -> Any:
            return "second"

        modes = {"test.one": {"mode": "collect"}}
        engine.add_plugin(
            manifest("p", {"test.one": {"timeout": 5, "priority": 9}}, customHooks=modes),
            {"first": first},
        )
        if handlers == 2:
            engine.add_plugin(
                manifest("q", {"test.one": {"priority": 1}}, customHooks=modes), {"second": second}
            )
        tail = ["second"] if handlers == 2 else []
        try:
            values = [engine.fire("test.one", d) for d in ("x", "none", "raise", "slow")]
            assert [r.value for r in values] == [["x", *tail], tail, tail, tail]
            assert [(r.outcomes[0].status, r.ok) for r in values] == [
                ("ok", True),
                ("ok", True),
                ("error", False),
                ("timeout", False),
            ]
            assert values[2].errors[0].type.value == "runtime_error"
            assert values[3].errors[0].type.value == "timeout_error"
            assert [len(r.outcomes) for r in values] == [handlers] * 4
            rows = [r for r in engine.executions.rows() if r[3] == "p"]
            assert [r[7] for r in rows] == ["ok", "ok", "error", "timeout"]
            assert [r[0] for r in rows] == [r.execution_id for r in values]
            assert rows[3][6] >= 20.0  # ms: the slow call's own duration
            metrics = engine.metrics("p").execution
            assert (metrics.count, metrics.successCount, metrics.errorCount) == (4, 2, 2)
        finally:
            engine.close()


def test_engine_fire_shows_the_declared_signature() -> None:
    # What help(engine.fire) and a notebook's engine.fire? show: no marker parameter.
    import inspect

    with _echo_engine() as engine:
        shown = inspect.signature(engine.fire)
        declared = inspect.signature(Engine.fire)
        assert list(shown.parameters.values()) == list(declared.parameters.values())[1:]
        assert "_keywords" not in str(shown) and "Run ``hook``'s handlers" in engine.fire.__doc__


def test_state_is_none_until_a_handler_asks_for_it() -> None:
    # Set to None at the start (reading an unset slot would raise and format an
    # AttributeError for every sandboxed call, which sends the state along).
    with _echo_engine() as engine:
        quiet = engine.fire(HOOK, {})
        assert quiet._state is None
        assert quiet.state == {} and quiet.state is quiet._state
