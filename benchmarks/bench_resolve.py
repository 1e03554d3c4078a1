"""Resolving 10,000 plugins with random acyclic dependencies to a load order.

Each plugin depends on 3 to 5 earlier plugins (about 4 on average) through npm ranges that
its dependency's version satisfies. Ours: ``resolve`` (strict: every range checked, the
conflict pass, the networkx graph with attributes, a deterministic topological order).
Floor, in the same run: a bare ``graphlib`` topological sort of the same edges, with no
range checks. Run: ``python benchmarks/bench_resolve.py``
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _timing import result_line

from pliers_lab.dependencies import Catalog, PluginSpec, Requirement, resolve

N = 10_000
RANGE_FORMS = ("^{v}", "~{v}", ">={M}.{m}.0 <{N}.0.0", "{M}.x", "{M}.{m}.x", ">={v}", "*")


def catalog(seed: int = 7) -> Catalog:
    rng = random.Random(seed)
    specs = []
    versions = []
    for i in range(N):
        major, minor = rng.randint(0, 5), rng.randint(0, 9)
        patch = rng.randint(0, 20)
        version = f"{major}.{minor}.{patch}"
        deps = rng.sample(range(i), k=min(i, rng.randint(3, 5)))
        requires = []
        for d in deps:
            dm, dn, dp = versions[d]
            form = rng.choice(RANGE_FORMS)
            rng_text = form.format(v=f"{dm}.{dn}.{dp}", M=dm, m=dn, N=dm + 1)
            requires.append(Requirement(f"p{d}", rng_text, "runtime", f"p{i}"))
        versions.append((major, minor, patch))
        specs.append(PluginSpec(f"p{i}", version, tuple(requires)))
    return Catalog(specs)


def floor(cat: Catalog) -> list[str]:
    from graphlib import TopologicalSorter

    graph = {n: {r.name for r in cat.versions(n)[0].requires} for n in cat.names()}
    return list(TopologicalSorter(graph).static_order())


def main() -> int:
    import networkx  # noqa: F401  (imported once, outside the timing, as in a running engine)

    cat = catalog()
    edges = sum(len(cat.versions(n)[0].requires) for n in cat.names())
    ours, peer = [], []
    for _ in range(5):
        t = time.perf_counter()
        resolution = resolve(cat)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        floor(cat)
        peer.append(time.perf_counter() - t)
    assert resolution.ok and len(resolution.order) == N
    position = {name: i for i, name in enumerate(resolution.order)}
    assert all(
        position[r.name] < position[s.name] for s in resolution.chosen.values() for r in s.requires
    )
    o, f = statistics.median(ours), statistics.median(peer)
    print(f"{N} plugins, {edges} dependency edges ({edges / N:.1f} per plugin)")
    print(f"{'':24} {'median s':>9}")
    print(f"{'resolve (strict)':24} {o:9.3f}")
    print(f"{'graphlib order (floor)':24} {f:9.3f}")
    print()
    lines = [
        result_line("resolve_10k_plugins", "seconds", o, "<=", 1.0),
        f"RESULT resolve_10k_plugins ratio_vs_graphlib_floor {o / f:.2f} (informational)",
    ]
    print("\n".join(lines))
    return 0 if lines[0].endswith("PASS") else 1


if __name__ == "__main__":
    sys.exit(main())
