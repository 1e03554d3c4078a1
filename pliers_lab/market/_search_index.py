"""The registry's search index: SQLite FTS5 over one row per plugin, so a search on a
catalogue of 100,000 listings reads the matching rows only (issue 19 §1).

What it answers is exactly what ``query.search`` answers over ``Registry.plugins()`` —
the same filters, relevance, facets, order and pages (``tests/market/test_search_index.py``
compares the two on generated catalogues) — without loading every plugin:

- ``search_listings`` holds, per plugin with a live version, its listing as ``query``
  shows it (the ``latest`` version's fields, the plugin's downloads, rating and flags)
  and the lower-cased text search compares: name, keywords (one per line, blanks inside
  a keyword made spaces) and description.
- ``search_text`` is an FTS5 table over that text with the ``trigram`` tokenizer, case
  sensitive over lower-cased text: a word of three characters or more is found as a
  *substring*, as ``query`` compares, through the index. Shorter words are compared
  row by row. Every word is then checked exactly (``instr``) and scored in SQL with the
  documented relevance, so the index only narrows and never decides.
- ``search_stale`` lists plugins whose row is out of date. Triggers on ``plugins``,
  ``versions``, ``tags`` and ``ratings`` add to it whatever writes the registry (another
  process, another version of this code); a search first re-reads those plugins, so a
  publish, a download or a rating shows in the next search. The migration marks every
  plugin of an existing registry stale: its first search builds the index.

``compatibility`` picks, per plugin, the version that runs on a Pliers version; the
rows whose ``latest`` runs there are filtered in SQL, and the few plugins where only an
older version runs are read and matched by ``query``'s own code, then merged in order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..storage.sqlite import dumps, transaction
from ..versions import VersionError, parse_version, satisfies
from .query import (
    CATEGORIES,
    MarketplaceQuery,
    PluginListing,
    SearchResult,
    candidate,
    listing,
    sort_key,
)

if TYPE_CHECKING:
    import sqlite3

    from ._listings import PluginRecord
    from ._registry import Registry

__all__ = ["SEARCH_SCHEMA", "category_counts", "featured", "popular", "refresh", "search"]

#: The bit of each category in ``search_listings.category_bits``.
CATEGORY_BITS: dict[str, int] = {str(c): 1 << i for i, c in enumerate(CATEGORIES)}
#: Stale plugins re-read one by one up to this many; beyond, every plugin at once.
BULK_REFRESH = 200
#: Words of a text query compared; more are refused by ``MarketplaceQuery``'s callers.
MIN_TRIGRAM = 3

_TRACKED = {"plugins": "name", "versions": "name", "tags": "name", "ratings": "name"}


def _stale_triggers() -> str:
    out = []
    for table, column in _TRACKED.items():
        for event, row in (("INSERT", "new"), ("UPDATE", "new"), ("DELETE", "old")):
            out.append(
                f"CREATE TRIGGER search_stale_{table}_{event.lower()} AFTER {event} ON {table} "
                f"BEGIN DELETE FROM search_stale WHERE name = {row}.{column}; "
                f"INSERT INTO search_stale (name) VALUES ({row}.{column}); END;"
            )
    return "\n".join(out)


#: Registry schema steps (appended to the registry's migrations; never edit an applied one).
SEARCH_SCHEMA = [
    """
    CREATE TABLE search_listings (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        version TEXT NOT NULL,
        description TEXT NOT NULL,
        author TEXT NOT NULL,
        license TEXT NOT NULL,
        license_l TEXT NOT NULL,
        keywords TEXT NOT NULL,
        keywords_lj TEXT NOT NULL,
        categories TEXT NOT NULL,
        category_bits INTEGER NOT NULL,
        engines_pliers TEXT NOT NULL,
        security_score INTEGER NOT NULL,
        downloads INTEGER NOT NULL,
        rating REAL NOT NULL,
        rating_count INTEGER NOT NULL,
        verified INTEGER NOT NULL,
        featured INTEGER NOT NULL,
        last_updated TEXT NOT NULL,
        name_l TEXT NOT NULL,
        keywords_l TEXT NOT NULL,
        description_l TEXT NOT NULL
    );
    CREATE INDEX search_listings_downloads ON search_listings(downloads DESC, name);
    CREATE INDEX search_listings_updated ON search_listings(last_updated DESC, name);
    CREATE INDEX search_listings_rating ON search_listings(rating DESC, rating_count DESC, name);
    CREATE INDEX search_listings_facets
        ON search_listings(license, category_bits, verified, engines_pliers, license_l);
    CREATE VIRTUAL TABLE search_text USING fts5(
        name_l, keywords_l, description_l,
        content='search_listings', content_rowid='id',
        tokenize='trigram case_sensitive 1'
    );
    CREATE TRIGGER search_listings_insert AFTER INSERT ON search_listings BEGIN
        INSERT INTO search_text (rowid, name_l, keywords_l, description_l)
        VALUES (new.id, new.name_l, new.keywords_l, new.description_l);
    END;
    CREATE TRIGGER search_listings_delete AFTER DELETE ON search_listings BEGIN
        INSERT INTO search_text (search_text, rowid, name_l, keywords_l, description_l)
        VALUES ('delete', old.id, old.name_l, old.keywords_l, old.description_l);
    END;
    CREATE TRIGGER search_listings_update AFTER UPDATE ON search_listings
    WHEN old.name_l IS NOT new.name_l OR old.keywords_l IS NOT new.keywords_l
        OR old.description_l IS NOT new.description_l OR old.id IS NOT new.id BEGIN
        INSERT INTO search_text (search_text, rowid, name_l, keywords_l, description_l)
        VALUES ('delete', old.id, old.name_l, old.keywords_l, old.description_l);
        INSERT INTO search_text (rowid, name_l, keywords_l, description_l)
        VALUES (new.id, new.name_l, new.keywords_l, new.description_l);
    END;
    CREATE TABLE search_stale (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL);
    CREATE INDEX search_stale_name ON search_stale(name);
    """
    + _stale_triggers()
    + """
    INSERT INTO search_stale (name) SELECT name FROM plugins
    """,
]

_COLUMNS = (
    "name, version, description, author, license, license_l, keywords, keywords_lj, "
    "categories, category_bits, engines_pliers, security_score, downloads, rating, "
    "rating_count, verified, featured, last_updated, name_l, keywords_l, description_l"
)


# ------------------------------------------------------------------------ the index
def _keyword_lines(keywords: Iterable[str]) -> str:
    """Lower-cased keywords one per line, blanks inside one made spaces: a query word
    (never blank) is inside a keyword iff it is inside this text, and equals one iff
    ``\\n<word>\\n`` is inside ``\\n<text>\\n``."""
    return "\n".join("".join(" " if c.isspace() else c for c in k.lower()) for k in keywords)


def _row(plugin: PluginRecord) -> tuple[Any, ...] | None:
    latest = plugin.latest
    if latest is None:
        return None
    bits = 0
    for category in latest.categories:
        bits |= CATEGORY_BITS.get(category, 0)
    return (
        plugin.name,
        latest.version,
        latest.description,
        latest.author,
        latest.license,
        latest.license.lower(),
        dumps(list(latest.keywords)),
        json.dumps([k.lower() for k in latest.keywords]),
        dumps(list(latest.categories)),
        bits,
        latest.engines_pliers,
        latest.score,
        plugin.downloads,
        plugin.rating,
        plugin.rating_count,
        int(plugin.verified),
        int(plugin.featured),
        max(v.released_at for v in plugin.versions),
        plugin.name.lower(),
        _keyword_lines(latest.keywords),
        latest.description.lower(),
    )


def refresh(registry: Registry) -> int:
    """Bring the rows of stale plugins up to date; returns how many were re-read."""
    with transaction(registry.db) as db:
        stale = db.execute("SELECT id, name FROM search_stale ORDER BY id").fetchall()
    if not stale:
        return 0
    upto = stale[-1]["id"]
    names = sorted({row["name"] for row in stale})
    if len(names) > BULK_REFRESH:
        wanted = set(names)
        records = {p.name: p for p in registry._load(None) if p.name in wanted}
    else:
        records = {}
        for name in names:
            found = registry._load(name)
            if found:
                records[name] = found[0]
    rows = {name: _row(records[name]) if name in records else None for name in names}
    placeholders = ", ".join("?" * 21)
    updates = ", ".join(f"{c.strip()} = ?" for c in _COLUMNS.split(",")[1:])
    with transaction(registry.db, write=True) as db:
        for name, row in rows.items():
            if row is None:
                db.execute("DELETE FROM search_listings WHERE name = ?", (name,))
            elif not db.execute(
                f"UPDATE search_listings SET {updates} WHERE name = ?", (*row[1:], name)
            ).rowcount:
                db.execute(f"INSERT INTO search_listings ({_COLUMNS}) VALUES ({placeholders})", row)
        db.execute("DELETE FROM search_stale WHERE id <= ?", (upto,))
    return len(names)


# ----------------------------------------------------------------------- queries
def _listing(row: sqlite3.Row) -> PluginListing:
    """The listing of an index row: what ``query.listing`` gives for the plugin."""
    categories = tuple(json.loads(row["categories"]))
    return PluginListing(
        id=row["name"],
        name=row["name"],
        description=row["description"],
        version=row["version"],
        author=row["author"],
        category=categories[0] if categories else None,
        tags=tuple(json.loads(row["keywords"])),
        license=row["license"],
        downloads=row["downloads"],
        rating=row["rating"],
        verified=bool(row["verified"]),
        last_updated=row["last_updated"],
        compatibility=(row["engines_pliers"],),
        rating_count=row["rating_count"],
        security_score=row["security_score"],
        categories=categories,
    )


def _phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no stored text holds one
        return False
    return True


@dataclass
class _Plan:
    """The SQL of one query: what every listing must match (text, verified, tags,
    compatibility), then the category and license filters facets leave out in turn."""

    where: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    score: str = "0"
    empty: bool = False  # nothing can match (a word no stored text can hold)

    def add(self, clause: str, **params: Any) -> None:
        self.where.append(clause)
        self.params.update(params)

    def sql_where(self, *more: str) -> str:
        clauses = [*self.where, *more]
        return "WHERE " + " AND ".join(clauses) if clauses else ""


def _plan(query: MarketplaceQuery, words: Sequence[str], ranges: list[str] | None) -> _Plan:
    plan = _Plan()
    if not all(_encodable(w) for w in (*words, *query.tags, *query.license)):
        plan.empty = True
        return plan
    fts: list[str] = []
    scores = []
    for i, word in enumerate(words):
        w, n, k = f"w{i}", f"n{i}", f"k{i}"
        plan.add(
            f"(instr(s.name_l, :{w}) OR instr(s.keywords_l, :{w}) OR instr(s.description_l, :{w}))",
            **{w: word, n: len(word), k: f"\n{word}\n"},
        )
        scores.append(
            f"(CASE WHEN s.name_l = :{w} THEN 100 WHEN substr(s.name_l, 1, :{n}) = :{w} THEN 30 "
            f"WHEN instr(s.name_l, :{w}) THEN 20 ELSE 0 END"
            f" + CASE WHEN instr(char(10) || s.keywords_l || char(10), :{k}) THEN 15 "
            f"WHEN instr(s.keywords_l, :{w}) THEN 8 ELSE 0 END"
            f" + CASE WHEN instr(s.description_l, :{w}) THEN 5 ELSE 0 END)"
        )
        if len(word) >= MIN_TRIGRAM and "\0" not in word:
            fts.append(_phrase(word))
    plan.score = " + ".join(scores) or "0"
    if query.verified is not None:
        plan.add("s.verified = :verified", verified=int(query.verified))
    for i, tag in enumerate({t.lower() for t in query.tags}):
        t = f"t{i}"
        if tag and not any(c.isspace() for c in tag):
            plan.add(f"instr(char(10) || s.keywords_l || char(10), :{t})", **{t: f"\n{tag}\n"})
            if len(tag) >= MIN_TRIGRAM and "\0" not in tag:
                fts.append("keywords_l : " + _phrase(tag))
        else:
            plan.add(
                f"EXISTS (SELECT 1 FROM json_each(s.keywords_lj) WHERE value = :{t})", **{t: tag}
            )
    if fts:
        plan.add(
            "s.id IN (SELECT rowid FROM search_text WHERE search_text MATCH :fts)",
            fts=" AND ".join(fts),
        )
    if ranges is not None:
        plan.add("s.engines_pliers IN (SELECT value FROM json_each(:ranges))", ranges=dumps(ranges))
    return plan


def _runs_on(db: sqlite3.Connection, compatibility: str) -> list[str]:
    """The ``engines.pliers`` ranges of live versions that accept ``compatibility``."""
    found = []
    for (text,) in db.execute(
        "SELECT DISTINCT engines_pliers FROM versions WHERE unpublished_at IS NULL"
    ):
        try:
            if satisfies(compatibility, text, include_prerelease=True):
                found.append(text)
        except VersionError:
            continue
    return found


_ORDER = {
    "name": "s.name {d}",
    "downloads": "s.downloads {d}, s.name",
    "rating": "s.rating {d}, s.rating_count {d}, s.name",
    "updated": "s.last_updated {d}, s.name",
    "relevance": "score {d}, s.downloads {d}, s.name",
}
_NO_BUNDLE = Path()
#: An offset beyond this is past any catalogue (and SQLite's integers).
MAX_OFFSET = 1 << 40


@dataclass
class _Item:
    """A matched listing with what ``query``'s ordering reads (for merging)."""

    name: str
    downloads: int
    rating: tuple[float, int]
    updated: str
    relevance: tuple[int, int]
    listing: PluginListing


