"""The registry's full-text index answers exactly what ``query.search`` answers over
``Registry.plugins()`` (issue 19 §1): generated catalogues, every query field, and the
index kept current by whatever writes the registry (publish, download, rating, tags,
flags, unpublish), also in a registry file written before the index existed."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import pytest

from pliers_lab.market import MarketplaceQuery, PluginMarketplace, Registry
from pliers_lab.market import _search_index as index
from pliers_lab.market.query import CATEGORIES, search
from pliers_lab.storage.sqlite import transaction

WORDS = ["phone", "email", "Export", "audit", "guard", "crm", "ph", "e", "sanitize", "forms"]
ODD = ["ÉTÉ", "straße", "a b", "multi\nline", 'quo"te', "x*y", "ǅungla", "İstanbul"]
LICENSES = ["MIT", "mit", "Apache-2.0", "GPL-3.0", "ISC"]
RANGES = ["^3.0.0", ">=2.0.0 <3.0.0", "^2.1.0", "*", "^4.0.0-beta.1"]
CATS = list(CATEGORIES)


def fill(registry: Registry, count: int, seed: int, prefixes: tuple[str, ...] = ("",)) -> None:
    """``count`` plugins written straight into the registry's tables: several versions
    (prereleases, other engines), tags, ratings, downloads, flags, odd text. A name is
    a word after one of ``prefixes`` (a word inside a name scores less than at its start)."""
    rng = random.Random(seed)
    with transaction(registry.db, write=True) as db:
        for i in range(count):
            prefix = rng.choice(prefixes) if len(prefixes) > 1 else prefixes[0]
            name = f"{prefix}{rng.choice(WORDS).lower().replace(' ', '-')}-p{i}"
            if not all(c.isalnum() or c == "-" for c in name) or not name.isascii():
                name = f"plugin-{i}"
            db.execute(
                "INSERT INTO plugins VALUES (?, ?, ?, ?)",
                (name, "2026-01-01T00:00:00.000Z", rng.random() < 0.3, rng.random() < 0.2),
            )
            versions = rng.sample(["1.0.0", "1.1.0", "2.0.0", "2.1.0-beta.1", "0.9.0"], 3)
            for version in versions:
                words = rng.sample(WORDS + ODD, 3)
                keywords = rng.sample(WORDS + ODD, rng.randint(0, 3))
                cats = rng.sample(CATS, rng.randint(0, 2))
                db.execute(
                    "INSERT INTO versions (name, version, released_at, unpublished_at, publisher,"
                    " key_id, checksum, size, bundle, manifest, description, author, license,"
                    " keywords, categories, engines_pliers, changes, readme, scan, score,"
                    " downloads) VALUES (?, ?, ?, ?, 'ann', NULL, 'sha256:x', 1, 'b.zip', '{}',"
                    " ?, 'Ann', ?, ?, ?, ?, '[]', NULL, '{}', ?, ?)",
                    (
                        name,
                        version,
                        f"2026-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T00:00:00.000Z",
                        "2026-10-01T00:00:00.000Z" if rng.random() < 0.05 else None,
                        "A plugin about " + " and ".join(words),
                        rng.choice(LICENSES),
                        json.dumps(keywords),
                        json.dumps(cats),
                        rng.choice(RANGES),
                        rng.randint(40, 100),
                        rng.choice([0, 0, 1, 5, 17, 200]),
                    ),
                )
            if rng.random() < 0.5:
                db.execute("INSERT INTO tags VALUES (?, 'latest', ?)", (name, rng.choice(versions)))
            for user in range(rng.choice([0, 0, 1, 3])):
                db.execute(
                    "INSERT INTO ratings VALUES (?, ?, ?, '2026-01-01T00:00:00.000Z')",
                    (name, f"u{user}", rng.randint(0, 5)),
                )


def queries(seed: int, count: int) -> list[MarketplaceQuery]:
    rng = random.Random(seed)
    out = [MarketplaceQuery(), MarketplaceQuery(limit=100), MarketplaceQuery(offset=10**12)]
    for _ in range(count):
        text = " ".join(
            rng.sample(WORDS + ODD + ["ph", "on", "xyz", "AND", "*"], rng.randint(0, 2))
        )
        out.append(
            MarketplaceQuery(
                query=text or None,
                category=rng.choice([None, None, *CATS[:4]]),
                tags=tuple(rng.sample([*WORDS, "a b", "É"], rng.choice([0, 0, 1]))),
                compatibility=rng.choice([None, None, "3.1.0", "2.5.0", "4.0.0-beta.2"]),
                license=tuple(rng.sample(LICENSES, rng.choice([0, 0, 1, 2]))),
                verified=rng.choice([None, None, True, False]),
                sort_by=rng.choice([None, "name", "downloads", "rating", "updated", "relevance"]),
                sort_order=rng.choice([None, "asc", "desc"]),
                limit=rng.choice([1, 5, 20, 100]),
                offset=rng.choice([0, 0, 3, 50]),
            )
        )
    return out


@pytest.fixture
def big(tmp_path: Path) -> Registry:
    registry = Registry(tmp_path / "big")
    fill(registry, 400, seed=19)
    return registry


@pytest.mark.parametrize("small", [index.SMALL, 7, 0])
def test_the_index_answers_what_query_search_answers(
    big: Registry, small: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``small``: up to this many matches are ordered in Python, more in SQL passes (by
    relevance: the listings a word names first, the rest by downloads): all three ways."""
    monkeypatch.setattr(index, "SMALL", small)
    plugins = big.plugins()
    for query in queries(7, 400):
        assert big.search(query) == search(plugins, query), query


