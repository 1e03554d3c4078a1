"""Several engines on one machine (issue 13 §2): machine-wide state belongs to one engine
and is cleaned only when its owner is provably dead."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sandbox.helpers import requires
from support import write_plugin

from pliers_lab.sandbox.layers.cgroup import GroupOwner, WorkerGroup, owner_alive, sweep_stale

pytestmark = requires("rlimits", "netns", "landlock", "capabilities", "seccomp", "cgroup")

HOOK = "submission.afterSave"
ECHO = """
from pliers_lab import hook

@hook("submission.afterSave")
def echo(ctx):
    return ctx.data["n"]
"""

# One engine process: load, call and unload a sandboxed plugin in a loop while a thread
# sweeps stale groups as fast as it can; every failure is reported, none is raised.
ENGINE_LOOP = """
import json, sys, threading, traceback
from pathlib import Path
from pliers_lab import Engine
from pliers_lab.sandbox import ProcessRuntime, SandboxPolicy
from pliers_lab.sandbox.layers.cgroup import sweep_stale

plugin, data, rounds = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
done = threading.Event()
sweeps = [0]

def sweeper():
    while not done.is_set():
        sweep_stale()
        sweeps[0] += 1

threading.Thread(target=sweeper, daemon=True).start()
failures, answers = [], 0
for n in range(rounds):
    runtime = ProcessRuntime(SandboxPolicy(data_root=data))
    engine = Engine(default_isolation="process")
    engine.register_runtime(runtime)
    try:
        engine.load(plugin)
        outcome = engine.fire("submission.afterSave", {"n": n}).outcomes[0]
        if outcome.value == n:
            answers += 1
        else:
            failures.append(f"round {n}: {outcome.status}: {outcome.error}")
        engine.unload(plugin.name)
    except Exception:
        failures.append(f"round {n}: " + traceback.format_exc(limit=3))
    finally:
        engine.close()
        runtime.close()
done.set()
print(json.dumps({"answers": answers, "failures": failures, "sweeps": sweeps[0]}))
"""


def test_two_engine_processes_sweeping_never_break_each_other(tmp_path: Path) -> None:
    plugin = write_plugin(tmp_path / "plugins", "echo", ECHO, {HOOK: {}})
    rounds = 25
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                ENGINE_LOOP,
                str(plugin),
                str(tmp_path / f"data{i}"),
                str(rounds),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        reports.append(json.loads(out.strip().splitlines()[-1]))
    for report in reports:
        assert report["failures"] == [], report["failures"]
        assert report["answers"] == rounds
        assert report["sweeps"] > rounds  # the sweeps really ran beside the loads


def test_a_live_owners_empty_group_survives_a_sweep() -> None:
    owner = GroupOwner()
    group = WorkerGroup("idle", 32 << 20, 4, owner)
    try:
        assert owner_alive(owner.name)
        sweep_stale()
        assert all(path.is_dir() for path in group.dirs.values())
    finally:
        group.remove()
        owner.release()


DIES_WITH_A_WORKER = """
import os, sys, time
from pathlib import Path
from pliers_lab import Engine
from pliers_lab.sandbox import ProcessRuntime, SandboxPolicy

runtime = ProcessRuntime(SandboxPolicy(data_root=Path(sys.argv[2])))
engine = Engine(default_isolation="process")
engine.register_runtime(runtime)
engine.load(Path(sys.argv[1]))
print(runtime.cgroup_owner.name, runtime.usage("echo")["pid"], flush=True)
time.sleep(60)
"""


def test_a_dead_engines_groups_and_workers_are_swept(tmp_path: Path) -> None:
    plugin = write_plugin(tmp_path / "plugins", "echo", ECHO, {HOOK: {}})
    proc = subprocess.Popen(
        [sys.executable, "-c", DIES_WITH_A_WORKER, str(plugin), str(tmp_path / "data")],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    owner_name, worker_pid = line[0], int(line[1])
    folders = [base / owner_name for base in _bases()]
    assert all(folder.is_dir() for folder in folders)
    assert owner_alive(owner_name)
    sweep_stale()
    assert all(folder.is_dir() for folder in folders), "a live engine's groups were swept"
    os.kill(proc.pid, signal.SIGKILL)  # no close, no cleanup: the engine is gone
    proc.wait()
    proc.stdout.close()
    assert not owner_alive(owner_name)
    sweep_stale()
    assert not any(folder.exists() for folder in folders)
    deadline = time.monotonic() + 5
    while _running(worker_pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _running(worker_pid), "the orphaned worker outlived its engine's sweep"


def test_owner_names_of_other_namespaces_and_shapes_count_as_alive() -> None:
    assert owner_alive("engine-1-2-3-4")  # another pid namespace: not ours to judge
    assert owner_alive("something-else")
    assert not owner_alive(f"legacy-plugin-{_dead_pid()}-7")


def _bases() -> list[Path]:
    from pliers_lab.sandbox.layers.cgroup import layout

    _kind, bases = layout()
    return list(dict.fromkeys(bases.values()))


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_closing_an_engine_removes_its_own_groups(tmp_path: Path) -> None:
    from pliers_lab import Engine

    engine = Engine()  # its process runtime is its own, made on first use
    engine.load(write_plugin(tmp_path / "plugins", "echo", ECHO, {HOOK: {}}))
    assert engine.fire(HOOK, {"n": 5}).value == [5]
    folders = engine.sandbox.cgroup_owner.folders()
    assert all(folder.is_dir() for folder in folders)
    engine.close()
    assert not any(folder.exists() for folder in folders)
