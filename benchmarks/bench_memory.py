"""Memory per plugin: inline plugins (RSS), sandboxed workers (PSS), pluggy for scale.

- **Inline plugins**: RSS per plugin at 100 and 1,000 plugins defined with
  ``Engine.add_plugin`` (one ``form.validate`` handler each, the manifest of
  ``bench_plugins.py``). Each size runs in a fresh child process (``sys.executable -c``):
  import, a warm-up engine with 50 plugins fired once and kept loaded (first imports are
  not per plugin, and no freed heap is left for the measured plugins to reuse unseen), a
  new ``Engine``, ``gc.collect()``, the process's own RSS (psutil); then N plugins, one
  fire of the hook, ``gc.collect()``, RSS again. The growth over N is the cost per plugin;
  median of three children per size. Beside it, from one more child with tracemalloc
  (never in an RSS child: it costs memory itself), the Python heap kept per plugin.
- **Sandboxed workers**: PSS and RSS per worker process (a plugin loaded from a folder
  with ``Engine.load`` runs in its own locked-down worker; one worker per plugin), from
  ``/proc/<pid>/smaps_rollup`` of every worker (psutil's ``memory_full_info`` where that
  cannot be read), the pids found through ``Engine.worker(plugin_id).usage()``. PSS splits
  the pages the workers share (the interpreter, its libraries) among them: each worker's
  fair share; RSS counts the shared pages again in every worker. One engine, ramped to
  10, 50 and 100 workers, each size measured after one hook answered by all. The issue
  asked for 100 and 1,000: a size whose projected start time (from the seconds per worker
  measured so far) passes ``WORKER_BUDGET_S`` is not started and is printed as "not
  measured" with the projection, so the run stays under a minute; on this 2-core machine
  that leaves out 1,000 (and more sizes when the machine is busier). ``engine.close()``
  stops every worker; the benchmark checks none is left and fails (exit 1) if one is.
- **pluggy** (the peer, for scale): RSS (and heap) per registered plugin object (one hook
  implementation each, fired once) at the same sizes, each in its own fresh child,
  measured the same way. The ratio to it is printed as information; an RSS ratio is not
  computed where pluggy's RSS growth is too small for RSS to resolve.

Prints a table, then one ``RESULT <name> <metric> <value> target <op> <target> PASS|FAIL``
line per target (DESIGN.md §4): inline KB per plugin at 1,000 (budget 64 KB) and PSS per
sandboxed worker at 50 workers (budget 40 MB). A figure this machine cannot measure is
printed as "not measured" with the reason, never as 0.

Run: ``python benchmarks/bench_memory.py``
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).parent))
from _plugins import write_plugin as shared_plugin
from _timing import result_line

from pliers_lab import Engine
from pliers_lab.sandbox import ProcessRuntime, SandboxPolicy

INLINE_SIZES = (100, 1_000)
WORKER_SIZES = (10, 50, 100, 1_000)
WORKER_BUDGET_S = 25.0
"""Seconds of worker starts allowed: a size projected past it is not started."""
RSS_RESOLVES_KB = 64
"""RSS growth below this (16 pages) is within the heap's free space: no ratio from it."""
REPEATS = 3
HOOK = "form.validate"
MB = 1 << 20

# Run as ``python -c CODE N MODE`` in a fresh child. MODE ``rss``: the process's RSS
# before and after loading N plugins (psutil). MODE ``traced``: the bytes of Python heap
# allocated while loading and still alive after ``gc.collect()`` (tracemalloc; it costs
# memory itself, so never in the same child as an RSS reading). The warm-up stays loaded:
# freeing it would leave free heap that the measured plugins reuse unseen.
MEASURE = """
import gc, json, sys, tracemalloc
import psutil

n, mode = int(sys.argv[1]), sys.argv[2]
me = psutil.Process()

def start():
    gc.collect()
    if mode == "traced":
        tracemalloc.start()
    return me.memory_info().rss

def stop(before):
    gc.collect()
    after = me.memory_info().rss
    traced = tracemalloc.get_traced_memory()[0] if mode == "traced" else 0
    print(json.dumps({"rss": after - before, "traced": traced}))
"""

# Ours: N inline plugins from ``Engine.add_plugin``, the manifest of bench_plugins.py.
OURS_CHILD = (
    MEASURE
    + """
import random
from pliers_lab import Engine, hook

@hook("form.validate")
def validate(ctx):
    return None

def manifest(seed, i, rng):
    return {
        "name": f"plugin-{seed}-{i}",
        "version": "1.0.0",
        "description": "one of many benchmark plugins",
        "author": "bench <bench@example.com>",
        "license": "MIT",
        "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
        "hooks": {"form.validate": {"priority": 100 + i % 7}},
        "dependencies": {f"plugin-{seed}-{rng.randrange(i)}": "^1.0.0"} if i else {},
    }

warm, rng = Engine(), random.Random(n)
for i in range(50):
    warm.add_plugin(manifest("warm", i, rng), {"validate": validate})
warm.fire("form.validate", {})
engine = Engine()
before = start()
for i in range(n):
    engine.add_plugin(manifest("bench", i, rng), {"validate": validate})
result = engine.fire("form.validate", {})
assert result.ok and len(engine.plugins) == n, result
del result
stop(before)
engine.close()
warm.close()
"""
)