def test_featured_popular_and_categories_agree_with_the_marketplace_reading_records(
    big: Registry, tmp_path: Path
) -> None:
    plugins = big.plugins()
    market = PluginMarketplace(big, _store(tmp_path))
    featured = sorted(
        (p for p in plugins if p.featured), key=lambda p: (-p.rating, -p.downloads, p.name)
    )
    assert [x.id for x in market.get_featured(limit=500)] == [p.name for p in featured]
    popular = sorted(plugins, key=lambda p: (-p.downloads, p.name))[:10]
    assert [x.id for x in market.get_popular()] == [p.name for p in popular]
    counts = {c["id"]: c["count"] for c in market.get_categories()}
    for category in CATEGORIES:
        expected = sum(1 for p in plugins if p.latest and category in p.latest.categories)
        assert counts[category] == expected


def _store(tmp_path: Path):
    from pliers_lab.market import PluginStore

    return PluginStore(tmp_path / "store")


def test_every_kind_of_write_shows_in_the_next_search(registry: Registry, publish) -> None:
    def names(**options: object) -> list[str]:
        return [x.id for x in registry.search(MarketplaceQuery(**options))]

    publish("notes", "1.0.0", keywords=["memo"])
    assert names(query="memo") == ["notes"]
    publish("notes", "2.0.0", keywords=["jotter"])  # latest moves: the listing follows
    assert names(query="memo") == [] and names(query="jotter") == ["notes"]
    registry.tag("notes", "1.0.0", "latest", user="ann")
    assert names(query="memo") == ["notes"]
    publish("other", "1.0.0")
    registry.download("other", "1.0.0")
    assert names(sort_by="downloads")[0] == "other"
    registry.rate("notes", 5, user="bob")
    assert registry.search(MarketplaceQuery(query="notes"))[0].rating == 5.0
    registry.set_verified("notes")
    assert names(verified=True) == ["notes"]
    registry.unpublish("other", "1.0.0", user="ann")
    assert names() == ["notes"]
    with transaction(registry.db) as db:
        assert db.execute("SELECT COUNT(*) FROM search_stale").fetchone()[0] == 0


