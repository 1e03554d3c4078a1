"""Load is not failure (issue 14 §1): callers of a busy sandboxed plugin wait for a worker,
a host overload is never counted against the plugin, the breaker counts only the
plugin's own failures and always half-opens again, restarts are counted, and a plugin
may have several workers. Real engines and real workers; no test asserts a speed."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sandbox.helpers import MakePlugin

from pliers_lab import Engine, PluginErrorType, PluginState
from pliers_lab.errors import HOST_OVERLOAD
from pliers_lab.sandbox import Limits, ProcessRuntime, SandboxPolicy

HOOK = "submission.afterSave"
QUICK = "form.afterCreate"  # the same plugin's second hook, with a 50 ms budget

BUSY = """
import time
from pliers_lab import hook
errors_seen = []

def on_error(plugin, error):
    errors_seen.append(error)

@hook("submission.afterSave")
def work(ctx):
    time.sleep(ctx.data.get("sleep", 0.01))
    if ctx.data.get("fail"):
        raise RuntimeError("asked to fail")
    return "done"

@hook("form.afterCreate")
def quick(ctx):
    return len(errors_seen)
"""


def until(condition: Callable[[], bool], what: str, limit_s: float = 10.0) -> None:
    """Wait until ``condition()`` holds (a sync point, not a speed check)."""
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.005)


def hammer(engine: Engine, threads: int, calls: int, data: dict[str, Any]) -> list[Any]:
    """``threads`` threads each firing ``HOOK`` ``calls`` times; every outcome."""
    outcomes: list[Any] = []
    lock = threading.Lock()

    def run() -> None:
        for _ in range(calls):
            found = engine.fire(HOOK, data).outcomes
            with lock:
                outcomes.extend(found)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return outcomes


@pytest.fixture
def busy(sandbox: Engine, make_plugin: MakePlugin) -> Engine:
    sandbox.load(make_plugin("busy", BUSY, hooks={HOOK: {}, QUICK: {"timeout": 50}}))
    return sandbox


def test_twenty_callers_of_one_busy_plugin_all_get_answers(
    busy: Engine, runtime: ProcessRuntime
) -> None:
    """The issue's measurement, with the default limits: 20 threads x 30 calls on a
    healthy 10 ms plugin. Before: 10 answers, 5 resource errors, the breaker open for
    good and 585 calls without an outcome for it."""
    outcomes = hammer(busy, threads=20, calls=30, data={"sleep": 0.01})
    assert len(outcomes) == 600
    assert Counter(o.status for o in outcomes) == {"ok": 600}
    plugin = busy.plugin("busy")
    assert plugin.state is PluginState.ACTIVE and plugin.breaker.state == "closed"
    metrics = busy.metrics("busy")
    assert (metrics.execution.count, metrics.execution.errorCount) == (600, 0)
    assert metrics.health.status == "healthy" and metrics.health.circuit == "closed"
    usage = runtime.usage("busy")
    assert usage["waits"] > 0 and usage["overloads"] == 0  # they queued, and all got in
    assert busy.fire(HOOK, {}).value == ["done"]


def test_a_caller_that_gets_no_worker_in_its_budget_is_a_host_overload(
    busy: Engine, runtime: ProcessRuntime
) -> None:
    """The quick hook's 50 ms budget runs out while a slow call holds the only worker:
    each such call says so (a RESOURCE_ERROR caused by the host), and none counts against
    the plugin, however many: no breaker, no recovery, no on_error, no error rate."""
    slow = threading.Thread(target=busy.fire, args=(HOOK, {"sleep": 1.0}))
    slow.start()
    process = runtime.process("busy")
    until(lambda: process.queue()["busy"] == 1, "the slow call to hold the worker")
    overloaded = [busy.fire(QUICK, {}).outcome("busy") for _ in range(7)]
    slow.join()

    for outcome in overloaded:
        assert outcome.status == "overloaded" and outcome.reason is not None
        error = outcome.error
        assert error is not None and error.type is PluginErrorType.RESOURCE_ERROR
        assert error.metadata["cause"] == HOST_OVERLOAD and error.metadata["limit"] == "budget"
        assert "not counted against it" in error.message and error.recovery == "not_counted"
    plugin = busy.plugin("busy")
    assert plugin.state is PluginState.ACTIVE and plugin.breaker.state == "closed"
    assert plugin.last_error is None and list(busy.recoveries) == []
    assert busy.fire(QUICK, {}).value == [0]  # on_error never heard of them
    metrics = busy.metrics("busy")
    assert metrics.execution.errorCount == 0 and metrics.execution.overloadedCount == 7
    assert metrics.health.status == "healthy"
    frame = busy.executions.frame()
    assert (frame["status"] == "overloaded").sum() == 7
    assert [e.metadata["cause"] for e in busy.errors.for_plugin("busy")] == [HOST_OVERLOAD] * 7
    assert runtime.usage("busy")["overloads"] == 7


def test_past_the_queue_limit_the_host_refuses_at_once(
    tmp_path: Path, make_plugin: MakePlugin
) -> None:
    runtime = ProcessRuntime(SandboxPolicy(data_root=tmp_path, limits=Limits(concurrency=0)))
    with Engine() as engine:
        engine.register_runtime(runtime)
        engine.load(make_plugin("busy", BUSY, hooks={HOOK: {}, QUICK: {"timeout": 50}}))
        slow = threading.Thread(target=engine.fire, args=(HOOK, {"sleep": 1.0}))
        slow.start()
        until(lambda: runtime.process("busy").queue()["busy"] == 1, "the slow call")
        outcome = engine.fire(HOOK, {}).outcome("busy")  # its own budget is 30 s
        slow.join()
        assert outcome.status == "overloaded" and outcome.error is not None
        assert outcome.error.metadata["limit"] == "queue"
        assert "Limits.concurrency=0" in outcome.error.message
        assert engine.metrics("busy").execution.errorCount == 0
    runtime.close()


def test_the_breaker_opens_on_real_failures_half_opens_and_closes(
    sandbox: Engine, make_plugin: MakePlugin
) -> None:
    sandbox.load(
        make_plugin(
            "flaky",
            BUSY,
            hooks={HOOK: {}, QUICK: {}},
            recovery={"circuitBreaker": {"threshold": 3, "resetAfterMs": 400}},
        )
    )
    plugin = sandbox.plugin("flaky")
    for _ in range(3):
        assert sandbox.fire(HOOK, {"fail": True}).outcome("flaky").status == "error"
    assert plugin.breaker.state == "open" and plugin.state is PluginState.ACTIVE

    skipped = sandbox.fire(HOOK, {}).outcome("flaky")  # never reaches the worker
    assert skipped.status == "skipped" and skipped.error is None
    assert skipped.reason is not None and skipped.reason.startswith("circuit breaker open")
    row = sandbox.executions.frame().iloc[-1]
    assert (row["status"], row["reason"]) == ("skipped", skipped.reason)
    metrics = sandbox.metrics("flaky")
    assert metrics.execution.skippedCount == 1 and metrics.health.circuit == "open"
    assert metrics.health.status == "critical"

    until(lambda: plugin.breaker.state == "half_open", "the reset delay")
    assert sandbox.fire(HOOK, {"fail": True}).outcome("flaky").status == "error"  # the trial
    assert plugin.breaker.state == "open"
    assert sandbox.fire(HOOK, {}).outcome("flaky").status == "skipped"

    until(lambda: plugin.breaker.state == "half_open", "the reset delay")
    assert sandbox.fire(HOOK, {}).value == ["done"]  # the trial answers: closed
    assert plugin.breaker.state == "closed"
    assert sandbox.fire(HOOK, {}).value == ["done"]
    actions = [r.action for r in sandbox.recoveries if r.action.startswith("circuit")]
    assert actions == [
        "circuit_open",
        "circuit_half_open",
        "circuit_reopened",
        "circuit_half_open",
        "circuit_closed",
    ]
    assert sandbox.metrics("flaky").execution.skippedCount == 2


CRASHER = """
import os
from pliers_lab import hook
@hook("submission.afterSave")
def maybe_crash(ctx):
    if ctx.data.get("crash"):
        os._exit(9)
    return os.getpid()
