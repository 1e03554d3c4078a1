"""Issue 18 §2: a worker killed (or a call timed out) for a limit is a limit hit like any
other — which plugin, which limit, the value measured, the cap, what the engine did — in
the error's metadata, ``isolation()["limits_exceeded"]``, the activity feed, and the one
record ``PluginMetrics.limitsExceeded`` that the status endpoint and ``/v3/metrics`` show.
A timeout is labelled as the wall clock it is, with the CPU the call actually used: a
call that waited is never reported as over its CPU limit. Real engines, workers, kernel
(cgroup OOM killer, RLIMIT_AS), web server and ``prometheus_client``'s parser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sandbox.helpers import MakePlugin

from pliers_lab import Engine, PluginErrorType
from pliers_lab.sandbox import Limits, ProcessRuntime, SandboxPolicy
from pliers_lab.web import WebSettings, serve

pytestmark = pytest.mark.slow

HOOK = "submission.afterSave"
MB = 1 << 20

CODE = """
import time
from pliers_lab import hook

NAME = {name!r}

@hook("submission.afterSave")
def act(ctx):
    if ctx.data.get("who", NAME) != NAME:  # every plugin gets the hook: one acts
        return "not me"
    do = ctx.data["do"]
    if do == "sleep":
        time.sleep(ctx.data["seconds"])
    elif do == "spin":
        end = time.process_time() + ctx.data["seconds"]
        while time.process_time() < end:
            pass
    elif do == "hog":  # resident memory, 8 MB at a time, until something stops it
        hog = []
        while True:
            hog.append(bytearray(8 << 20))
    elif do == "huge":  # one allocation past the address-space limit
        return len(bytearray(ctx.data["bytes"]))
    return "done"
