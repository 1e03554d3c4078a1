"""``engine.optimizer`` (spec ResourceOptimizer) on real workers and inline plugins."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sandbox.helpers import MakePlugin
from support import manifest

from pliers_lab import Engine, EngineError
from pliers_lab.sandbox import ProcessRuntime

HOOK = "submission.afterSave"

CYCLES = """
import gc
from pliers_lab import hook

gc.disable()  # so the garbage waits for the optimizer
KEEP = []

@hook("submission.afterSave")
def after(ctx):
    for _ in range(500):
        node = {}
        node["self"] = node  # a reference cycle: only the collector frees it
    ctx.api.cache.set(f"k{len(KEEP)}", 1)
    KEEP.append(bytearray(ctx.data.get("mb", 0) << 20))
    return len(KEEP)
"""


def nice_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_garbage_is_collected_in_the_worker(sandbox: Engine, make_plugin: MakePlugin) -> None:
    sandbox.load(make_plugin("cyclic", CYCLES))
    sandbox.fire(HOOK, {})
    report = sandbox.optimizer.garbage_collect("cyclic")
    assert report["where"] == "worker process" and report["collected"] >= 500
    assert sandbox.optimizer.garbage_collect("cyclic")["collected"] < 500  # nothing left


def test_memory_is_given_back_by_recycling_the_worker(
    sandbox: Engine, runtime: ProcessRuntime, make_plugin: MakePlugin
) -> None:
    sandbox.load(make_plugin("hoarder", CYCLES))
    for _ in range(3):
        sandbox.fire(HOOK, {"mb": 8})
    pid = runtime.usage("hoarder")["pid"]
    kept = sandbox.optimizer.optimize_memory("hoarder", recycle_above_mb=1000)
    assert not kept["recycled"] and kept["cacheEntriesDropped"] == 3
    assert kept["rssAfterMb"] > 24 and runtime.usage("hoarder")["pid"] == pid
    report = sandbox.optimizer.optimize_memory("hoarder", recycle_above_mb=20)
    assert report["recycled"] and report["rssAfterMb"] < report["rssBeforeMb"] - 20
    assert runtime.usage("hoarder")["pid"] != pid
    assert sandbox.fire(HOOK, {}).value == [1]  # a fresh worker, still answering


def test_cpu_priority_of_a_worker(
    sandbox: Engine, runtime: ProcessRuntime, make_plugin: MakePlugin
) -> None:
    burner = """
import time
from pliers_lab import hook

@hook("submission.afterSave")
def after(ctx):
    end = time.process_time() + ctx.data.get("burn", 0)
    while time.process_time() < end:
        pass
    return ctx.data.get("burn", 0)
"""
    sandbox.load(make_plugin("heavy", burner))
    sandbox.load(make_plugin("light", burner.replace('ctx.data.get("burn", 0)', "0")))
    for _ in range(5):
        sandbox.fire(HOOK, {"burn": 0.02})
    heavy = sandbox.optimizer.optimize_cpu("heavy")
    # Two plugins: the median is their mean, so the heavy one gets about half priority.
    assert 20 < heavy["priority"] < 80 and heavy["cpuMsPerCall"] > heavy["medianCpuMsPerCall"]
    assert nice_of(runtime.usage("heavy")["pid"]) == heavy["nice"] > 0
    assert sandbox.optimizer.optimize_cpu("light")["priority"] == 100

    sandbox.optimizer.schedule_execution("light", 0)
    assert nice_of(runtime.usage("light")["pid"]) == 19
    runtime.process("light").recycle()  # kept across restarts
    assert nice_of(runtime.usage("light")["pid"]) == 19
    if os.geteuid() == 0:  # raising a priority back needs CAP_SYS_NICE
        sandbox.optimizer.schedule_execution("light", 100)
        assert nice_of(runtime.usage("light")["pid"]) == 0
    else:
        with pytest.raises(EngineError, match="CAP_SYS_NICE"):
            sandbox.optimizer.schedule_execution("light", 100)
    with pytest.raises(ValueError, match="0 to 100"):
        sandbox.optimizer.schedule_execution("light", 101)


def test_inline_plugins_say_what_does_not_apply(sandbox: Engine) -> None:
    sandbox.add_plugin(manifest("inl", {HOOK: {"handler": "h"}}), {"h": lambda ctx: 1})
    with pytest.raises(EngineError, match="runs inline"):
        sandbox.optimizer.schedule_execution("inl", 50)
    report = sandbox.optimizer.optimize_memory("inl")
    assert report["where"].startswith("host process") and report["recycled"] is False


def test_batch_operations_fire_many_and_report_each(
    sandbox: Engine, make_plugin: MakePlugin
) -> None:
    sandbox.load(make_plugin("cyclic", CYCLES))
    ops = [{"hook": HOOK, "data": {}} for _ in range(5)]
    ops += [{"hook": "no.suchHook"}, "garbage"]
    batch = sandbox.optimizer.batch_operations(ops, max_workers=3)
    assert batch.to_dict()["succeeded"] == 5 and batch.to_dict()["failed"] == 2
    assert sorted(r.value[0] for r in batch.results[:5] if r is not None) == [1, 2, 3, 4, 5]
    assert "no.suchHook" in (batch.errors[5] or "") and "operation 6" in (batch.errors[6] or "")


def test_queries_on_the_same_rows_are_merged() -> None:
    from pliers_lab.observe.optimize import ResourceOptimizer

    merged = ResourceOptimizer.optimize_queries(
        [
            {"table": "submissions", "where": {"form_id": "a"}, "fields": ["id"]},
            {"table": "forms", "where": {}},
            {"table": "submissions", "where": {"form_id": "a"}, "fields": ["data", "id"]},
            {"table": "submissions", "where": {"form_id": "b"}, "fields": ["id"]},
        ]
    )
    assert [(q.table, q.where, q.fields, q.serves) for q in merged] == [
        ("submissions", {"form_id": "a"}, ["id", "data"], [0, 2]),
        ("forms", {}, None, [1]),
        ("submissions", {"form_id": "b"}, ["id"], [3]),
    ]
    with pytest.raises(ValueError, match="query 0"):
        ResourceOptimizer.optimize_queries([{"where": {}}])