"""


def test_restarts_are_counted_in_the_plugins_health(
    sandbox: Engine, make_plugin: MakePlugin
) -> None:
    folder = make_plugin("crasher", CRASHER)
    sandbox.load(folder)
    assert sandbox.metrics("crasher").health.restarts == 0
    sandbox.fire(HOOK, {"crash": True})
    sandbox.fire(HOOK, {})  # a new worker
    assert sandbox.metrics("crasher").health.restarts == 1
    sandbox.restart("crasher")
    assert sandbox.metrics("crasher").health.restarts == 2
    sandbox.reload("crasher")
    assert sandbox.plugin("crasher").metrics().health.restarts == 3
    assert sandbox.metrics_frame().set_index("plugin_id").loc["crasher", "restarts"] == 3


POOLED = """
import os, time
from pliers_lab import hook
state = {"loaded": 0, "activated": 0, "changed": 0}
seen = []

def on_load(plugin):
    state["loaded"] += 1

def on_activate(plugin):
    state["activated"] += 1
    plugin.api.events.subscribe("form.*", lambda event: seen.append(event["type"]))

def on_config_change(plugin, config):
    state["changed"] += 1

@hook("submission.afterSave")
def where(ctx):
    time.sleep(ctx.data.get("sleep", 0))
    return {"pid": os.getpid(), "level": ctx.config.get("level"), "seen": list(seen), **state}
