"""The warm template (issue 17): workers forked from a process that has imported the
worker, one template per runtime, bound to the engine's life, with every layer a spawned
worker has; the host still learns each worker's end and can signal it."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sandbox.helpers import MakePlugin, requires

from pliers_lab import Engine
from pliers_lab.sandbox import ProcessRuntime, SandboxPolicy, _template_host
from pliers_lab.sandbox._process import _environment

pytestmark = requires("rlimits", "netns", "landlock", "capabilities", "seccomp")

HOOK = "submission.afterSave"
ECHO = """
from pliers_lab import hook

@hook("submission.afterSave")
def echo(ctx):
    return ctx.data.get("n")
"""
DOES = """
import ctypes, os, time
from pliers_lab import hook

@hook("submission.afterSave")
def act(ctx):
    what = ctx.data["do"]
    if what == "exit":
        os._exit(7)
    if what == "segv":
        ctypes.string_at(0)
    if what == "burn":
        end = time.process_time() + 0.3
        while time.process_time() < end:
            pass
        return "burnt"
    if what == "grow":
        global kept
        kept = bytearray(60 << 20)
        kept[::4096] = b"x" * len(kept[::4096])
        return len(kept)
    if what == "ids":
        return {"pid": os.getpid(), "ppid": os.getppid(), "sid": os.getsid(0),
                "env": dict(os.environ)}
    return "idle"
"""


def _state(pid: int) -> str:
    """The process's state letter (``R``, ``S``, ``T``, ``Z``…), ``-`` when gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "-"


def _alive(pid: int) -> bool:
    return _state(pid) not in ("-", "Z")  # a zombie has exited


def _gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    return not _alive(pid)


def _up(runtime: ProcessRuntime) -> int:
    """Wait for the runtime's template (started with its first worker); its pid."""
    template = runtime.template
    assert template is not None and template.wait_up(), runtime.template_off
    return template.pid


@pytest.fixture
def warm(sandbox: Engine, runtime: ProcessRuntime, make_plugin: MakePlugin) -> Iterator[int]:
    """The sandbox with its template up (the first plugin started it); its pid."""
    sandbox.load(make_plugin("first", ECHO))
    yield _up(runtime)


def test_the_first_worker_is_spawned_and_the_next_ones_forked_with_the_same_layers(
    sandbox: Engine, runtime: ProcessRuntime, make_plugin: MakePlugin
) -> None:
    first = sandbox.load(make_plugin("first", ECHO))
    spawned = sandbox.worker("first").worker
    assert spawned.template is None and spawned.proc is not None  # no start waits for it
    template = _up(runtime)
    second = sandbox.load(make_plugin("second", ECHO))
    forked = sandbox.worker("second").worker
    assert forked.template is not None and forked.template.pid == template
    assert forked.pidfd >= 0 and forked.proc is None
    assert second.layers == first.layers
    assert set(second.layers) >= {"rlimits", "netns", "landlock", "capabilities", "seccomp"}
    assert sandbox.fire(HOOK, {"n": 5}).value == [5, 5]


def _spare(runtime: ProcessRuntime) -> Any:
    """The template's spare, once it is forked and placed (in the background)."""
    template = runtime.template
    assert template is not None
    deadline = time.monotonic() + 10
    while template._spare is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert template._spare is not None, "no spare was made"
    return template._spare


@requires("cgroup")
def test_the_next_worker_is_the_spare_placed_in_its_cgroups_ahead(
    sandbox: Engine, runtime: ProcessRuntime, make_plugin: MakePlugin, warm: int
) -> None:
    spare = _spare(runtime)
    dirs = dict(spare.group.dirs)
    assert spare.group.pids() == [spare.pid]  # placed while nobody waited for it
    plugin = sandbox.load(make_plugin("next", ECHO))
    worker = sandbox.worker("next").worker
    assert worker.pid == spare.pid and worker.template is not None
    assert worker.group is not None and worker.group.dirs == dirs
    assert worker.group.pids() == [worker.pid]
    limits = runtime.policy.limits
    assert (worker.group.memory_bytes, worker.group.max_tasks) == (
        limits.memory_mb << 20,
        limits.max_threads + 1,
    )
    assert plugin.layers["cgroup"] == worker.group.describe()
    assert worker.marks.get("placed") is None  # no ``go`` to wait for: placed ahead
    assert _spare(runtime) is not spare  # the next one is made behind it
    assert sandbox.fire(HOOK, {"n": 6}).value == [6, 6]


@requires("cgroup")
def test_closing_ends_the_spare_and_removes_its_cgroups(
    tmp_path: Path, make_plugin: MakePlugin
) -> None:
    engine = Engine(default_isolation="process")
    engine.sandbox.policy = SandboxPolicy(data_root=tmp_path / "data")
    engine.load(make_plugin("one", ECHO))
    _up(engine.sandbox)
    spare = _spare(engine.sandbox)
    folders = engine.sandbox.cgroup_owner.folders()
    engine.close()
    assert _gone(spare.pid)
    assert not any(folder.exists() for folder in folders)


