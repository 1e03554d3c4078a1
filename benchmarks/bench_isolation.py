"""The process sandbox against its floors: round trip, cold start, memory, 50 plugins.

- **Round trip**: one isolated hook call through ``Engine.fire`` (context, JSON frames both
  ways, a locked-down worker with every layer) against the floor: a raw pipe round trip
  of a small message between two processes, echoed by a child Python process with
  blocking reads. Target: at most 2x the floor's median. Measured interleaved, medians of
  several repeats, in three placements, because on this VM the floor depends on where the
  scheduler puts the two ends: ~6 us when both share a CPU, ~50 us across CPUs (waking a
  sleeping vCPU costs ~20 us). The target is checked left free, where the OS places them
  (the user's case, issue 17), against the floor measured the same way in the same
  rounds; the two pinned placements are printed beside it, labelled. A third peer, the
  same raw pipe with our wait strategy (spin and yield before sleeping, both ends), shows
  what the protocol itself costs.
- **Cold start**: ``ProcessRuntime.prepare`` of a one-hook plugin, spawn → handshake →
  lockdown (rlimits, netns, Landlock, capabilities, seccomp, cgroup) → plugin imported →
  ready, against ``python -c pass`` of the venv's interpreter as a user runs it (site and
  the editable install's ``.pth`` files included), taking turns in every round. Two
  figures, each the median of the per-round ratios with their min-max: a worker forked
  by the runtime's warm template (every worker after an engine's first: other plugins,
  restarts, extra workers; the spare child placed in its cgroups ahead when it is
  ready, else a fresh child), and the *first* worker of a fresh runtime, which is
  spawned as an interpreter of its own (the template starts once it is ready). Target
  (issue 17): at most 1.5x for the forked start; the first start is printed beside it,
  once per engine.
- **Host CPU per call** with default placement: the caller's process CPU time over many
  ``engine.fire`` calls (dispatch, frames, and the bounded spin while it waits), per call,
  beside the same with ``host_spin_us=0``, with a handler that sleeps 2 ms (the caller
  spins at most ``host_spin_us`` of it, then sleeps), and a raw pipe's blocking caller;
  and the worker's CPU per call (it spins ``worker_spin_us`` after each answer).
- **Memory** per warm worker (PSS/USS/RSS from /proc), and **50 isolated plugins** on
  this 2-core machine: load time, one hook answered by all 50, and two threads firing.

Run: ``python benchmarks/bench_isolation.py``

Prints a table, then one ``RESULT <name> <metric> <value> target <op> <target> PASS|FAIL``
line per target (DESIGN.md §4); the cold starts carry the min-max of their rounds.
"""

from __future__ import annotations

import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _plugins import write_plugin as shared_plugin
from _timing import interleaved, result_line

from pliers_lab import Engine
from pliers_lab.sandbox import ProcessRuntime, SandboxPolicy
from pliers_lab.sandbox.procinfo import memory_kb

HOOK = "submission.afterSave"
PLUGIN = """
from pliers_lab import hook

@hook("submission.afterSave")
def echo(ctx):
    return ctx.data
"""
SLOW_MS = 2
SLOW_PLUGIN = f"""
import time
from pliers_lab import hook

@hook("submission.afterSave")
def echo(ctx):
    time.sleep({SLOW_MS / 1000})
    return ctx.data
"""
ECHO_CHILD = """
import os, sys
r, w = int(sys.argv[1]), int(sys.argv[2])
while True:
    data = os.read(r, 65536)
    if not data:
        break
    os.write(w, data)
"""
SPIN_ECHO_CHILD = """
import os, select, sys, time
r, w, spin = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
ready = select.poll()
ready.register(r, select.POLLIN)
while True:
    until = time.monotonic() + spin
    while not ready.poll(0) and time.monotonic() < until:
        os.sched_yield()
    data = os.read(r, 65536)
    if not data:
        break
    os.write(w, data)
"""
DATA = {"submission": {"id": "s-1", "email": "ann@example.com", "amount": 12}}


def write_plugin(root: Path, name: str) -> Path:
    return shared_plugin(root, name, HOOK, PLUGIN, "echo")