# The peer: pluggy with N registered plugin objects, one hook implementation each.
PLUGGY_CHILD = (
    MEASURE
    + """
import pluggy

marker = pluggy.HookimplMarker("bench")

class Validator:
    @marker
    def validate(self, form):
        return None

warm = pluggy.PluginManager("bench")
for i in range(50):
    warm.register(Validator(), name=f"w{i}")
warm.hook.validate(form={})
pm = pluggy.PluginManager("bench")
before = start()
for i in range(n):
    pm.register(Validator(), name=f"p{i}")
pm.hook.validate(form={})
assert len(pm.get_plugins()) == n
stop(before)
"""
)

WORKER_PLUGIN = """
from pliers_lab import hook

@hook("form.validate")
def validate(ctx):
    return None
"""


def child(code: str, n: int, mode: str) -> dict[str, int]:
    """Bytes grown loading ``n`` plugins (RSS, and Python heap when traced), fresh child."""
    out = subprocess.run(
        [sys.executable, "-c", code, str(n), mode], capture_output=True, text=True, timeout=60
    )
    if out.returncode:
        raise RuntimeError(f"child for {n} plugins ({mode}) failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def per_plugin(code: str, n: int) -> dict[str, float]:
    """RSS grown: median of ``REPEATS`` fresh children (MB total, KB per plugin, spread);
    and the Python heap kept per plugin (KB), from one traced child."""
    grown = [child(code, n, "rss")["rss"] for _ in range(REPEATS)]
    kb = [g / 1024 / n for g in grown]
    return {
        "total_mb": statistics.median(grown) / MB,
        "total_kb": statistics.median(grown) / 1024,
        "kb": statistics.median(kb),
        "kb_min": min(kb),
        "kb_max": max(kb),
        "heap_kb": child(code, n, "traced")["traced"] / 1024 / n,
    }


def write_plugin(root: Path, name: str) -> Path:
    return shared_plugin(root, name, HOOK, WORKER_PLUGIN, "memory")


def smaps_kb(pid: int) -> dict[str, int]:
    """``Pss`` and ``Rss`` in kB from ``/proc/<pid>/smaps_rollup``; psutil as a fallback."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return {k.lower(): int(fields[k].split()[0]) for k in ("Pss", "Rss")}
    except (OSError, KeyError, ValueError):
        pass
    info = psutil.Process(pid).memory_full_info()  # raises if neither can be read
    return {"pss": info.pss // 1024, "rss": info.rss // 1024}


def workers(root: Path) -> tuple[dict[int, dict[str, Any]], list[int], float]:
    """PSS/RSS per worker at each of ``WORKER_SIZES`` workers reached within the budget;
    every worker's pid; the seconds ``engine.close()`` took."""
    runtime = ProcessRuntime(SandboxPolicy(data_root=root / "data"))
    engine = Engine()
    engine.register_runtime(runtime)
    results: dict[int, dict[str, Any]] = {}
    pids: list[int] = []
    try:
        loaded, load_s = 0, 0.0
        for size in WORKER_SIZES:
            projected = load_s + (load_s / loaded if loaded else 0.0) * (size - loaded)
            if projected > WORKER_BUDGET_S:
                results[size] = {
                    "why": f"starting {size:,} workers would take ~{projected:.0f} s at the "
                    f"{load_s / loaded:.2f} s per worker measured here (budget "
                    f"{WORKER_BUDGET_S:.0f} s for worker starts, the run under a minute)"
                }
                continue
            t0 = time.perf_counter()
            while loaded < size:
                engine.load(write_plugin(root / "plugins", f"w{loaded:04d}"))
                loaded += 1
            load_s += time.perf_counter() - t0
            fired = engine.fire(HOOK, {})
            assert fired.ok, fired
            pids = []
            for i in range(size):
                handle = engine.worker(f"w{i:04d}")
                if handle is None:
                    raise RuntimeError(f"w{i:04d} has no worker: it runs inline")
                pids.extend(handle.usage()["pids"])
            try:
                mem = [smaps_kb(pid) for pid in pids]
            except (OSError, psutil.Error) as exc:
                results[size] = {"why": f"cannot read worker memory: {type(exc).__name__}: {exc}"}
                continue
            results[size] = {
                "load_s": load_s,
                "workers": len(pids),
                "pss_mb": statistics.mean(m["pss"] for m in mem) / 1024,
                "rss_mb": statistics.mean(m["rss"] for m in mem) / 1024,
                "pss_total_mb": sum(m["pss"] for m in mem) / 1024,
                "rss_total_mb": sum(m["rss"] for m in mem) / 1024,
            }
    finally:
        t0 = time.perf_counter()
        engine.close()
        runtime.close()
        close_s = time.perf_counter() - t0
    return results, pids, close_s


def still_running(pids: list[int]) -> list[int]:
    """The pids among ``pids`` still alive (zombies are exited)."""
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def ratio(ours: float, peer: float, peer_total_kb: float) -> str:
    if peer_total_kb < RSS_RESOLVES_KB:
        return f"not measured (pluggy's RSS grew {peer_total_kb:.0f} KB: below what RSS resolves)"
    return f"{ours / peer:.1f}x"


def main() -> int:
    t_start = time.perf_counter()
    ours = {n: per_plugin(OURS_CHILD, n) for n in INLINE_SIZES}
    peer = {n: per_plugin(PLUGGY_CHILD, n) for n in INLINE_SIZES}

    root = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    try:
        sandboxed, pids, close_s = workers(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    left = still_running(pids)
    for _ in range(20):  # reaped a moment after close returns, at most
        if not left:
            break
        time.sleep(0.05)
        left = still_running(left)

    print(
        f"inline plugins (Engine.add_plugin), a fresh child process per size: RSS grown, "
        f"median of {REPEATS} children (min-max); heap = Python heap kept (tracemalloc)"
    )
    print(
        f"{'plugins':>8} {'ours MB':>8} {'ours KB/plugin':>22} {'heap KB':>8} "
        f"{'pluggy MB':>10} {'pluggy KB/plugin':>22} {'heap KB':>8}"
    )
    for n in INLINE_SIZES:
        o, p = ours[n], peer[n]
        o_kb = f"{o['kb']:.2f} ({o['kb_min']:.2f}-{o['kb_max']:.2f})"
        p_kb = f"{p['kb']:.2f} ({p['kb_min']:.2f}-{p['kb_max']:.2f})"
        print(
            f"{n:>8,} {o['total_mb']:>8.2f} {o_kb:>22} {o['heap_kb']:>8.2f} "
            f"{p['total_mb']:>10.2f} {p_kb:>22} {p['heap_kb']:>8.2f}"
        )
    for n in INLINE_SIZES:
        o, p = ours[n], peer[n]
        print(
            f"  ratio to pluggy per plugin at {n:,}: RSS "
            f"{ratio(o['kb'], p['kb'], p['total_kb'])}, heap {o['heap_kb'] / p['heap_kb']:.1f}x"
        )

    print(
        "\nsandboxed workers (Engine.load of a folder, one locked-down worker each), "
        "mean per worker from /proc/<pid>/smaps_rollup"
    )
    print(
        f"{'workers':>8} {'PSS MB/worker':>14} {'RSS MB/worker':>14} "
        f"{'PSS MB total':>13} {'RSS MB total':>13} {'started in':>11}"
    )
    for size in WORKER_SIZES:
        w = sandboxed.get(size, {"why": "not reached"})
        if "why" in w:
            print(f"{size:>8,} not measured: {w['why']}")
            continue
        print(
            f"{size:>8,} {w['pss_mb']:>14.2f} {w['rss_mb']:>14.2f} "
            f"{w['pss_total_mb']:>13.1f} {w['rss_total_mb']:>13.1f} {w['load_s']:>10.1f}s"
        )
    print(
        "  (the issue asked for 100 and 1,000 workers; the sizes above are what could be "
        "started within the one-minute run on this 2-core machine)"
    )
    print(
        f"  engine.close() stopped {len(pids)} workers in {close_s:.2f} s; still running: "
        f"{len(left)}" + (f" (pids {left})" if left else "")
    )
    print(f"total run {time.perf_counter() - t_start:.1f} s")

    print()
    big = INLINE_SIZES[-1]
    print(result_line("memory_inline_plugin", "kb_per_plugin_at_1000", ours[big]["kb"], "<=", 64))
    at50 = sandboxed.get(50, {"why": "50 workers were not reached"})
    if "why" in at50:
        print(f"RESULT memory_sandboxed_worker pss_mb_per_worker_at_50 not measured: {at50['why']}")
    else:
        print(
            result_line(
                "memory_sandboxed_worker", "pss_mb_per_worker_at_50", at50["pss_mb"], "<=", 40
            )
        )
    return 1 if left else 0


if __name__ == "__main__":
    raise SystemExit(main())
