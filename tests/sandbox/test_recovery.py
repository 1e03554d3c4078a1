"""Restarts, crash loops, quarantine, suspend/resume, throttle, concurrency, handshake."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest
from sandbox.helpers import MakePlugin

from pliers_lab import Engine, EngineError, PluginError, PluginErrorType, PluginState
from pliers_lab.sandbox import ProcessRuntime, SandboxPolicy
from pliers_lab.sandbox._process import Failure, Worker
from pliers_lab.sandbox.wire import PROTOCOL_VERSION

HOOK = "submission.afterSave"
CRASHER = """
import os
from pliers_lab import hook
@hook("submission.afterSave")
def maybe_crash(ctx):
    if ctx.data.get("crash"):
        os._exit(9)
    return os.getpid()
"""


@pytest.fixture
def quick(tmp_path: Path) -> ProcessRuntime:
    return ProcessRuntime(SandboxPolicy(data_root=tmp_path, restart_backoff_s=(0.0, 0.05, 0.1)))


def test_a_crashed_worker_is_restarted(
    sandbox: Engine, runtime: ProcessRuntime, make_plugin: MakePlugin
) -> None:
    sandbox.load(make_plugin("crasher", CRASHER))
    first = sandbox.fire(HOOK, {}).value[0]
    err = sandbox.fire(HOOK, {"crash": True}).outcomes[0].error
    assert err.type is PluginErrorType.RUNTIME_ERROR and "status 9" in err.message
    second = sandbox.fire(HOOK, {}).value[0]
    assert second != first
    assert runtime.usage("crasher")["restarts"] == 1
    assert sandbox.plugin("crasher").state is PluginState.ACTIVE


def test_a_crash_loop_disables_the_plugin(quick: ProcessRuntime, make_plugin: MakePlugin) -> None:
    with Engine() as engine:
        engine.register_runtime(quick)
        engine.load(make_plugin("looper", CRASHER))
        for _ in range(3):
            engine.fire(HOOK, {"crash": True})
        plugin = engine.plugin("looper")
        assert plugin.state is PluginState.STOPPED
        assert "crash loop: 3 crashes" in (plugin.disabled_reason or "")
        assert list(engine.recoveries)[-1].action == "disable"
    quick.close()


def test_quarantine_and_release(sandbox: Engine, make_plugin: MakePlugin) -> None:
    sandbox.load(
        make_plugin(
            "suspect",
            """
    from pliers_lab import hook
    @hook("submission.afterSave")
    def peek(ctx):
        if ctx.data.get("peek"):
            return open("/etc/passwd").read()
        return "fine"
    """,
        )
    )
    err = sandbox.fire(HOOK, {"peek": True}).outcomes[0].error
    assert err.type is PluginErrorType.SECURITY_ERROR and err.recovery == "quarantine"
    assert "Permission denied" in (sandbox.quarantined("suspect") or "")
    with pytest.raises(EngineError, match="quarantined"):
        sandbox.enable("suspect")
    assert sandbox.fire(HOOK, {}).outcomes == []
    sandbox.release("suspect")
    assert sandbox.fire(HOOK, {}).value == ["fine"]
    assert sandbox.isolation("suspect")["quarantined"] is None


def test_suspend_freezes_and_resume_thaws(
    sandbox: Engine, runtime: ProcessRuntime, make_plugin: MakePlugin
) -> None:
    sandbox.load(make_plugin("sleeper", CRASHER))
    pid = sandbox.fire(HOOK, {}).value[0]
    sandbox.suspend("sleeper", "too busy")
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:  # SIGSTOP is delivered asynchronously
        with open(f"/proc/{pid}/stat") as f:
            if f.read().split(") ")[1][0] == "T":
                break
        time.sleep(0.01)
    else:
        pytest.fail("the worker was not stopped")
    assert sandbox.fire(HOOK, {}).outcomes == []
    sandbox.resume("sleeper")
    assert sandbox.fire(HOOK, {}).value == [pid]


def test_throttle_caps_cpu(sandbox: Engine, make_plugin: MakePlugin) -> None:
    sandbox.load(
        make_plugin(
            "hog",
            """
    import time
    from pliers_lab import hook
    @hook("submission.afterSave")
    def spin(ctx):
        end = time.monotonic() + 0.4
        n = 0
        while time.monotonic() < end:
            n += 1
        return time.process_time()
    """,
        )
    )
    before = sandbox.fire(HOOK, {}).value[0]
    assert sandbox.throttle("hog", "noisy neighbour", cpu_fraction=0.1)
    after = sandbox.fire(HOOK, {}).value[0]
    assert after - before < 0.25  # ~0.04 s of CPU in 0.4 s at 10 % of a core
    assert sandbox.throttle("hog", "lifted", cpu_fraction=None)


def test_concurrency_limit_refuses_past_the_queue_as_a_host_overload(
    tmp_path: Path, make_plugin: MakePlugin
) -> None:
    from pliers_lab.sandbox import Limits

    runtime = ProcessRuntime(SandboxPolicy(data_root=tmp_path, limits=Limits(concurrency=2)))
    with Engine() as engine:
        engine.register_runtime(runtime)
        engine.load(
            make_plugin(
                "slow",
                """
        import time
        from pliers_lab import hook
        @hook("submission.afterSave")
        def slow(ctx):
            time.sleep(0.3)
            return "done"
        """,
            )
        )
        results: list[object] = []
        threads = [
            threading.Thread(target=lambda: results.append(engine.fire(HOOK, {}))) for _ in range(4)
        ]
        for t in threads:
            t.start()
            time.sleep(0.02)
        for t in threads:
            t.join()
        statuses = sorted(o.status for r in results for o in r.outcomes)
        assert statuses.count("overloaded") >= 1 and "ok" in statuses  # 2 wait, then refused
        refused = [o.error for r in results for o in r.outcomes if o.status == "overloaded"]
        assert all(e.type.value == "resource_error" and e.counted is False for e in refused)
        assert engine.metrics("slow").execution.errorCount == 0  # the host's limit, not its
    runtime.close()


FAKE = """
import os, sys
fd_in, fd_out = int(sys.argv[-2]), int(sys.argv[-1])
body = b'{"t": "hello", "v": 99}'
os.write(fd_out, len(body).to_bytes(4, "big") + body)
os.read(fd_in, 1 << 20)
"""


def test_handshake_version_mismatch_is_clear(tmp_path: Path, make_plugin: MakePlugin) -> None:
    from pliers_lab.manifest import load_manifest
    from pliers_lab.sandbox._process import WorkerSpec
    from pliers_lab.sandbox.policy import compile_grants

    folder = make_plugin("fake", "x = 1\n")
    runtime = ProcessRuntime(SandboxPolicy(data_root=tmp_path))
    manifest = load_manifest(folder)

    spec = WorkerSpec(
        "fake",
        "1.0.0",
        "plugin.py",
        str(folder),
        {},
        compile_grants(manifest, runtime.policy),
        runtime.policy.limits,
        (),
        frozenset(),
        cgroup_owner=None,
        command=[sys.executable, "-c", FAKE],
    )
    worker = Worker(spec)
    with pytest.raises(
        Failure,
        match="protocol version mismatch: the worker speaks 99, this host speaks "
        + str(PROTOCOL_VERSION),
    ):
        worker.start({})
    assert worker.exit is not None


BURNER = """
import time
from pliers_lab import hook
@hook("submission.afterSave")
def burn(ctx):
    end = time.process_time() + ctx.data.get("seconds", 0)
    while time.process_time() < end:
        pass
    return bytearray(ctx.data.get("hold", 0))[:1].hex()