"""


def test_a_plugin_with_two_workers(tmp_path: Path, make_plugin: MakePlugin) -> None:
    """Calls are spread over the workers; an extra one replays on_load/on_activate but
    does not subscribe twice (events reach the primary, once); a configuration change
    runs on the primary and restarts the extra one with it; the debugger still works."""
    from pliers_lab.host import Host

    policy = SandboxPolicy(data_root=tmp_path / "data", plugin_workers={"pool": 2})
    runtime = ProcessRuntime(policy)
    with Engine() as engine:
        engine.register_runtime(runtime)
        host = Host(engine, db_path=":memory:")
        schema = {"type": "object", "properties": {"level": {"type": "integer", "default": 1}}}
        engine.load(
            make_plugin(
                "pool",
                POOLED,
                permissions={"events": {"subscribe": ["form.*"]}},
                configuration={"schema": "schema.json"},
                files={"schema.json": schema},
            )
        )
        primary = engine.fire(HOOK, {}).value[0]
        answers = [a.value for a in _together(engine, 2, {"sleep": 0.5}) for a in a.outcomes]
        assert {a["pid"] for a in answers} == {primary["pid"], *runtime.usage("pool")["pids"]}
        assert len(runtime.usage("pool")["pids"]) == 2
        assert all((a["loaded"], a["activated"]) == (1, 1) for a in answers)  # replayed

        host.bus.publish(
            host.bus.event("form.created", {}, aggregate_type="form", aggregate_id="f1")
        )
        assert len(host.bus.subscriptions()) == 1  # the primary's only
        assert engine.fire(HOOK, {}).value[0]["seen"] == ["form.created"]  # on the primary

        engine.configure("pool", {"level": 5})
        assert runtime.usage("pool")["pids"] == [primary["pid"]]  # the extra one stopped
        answers = [a.value for a in _together(engine, 2, {"sleep": 0.5}) for a in a.outcomes]
        assert sorted(a["level"] for a in answers) == [5, 5]
        assert sorted(a["changed"] for a in answers) == [0, 1]  # a fresh one, with level 5
        assert len(host.bus.subscriptions()) == 1
        assert engine.metrics("pool").health.restarts == 0  # starts, not restarts

        with engine.debugger.trace("pool") as trace:
            engine.fire(HOOK, {})
        assert trace.execution  # recorded in the worker, sent back
    runtime.close()


def _together(engine: Engine, n: int, data: dict[str, Any]) -> list[Any]:
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(engine.fire(HOOK, data))) for _ in range(n)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_the_hosts_own_calls_are_served_first_and_never_refused_for_the_queue(
    tmp_path: Path, make_plugin: MakePlugin
) -> None:
    """A configuration change while the queue is full: on_config_change waits at the
    head of the queue (only for the call in flight) instead of being refused, so load
    never turns into a CONFIG_ERROR."""
    from pliers_lab.host import Host

    runtime = ProcessRuntime(SandboxPolicy(data_root=tmp_path, limits=Limits(concurrency=1)))
    schema = {"type": "object", "properties": {"level": {"type": "integer", "default": 1}}}
    with Engine() as engine:
        engine.register_runtime(runtime)
        Host(engine, db_path=":memory:")  # the events service on_activate subscribes with
        engine.load(
            make_plugin(
                "pool",
                POOLED,
                permissions={"events": {"subscribe": ["form.*"]}},
                configuration={"schema": "schema.json"},
                files={"schema.json": schema},
            )
        )
        process = runtime.process("pool")
        results: list[Any] = []
        slow = threading.Thread(target=lambda: results.append(engine.fire(HOOK, {"sleep": 0.5})))
        slow.start()
        until(lambda: process.queue()["busy"] == 1, "the slow call")
        queued = threading.Thread(target=lambda: results.append(engine.fire(HOOK, {})))
        queued.start()
        until(lambda: process.queue()["waiting"] == 1, "a caller to queue")  # now full
        engine.configure("pool", {"level": 7})
        slow.join()
        queued.join()
        assert engine.plugin("pool").state is PluginState.ACTIVE
        answers = sorted((r.value[0]["level"], r.value[0]["changed"]) for r in results)
        assert answers == [(1, 0), (7, 1)]  # the queued caller came after the change
    runtime.close()


def test_a_call_waiting_when_the_plugin_is_quarantined_is_not_run(
    busy: Engine, runtime: ProcessRuntime
) -> None:
    """A call queued behind a slow one while the host quarantines the plugin is skipped
    (with the reason), not run on a worker started again for a quarantined plugin."""
    process = runtime.process("busy")
    results: list[Any] = []
    slow = threading.Thread(target=lambda: results.append(busy.fire(HOOK, {"sleep": 0.5})))
    slow.start()
    until(lambda: process.queue()["busy"] == 1, "the slow call")
    queued = threading.Thread(target=lambda: results.append(busy.fire(HOOK, {})))
    queued.start()
    until(lambda: process.queue()["waiting"] == 1, "a caller to queue")
    busy.quarantine("busy", "the operator's decision")
    slow.join()
    queued.join()
    first, second = (r.outcome("busy") for r in results)
    assert first.status == "ok"  # the call in flight ended before the worker stopped
    assert second.status == "skipped" and second.error is None
    assert "stopped (quarantine, unload or reload) while this call waited" in (second.reason or "")
    assert runtime.usage("busy")["pids"] == []  # no worker came back
    assert busy.metrics("busy").execution.errorCount == 0