def search(registry: Registry, query: MarketplaceQuery) -> SearchResult:
    """``query.search(registry.plugins(), query)``, answered from the index."""
    refresh(registry)
    words = (query.query or "").lower().split()
    key = query.sort_by or ("relevance" if words else "name")
    if key == "relevance" and not words:
        key = "name"
    descending = (query.sort_order or ("asc" if key == "name" else "desc")) == "desc"
    licenses = sorted({lic.lower() for lic in query.license})
    with transaction(registry.db) as db:
        ranges = _runs_on(db, query.compatibility) if query.compatibility else None
        plan = _plan(query, words, ranges)
        if plan.empty:
            return SearchResult(
                (), 0, query.limit, query.offset, {"categories": [], "licenses": []}
            )
        in_category = "1"
        if query.category is not None:
            in_category = "(s.category_bits & :bit) != 0"
            plan.params["bit"] = CATEGORY_BITS[str(query.category)]
        bits = ", ".join(f"SUM((s.category_bits & {bit}) != 0)" for bit in CATEGORY_BITS.values())
        groups = db.execute(
            f"SELECT s.license, s.license_l, SUM({in_category}), {bits} "
            f"FROM search_listings s {plan.sql_where()} GROUP BY s.license",
            plan.params,
        ).fetchall()
        older = _older_fitting(db, ranges) if ranges is not None else []
        order = _ORDER[key].format(d="DESC" if descending else "ASC")
        filters = [in_category]
        if licenses:
            filters.append("s.license_l IN (SELECT value FROM json_each(:licenses))")
            plan.params["licenses"] = dumps(licenses)
        offset = min(query.offset, MAX_OFFSET)
        take, skip = (query.limit, offset) if not older else (offset + query.limit, 0)
        rows = db.execute(
            f"SELECT s.*, {plan.score} AS score FROM search_listings s "
            f"{plan.sql_where(*filters)} ORDER BY {order} LIMIT :take OFFSET :skip",
            {**plan.params, "take": min(take, MAX_OFFSET), "skip": skip},
        ).fetchall()
    extra = []
    for plugin in _records(registry, older):
        made = candidate(plugin, query, words)
        if made is not None:
            extra.append(made)
    category_counts: dict[str, int] = {}
    license_counts: dict[str, int] = {}
    total = 0
    for group in groups:
        license_text, license_l, in_cat, *per_category = group
        if in_cat:
            license_counts[license_text] = license_counts.get(license_text, 0) + in_cat
        if licenses and license_l not in licenses:
            continue
        total += in_cat
        for name, count in zip(CATEGORY_BITS, per_category, strict=True):
            if count:
                category_counts[name] = category_counts.get(name, 0) + count
    items = [_item(r) for r in rows]
    for plugin, version, score in extra:
        shown = listing(plugin, version)
        if not licenses or version.license.lower() in licenses:
            for name in set(version.categories):
                category_counts[name] = category_counts.get(name, 0) + 1
        if query.category is None or query.category in version.categories:
            license_counts[version.license] = license_counts.get(version.license, 0) + 1
            if not licenses or version.license.lower() in licenses:
                total += 1
                items.append(_item_of(plugin, shown, score))
    if older:  # the page was taken from the start: merge, then cut it
        items = _ordered(items, key, descending)[offset : offset + query.limit]
    facets = {"categories": _facet(category_counts), "licenses": _facet(license_counts)}
    return SearchResult(tuple(i.listing for i in items), total, query.limit, query.offset, facets)