def test_a_forked_worker_is_a_fresh_worker_of_its_own(
    sandbox: Engine, make_plugin: MakePlugin, warm: int
) -> None:
    sandbox.load(make_plugin("ids", DOES))
    worker = sandbox.worker("ids").worker
    seen = sandbox.fire(HOOK, {"do": "ids"}).outcome("ids").value
    assert seen["pid"] == worker.pid and seen["ppid"] == warm
    assert seen["sid"] == worker.pid  # a session of its own, as a spawned worker's
    assert seen["env"] == _environment(sandbox.worker("ids").spec.grants)  # its own
    if os.geteuid() == 0:  # the worker is not dumpable: root alone may look
        fds = sorted(int(fd) for fd in os.listdir(f"/proc/{worker.pid}/fd"))
        assert fds == [0, 1, 2, 3, 4]  # the wire, nothing of the template's
    if worker.group is not None:  # placed in its own cgroups like any worker
        assert worker.group.pids() == [worker.pid]


def test_the_host_learns_how_forked_workers_end(
    sandbox: Engine, make_plugin: MakePlugin, warm: int
) -> None:
    sandbox.load(make_plugin("ends", DOES))
    process = sandbox.worker("ends")
    assert process.worker.template is not None
    error = sandbox.fire(HOOK, {"do": "exit"}).outcome("ends").error
    assert "exited mid-call with status 7" in error.message
    error = sandbox.fire(HOOK, {"do": "segv"}).outcome("ends").error
    assert "died mid-call (SIGSEGV)" in error.message
    time.sleep(0.3)  # past the restart backoff
    assert sandbox.fire(HOOK, {"do": "burn"}).outcome("ends").value == "burnt"
    worker = process.worker
    assert worker.template is not None
    worker.kill("test")  # CPU time of a reaped worker comes from the template's wait4
    assert worker.exit is not None and worker.cpu_ms() >= 250
    assert _alive(warm)


def test_memory_of_a_forked_worker_is_accounted(
    sandbox: Engine, make_plugin: MakePlugin, warm: int
) -> None:
    sandbox.load(make_plugin("grows", DOES))
    assert sandbox.worker("grows").worker.template is not None
    assert sandbox.fire(HOOK, {"do": "grow"}).outcome("grows").value == 60 << 20
    usage = sandbox.sandbox.usage("grows")
    assert usage["peak_memory_mb"] >= 60, usage


def test_suspend_resume_and_stop_reach_a_forked_worker(
    sandbox: Engine, make_plugin: MakePlugin, warm: int
) -> None:
    sandbox.load(make_plugin("held", ECHO))
    worker = sandbox.worker("held").worker
    assert worker.template is not None
    sandbox.suspend("held")
    deadline = time.monotonic() + 5
    while _state(worker.pid) != "T" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _state(worker.pid) == "T"
    sandbox.resume("held")
    assert sandbox.fire(HOOK, {"n": 1}).outcome("held").value == 1
    sandbox.unload("held")
    assert _gone(worker.pid) and worker.exit is not None and worker.pidfd == -1


def test_closing_the_engine_ends_its_template_and_workers(
    tmp_path: Path, make_plugin: MakePlugin
) -> None:
    engine = Engine(default_isolation="process")
    engine.sandbox.policy = SandboxPolicy(data_root=tmp_path / "data")
    engine.load(make_plugin("one", ECHO))
    template = _up(engine.sandbox)
    engine.load(make_plugin("two", ECHO))
    workers = [engine.worker(p).worker.pid for p in ("one", "two")]
    engine.close()
    assert _gone(template) and all(_gone(pid) for pid in workers)


def test_each_runtime_has_its_own_template(tmp_path: Path, make_plugin: MakePlugin) -> None:
    engines, templates = [], []
    for n in range(2):
        runtime = ProcessRuntime(SandboxPolicy(data_root=tmp_path / f"data{n}"))
        engine = Engine(default_isolation="process")
        engine.register_runtime(runtime)
        engine.load(make_plugin(f"p{n}", ECHO))
        templates.append(_up(runtime))
        engines.append((engine, runtime))
    assert templates[0] != templates[1]
    engines[0][0].close()
    engines[0][1].close()
    assert _gone(templates[0])
    engine, runtime = engines[1]
    engine.load(make_plugin("later", ECHO))
    assert engine.worker("later").worker.template.pid == templates[1]
    assert engine.fire(HOOK, {"n": 3}).value == [3, 3]
    engine.close()
    runtime.close()
    assert _gone(templates[1])


