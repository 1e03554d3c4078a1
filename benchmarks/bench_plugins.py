"""Loading and closing many inline plugins: does the cost per plugin stay flat?

1,000, 3,000 and 10,000 plugins, each a fresh manifest (one ``form.validate`` handler and
a runtime dependency ``^1.0.0`` on a random earlier plugin, so every load checks its
dependency and every unload its dependents) defined with ``Engine.add_plugin``, then
``Engine.close`` (dependents first). Beside it, pluggy registering and unregistering the
same number of plugin objects (it checks no manifest, configuration or dependency): the
floor of bookkeeping per plugin, printed for scale.

Prints ms per plugin at each size and the growth ratio (ms per plugin at 10,000 over
1,000: 1.0 is linear); the RESULT lines check linear growth and the issue-17 budgets
(10,000 plugins load in under 3 s and close in under 0.5 s).
Run: ``python benchmarks/bench_plugins.py``
"""

from __future__ import annotations

import gc
import random
import sys
import time
from pathlib import Path
from typing import Any

import pluggy

sys.path.insert(0, str(Path(__file__).parent))
from _timing import result_line

from pliers_lab import Engine, hook

SIZES = (1_000, 3_000, 10_000)


def manifests(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "name": f"plugin-{seed}-{i}",
            "version": "1.0.0",
            "description": "one of many benchmark plugins",
            "author": "bench <bench@example.com>",
            "license": "MIT",
            "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
            "hooks": {"form.validate": {"priority": 100 + i % 7}},
            "dependencies": {f"plugin-{seed}-{rng.randrange(i)}": "^1.0.0"} if i else {},
        }
        for i in range(n)
    ]


def ours(n: int, seed: int) -> tuple[float, float]:
    """Seconds to define ``n`` plugins, and to close the engine."""
    batch = manifests(n, seed)  # fresh dicts each run: nothing parsed before

    @hook("form.validate")
    def validate(ctx: Any) -> None:
        return None

    engine = Engine()
    gc.collect()
    start = time.perf_counter()
    for manifest in batch:
        engine.add_plugin(manifest, {"validate": validate})
    loaded = time.perf_counter()
    engine.close()
    closed = time.perf_counter()
    assert not engine.plugins
    return loaded - start, closed - loaded


def pluggy_peer(n: int) -> tuple[float, float]:
    marker = pluggy.HookimplMarker("bench")

    class Validator:
        @marker
        def validate(self, form: object) -> None:
            return None

    pm = pluggy.PluginManager("bench")
    objects = [Validator() for _ in range(n)]
    gc.collect()
    start = time.perf_counter()
    for i, obj in enumerate(objects):
        pm.register(obj, name=f"p{i}")
    loaded = time.perf_counter()
    for i in range(n):
        pm.unregister(name=f"p{i}")
    closed = time.perf_counter()
    return loaded - start, closed - loaded


def main() -> int:
    print(f"{'plugins':>8} {'load ms/plugin':>15} {'close ms/plugin':>16} "
          f"{'pluggy load':>12} {'pluggy close':>13}   (ms per plugin)")  # fmt: skip
    per: dict[int, tuple[float, float]] = {}
    totals: dict[int, tuple[float, float]] = {}
    ours(200, 99)  # warm-up: first imports (schema checks, config) are not per plugin
    pluggy_peer(200)
    for seed, n in enumerate(SIZES):
        load, close = ours(n, seed)
        p_load, p_close = pluggy_peer(n)
        per[n] = (load / n * 1e3, close / n * 1e3)
        totals[n] = (load, close)
        print(f"{n:>8} {per[n][0]:>15.3f} {per[n][1]:>16.3f} "
              f"{p_load / n * 1e3:>12.4f} {p_close / n * 1e3:>13.4f}")  # fmt: skip
    small, large = SIZES[0], SIZES[-1]
    load_growth = per[large][0] / per[small][0]
    close_growth = per[large][1] / per[small][1]
    print(f"growth of the cost per plugin, {large:,} over {small:,}: load {load_growth:.2f}, "
          f"close {close_growth:.2f} (1.0 = linear)")  # fmt: skip
    print(f"{large:,} plugins: load {totals[large][0]:.2f} s, close {totals[large][1]:.2f} s")
    lines = [
        result_line("load_many_plugins", "growth_10k_over_1k", load_growth, "<=", 1.5),
        result_line("close_many_plugins", "growth_10k_over_1k", close_growth, "<=", 1.5),
        result_line("load_10k_plugins", "seconds", totals[large][0], "<=", 3.0),
        result_line("close_10k_plugins", "seconds", totals[large][1], "<=", 0.5),
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