class PipeFloor:
    """A child Python process echoing over two pipes: the floor of an isolated call.

    With ``spin_s`` both ends wait as the sandbox's wire does (spin and yield, then sleep).
    """

    def __init__(self, spin_s: float = 0.0) -> None:
        to_child_r, self.to_child = os.pipe()
        self.from_child, from_child_w = os.pipe()
        args = [ECHO_CHILD] if not spin_s else [SPIN_ECHO_CHILD]
        args += [str(to_child_r), str(from_child_w)] + ([str(spin_s / 2)] if spin_s else [])
        self.proc = subprocess.Popen(
            [sys.executable, "-S", "-c", *args], pass_fds=(to_child_r, from_child_w)
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self.message = json.dumps({"t": "call", "data": DATA}).encode()
        self.spin_s = spin_s
        if spin_s:
            os.set_blocking(self.from_child, False)

    def round_trip(self) -> None:
        os.write(self.to_child, self.message)
        if not self.spin_s:
            os.read(self.from_child, 65536)
            return
        until = time.monotonic() + self.spin_s
        while True:
            try:
                os.read(self.from_child, 65536)
                return
            except BlockingIOError:
                if time.monotonic() < until:
                    os.sched_yield()
                else:
                    select.select([self.from_child], [], [])

    def close(self) -> None:
        os.close(self.to_child)
        self.proc.wait()
        os.close(self.from_child)


PLACEMENTS = ("across CPUs", "one CPU", "free")


def round_trip(engine: Engine, worker_pid: int) -> dict[str, dict[str, float]]:
    """Median seconds per round trip of each case, per placement of the two ends."""
    floor, spinning = PipeFloor(), PipeFloor(spin_s=100e-6)
    cpus = sorted(os.sched_getaffinity(0))
    peers = (worker_pid, floor.proc.pid, spinning.proc.pid)
    results: dict[str, dict[str, float]] = {}
    try:
        for placement in PLACEMENTS:
            if placement == "across CPUs" and len(cpus) < 2:
                continue
            if placement == "free":
                mine, theirs = set(cpus), set(cpus)
            else:
                mine = {cpus[0]}
                theirs = {cpus[1] if placement == "across CPUs" else cpus[0]}
            os.sched_setaffinity(0, mine)
            for pid in peers:
                os.sched_setaffinity(pid, theirs)
            results[placement] = interleaved(
                {
                    "floor": floor.round_trip,
                    "spinning floor": spinning.round_trip,
                    "isolated": lambda: engine.fire(HOOK, DATA),
                },
                number=500,
                repeats=9,
            )
    finally:
        os.sched_setaffinity(0, set(cpus))
        floor.close()
        spinning.close()
    return results


def _start(runtime: ProcessRuntime, manifest: Any, folder: Path) -> tuple[float, Any]:
    """Seconds for ``prepare`` (the worker ready for its first call), and the worker."""
    t0 = time.perf_counter()
    prepared = runtime.prepare(manifest, folder)
    took = time.perf_counter() - t0
    worker = prepared.handle.worker
    prepared.handle.stop()
    return took, worker


def _bare() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - t0


def cold_start(policy: SandboxPolicy, root: Path, rounds: int = 15) -> dict[str, Any]:
    """Per round, in turns: ``python -c pass``, a worker forked by a warm template, and
    the first worker of a fresh runtime. Medians (s), per-round ratios, phases (ms)."""
    from pliers_lab.manifest import load_manifest

    folder = write_plugin(root, "cold")
    manifest = load_manifest(folder)
    warm_rt = ProcessRuntime(policy)
    _start(warm_rt, manifest, folder)  # its first worker starts the template
    template = warm_rt.template
    assert template is not None and template.wait_up(), warm_rt.template_off
    times: dict[str, list[float]] = {"bare": [], "warm": [], "first": []}
    marks: dict[str, list[dict[str, float]]] = {"warm": [], "first": []}
    forked = 0
    for _ in range(rounds):
        times["bare"].append(_bare())
        took, worker = _start(warm_rt, manifest, folder)
        forked += worker.template is not None
        times["warm"].append(took)
        marks["warm"].append(worker.marks)
        fresh = ProcessRuntime(policy)
        took, worker = _start(fresh, manifest, folder)
        times["first"].append(took)
        marks["first"].append(worker.marks)
        fresh.close()
    warm_rt.close()
    assert forked == rounds, f"only {forked} of {rounds} warm starts were forked"
    return {
        "median": {k: statistics.median(v) for k, v in times.items()},
        "ratios": {
            k: [t / b for t, b in zip(times[k], times["bare"], strict=True)]
            for k in ("warm", "first")
        },
        "phases": {  # the marks every round has (``placed``: a fresh child, no spare)
            k: {p: statistics.median(m[p] for m in ms) for p in ms[0] if all(p in m for m in ms)}
            for k, ms in marks.items()
        },
        "spares": sum("placed" not in m for m in marks["warm"]),
        "template_up_ms": template.started_s * 1000,
    }


def _run_ns(pid: int) -> int:
    """Nanoseconds ``pid`` (its main thread) has run: ``/proc/<pid>/schedstat``, exact,
    where ``/proc/<pid>/stat`` counts 10 ms ticks."""
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


def cpu_per_call(engine: Engine, pid: int, calls: int = 3000) -> dict[str, float]:
    """Host and worker CPU (us) and wall time (us) per ``engine.fire``, default placement."""
    engine.fire(HOOK, DATA)
    worker0, cpu0, wall0 = _run_ns(pid), time.process_time(), time.perf_counter()
    for _ in range(calls):
        engine.fire(HOOK, DATA)
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    worker = _run_ns(pid) - worker0
    return {
        "host_cpu_us": cpu / calls * 1e6,
        "wall_us": wall / calls * 1e6,
        "worker_cpu_us": worker / calls / 1e3,
    }


def pipe_cpu_per_call(calls: int = 3000) -> dict[str, float]:
    """The same for the raw pipe's caller (blocking reads: no spin)."""
    floor = PipeFloor()
    try:
        floor.round_trip()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for _ in range(calls):
            floor.round_trip()
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
    finally:
        floor.close()
    return {"host_cpu_us": cpu / calls * 1e6, "wall_us": wall / calls * 1e6}


def spin_cost(root: Path) -> dict[str, dict[str, float]]:
    """CPU per call with the default spin and with none, and with a handler that sleeps
    (what a caller burns waiting for a long answer), default placement, interleaved."""
    engines = {}
    default = SandboxPolicy().host_spin_us
    for name, spin, code in (
        ("spin", default, PLUGIN),
        ("no spin", 0, PLUGIN),
        ("slow", default, SLOW_PLUGIN),
        ("slow no spin", 0, SLOW_PLUGIN),
    ):
        runtime = ProcessRuntime(SandboxPolicy(data_root=root / "data", host_spin_us=spin))
        engine = Engine()
        engine.register_runtime(runtime)
        engine.load(shared_plugin(root / name.replace(" ", "-"), "echo", HOOK, code, "echo"))
        engines[name] = (engine, runtime, runtime.usage("echo")["pid"])
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in engines}
    samples["pipe"] = []
    for _ in range(5):
        for name, (engine, _rt, pid) in engines.items():
            samples[name].append(cpu_per_call(engine, pid, 200 if "slow" in name else 1000))
        samples["pipe"].append(pipe_cpu_per_call(1000))
    for engine, runtime, _pid in engines.values():
        engine.close()
        runtime.close()
    return {
        name: {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        for name, rows in samples.items()
    }


def fifty(runtime: ProcessRuntime, root: Path) -> dict[str, float]:
    engine = Engine()
    engine.register_runtime(runtime)
    t0 = time.perf_counter()
    for i in range(50):
        engine.load(write_plugin(root, f"p{i:02d}"))
    load_s = time.perf_counter() - t0
    engine.fire(HOOK, DATA)
    n = 20
    t0 = time.perf_counter()
    for _ in range(n):
        result = engine.fire(HOOK, DATA)
    fire_ms = (time.perf_counter() - t0) / n * 1000
    assert len(result.value) == 50 and result.ok
    fires = 0
    stop = time.monotonic() + 2.0

    def worker() -> None:
        nonlocal fires
        while time.monotonic() < stop:
            engine.fire(HOOK, DATA)
            fires += 1

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pids = [runtime.usage(f"p{i:02d}")["pid"] for i in range(50)]
    mem = [memory_kb(pid) for pid in pids]
    template = runtime.template  # what the sharing costs once per engine
    spare = template._spare if template is not None else None
    extra = [memory_kb(p.pid) for p in (template, spare) if p is not None]
    engine.close()
    return {
        "load_s": load_s,
        "fire_all_ms": fire_ms,
        "calls_per_s_2_threads": fires * 50 / 2.0,
        "pss_mb_total": sum(m.get("pss", 0) for m in mem) / 1024,
        "rss_mb_total": sum(m.get("rss", 0) for m in mem) / 1024,
        "uss_mb_mean": statistics.mean(m.get("uss", 0) for m in mem) / 1024,
        "pss_mb_mean": statistics.mean(m.get("pss", 0) for m in mem) / 1024,
        "rss_mb_mean": statistics.mean(m.get("rss", 0) for m in mem) / 1024,
        "template_pss_mb": sum(m.get("pss", 0) for m in extra) / 1024,
        "template_processes": len(extra),
    }


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-isolation-"))
    policy = SandboxPolicy(data_root=root / "data")
    runtime = ProcessRuntime(policy)
    engine = Engine()
    engine.register_runtime(runtime)
    plugin = engine.load(write_plugin(root / "plugins", "echo"))
    print(f"layers: {', '.join(sorted(plugin.layers))}")

    trips = round_trip(engine, runtime.usage("echo")["pid"])
    engine.close()
    spins = spin_cost(root / "spin")
    cold = cold_start(policy, root / "cold")
    many = fifty(runtime, root / "fifty")
    runtime.close()

    print(
        f"\n{'hook round trip (engine.fire, 1 plugin)':44s} {'ours':>10s} {'floor':>10s} "
        f"{'ratio':>6s} {'spinning floor':>15s} {'ratio':>6s}"
    )
    for placement, t in trips.items():
        ours, floor, spin = t["isolated"], t["floor"], t["spinning floor"]
        print(
            f"{'  ends ' + placement:44s} {ours * 1e6:8.1f}us {floor * 1e6:8.1f}us "
            f"{ours / floor:6.2f} {spin * 1e6:13.1f}us {ours / spin:6.2f}"
        )
    print(
        f"\n{'CPU per call, default placement':44s} {'host CPU':>10s} {'wall':>10s} "
        f"{'worker CPU':>11s}"
    )
    default = SandboxPolicy().host_spin_us
    for name, label in (
        ("spin", f"  engine.fire, host spin {default} us (default)"),
        ("no spin", "  engine.fire, host spin 0"),
        ("slow", f"  handler sleeps {SLOW_MS} ms, host spin {default} us"),
        ("slow no spin", f"  handler sleeps {SLOW_MS} ms, host spin 0"),
        ("pipe", "  raw pipe, blocking read"),
    ):
        row = spins[name]
        worker = f"{row['worker_cpu_us']:9.1f}us" if "worker_cpu_us" in row else ""
        print(f"{label:44s} {row['host_cpu_us']:8.1f}us {row['wall_us']:8.1f}us {worker:>11s}")
    spent = spins["slow"]["host_cpu_us"] - spins["slow no spin"]["host_cpu_us"]
    print(f"  the caller's spin costs {spent:.0f} us of CPU per long call (bound: {default} us)")

    med, ratios = cold["median"], cold["ratios"]
    print(
        f"\n{'measure (medians of 15 rounds, in turns)':44s} {'ours':>12s} {'floor':>12s} "
        f"{'ratio':>7s}"
    )
    for key, label in (
        ("warm", "cold start, forked by the warm template"),
        ("first", "cold start, an engine's first worker"),
    ):
        r = ratios[key]
        print(
            f"{label:44s} {med[key] * 1e3:10.1f}ms {med['bare'] * 1e3:10.1f}ms "
            f"{statistics.median(r):7.2f} ({min(r):.2f}-{max(r):.2f})"
        )
        print(
            "  phases (ms since the start): "
            + ", ".join(f"{k} {v:.1f}" for k, v in cold["phases"][key].items())
        )
    print(
        f"  {cold['spares']} of {len(ratios['warm'])} forked starts took the spare placed in its "
        f"cgroups ahead; the template was up {cold['template_up_ms']:.1f} ms after its start"
    )
    print(
        f"{'memory per warm worker (PSS / USS / RSS)':44s} "
        f"{many['pss_mb_mean']:.1f} / {many['uss_mb_mean']:.1f} / {many['rss_mb_mean']:.1f} MB"
    )
    print(f"{'50 isolated plugins: load all':44s} {many['load_s']:10.2f}s")
    print(f"{'50 isolated plugins: one hook, all answer':44s} {many['fire_all_ms']:10.2f}ms")
    print(f"{'50 isolated plugins: calls/s, 2 threads':44s} {many['calls_per_s_2_threads']:10.0f}")
    print(
        f"{'50 isolated plugins: memory (PSS / RSS)':44s} "
        f"{many['pss_mb_total']:.0f} / {many['rss_mb_total']:.0f} MB"
    )
    print(
        f"{'  + the template and its spare (PSS)':44s} {many['template_pss_mb']:.1f} MB "
        f"({many['template_processes']} processes, once per engine)"
    )
    print()
    # The user's case: the OS places the two ends (issue 17); pinned placements are printed
    # above, labelled, as the friendlier (across CPUs) and harsher (one CPU) cases.
    free = trips["free"]
    print(
        result_line(
            "isolated_round_trip",
            "ratio_vs_pipe_floor",
            free["isolated"] / free["floor"],
            "<=",
            2.0,
        )
    )
    r = ratios["warm"]
    print(
        result_line(
            "worker_cold_start",
            "ratio_vs_python_c_pass",
            statistics.median(r),
            "<=",
            1.5,
            spread=(min(r), max(r)),
        )
    )
    first = ratios["first"]
    print(
        f"first worker of an engine (spawned: no template runs yet): "
        f"{statistics.median(first):.3f}x python -c pass ({min(first):.3f}-{max(first):.3f}), "
        "not a target: once per engine, before the template starts"
    )


if __name__ == "__main__":
    main()