"""


def test_listing_reports_mode_and_layers(sandbox: Engine, make_plugin: MakePlugin) -> None:
    sandbox.load(make_plugin("listed", BURNER))
    sandbox.fire(HOOK, {"seconds": 0.2})
    frame = sandbox.metrics_frame()
    row = frame[frame["plugin_id"] == "listed"].iloc[0]
    assert row["isolation"] == "process" and "seccomp" in row["layers"]
    assert row["cpu_total_ms"] >= 190  # the 0.2 s it burnt (10 ms ticks), and its start
    info = sandbox.isolation("listed")
    assert info["pid"] and "landlock" in info["layers"]
    assert info["cpu_ms"] >= 190 and info["memory_mb"] > 1
    assert info["limits"]["applied"] is True and info["limits"]["cpuMsPerCall"] == 1000
    assert os.getpid() != info["pid"]


def test_runtime_errors_name_the_plugin() -> None:
    runtime = ProcessRuntime()
    with pytest.raises(PluginError, match="does not run in process isolation"):
        runtime.process("nobody")


def test_metrics_carry_peak_memory_and_cpu(sandbox: Engine, make_plugin: MakePlugin) -> None:
    sandbox.load(make_plugin("measured", BURNER))
    before = sandbox.metrics("measured").resources
    sandbox.fire(HOOK, {"seconds": 0.3, "hold": 40 << 20})
    resources = sandbox.metrics("measured").resources
    memory, cpu = resources["memoryUsage"], resources["cpuUsage"]
    assert memory["peak"] - before["memoryUsage"]["peak"] >= 35  # the 40 MiB it held
    assert memory["peak"] >= memory["current"] > 1
    assert 280 <= cpu["total"] - before["cpuUsage"]["total"] <= 400  # the 0.3 s it burnt
    assert resources["units"]["cpuUsage.total"] == "ms"
    assert resources["units"]["memoryUsage.peak"] == "MiB"
