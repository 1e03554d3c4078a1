"""Benchmark: pliers_lab.versions against its peer, the PyPI port ``node-semver``.

Run from the repository root: ``python benchmarks/bench_versions.py`` (well under a minute).

Two workloads. **Fresh ranges** (the case a user meets: a manifest's range read for the
first time): for each of seven range shapes, 1,500 distinct ranges, each checked once
against a version, with our caches cleared before the round — every check parses its
range. **Repeated ranges** (what the dependency resolver does): a few hundred distinct
ranges, each checked against many published versions; our parse caches hit (node-semver
has none). Runs are interleaved (ours, peer, ours, ...); the RESULT lines give the median
ratio of the rounds and its min-max.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import nodesemver
from _timing import result_line

from pliers_lab import versions as ours

REPEATS = 7
FRESH_TARGET = 0.2  # ours / peer on ranges seen the first time: at least 5x faster
WARM_TARGET = 0.05  # ... on repeated ranges: at least 20x faster
MAX_TARGET = 0.2  # max_satisfying over 40 versions: at least 5x faster

#: The shapes of fresh ranges: (label, template over random numbers a, b, c)
SHAPES = (
    ("^a.b.c", "^{a}.{b}.{c}"),
    ("~a.b.c", "~{a}.{b}.{c}"),
    ("a.b.x", "{a}.{b}.x"),
    (">=a.b.c <a+1", ">={a}.{b}.{c} <{a1}"),
    ("a.b - a+1.b.c", "{a}.{b} - {a1}.{b}.{c}"),
    ("^a.b.c || ^a+1", "^{a}.{b}.{c} || ^{a1}"),
    (">=a.b.c-beta.1 <a+1", ">={a}.{b}.{c}-beta.1 <{a1}"),
)


def fresh_workload(template: str, seed: int) -> list[tuple[str, str]]:
    """1,500 distinct ranges of one shape, each with a version to check."""
    rng = random.Random(seed)
    ranges: dict[str, str] = {}
    while len(ranges) < 1500:
        a, b, c = rng.randint(0, 400), rng.randint(0, 400), rng.randint(0, 400)
        text = template.format(a=a, b=b, c=c, a1=a + 1)
        ranges[text] = f"{a + rng.randint(0, 1)}.{rng.randint(0, 400)}.{rng.randint(0, 400)}"
    return [(version, text) for text, version in ranges.items()]


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


def _clear() -> None:
    ours._cached_range.cache_clear()
    ours._cached_version.cache_clear()


def rounds(mine: Callable[[], object], peer: Callable[[], object], before: Callable[[], None]
           ) -> tuple[list[float], list[float]]:  # fmt: skip
    """Seconds of each round of ours and the peer, interleaved; ``before`` runs ahead of
    each of ours (untimed)."""
    mine_t, peer_t = [], []
    for _ in range(REPEATS):
        before()
        mine_t.append(timed(mine))
        peer_t.append(timed(peer))
    return mine_t, peer_t


def result(name: str, mine_t: list[float], peer_t: list[float], target: float, ok: bool) -> str:
    """The RESULT line: median ratio of the rounds, with their min-max; FAIL as well when
    the two libraries disagreed."""
    ratios = sorted(m / p for m, p in zip(mine_t, peer_t, strict=True))
    line = result_line(
        name, "ratio_vs_node_semver", statistics.median(ratios), "<=", target,
        (ratios[0], ratios[-1]),
    )  # fmt: skip
    return line if ok else line.removesuffix("PASS") + "FAIL"


def main() -> int:
    failures: list[str] = []
    results: list[str] = []

    print("fresh ranges: each check reads a range never seen before (our caches cleared)")
    print(f"{'shape':<24}{'ours µs':>10}{'node-semver µs':>16}{'ratio':>8}")
    all_mine: list[float] = []
    all_peer: list[float] = []
    for seed, (label, template) in enumerate(SHAPES):
        pairs = fresh_workload(template, seed)
        mine_answers = [ours.satisfies(v, r) for v, r in pairs]
        peer_answers = [nodesemver.satisfies(v, r) for v, r in pairs]
        if mine_answers != peer_answers:
            failures.append(f"FAIL fresh {label}: libraries disagree")

        def mine(pairs: list[tuple[str, str]] = pairs) -> list[bool]:
            f = ours.satisfies
            return [f(v, r) for v, r in pairs]

        def peer(pairs: list[tuple[str, str]] = pairs) -> list[bool]:
            f = nodesemver.satisfies
            return [f(v, r) for v, r in pairs]

        mine_t, peer_t = rounds(mine, peer, _clear)
        if not all_mine:
            all_mine, all_peer = list(mine_t), list(peer_t)
        else:
            all_mine = [x + y for x, y in zip(all_mine, mine_t, strict=True)]
            all_peer = [x + y for x, y in zip(all_peer, peer_t, strict=True)]
        m_us = statistics.median(mine_t) / len(pairs) * 1e6
        p_us = statistics.median(peer_t) / len(pairs) * 1e6
        print(f"{label:<24}{m_us:>10.2f}{p_us:>16.2f}{m_us / p_us:>8.3f}")
    results.append(result("versions_fresh_ranges", all_mine, all_peer, FRESH_TARGET, not failures))

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

    def ours_max() -> list[str | None]:
        f = ours.max_satisfying
        return [f(vs, r) for vs, r in max_jobs]

    def peer_max() -> list[str | None]:
        f = nodesemver.max_satisfying
        return [f(vs, r) for vs, r in max_jobs]

    for name, mine_answers, peer_answers in (
        ("satisfies", ours_satisfies(), peer_satisfies()),
        ("max_satisfying", ours_max(), peer_max()),
    ):
        differ = sum(a != b for a, b in zip(mine_answers, peer_answers, strict=True))
        if differ:
            failures.append(f"FAIL {name}: libraries disagree on {differ}/{len(mine_answers)}")

    print()
    print(
        f"repeated ranges: {len(ranges)} distinct ranges, {len(pairs)} satisfies checks, "
        f"{len(max_jobs)} max_satisfying calls over 40 versions; median of {REPEATS}"
    )
    print(f"{'operation':<36}{'ours µs':>12}{'node-semver µs':>16}{'ratio':>9}")
    for label, name, count, mine_fn, peer_fn, target in (
        ("satisfies(str, str), repeated", "versions_repeated_ranges", len(pairs),
         ours_satisfies, peer_satisfies, WARM_TARGET),
        ("max_satisfying(40 versions)", "versions_max_satisfying", len(max_jobs),
         ours_max, peer_max, MAX_TARGET),
    ):  # fmt: skip
        mine_t, peer_t = rounds(mine_fn, peer_fn, lambda: None)
        m_us = statistics.median(mine_t) / count * 1e6
        p_us = statistics.median(peer_t) / count * 1e6
        print(f"{label:<36}{m_us:>12.2f}{p_us:>16.2f}{m_us / p_us:>9.3f}")
        results.append(result(name, mine_t, peer_t, target, not failures))
    for line in failures:
        print(line)
    print("\n".join(results))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