"""


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[tuple[Engine, ProcessRuntime]]:
    runtime = ProcessRuntime(SandboxPolicy(data_root=tmp_path / "data", network_deny=()))
    with Engine(default_isolation="process") as engine:
        engine.register_runtime(runtime)
        yield engine, runtime
    runtime.close()


def _load(eng: Engine, make_plugin: MakePlugin, name: str, **extra: Any) -> None:
    eng.load(make_plugin(name, CODE.format(name=name), **extra))


def _fire(eng: Engine, plugin: str, **data: Any) -> Any:
    return eng.fire(HOOK, {**data, "who": plugin}).outcome(plugin)


def test_a_timeout_is_an_execution_time_hit_that_says_the_call_waited(
    engine: tuple[Engine, ProcessRuntime], make_plugin: MakePlugin
) -> None:
    eng, _runtime = engine
    feed: list[dict[str, Any]] = []
    eng.activity.subscribe(feed.append)
    _load(eng, make_plugin, "sleeper", limits={"executionTime": 600})
    error = _fire(eng, "sleeper", do="sleep", seconds=5).error
    assert error is not None and error.type is PluginErrorType.TIMEOUT_ERROR  # not resource
    hit = error.metadata["limit"]
    assert hit["plugin"] == "sleeper" and hit["limit"] == "executionTime"
    assert hit["unit"] == "ms" and hit["cap"] == 600.0 and hit["action"] == "timed out"
    assert 600 <= hit["value"] < 5000  # the wall clock measured, at about the cap
    # it slept: the CPU it used in the call is measured and small, and said to be so
    assert "ms of CPU in the call" in hit["detail"] and "waited" in hit["detail"]
    used = float(hit["detail"].split("it used ")[1].split(" ms")[0])
    assert used < 300
    assert eng.isolation("sleeper")["limits_exceeded"] == {"executionTime:timed out": 1}
    assert "cpu" not in eng.metrics("sleeper").limitsExceeded  # never the CPU limit
    events = [e["data"] for e in feed if e["type"] == "plugin.limit.exceeded"]
    assert [(e["plugin"], e["limit"], e["action"]) for e in events] == [
        ("sleeper", "executionTime", "timed out")
    ]
    assert _fire(eng, "sleeper", do="sleep", seconds=0).value == "done"  # a new worker


def test_cpu_over_the_limit_is_a_cpu_hit_with_the_cpu_measured(
    engine: tuple[Engine, ProcessRuntime], make_plugin: MakePlugin
) -> None:
    eng, _runtime = engine
    _load(eng, make_plugin, "spinner", limits={"cpu": 200})
    error = _fire(eng, "spinner", do="spin", seconds=10).error
    assert error is not None and error.type is PluginErrorType.RESOURCE_ERROR
    assert "CPU limit: used over 200 ms" in error.message
    hit = error.metadata["limit"]
    assert (hit["limit"], hit["cap"], hit["unit"], hit["action"]) == ("cpu", 200, "ms", "killed")
    assert 200 < hit["value"] < 2000  # CPU time the worker used in the call
    assert "/proc/<pid>/stat" in hit["detail"]
    record = eng.metrics("spinner").limitsExceeded
    assert record["cpu"]["count"] == 1 and record["cpu"]["actions"] == {"killed": 1}
    assert record["cpu"]["last"]["value"] == hit["value"]


def test_memory_kills_and_refusals_are_memory_hits(
    engine: tuple[Engine, ProcessRuntime], make_plugin: MakePlugin
) -> None:
    eng, runtime = engine
    _load(eng, make_plugin, "hog", limits={"memory": 64})
    worker = runtime.process("hog").slots[0].worker
    assert worker is not None
    # One allocation past RLIMIT_AS: MemoryError, the worker lives on.
    huge = _fire(eng, "hog", do="huge", bytes=4 << 30).error
    assert huge is not None and huge.type is PluginErrorType.RESOURCE_ERROR
    refused = huge.metadata["limit"]
    assert refused["limit"] == "memory" and refused["action"] == "refused (MemoryError)"
    headroom = runtime.policy.limits.address_space_headroom_mb
    assert refused["cap"] == (64 + headroom) * MB and refused["unit"] == "bytes"
    assert isinstance(refused["value"], int) and 0 < refused["value"] < 64 * MB
    if worker.group is None:
        pytest.fail("no cgroup for the worker on this host: the OOM half cannot be shown")
    # Resident memory past the cgroup's limit: the kernel's OOM killer ends the worker.
    oom = _fire(eng, "hog", do="hog").error
    assert oom is not None and oom.type is PluginErrorType.RESOURCE_ERROR
    assert "the kernel's OOM killer" in oom.message
    killed = oom.metadata["limit"]
    assert (killed["limit"], killed["cap"], killed["action"]) == ("memory", 64 * MB, "killed")
    assert 56 * MB <= killed["value"] <= 72 * MB  # the cgroup's peak: at about its limit
    assert "cgroup's peak memory" in killed["detail"]
    record = eng.metrics("hog").limitsExceeded["memory"]
    assert record["count"] == 2
    assert record["actions"] == {"refused (MemoryError)": 1, "killed": 1}
    assert record["last"]["action"] == "killed"


@pytest.fixture
def served(
    engine: tuple[Engine, ProcessRuntime],
) -> Iterator[tuple[Engine, httpx.Client]]:
    eng, _runtime = engine
    server = serve(eng, settings=WebSettings())
    client = httpx.Client(
        base_url=server.url, timeout=30.0, headers={"authorization": f"Bearer {server.token}"}
    )
    try:
        yield eng, client
    finally:
        client.close()
        server.stop()


def test_metrics_status_and_prometheus_show_the_same_limit_record(
    served: tuple[Engine, httpx.Client], make_plugin: MakePlugin
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    eng, client = served
    _load(eng, make_plugin, "slow", limits={"executionTime": 300})
    _load(eng, make_plugin, "calm")
    for _ in range(2):
        assert _fire(eng, "slow", do="sleep", seconds=3).error is not None
    assert _fire(eng, "calm", do="sleep", seconds=0).value == "done"

    record = eng.metrics("slow").limitsExceeded
    assert set(record) == {"executionTime"}
    assert record["executionTime"]["count"] == 2
    assert record["executionTime"]["actions"] == {"timed out": 2}
    last = record["executionTime"]["last"]
    assert last["plugin"] == "slow" and last["cap"] == 300.0

    status = client.get("/v3/plugins/slow/status")
    assert status.status_code == 200, status.text
    assert status.json()["limitsExceeded"] == record
    assert client.get("/v3/plugins/calm/status").json()["limitsExceeded"] == {}

    scrape = client.get("/v3/metrics")
    assert scrape.status_code == 200, scrape.text
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(scrape.text)
        for sample in family.samples
    }
    hits = {k: v for k, v in samples.items() if k[0] == "pliers_plugin_limit_hits_total"}
    assert hits == {
        (
            "pliers_plugin_limit_hits_total",
            (("action", "timed out"), ("limit", "executionTime"), ("plugin", "slow")),
        ): 2.0
    }
    labels = (("limit", "executionTime"), ("plugin", "slow"))
    stamp = samples[("pliers_plugin_limit_last_hit_timestamp_seconds", labels)]
    assert stamp == pytest.approx(last["at"])
    with_unit = (("limit", "executionTime"), ("plugin", "slow"), ("unit", "ms"))
    assert samples[("pliers_plugin_limit_last_value", with_unit)] == pytest.approx(last["value"])
    assert samples[("pliers_plugin_limit_last_cap", with_unit)] == 300.0


def test_the_lifetime_cpu_budget_is_a_cpu_lifetime_hit(
    tmp_path: Path, make_plugin: MakePlugin
) -> None:
    policy = SandboxPolicy(
        data_root=tmp_path / "data", limits=Limits(cpu_ms=20_000, cpu_lifetime_s=1)
    )
    runtime = ProcessRuntime(policy)
    with Engine(default_isolation="process") as eng:
        eng.register_runtime(runtime)
        _load(eng, make_plugin, "marathon")
        error = _fire(eng, "marathon", do="spin", seconds=5).error
        assert error is not None and error.type is PluginErrorType.RESOURCE_ERROR
        assert "lifetime CPU budget (RLIMIT_CPU)" in error.message
        hit = error.metadata["limit"]
        assert (hit["limit"], hit["cap"], hit["unit"], hit["action"]) == (
            "cpuLifetime",
            1000,
            "ms",
            "killed",
        )
        assert 900 <= hit["value"] <= 3000  # the worker's CPU time at its end (wait4)
        assert "RLIMIT_CPU" in hit["detail"]
        assert eng.metrics("marathon").limitsExceeded["cpuLifetime"]["count"] == 1
    runtime.close()
