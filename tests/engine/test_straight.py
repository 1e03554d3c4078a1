"""The unrolled runner of collect hooks: the same answers, rows, counts and failure
handling as the loop, whichever handler raises, overruns or merely runs late."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from typing import Any

import pytest
from support import manifest

from pliers_lab import Engine, hook
from pliers_lab.engine._straight import LARGEST, SMALLEST

HOOK = "form.afterCreate"  # a collect hook


def _add(engine: Engine, name: str, fn: Callable[[Any], Any], **config: Any) -> None:
    handler = hook(HOOK)(fn)
    engine.add_plugin(manifest(name, {HOOK: {"async": False, **config}}), {"handle": handler})


def _answering(value: Any) -> Callable[[Any], Any]:
    return lambda ctx: value


def _table(engine: Engine) -> Any:
    return engine._hooks.table(HOOK)  # the table dispatch runs


def test_tables_in_the_size_range_get_a_runner_and_the_others_the_loop() -> None:
    with Engine() as engine:
        _add(engine, "p000", _answering(0))
        assert _table(engine).straight is None  # one handler: the dispatcher's own path
        for i in range(1, LARGEST + 1):
            _add(engine, f"p{i:03d}", _answering(i))
            if i + 1 in (SMALLEST, LARGEST):
                assert _table(engine).straight is not None
        assert _table(engine).straight is None  # LARGEST + 1 handlers: the loop
        result = engine.fire(HOOK, {})
        assert result.value == list(range(LARGEST + 1))
        assert result.ok


def test_answers_rows_and_counts_are_the_loops() -> None:
    with Engine() as engine:
        seen: list[tuple[str, str]] = []

        def record(ctx: Any) -> str:
            seen.append((ctx.plugin_id, ctx.execution_id))
            return f"{ctx.plugin_id}:{ctx.data['n']}"

        for name, priority in (("a", 300), ("b", 200), ("c", 100)):
            _add(engine, name, record, priority=priority)
        _add(engine, "quiet", _answering(None), priority=150)
        assert _table(engine).straight is not None
        result = engine.fire(HOOK, {"n": 7})
        assert result.value == ["a:7", "b:7", "c:7"]  # None left out
        assert result.answers == ["a:7", "b:7", None, "c:7"]
        assert seen == [(p, result.execution_id) for p in ("a", "b", "c")]
        assert [o.plugin_id for o in result.outcomes] == ["a", "b", "quiet", "c"]
        assert all(o.status == "ok" for o in result.outcomes)
        (_, start, took, *_), (_, start_b, *_) = result.rows[:2]
        assert start_b == pytest.approx(start + took, abs=1e-12)
        for _ in range(300):
            engine.fire(HOOK, {"n": 1})
        assert engine.metrics("quiet").execution.count == 301
        assert len(engine.executions.rows()) == 4 * 301


@pytest.mark.parametrize("failing", [0, 1, 3])
def test_a_raise_at_any_place_is_recorded_and_the_rest_still_answer(failing: int) -> None:
    with Engine() as engine:
        for i in range(4):

            def answer(ctx: Any, i: int = i) -> int:
                if i == failing:
                    raise ValueError(f"handler {i} fails")
                return i

            _add(engine, f"p{i}", answer, priority=500 - i)
        result = engine.fire(HOOK, {})
        assert result.value == [i for i in range(4) if i != failing]
        statuses = [o.status for o in result.outcomes]
        assert statuses == ["error" if i == failing else "ok" for i in range(4)]
        assert f"handler {failing} fails" in result.errors[0].message
        assert engine.metrics(f"p{failing}").execution.errorCount == 1
        assert engine.metrics("p2").execution.count == 1  # never the failing one here


def test_an_overrun_is_a_timeout_and_a_late_but_allowed_handler_still_answers() -> None:
    """The runner checks one deadline, the shortest timeout: a handler past it that is
    within its own timeout answers; one over its own is a timeout, answer discarded."""
    with Engine() as engine:
        _add(engine, "quick", _answering("quick"), priority=400, timeout=20)
        _add(engine, "patient", lambda ctx: time.sleep(0.03) or "patient", priority=300)
        _add(engine, "hasty", lambda ctx: time.sleep(0.03) or "hasty", priority=200, timeout=10)
        _add(engine, "last", _answering("last"), priority=100)
        result = engine.fire(HOOK, {})
        assert result.value == ["quick", "patient", "last"]
        statuses = {o.plugin_id: o.status for o in result.outcomes}
        assert statuses == {"quick": "ok", "patient": "ok", "hasty": "timeout", "last": "ok"}
        assert engine.metrics("hasty").execution.errorCount == 1
        patient = engine.metrics("patient").execution
        assert patient.count == 1 and patient.maxDuration >= 30.0


def test_a_retried_handler_in_the_middle_succeeds_and_is_noted() -> None:
    with Engine() as engine:
        attempts = {"n": 0}

        def flaky(ctx: Any) -> str:
            attempts["n"] += 1
            if attempts["n"] == 1:
                raise RuntimeError("first attempt fails")
            return "second"

        _add(engine, "first", _answering("first"), priority=300)
        _add(engine, "flaky", flaky, priority=200, retries=1)
        _add(engine, "third", _answering("third"), priority=100)
        result = engine.fire(HOOK, {})
        assert result.value == ["first", "second", "third"]
        flaky_outcome = result.outcome("flaky")
        assert (flaky_outcome.status, flaky_outcome.retries) == ("ok", 1)
        assert engine.metrics("flaky").execution.count == 1


def test_durations_before_a_failure_are_each_handlers_own() -> None:
    with Engine() as engine:
        _add(engine, "slow", lambda ctx: time.sleep(0.02) or 1, priority=400)
        _add(engine, "fast", _answering(2), priority=300)
        _add(engine, "broken", lambda ctx: 1 / 0, priority=200)
        _add(engine, "after", _answering(4), priority=100)
        result = engine.fire(HOOK, {})
        took = {o.plugin_id: o.duration_ms for o in result.outcomes}
        assert took["slow"] >= 20.0
        assert took["fast"] < 10.0 and took["after"] < 10.0
        rows = engine.executions.rows()
        assert [r[3] for r in rows] == ["slow", "fast", "broken", "after"]
        assert rows[1][6] == pytest.approx(took["fast"])


def test_an_interrupt_in_a_handler_reaches_the_caller_and_the_hook_still_runs() -> None:
    with Engine() as engine:
        interrupt = {"now": True}

        def interrupted(ctx: Any) -> str:
            if interrupt["now"]:
                raise KeyboardInterrupt
            return "resumed"

        _add(engine, "first", _answering("first"), priority=200)
        _add(engine, "second", interrupted, priority=100)
        with pytest.raises(KeyboardInterrupt) as raised:
            engine.fire(HOOK, {})
        shown = "".join(traceback.format_tb(raised.tb))
        assert "<straight-line dispatch of 2 handlers>" in shown and "v1 = f1(res)" in shown
        interrupt["now"] = False
        assert engine.fire(HOOK, {}).value == ["first", "resumed"]
