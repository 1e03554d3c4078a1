"""Hot-reload latency: from writing a plugin's file to the new code answering a hook.

Ours: ``Engine.watch()`` (watchfiles thread, debounce 20 ms) → reload (manifest checked,
code imported, swapped in) → ``fire`` answers with the new value. Floor, in the same run:
watchfiles alone with the same settings — write to notification, nothing reloaded.
Run: ``python benchmarks/bench_reload.py``
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _timing import result_line

from pliers_lab import Engine

ROUNDS = 25
CODE = "from pliers_lab import hook\n@hook('form.render')\ndef render(ctx):\n    return {'v': %d}\n"
MANIFEST = {
    "name": "live",
    "version": "1.0.0",
    "description": "hot reload benchmark plugin",
    "author": "bench",
    "license": "MIT",
    "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
    "hooks": {"form.render": {}},
}


def ours(folder: Path) -> list[float]:
    samples = []
    with Engine() as engine:
        engine.load(folder)
        engine.watch(debounce_ms=20, step_ms=10)
        for i in range(2, ROUNDS + 2):
            time.sleep(0.05)
            start = time.perf_counter()
            (folder / "plugin.py").write_text(CODE % i)
            while engine.fire("form.render", {}).value != {"v": i}:
                if time.perf_counter() - start > 5:
                    raise SystemExit(f"reload {i} did not arrive within 5 s")
                time.sleep(0.001)
            samples.append(time.perf_counter() - start)
    return samples


def floor(folder: Path) -> list[float]:
    from watchfiles import watch

    samples: list[float] = []
    stop = threading.Event()
    seen = threading.Event()

    def watcher() -> None:
        for _ in watch(
            folder, stop_event=stop, debounce=20, step=10, rust_timeout=100, yield_on_timeout=True
        ):
            seen.set()

    thread = threading.Thread(target=watcher, daemon=True)
    thread.start()
    time.sleep(0.3)
    for i in range(ROUNDS):
        seen.clear()
        time.sleep(0.05)
        seen.clear()
        start = time.perf_counter()
        (folder / "plugin.py").write_text(CODE % (100 + i))
        seen.wait(5)
        samples.append(time.perf_counter() - start)
    stop.set()
    thread.join(2)
    return samples


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "live"
        folder.mkdir()
        (folder / "manifest.json").write_text(json.dumps(MANIFEST))
        (folder / "plugin.py").write_text(CODE % 1)
        base = floor(folder)
        mine = ours(folder)
    o, f = statistics.median(mine), statistics.median(base)
    print(f"{ROUNDS} edits each; milliseconds from write to answer / notification")
    print(f"{'':32} {'median':>8} {'p90':>8} {'max':>8}")
    for name, xs in (
        ("hot reload (write -> new answer)", mine),
        ("watchfiles alone (floor)", base),
    ):
        xs = sorted(xs)
        print(
            f"{name:32} {statistics.median(xs) * 1e3:8.1f} "
            f"{xs[int(0.9 * len(xs))] * 1e3:8.1f} {xs[-1] * 1e3:8.1f}"
        )
    print()
    line = result_line("hot_reload_latency", "median_ms", o * 1e3, "<=", 300)
    print(line)
    print(f"RESULT hot_reload_latency ratio_vs_watchfiles_floor {o / f:.2f} (informational)")
    return 0 if line.endswith("PASS") else 1


if __name__ == "__main__":
    sys.exit(main())
