"""Registry search on 100,000 listings: query time through ``Registry.search`` (the FTS5
index, issue 19 §1), p50 and p95 over a mix of the queries a marketplace sees.

The catalogue is generated and written straight into a registry's tables (publishing
100,000 signed bundles would take hours and measure the scan, not search). Words are
real: the 5,000 commonest of 4 to 12 letters in the docstrings and comments of Python's
standard library, so the trigram index sees the letter patterns of real text. Names are
distinctive (two words past the 200 commonest), keywords common (Zipf past the 50
commonest), descriptions prose (8 to 14 words, Zipf over all of them); one to three
versions, one or two categories, six licences, skewed downloads and ratings, and a tenth
of the plugins whose latest version needs a newer Pliers than their older ones. The first
search builds the index (timed and shown, not counted).

The mix (``QUERIES`` rounds, fixed seed, each kind in turn): one word; two words; a
word's first 3 to 5 letters; a word in a category; a category by downloads; a tag; a
word under a licence; a word with ``compatibility`` (this engine's Pliers version);
browsing by name, rating or last update; page 50 of a word. A query word is, seven
times in ten, a word of some plugin's name or keywords (what users type, having heard
of one), else any word past the 50 commonest with Zipf's skew — so common words come
up often and match thousands of listings (the table says how many, per kind). Each time
is the whole call: refreshing the index if anything changed, filters, facets, order,
page, listings built.
Run: ``python benchmarks/bench_registry_search.py [LISTINGS]``

Prints a table per kind of query, then ``RESULT registry_search p95_ms <v> target <= 50``.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _timing import result_line

from pliers_lab.market import MarketplaceQuery, Registry
from pliers_lab.market.query import CATEGORIES
from pliers_lab.storage.sqlite import transaction

LISTINGS = 100_000
QUERIES = 600
TARGET_P95_MS = 50.0
#: The vocabulary's most common words: prose, not what anyone searches a catalogue for.
COMMON = 50
LICENSES = ["MIT", "MIT", "MIT", "Apache-2.0", "Apache-2.0", "BSD-3-Clause", "ISC", "GPL-3.0"]
CATS = [str(c) for c in CATEGORIES]


def vocabulary(size: int = 5000) -> list[str]:
    """English words of 4 to 12 letters, most frequent first, from the docstrings and
    comments of Python's standard library (real words: the trigram index sees the
    letter patterns of real text, not a made-up alphabet)."""
    import os
    import re
    from collections import Counter

    counts: Counter[str] = Counter()
    for path in sorted(Path(os.__file__).parent.glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace").lower()
        counts.update(re.findall(r"(?<![a-z_])[a-z]{4,12}(?![a-z_])", text))
    return [w for w, _ in counts.most_common(size)]


def zipf(rng: random.Random, words: list[str], start: int = 0) -> str:
    """A word of ``words[start:]`` drawn with probability proportional to 1 / rank (Zipf,
    exponent 1): the first ones come up very often."""
    return words[start + min(int((len(words) - start) ** rng.random()), len(words) - start - 1)]


def fill(registry: Registry, count: int, seed: int = 19) -> tuple[list[str], list[str]]:
    """``count`` plugins in the registry's tables; the vocabulary, and words of names and
    keywords of one plugin in fifty (what users type, having heard of a plugin).

    Names are distinctive (two words of the vocabulary past its 200 most common), keywords
    more common (Zipf past the 50 most common: "export", "email", "phone" are keywords of
    many plugins), descriptions are prose (Zipf over every word, the commonest included)."""
    rng = random.Random(seed)
    words = vocabulary()
    seen: list[str] = []
    with transaction(registry.db, write=True) as db:
        for i in range(count):
            parts = [rng.choice(words[COMMON * 4 :]), rng.choice(words[COMMON * 4 :])]
            name = f"{parts[0]}-{parts[1]}-{i}"
            db.execute(
                "INSERT INTO plugins VALUES (?, ?, ?, ?)",
                (name, "2025-01-01T00:00:00.000Z", rng.random() < 0.1, rng.random() < 0.01),
            )
            versions = ["1.0.0", "1.1.0", "2.0.0"][: rng.choice([1, 1, 2, 3])]
            newer_engine = rng.random() < 0.1
            downloads = int(rng.paretovariate(1.2) * 10)
            for n, version in enumerate(versions):
                last = n == len(versions) - 1
                description = " ".join(zipf(rng, words) for _ in range(rng.randint(8, 14)))
                keywords = [zipf(rng, words, COMMON) for _ in range(rng.randint(2, 4))]
                if last and i % 50 == 0:
                    seen.extend([*parts, *keywords])
                db.execute(
                    "INSERT INTO versions (name, version, released_at, publisher, key_id,"
                    " checksum, size, bundle, manifest, description, author, license, keywords,"
                    " categories, engines_pliers, changes, readme, scan, score, downloads)"
                    " VALUES (?, ?, ?, 'bench', NULL, 'sha256:0', 1000, 'b.zip', '{}', ?,"
                    " 'Bench <bench@example.com>', ?, ?, ?, ?, '[]', NULL, '{}', ?, ?)",
                    (
                        name,
                        version,
                        f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T00:00:00.000Z",
                        f"A plugin that does {description}",
                        rng.choice(LICENSES),
                        json.dumps(keywords),
                        json.dumps(rng.sample(CATS, rng.choice([1, 1, 2]))),
                        "^3.5.0" if last and newer_engine else "^3.0.0",
                        rng.randint(60, 100),
                        downloads // len(versions),
                    ),
                )
            db.execute("INSERT INTO tags VALUES (?, 'latest', ?)", (name, versions[-1]))
            if rng.random() < 0.1:
                for user in range(rng.randint(1, 5)):
                    db.execute(
                        "INSERT INTO ratings VALUES (?, ?, ?, '2026-01-01T00:00:00.000Z')",
                        (name, f"u{user}", rng.randint(1, 5)),
                    )
    return words, seen


def query_mix(
    words: list[str], seen: list[str], rounds: int, seed: int = 5
) -> list[tuple[str, MarketplaceQuery]]:
    """``rounds`` queries, each kind in turn. A query word is, seven times in ten, a word of
    a plugin's name or keywords (what users type, having heard of one), else any word
    past the ``COMMON`` ones, drawn with Zipf's skew (common words come up often and match
    thousands of listings)."""
    rng = random.Random(seed)

    def word() -> str:
        return rng.choice(seen) if rng.random() < 0.7 else zipf(rng, words, COMMON)

    makers = [
        ("one word", lambda: MarketplaceQuery(query=word())),
        ("two words", lambda: MarketplaceQuery(query=f"{word()} {word()}")),
        ("prefix", lambda: MarketplaceQuery(query=word()[: rng.randint(3, 5)])),
        ("word+category", lambda: MarketplaceQuery(query=word(), category=rng.choice(CATS))),
        (
            "category by downloads",
            lambda: MarketplaceQuery(category=rng.choice(CATS), sort_by="downloads"),
        ),
        ("tag", lambda: MarketplaceQuery(tags=(word(),))),
        ("word+license", lambda: MarketplaceQuery(query=word(), license=(rng.choice(LICENSES),))),
        ("word+compatibility", lambda: MarketplaceQuery(query=word(), compatibility="3.1.0")),
        ("browse", lambda: MarketplaceQuery(sort_by=rng.choice(["name", "rating", "updated"]))),
        ("page 50", lambda: MarketplaceQuery(query=word(), offset=980)),
    ]
    return [(kind, make()) for kind, make in (makers[i % len(makers)] for i in range(rounds))]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def main() -> int:
    listings = int(sys.argv[1]) if len(sys.argv) > 1 else LISTINGS
    with tempfile.TemporaryDirectory() as tmp:
        registry = Registry(Path(tmp) / "registry")
        start = time.perf_counter()
        words, seen = fill(registry, listings)
        filled = time.perf_counter() - start
        start = time.perf_counter()
        first = registry.search(MarketplaceQuery(limit=1))
        built = time.perf_counter() - start
        assert first.total == listings, first.total
        mix = query_mix(words, seen, QUERIES)
        for _kind, query in mix[:50]:  # warm the page cache and the statement cache
            registry.search(query)
        times: dict[str, list[float]] = {}
        hits: dict[str, list[int]] = {}
        for kind, query in mix:
            start = time.perf_counter()
            result = registry.search(query)
            times.setdefault(kind, []).append((time.perf_counter() - start) * 1e3)
            hits.setdefault(kind, []).append(result.total)
        size = (Path(tmp) / "registry" / "registry.db").stat().st_size
    every = [t for values in times.values() for t in values]
    p50, p95 = statistics.median(every), percentile(every, 95)
    print(
        f"{listings:,} listings written in {filled:.1f} s; the index built by the first "
        f"search in {built:.1f} s; registry.db {size / 2**20:.0f} MiB"
    )
    print(
        f"{'query':<22} {'n':>4} {'matches (median)':>17} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}"
    )
    for kind, values in times.items():
        print(
            f"{kind:<22} {len(values):>4} {statistics.median(hits[kind]):>17,.0f} "
            f"{statistics.median(values):>8.1f} {percentile(values, 95):>8.1f} {max(values):>8.1f}"
        )
    print(f"{'all':<22} {len(every):>4} {'':>17} {p50:>8.1f} {p95:>8.1f} {max(every):>8.1f}")
    line = result_line("registry_search", "p95_ms", p95, "<=", TARGET_P95_MS)
    print(line)
    print(result_line("registry_search", "p50_ms", p50, "<=", TARGET_P95_MS))
    return 0 if line.endswith("PASS") else 1


if __name__ == "__main__":
    sys.exit(main())