def test_a_template_started_from_a_short_lived_thread_outlives_it(
    sandbox: Engine, runtime: ProcessRuntime, make_plugin: MakePlugin
) -> None:
    # PR_SET_PDEATHSIG fires when the *thread* that forked a process ends: the template
    # is started from a thread of its own, not from the caller's.
    folder = make_plugin("threaded", ECHO)
    loader = threading.Thread(target=sandbox.load, args=(folder,))
    loader.start()
    loader.join()
    template = _up(runtime)
    time.sleep(0.2)
    assert _alive(template)
    sandbox.load(make_plugin("after", ECHO))
    assert sandbox.worker("after").worker.template.pid == template


def test_a_dead_template_takes_its_workers_and_calls_still_get_one(
    sandbox: Engine, runtime: ProcessRuntime, make_plugin: MakePlugin, warm: int
) -> None:
    sandbox.load(make_plugin("orphan", ECHO))
    worker = sandbox.worker("orphan").worker
    assert worker.template is not None
    os.kill(warm, signal.SIGKILL)
    assert _gone(worker.pid)  # PR_SET_PDEATHSIG
    assert worker.reap(5.0) == signal.SIGKILL
    assert sandbox.fire(HOOK, {"n": 2}).outcome("orphan").value == 2  # a new worker
    assert runtime.template_off is None
    new = _up(runtime)  # a new template started for the next ones
    assert new != warm
    sandbox.load(make_plugin("next", ECHO))
    assert sandbox.worker("next").worker.template.pid == new


def test_a_template_that_cannot_start_is_reported_once_and_workers_spawn(
    sandbox: Engine,
    runtime: ProcessRuntime,
    make_plugin: MakePlugin,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(_template_host, "BOOT", "/nonexistent/_boot.py")
    caplog.set_level(logging.WARNING, "pliers_lab.sandbox")
    first = sandbox.load(make_plugin("a", ECHO))
    template = runtime.template
    assert template is not None and not template.wait_up()
    for name in ("b", "c"):
        plugin = sandbox.load(make_plugin(name, ECHO))
        assert sandbox.worker(name).worker.template is None
        assert plugin.layers == first.layers
    assert runtime.template_off and "status 2" in runtime.template_off
    warned = [r for r in caplog.records if "without a warm template" in r.getMessage()]
    assert len(warned) == 1, warned
    assert sandbox.fire(HOOK, {"n": 4}).value == [4, 4, 4]


def test_policy_can_turn_the_template_off(tmp_path: Path, make_plugin: MakePlugin) -> None:
    runtime = ProcessRuntime(SandboxPolicy(data_root=tmp_path / "data", warm_template=False))
    engine = Engine(default_isolation="process")
    engine.register_runtime(runtime)
    for name in ("x", "y"):
        engine.load(make_plugin(name, ECHO))
        assert engine.worker(name).worker.template is None
    assert runtime.template is None and runtime.template_off == "off by policy"
    engine.close()
    runtime.close()


def test_a_process_forked_from_the_host_leaves_the_template_alone(
    sandbox: Engine, runtime: ProcessRuntime, make_plugin: MakePlugin, warm: int
) -> None:
    pid = os.fork()
    if pid == 0:  # the fork's copy of the control socket is closed at once
        os._exit(0 if not runtime.template.usable else 1)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    sandbox.load(make_plugin("after-fork", ECHO))
    assert sandbox.worker("after-fork").worker.template.pid == warm


# A host process: an engine with two sandboxed plugins; prints the template's and the
# workers' pids, then waits to be killed.
HOST = """
import json, sys, time
from pathlib import Path
from pliers_lab import Engine
from pliers_lab.sandbox import ProcessRuntime, SandboxPolicy

runtime = ProcessRuntime(SandboxPolicy(data_root=Path(sys.argv[3])))
engine = Engine(default_isolation="process")
engine.register_runtime(runtime)
engine.load(sys.argv[1])
runtime.template.wait_up()
engine.load(sys.argv[2])
pids = [engine.worker(n).worker.pid for n in ("one", "two")]
print(json.dumps({"template": runtime.template.pid, "workers": pids}), flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_the_template_and_its_workers_die_with_the_host(
    tmp_path: Path, make_plugin: MakePlugin, how: str
) -> None:
    plugins = [str(make_plugin(name, ECHO)) for name in ("one", "two")]
    with subprocess.Popen(
        [sys.executable, "-c", HOST, *plugins, str(tmp_path / "data")],
        stdout=subprocess.PIPE,
        text=True,
    ) as host:
        try:
            assert host.stdout is not None
            seen = json.loads(host.stdout.readline())
        finally:
            host.send_signal(getattr(signal, how))
            host.wait()
    assert _gone(seen["template"]), "the template outlived its engine"
    assert all(_gone(pid) for pid in seen["workers"]), "a worker outlived its engine"