def _older_fitting(db: sqlite3.Connection, ranges: list[str]) -> list[str]:
    """Plugins whose ``latest`` does not run on the query's Pliers version (its
    ``ranges``) but an older live version does: ``query``'s own code matches those."""
    return [
        r[0]
        for r in db.execute(
            "SELECT DISTINCT v.name FROM versions v JOIN search_listings s ON s.name = v.name "
            "WHERE v.unpublished_at IS NULL "
            "AND v.engines_pliers IN (SELECT value FROM json_each(:r)) "
            "AND s.engines_pliers NOT IN (SELECT value FROM json_each(:r))",
            {"r": dumps(ranges)},
        )
    ]


def _records(registry: Registry, names: list[str]) -> list[PluginRecord]:
    """The plugins ``names`` with what a listing shows of each live version (no
    manifest, scan or readme), read in a few queries whatever their number."""
    from ._listings import PluginRecord, VersionRecord

    if not names:
        return []
    wanted = {"n": dumps(names)}
    among = "name IN (SELECT value FROM json_each(:n))"
    with transaction(registry.db) as db:
        plugins = db.execute(f"SELECT * FROM plugins WHERE {among}", wanted).fetchall()
        versions = db.execute(
            "SELECT name, version, released_at, publisher, key_id, checksum, size, description,"
            " author, license, keywords, categories, engines_pliers, score, downloads"
            f" FROM versions WHERE {among} AND unpublished_at IS NULL",
            wanted,
        ).fetchall()
        tags = db.execute(
            f"SELECT name, version FROM tags WHERE {among} AND tag = 'latest'", wanted
        ).fetchall()
        ratings = db.execute(
            f"SELECT name, AVG(stars), COUNT(*) FROM ratings WHERE {among} GROUP BY name", wanted
        ).fetchall()
    by_name: dict[str, list[VersionRecord]] = {}
    for v in versions:
        by_name.setdefault(v["name"], []).append(
            VersionRecord(
                name=v["name"],
                version=v["version"],
                released_at=v["released_at"],
                publisher=v["publisher"],
                key_id=v["key_id"],
                checksum=v["checksum"],
                size=v["size"],
                bundle=_NO_BUNDLE,
                manifest={},
                description=v["description"],
                author=v["author"],
                license=v["license"],
                keywords=tuple(json.loads(v["keywords"])),
                categories=tuple(json.loads(v["categories"])),
                engines_pliers=v["engines_pliers"],
                changes=(),
                score=v["score"],
                downloads=v["downloads"],
            )
        )
    latest = {t["name"]: t["version"] for t in tags}
    stars = {r[0]: (round(float(r[1]), 2), int(r[2])) for r in ratings}
    return [
        PluginRecord(
            name=p["name"],
            created_at=p["created_at"],
            verified=bool(p["verified"]),
            featured=bool(p["featured"]),
            versions=tuple(
                sorted(
                    by_name.get(p["name"], []),
                    key=lambda v: parse_version(v.version),
                    reverse=True,
                )
            ),
            tags={"latest": latest[p["name"]]} if p["name"] in latest else {},
            maintainers={},
            rating=stars.get(p["name"], (0.0, 0))[0],
            rating_count=stars.get(p["name"], (0.0, 0))[1],
        )
        for p in plugins
        if by_name.get(p["name"])
    ]


