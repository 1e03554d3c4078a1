"""The process sandbox against its floors: round trip, cold start, memory, 50 plugins.

- **Round trip**: one isolated hook call through ``Engine.fire`` (context, JSON frames both
  ways, a locked-down worker with every layer) against the floor: a raw pipe round trip
  of a small message between two processes, echoed by a child Python process with
  blocking reads. Target: at most 2x the floor's median. Measured interleaved, medians of
  several repeats, in three placements, because on this VM the floor depends on where the
  scheduler puts the two ends: ~6 us when both share a CPU, ~50 us across CPUs (waking a
  sleeping vCPU costs ~20 us). Left free, the floor flips between the two from run to
  run, so the target is checked with the ends pinned to different CPUs (the issue's
  ~50 us floor); the same-CPU and free figures are printed beside it. A third peer, the
  same raw pipe with our wait strategy (spin and yield before sleeping, both ends), shows
  what the protocol itself costs.
- **Cold start**: spawn → handshake → lockdown (rlimits, netns, Landlock, capabilities,
  seccomp, cgroup) → plugin imported → ready, against ``python -c pass`` of the same
  interpreter. Target: at most 3x.
- **Memory** per warm worker (PSS/USS/RSS from /proc), and **50 isolated plugins** on
  this 2-core machine: load time, one hook answered by all 50, and two threads firing.

Run: ``python benchmarks/bench_isolation.py``

Prints a table, then one ``RESULT <name> <metric> <value> target <op> <target> PASS|FAIL``
line per target (DESIGN.md §4).
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


def cold_start(
    runtime: ProcessRuntime, root: Path, repeats: int = 15
) -> tuple[float, float, dict[str, float]]:
    from pliers_lab.manifest import load_manifest

    folder = write_plugin(root, "cold")
    manifest = load_manifest(folder)
    bare, ours, marks = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        prepared = runtime.prepare(manifest, folder)
        ours.append(time.perf_counter() - t0)
        marks.append(prepared.handle.worker.marks)
        prepared.handle.stop()
    phases = {k: statistics.median(m[k] for m in marks) for k in marks[0]}
    return statistics.median(bare), statistics.median(ours), phases


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
    }


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-isolation-"))
    runtime = ProcessRuntime(SandboxPolicy(data_root=root / "data"))
    engine = Engine()
    engine.register_runtime(runtime)
    plugin = engine.load(write_plugin(root / "plugins", "echo"))
    print(f"layers: {', '.join(sorted(plugin.layers))}")

    trips = round_trip(engine, runtime.usage("echo")["pid"])
    engine.close()
    bare, start, phases = cold_start(runtime, root / "cold")
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
    print(f"\n{'measure':44s} {'ours':>12s} {'floor':>12s} {'ratio':>7s}")
    print(
        f"{'cold start, locked down, to ready':44s} {start * 1e3:10.1f}ms "
        f"{bare * 1e3:10.1f}ms {start / bare:7.2f}"
    )
    print(
        "  start phases (ms since spawn): " + ", ".join(f"{k} {v:.1f}" for k, v in phases.items())
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
    print()
    checked = trips.get("across CPUs") or trips["free"]
    print(
        result_line(
            "isolated_round_trip",
            "ratio_vs_pipe_floor",
            checked["isolated"] / checked["floor"],
            "<=",
            2.0,
        )
    )
    print(result_line("worker_cold_start", "ratio_vs_python_c_pass", start / bare, "<=", 3.0))


if __name__ == "__main__":
    main()
