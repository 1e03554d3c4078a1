"""Benchmark: pliers_lab.versions against its peer, the PyPI port ``node-semver``.

Run from the repository root: ``python benchmarks/bench_versions.py`` (well under a minute).

The workload is what the dependency resolver does: a few hundred distinct npm ranges, each
checked against the published versions of a package, given as strings. Warm rows are the
steady state (our parse caches hit; node-semver has none); the cold row clears our caches
before every repeat, so it includes parsing each distinct range and version once. Runs are
interleaved (ours, peer, ours, ...) and the median of the repeats is reported.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nodesemver

from pliers_lab import versions as ours

REPEATS = 7
TARGET = 0.2  # ours / peer: at least 5x faster


def make_workload(seed: int = 20240611) -> tuple[list[list[str]], list[str]]:
    """Packages (lists of published versions) and the ranges that depend on them."""
    rng = random.Random(seed)
    packages = []
    for _ in range(40):
        published = set()
        while len(published) < 40:
            v = f"{rng.randint(0, 4)}.{rng.randint(0, 12)}.{rng.randint(0, 8)}"
            if rng.random() < 0.12:
                v += rng.choice(["-alpha", "-beta.1", "-beta.2", "-rc.1", "-rc.2", "-0"])
            published.add(v)
        packages.append(sorted(published))
    ranges: set[str] = set()
    while len(ranges) < 300:
        major, minor, patch = rng.randint(0, 4), rng.randint(0, 12), rng.randint(0, 8)
        ranges.add(
            rng.choice(
                [
                    f"^{major}.{minor}.{patch}",
                    f"^{major}.{minor}.{patch}",
                    f"~{major}.{minor}.{patch}",
                    f"^{major}.{minor}",
                    f"~{major}.{minor}",
                    f"{major}.x",
                    f"{major}.{minor}.x",
                    f">={major}.{minor}.{patch} <{major + 1}",
                    f">={major}.{minor}.{patch}",
                    f"<={major}.{minor}.{patch}",
                    f"{major}.{minor}.{patch}",
                    f"{major}.{minor} - {major + 1}.{minor}.{patch}",
                    f"^{major}.{minor}.{patch} || ^{major + 1}",
                    f">={major}.{minor}.{patch}-beta.1 <{major + 1}",
                    "*",
                ]
            )
        )
    return packages, sorted(ranges)


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main() -> int:
    packages, ranges = make_workload()
    rng = random.Random(7)
    pairs = [(rng.choice(rng.choice(packages)), r) for r in ranges for _ in range(10)]
    max_jobs = [(rng.choice(packages), r) for r in ranges[::3]]

    def ours_satisfies() -> list[bool]:
        f = ours.satisfies
        return [f(v, r) for v, r in pairs]

    def peer_satisfies() -> list[bool]:
        f = nodesemver.satisfies
        return [f(v, r) for v, r in pairs]

    def ours_cold() -> list[bool]:
        ours._cached_range.cache_clear()
        ours._cached_version.cache_clear()
        return ours_satisfies()

    def ours_max() -> list[str | None]:
        f = ours.max_satisfying
        return [f(vs, r) for vs, r in max_jobs]

    def peer_max() -> list[str | None]:
        f = nodesemver.max_satisfying
        return [f(vs, r) for vs, r in max_jobs]

    failures = []
    for name, mine, theirs in (
        ("satisfies", ours_satisfies(), peer_satisfies()),
        ("max_satisfying", ours_max(), peer_max()),
    ):
        differ = [i for i, (a, b) in enumerate(zip(mine, theirs, strict=True)) if a != b]
        if differ:
            failures.append(f"FAIL {name}: libraries disagree on {len(differ)}/{len(mine)} answers")

    rows = [
        ("satisfies(str, str), warm", len(pairs), ours_satisfies, peer_satisfies),
        ("satisfies(str, str), cold caches", len(pairs), ours_cold, peer_satisfies),
        ("max_satisfying(40 versions)", len(max_jobs), ours_max, peer_max),
    ]
    medians = {}
    for label, count, mine_fn, peer_fn in rows:
        mine_t, peer_t = [], []
        for _ in range(REPEATS):  # interleaved, so drift hits both sides alike
            mine_t.append(timed(mine_fn))
            peer_t.append(timed(peer_fn))
        medians[label] = (
            statistics.median(mine_t) / count * 1e6,
            statistics.median(peer_t) / count * 1e6,
        )

    print(
        f"workload: {len(ranges)} distinct ranges, {len(pairs)} satisfies checks, "
        f"{len(max_jobs)} max_satisfying calls over 40 versions; median of {REPEATS}"
    )
    print(f"{'operation':<36}{'ours µs':>12}{'node-semver µs':>16}{'ratio':>9}")
    for label, (mine_us, peer_us) in medians.items():
        print(f"{label:<36}{mine_us:>12.2f}{peer_us:>16.2f}{mine_us / peer_us:>9.3f}")
    for line in failures:
        print(line)

    for name, label in (
        ("versions_satisfies", "satisfies(str, str), warm"),
        ("versions_max_satisfying", "max_satisfying(40 versions)"),
    ):
        ratio = medians[label][0] / medians[label][1]
        verdict = "PASS" if ratio <= TARGET and not failures else "FAIL"
        print(f"RESULT {name} ratio_vs_node_semver {ratio:.3f} target <= {TARGET} {verdict}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
