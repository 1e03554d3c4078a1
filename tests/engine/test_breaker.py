"""The circuit breaker (``pliers_lab.engine._breaker``) through a real engine: it opens after the
plugin's own failures in a row, keeps the plugin ACTIVE, skips its calls visibly, always
half-opens after its reset delay, closes on a successful trial and opens again on a
failed one. The breaker's clock is stepped by hand, so nothing here waits or is timed."""

from __future__ import annotations

import asyncio
import threading

import pytest
from support import manifest

from pliers_lab import Engine, PluginState, hook
from pliers_lab.recovery import DEFAULT_BREAKER_RESET_MS, RecoveryPolicy

HOOK = "integration.sync"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def shaky(engine: Engine) -> tuple[Engine, dict[str, object], Clock]:
    """A plugin that fails while ``mode["fail"]``; its breaker: 3 failures, 10 s."""
    mode: dict[str, object] = {"fail": True, "gate": None}

    @hook(HOOK)
    def sync(ctx):  # type: ignore[no-untyped-def]
        gate = mode["gate"]
        if isinstance(gate, threading.Event):
            gate.wait(10)
        if mode["fail"]:
            raise RuntimeError("upstream down")
        return "synced"

    recovery = {"circuitBreaker": {"threshold": 3, "resetAfterMs": 10_000}}
    plugin = engine.add_plugin(manifest("shaky", {HOOK: {}}, recovery=recovery), {"sync": sync})
    clock = Clock()
    plugin.breaker.clock = clock
    return engine, mode, clock


def trip(engine: Engine) -> None:
    for _ in range(3):
        assert engine.fire(HOOK, {}).outcome("shaky").status == "error"


def actions(engine: Engine) -> list[str]:
    return [r.action for r in engine.recoveries if r.action.startswith("circuit")]


def test_an_open_breaker_skips_calls_visibly_and_keeps_the_plugin_active(shaky) -> None:
    engine, _mode, _clock = shaky
    trip(engine)
    plugin = engine.plugin("shaky")
    assert plugin.state is PluginState.ACTIVE and plugin.disabled_reason is None
    assert plugin.breaker.state == "open" and actions(engine) == ["circuit_open"]
    assert "3 consecutive failures" in list(engine.recoveries)[-1].detail

    result = engine.fire(HOOK, {})
    outcome = result.outcome("shaky")
    assert outcome.status == "skipped" and outcome.error is None and result.ok
    assert outcome.reason == (
        "circuit breaker open (3 consecutive failures, the last a runtime_error); "
        "the next trial call in 10.0 s"
    )
    assert "circuit breaker open" in result.summary()
    row = engine.executions.frame().iloc[-1]
    assert (row["plugin_id"], row["status"], row["reason"]) == ("shaky", "skipped", outcome.reason)
    metrics = engine.metrics("shaky")
    assert (metrics.execution.count, metrics.execution.skippedCount) == (3, 1)
    assert (metrics.health.circuit, metrics.health.status) == ("open", "critical")
    assert len(engine.errors.for_plugin("shaky")) == 3  # a skip is not an error
    frame = engine.metrics_frame().set_index("plugin_id")
    assert (frame.loc["shaky", "skipped"], frame.loc["shaky", "circuit"]) == (1, "open")


def test_it_half_opens_after_the_reset_delay_and_a_failed_trial_opens_it_again(shaky) -> None:
    engine, mode, clock = shaky
    trip(engine)
    clock.now += 9.9
    assert engine.fire(HOOK, {}).outcome("shaky").status == "skipped"
    clock.now += 0.2
    plugin = engine.plugin("shaky")
    assert plugin.breaker.state == "half_open"
    assert engine.metrics("shaky").health.status == "critical"  # the error rate says so

    failed = engine.fire(HOOK, {}).outcome("shaky")  # the trial
    assert failed.status == "error" and "upstream down" in failed.error.message
    assert plugin.breaker.state == "open"
    assert engine.fire(HOOK, {}).outcome("shaky").status == "skipped"
    assert actions(engine) == ["circuit_open", "circuit_half_open", "circuit_reopened"]

    clock.now += 10.0
    mode["fail"] = False
    assert engine.fire(HOOK, {}).value == ["synced"]  # the trial answers
    assert plugin.breaker.state == "closed" and engine.metrics("shaky").health.circuit == "closed"
    assert actions(engine)[-2:] == ["circuit_half_open", "circuit_closed"]
    assert engine.handlers(HOOK)[0] is plugin.impls[0]  # ungated: no cost when closed
    assert engine.fire(HOOK, {}).value == ["synced"]


def test_while_the_trial_runs_other_calls_are_still_skipped(shaky) -> None:
    engine, mode, clock = shaky
    trip(engine)
    clock.now += 11
    mode["fail"], gate = False, threading.Event()
    mode["gate"] = gate
    trial = threading.Thread(target=engine.fire, args=(HOOK, {}))
    trial.start()
    try:
        breaker = engine.plugin("shaky").breaker
        for _ in range(1000):  # until the trial was admitted (a sync point)
            if breaker.trial_running:
                break
            gate.wait(0.01)
        other = engine.fire(HOOK, {}).outcome("shaky")
    finally:
        gate.set()
        trial.join()
    assert other.status == "skipped" and "a trial call is running" in (other.reason or "")
    assert engine.plugin("shaky").breaker.state == "closed"


def test_enable_closes_an_open_breaker(shaky) -> None:
    engine, mode, _clock = shaky
    trip(engine)
    mode["fail"] = False
    engine.enable("shaky")
    assert engine.plugin("shaky").breaker.state == "closed"
    assert engine.fire(HOOK, {}).value == ["synced"]
    assert actions(engine) == ["circuit_open", "circuit_closed"]


def test_async_handlers_are_gated_too(engine: Engine) -> None:
    @hook(HOOK)
    async def sync(ctx):  # type: ignore[no-untyped-def]
        raise RuntimeError("down")

    recovery = {"circuitBreaker": {"threshold": 2}}
    engine.add_plugin(manifest("slow", {HOOK: {}}, recovery=recovery), {"sync": sync})
    for _ in range(2):
        asyncio.run(engine.afire(HOOK, {}))
    skipped = asyncio.run(engine.afire(HOOK, {})).outcome("slow")
    assert skipped.status == "skipped" and "circuit breaker open" in (skipped.reason or "")
    assert engine.fire(HOOK, {}).outcome("slow").status == "skipped"


def test_the_breaker_always_half_opens_by_default() -> None:
    from pliers_lab.manifest import parse_manifest

    assert RecoveryPolicy().breaker_reset_ms == DEFAULT_BREAKER_RESET_MS == 30_000
    parsed = parse_manifest(manifest("m"))
    assert RecoveryPolicy.from_manifest(parsed.recovery).breaker_reset_ms == 30_000
    with pytest.raises(Exception, match="resetAfterMs"):
        parse_manifest(manifest("m", recovery={"circuitBreaker": {"resetAfterMs": None}}))