def _item(row: sqlite3.Row) -> _Item:
    return _Item(
        row["name"],
        row["downloads"],
        (row["rating"], row["rating_count"]),
        row["last_updated"],
        (row["score"], row["downloads"]),
        _listing(row),
    )


def _item_of(plugin: PluginRecord, shown: PluginListing, score: int) -> _Item:
    return _Item(
        plugin.name,
        plugin.downloads,
        (plugin.rating, plugin.rating_count),
        shown.last_updated,
        (score, plugin.downloads),
        shown,
    )


def _ordered(items: list[_Item], key: str, descending: bool) -> list[_Item]:
    """``query``'s ordering: by name, then stably by the sort key."""
    return sort_key(items, key, descending, lambda i: i.name, lambda i: getattr(i, key))


def _facet(counts: dict[str, int]) -> list[dict[str, Any]]:
    return [
        {"name": k, "count": n} for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def featured(registry: Registry, limit: int) -> list[PluginListing]:
    """Featured plugins, best rated first (then most downloaded, then by name)."""
    return _listings(
        registry,
        "WHERE featured = 1 ORDER BY rating DESC, downloads DESC, name LIMIT ?",
        limit,
    )


def popular(registry: Registry, limit: int) -> list[PluginListing]:
    """The most downloaded plugins (ties by name)."""
    return _listings(registry, "ORDER BY downloads DESC, name LIMIT ?", limit)


def _listings(registry: Registry, tail: str, limit: int) -> list[PluginListing]:
    refresh(registry)
    with transaction(registry.db) as db:
        rows = db.execute(
            f"SELECT * FROM search_listings {tail}", (max(0, min(limit, MAX_OFFSET)),)
        ).fetchall()
    return [_listing(r) for r in rows]


def category_counts(registry: Registry) -> dict[str, int]:
    """How many plugins list each category (in their ``latest`` version)."""
    refresh(registry)
    sums = ", ".join(f"SUM((category_bits & {bit}) != 0)" for bit in CATEGORY_BITS.values())
    with transaction(registry.db) as db:
        row = db.execute(f"SELECT {sums} FROM search_listings").fetchone()
    return {name: int(n or 0) for name, n in zip(CATEGORY_BITS, row, strict=True)}