@pytest.mark.parametrize("steps", [0, 1, 2])
def test_a_registry_written_before_the_index_gets_one(tmp_path: Path, steps: int) -> None:
    """A registry file at the schema before the index (c6d1737's steps and those added
    before the index), or at one of the index's earlier steps, is migrated in place,
    keeps every row, and its first search builds the index from them."""
    from pliers_lab.market._registry import MIGRATIONS
    from pliers_lab.storage.sqlite import migrate_file

    first = next(m.version for m in MIGRATIONS if "search_listings" in m.sql)
    newest = MIGRATIONS[-1].version
    assert newest - first + 1 == len(index.SEARCH_SCHEMA)  # the index's steps are the last
    upto = first - 1 + steps
    root = tmp_path / "old"
    root.mkdir()
    migrate_file(root / "registry.db", MIGRATIONS[:upto], what="an old registry")
    old = Registry.__new__(Registry)  # the rows an old registry holds, written as it would
    old.db = root / "registry.db"
    fill(old, 30, seed=5)
    conn = sqlite3.connect(root / "registry.db")
    rows = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in _TABLES}
    conn.close()
    reopened = Registry(root)
    conn = sqlite3.connect(root / "registry.db")
    assert {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in _TABLES} == rows
    assert conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0] == newest
    conn.close()
    plugins = reopened.plugins()
    for query in queries(11, 40):
        assert reopened.search(query) == search(plugins, query)


_TABLES = ("plugins", "versions", "tags", "ratings")


def test_fts5_with_the_trigram_tokenizer_is_available() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(a, tokenize='trigram case_sensitive 1')")
    conn.execute("INSERT INTO t VALUES ('phone-validator')")
    assert conn.execute("SELECT COUNT(*) FROM t WHERE t MATCH '\"one-va\"'").fetchone() == (1,)


def test_a_refresh_after_bulk_writes_reads_everything_once(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "r")
    fill(registry, index.BULK_REFRESH + 50, seed=3)
    assert index.refresh(registry) == index.BULK_REFRESH + 50
    assert index.refresh(registry) == 0


def test_a_common_words_page_is_taken_among_the_listings_that_rank_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """By relevance, a word matching many listings is counted on all of them but its page
    taken among those naming it or holding it as a keyword and in the description (they
    outrank every other); where they do not fill the page, among all. Both ways give
    what ``query.search`` gives. Some names hold the word inside (20 points, as much as
    a keyword and the description: downloads decide between them)."""
    big = Registry(tmp_path / "mixed")
    fill(big, 400, seed=23, prefixes=("", "", "my-", "the-"))
    monkeypatch.setattr(index, "SMALL", 0)
    taken = {"among the first": 0, "among all": 0}
    keys = index._keys

    def counting(db, plan, limit, filters=(), order=None, skip=0):  # type: ignore[no-untyped-def]
        rows = keys(db, plan, limit, filters, order, skip)
        if plan.matches and "name_l :" in plan.params[plan.matches] and limit is not None:
            taken["among the first" if len(rows) == limit else "among all"] += 1
        return rows

    monkeypatch.setattr(index, "_keys", counting)
    plugins = big.plugins()
    rng = random.Random(3)
    for word in ["phone", "email", "export", "audit", "sanitize", "forms", "guard"]:
        for _ in range(12):
            query = MarketplaceQuery(
                query=word,
                category=rng.choice([None, None, *CATS[:4]]),
                license=tuple(rng.sample(LICENSES, rng.choice([0, 0, 1]))),
                compatibility=rng.choice([None, None, "3.1.0"]),
                tags=tuple(rng.sample(WORDS, rng.choice([0, 0, 0, 1]))),
                limit=rng.choice([1, 3, 5, 20]),
                offset=rng.choice([0, 0, 2, 10]),
            )
            assert big.search(query) == search(plugins, query), query
    assert taken["among the first"] >= 20, taken  # the shortcut ran, and agreed
    assert taken["among all"] >= 5, taken  # so did the fall-back
