"""The registry's search index: SQLite FTS5 over one row per plugin, so a search on a
catalogue of 100,000 listings reads the matching rows only (issue 19 §1).

What it answers is exactly what ``query.search`` answers over ``Registry.plugins()`` —
the same filters, relevance, facets, order and pages (``tests/market/test_search_index.py``
compares the two on generated catalogues, every way a query can run) — without loading
every plugin. The tables (registry schema steps, ``SEARCH_SCHEMA``):

- ``search_listings``: per plugin with a live version, what filters, facets and order
  read (licence, category set as bits, ``engines.pliers``, verified, downloads, rating,
  last update, name) — narrow, so that thousands of rows are read fast.
- ``search_docs``: the same plugin's ``latest`` version as shown (version, description,
  author, keywords, categories, score) and the lower-cased text search compares: name,
  keywords (between newlines, blanks inside a keyword made spaces) and description.
- ``search_text``: FTS5 over that text with the ``trigram`` tokenizer, case sensitive
  over lower-cased text, so that a word of three characters or more is found as a
  *substring* — as ``query`` compares — and exactly; a keyword as a whole is
  ``"\n<word>\n"``. Shorter words are compared row by row (``instr``).
- ``search_versions`` (and ``search_version_text``): older versions, for
  ``compatibility``: a plugin is shown at its latest version where that runs on the
  query's Pliers version, else at its best older one that does (``rank``: stable first,
  highest first), as ``query.shown_version`` picks — so only the best older version of
  each ``engines.pliers`` range other than the latest's is kept (no other can be
  shown); ``search_ranges`` counts the rows of each range, so a query checks each once.
- ``search_stale``: plugins whose rows are out of date. Triggers on ``plugins``,
  ``versions``, ``tags`` and ``ratings`` add to it whatever writes the registry (another
  process, another version of this code); a search first re-reads those plugins, so a
  publish, a download or a rating shows in the next search. A migration marks every
  plugin stale: the first search after it builds the index.

A query with words or tags asks the index for its candidates first (stopping after
``SMALL``); those few are read once from the narrow table — a word's place in the name
and keywords read there, in the description taken from the index among them — and
facets, order and page computed here. A query that matches more — a category to browse,
a word in thousands of listings — runs as SQL over the narrow table the same way, joined
to the index's rows: facets from counts per licence and category set, the page in SQL's
order. By relevance, a one-word query's page is taken among the few listings that rank
above all others (the word in the name, or a whole keyword the description holds too)
when they fill it, so thousands of matches are counted but not all scored. Words shorter
than three characters and tags with blanks are compared on the documents, row by row; so
are older versions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..storage.sqlite import dumps, transaction
from ..versions import VersionError, satisfies
from .query import CATEGORIES, MarketplaceQuery, PluginListing, SearchResult, sort_key

if TYPE_CHECKING:
    import sqlite3

    from ._listings import PluginRecord, VersionRecord
    from ._registry import Registry

__all__ = ["SEARCH_SCHEMA", "category_counts", "featured", "popular", "refresh", "search"]

#: The bit of each category in ``search_listings.category_bits``.
CATEGORY_BITS: dict[str, int] = {str(c): 1 << i for i, c in enumerate(CATEGORIES)}
#: Stale plugins re-read one by one up to this many; beyond, every plugin at once.
BULK_REFRESH = 200
#: The trigram index finds words this long or longer (shorter ones: row by row).
MIN_TRIGRAM = 3
#: Matches up to this many are read once and ordered here; more go through SQL passes.
SMALL = 4000

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


#: The first step, as first published (bc6f7e8); the second replaces its tables.
_FIRST_STEP = [
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


def _range_triggers(table: str) -> str:
    """Keep ``search_ranges`` (how many rows of each ``engines.pliers`` range) current."""
    add = (
        "INSERT INTO search_ranges VALUES (new.engines_pliers, 1) "
        "ON CONFLICT (engines_pliers) DO UPDATE SET n = n + 1;"
    )
    drop = (
        "UPDATE search_ranges SET n = n - 1 WHERE engines_pliers = old.engines_pliers; "
        "DELETE FROM search_ranges WHERE n <= 0;"
    )
    return (
        f"CREATE TRIGGER {table}_range_insert AFTER INSERT ON {table} BEGIN {add} END;\n"
        f"CREATE TRIGGER {table}_range_delete AFTER DELETE ON {table} BEGIN {drop} END;\n"
        f"CREATE TRIGGER {table}_range_update AFTER UPDATE OF engines_pliers ON {table} "
        f"BEGIN {drop} {add} END;"
    )


#: Registry schema steps (appended to the registry's migrations; never edit an applied one).
#: The second replaces the first's one wide table by a narrow one (what filters, facets
#: and order read) and the documents (what is shown and what the full-text index holds),
#: and adds the older versions and the ``engines.pliers`` ranges.
_SECOND_STEP = [
    """
    DROP TABLE search_text;
    DROP TABLE search_listings;
    CREATE TABLE search_listings (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        name_l TEXT NOT NULL,
        license TEXT NOT NULL,
        license_l TEXT NOT NULL,
        category_bits INTEGER NOT NULL,
        engines_pliers TEXT NOT NULL,
        verified INTEGER NOT NULL,
        featured INTEGER NOT NULL,
        downloads INTEGER NOT NULL,
        rating REAL NOT NULL,
        rating_count INTEGER NOT NULL,
        last_updated TEXT NOT NULL
    );
    CREATE INDEX search_listings_downloads ON search_listings(downloads DESC, name);
    CREATE INDEX search_listings_updated ON search_listings(last_updated DESC, name);
    CREATE INDEX search_listings_rating ON search_listings(rating DESC, rating_count DESC, name);
    CREATE INDEX search_listings_facets
        ON search_listings(license, category_bits, verified, engines_pliers, license_l);
    CREATE INDEX search_listings_engines ON search_listings(engines_pliers);
    CREATE TABLE search_docs (
        id INTEGER PRIMARY KEY,
        version TEXT NOT NULL,
        description TEXT NOT NULL,
        author TEXT NOT NULL,
        keywords TEXT NOT NULL,
        keywords_lj TEXT NOT NULL,
        categories TEXT NOT NULL,
        security_score INTEGER NOT NULL,
        name_l TEXT NOT NULL,
        keywords_l TEXT NOT NULL,
        description_l TEXT NOT NULL
    );
    CREATE VIRTUAL TABLE search_text USING fts5(
        name_l, keywords_l, description_l,
        content='search_docs', content_rowid='id',
        tokenize='trigram case_sensitive 1'
    );
    CREATE TRIGGER search_docs_insert AFTER INSERT ON search_docs BEGIN
        INSERT INTO search_text (rowid, name_l, keywords_l, description_l)
        VALUES (new.id, new.name_l, new.keywords_l, new.description_l);
    END;
    CREATE TRIGGER search_docs_delete AFTER DELETE ON search_docs BEGIN
        INSERT INTO search_text (search_text, rowid, name_l, keywords_l, description_l)
        VALUES ('delete', old.id, old.name_l, old.keywords_l, old.description_l);
    END;
    CREATE TRIGGER search_docs_update AFTER UPDATE ON search_docs
    WHEN old.name_l IS NOT new.name_l OR old.keywords_l IS NOT new.keywords_l
        OR old.description_l IS NOT new.description_l BEGIN
        INSERT INTO search_text (search_text, rowid, name_l, keywords_l, description_l)
        VALUES ('delete', old.id, old.name_l, old.keywords_l, old.description_l);
        INSERT INTO search_text (rowid, name_l, keywords_l, description_l)
        VALUES (new.id, new.name_l, new.keywords_l, new.description_l);
    END;
    CREATE TABLE search_versions (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        name_l TEXT NOT NULL,
        version TEXT NOT NULL,
        rank INTEGER NOT NULL,
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
        keywords_l TEXT NOT NULL,
        description_l TEXT NOT NULL,
        UNIQUE (name, version)
    );
    CREATE INDEX search_versions_engines ON search_versions(engines_pliers, name, rank);
    CREATE VIRTUAL TABLE search_version_text USING fts5(
        name_l, keywords_l, description_l,
        content='search_versions', content_rowid='id',
        tokenize='trigram case_sensitive 1'
    );
    CREATE TRIGGER search_versions_insert AFTER INSERT ON search_versions BEGIN
        INSERT INTO search_version_text (rowid, name_l, keywords_l, description_l)
        VALUES (new.id, new.name_l, new.keywords_l, new.description_l);
    END;
    CREATE TRIGGER search_versions_delete AFTER DELETE ON search_versions BEGIN
        INSERT INTO search_version_text
            (search_version_text, rowid, name_l, keywords_l, description_l)
        VALUES ('delete', old.id, old.name_l, old.keywords_l, old.description_l);
    END;
    CREATE TABLE search_ranges (engines_pliers TEXT PRIMARY KEY, n INTEGER NOT NULL);
    """
    + _range_triggers("search_listings")
    + _range_triggers("search_versions")
    + """
    INSERT INTO search_stale (name) SELECT name FROM plugins
    """,
]
#: The third: the keywords in the narrow table too (a word's place among them is read
#: there, not looked up in the index: the commonest words are keywords of thousands).
_THIRD_STEP = [
    """
    ALTER TABLE search_listings ADD COLUMN keywords_l TEXT NOT NULL DEFAULT '';
    INSERT INTO search_stale (name) SELECT name FROM plugins
    """,
]
SEARCH_SCHEMA = [*_FIRST_STEP, *_SECOND_STEP, *_THIRD_STEP]

#: A plugin's row in ``search_listings``, in order.
_LISTING = (
    "name",
    "name_l",
    "license",
    "license_l",
    "category_bits",
    "engines_pliers",
    "verified",
    "featured",
    "downloads",
    "rating",
    "rating_count",
    "last_updated",
    "keywords_l",
)
#: Its document in ``search_docs`` (the ``latest`` version's), in order.
_DOC = (
    "version",
    "description",
    "author",
    "keywords",
    "keywords_lj",
    "categories",
    "security_score",
    "name_l",
    "keywords_l",
    "description_l",
)
#: An older version's row in ``search_versions``, in order.
_VERSION = (
    "name",
    "name_l",
    "version",
    "rank",
    "description",
    "author",
    "license",
    "license_l",
    "keywords",
    "keywords_lj",
    "categories",
    "category_bits",
    "engines_pliers",
    "security_score",
    "keywords_l",
    "description_l",
)
#: What a listing shows and a query reads of a version: the document's, or an older
#: version's own (the rest is the plugin's, from ``search_listings``).
_SHOWN = (
    "version",
    "description",
    "author",
    "license",
    "license_l",
    "keywords",
    "keywords_lj",
    "categories",
    "category_bits",
    "engines_pliers",
    "security_score",
    "keywords_l",
    "description_l",
)


# ------------------------------------------------------------------------ the index
def _keyword_lines(keywords: Iterable[str]) -> str:
    """Lower-cased keywords between newlines (``\\na\\nb\\n``), blanks inside one made
    spaces: a query word (never blank) is inside a keyword iff it is inside this text,
    and equals one iff ``\\n<word>\\n`` is."""
    lines = ("".join(" " if c.isspace() else c for c in k.lower()) for k in keywords)
    return "\n" + "\n".join(lines) + "\n"


def _version_fields(v: VersionRecord) -> dict[str, Any]:
    bits = 0
    for category in v.categories:
        bits |= CATEGORY_BITS.get(category, 0)
    return {
        "version": v.version,
        "description": v.description,
        "author": v.author,
        "license": v.license,
        "license_l": v.license.lower(),
        "keywords": dumps(list(v.keywords)),
        "keywords_lj": json.dumps([k.lower() for k in v.keywords]),
        "categories": dumps(list(v.categories)),
        "category_bits": bits,
        "engines_pliers": v.engines_pliers,
        "security_score": v.score,
        "keywords_l": _keyword_lines(v.keywords),
        "description_l": v.description.lower(),
    }


_Row = tuple[Any, ...]


def _rows(plugin: PluginRecord) -> tuple[_Row, _Row, list[_Row]] | None:
    """The plugin's listing row, document and older versions' rows (None without a
    live version)."""
    latest = plugin.latest
    if latest is None:
        return None
    fields = {
        **_version_fields(latest),
        "name": plugin.name,
        "name_l": plugin.name.lower(),
        "downloads": plugin.downloads,
        "rating": plugin.rating,
        "rating_count": plugin.rating_count,
        "verified": int(plugin.verified),
        "featured": int(plugin.featured),
        "last_updated": max(v.released_at for v in plugin.versions),
    }
    # the order ``query.shown_version`` prefers them in: stable first, highest first
    # (``plugin.versions`` is highest first; the sort is stable)
    others = sorted((v for v in plugin.versions if v.version != latest.version),
                    key=lambda v: v.prerelease)  # fmt: skip
    # only the first of each ``engines.pliers`` range can ever be shown, and none of the
    # latest's range (where the latest does not run, neither do they)
    ranges = {latest.engines_pliers}
    shown = []
    for v in others:
        if v.engines_pliers not in ranges:
            ranges.add(v.engines_pliers)
            shown.append(v)
    others = shown
    older = [
        tuple(
            {**_version_fields(v), "name": plugin.name, "name_l": fields["name_l"], "rank": rank}[c]
            for c in _VERSION
        )
        for rank, v in enumerate(others)
    ]
    return tuple(fields[c] for c in _LISTING), tuple(fields[c] for c in _DOC), older


def _insert(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


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
    update_listing = (
        f"UPDATE search_listings SET {', '.join(f'{c} = ?' for c in _LISTING[1:])} "
        "WHERE name = ? RETURNING id"
    )
    update_doc = f"UPDATE search_docs SET {', '.join(f'{c} = ?' for c in _DOC)} WHERE id = ?"
    with transaction(registry.db, write=True) as db:
        for name in names:
            made = _rows(records[name]) if name in records else None
            db.execute("DELETE FROM search_versions WHERE name = ?", (name,))
            if made is None:
                db.execute(
                    "DELETE FROM search_docs WHERE id = "
                    "(SELECT id FROM search_listings WHERE name = ?)",
                    (name,),
                )
                db.execute("DELETE FROM search_listings WHERE name = ?", (name,))
                continue
            row, doc, older = made
            found = db.execute(update_listing, (*row[1:], name)).fetchone()
            if found is not None:
                db.execute(update_doc, (*doc, found[0]))
            else:
                cursor = db.execute(_insert("search_listings", _LISTING), row)
                db.execute(_insert("search_docs", ("id", *_DOC)), (cursor.lastrowid, *doc))
            db.executemany(_insert("search_versions", _VERSION), older)
        db.execute("DELETE FROM search_stale WHERE id <= ?", (upto,))
    return len(names)


# ----------------------------------------------------------------------- queries
def _listing(row: sqlite3.Row) -> PluginListing:
    """The listing of a row: what ``query.listing`` gives for the plugin and version."""
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


def _indexed(text: str) -> bool:
    """Whether the trigram index finds ``text`` exactly (three characters, no NUL)."""
    return len(text) >= MIN_TRIGRAM and "\0" not in text


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no stored text holds one
        return False
    return True


@dataclass
class _Plan:
    """The SQL of one query: ``source`` (aliased ``s``) gives a row per listing that may
    be shown — ``uid`` and the listing's columns — ``where`` is what every listing shown
    must match (text, verified, tags), ``score`` its relevance."""

    source: str
    where: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    score: str = "0"
    #: The parameter holding the full-text query every listing shown matches, when the
    #: rows are those the index gives for it (SQL starts from them).
    matches: str | None = None

    def add(self, clause: str, **params: Any) -> None:
        self.where.append(clause)
        self.params.update(params)

    def sql(self, *more: str) -> str:
        clauses = [*self.where, *more]
        return self.source + (" WHERE " + " AND ".join(clauses) if clauses else "")


def _shown(listing: str, doc: str, older: str | None) -> str:
    """The columns of a listing shown, always in the same order (``UNION ALL`` pairs them
    by position): the plugin's from ``listing``, the version's from ``doc`` (its latest)
    or ``older`` (an older version's row)."""
    uid = f"-{older}.id" if older else f"{listing}.id"
    columns = [f"{uid} AS uid"]
    for c in (*(c for c in _LISTING if c not in _SHOWN), *_SHOWN):
        if c not in _SHOWN:
            where = listing
        elif older:
            where = older
        else:
            where = listing if c in _LISTING else doc
        columns.append(f"{where}.{c} AS {c}")
    return ", ".join(columns)


def _row_by_row(plan: _Plan, query: MarketplaceQuery, words: Sequence[str]) -> _Plan:
    """Add the text, verified and tag filters and the relevance to ``plan``, compared
    row by row on the shown version's text (``s.name_l``, ``s.keywords_l``,
    ``s.description_l``, ``s.keywords_lj``): for a few rows, and for older versions."""
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
            f" + CASE WHEN instr(s.keywords_l, :{k}) THEN 15 "
            f"WHEN instr(s.keywords_l, :{w}) THEN 8 ELSE 0 END"
            f" + CASE WHEN instr(s.description_l, :{w}) THEN 5 ELSE 0 END)"
        )
    plan.score = " + ".join(scores) or "0"
    if query.verified is not None:
        plan.add("s.verified = :verified", verified=int(query.verified))
    for i, tag in enumerate(sorted({t.lower() for t in query.tags})):
        t = f"t{i}"
        if not any(c.isspace() for c in tag):
            plan.add(f"instr(s.keywords_l, :{t})", **{t: f"\n{tag}\n"})
        else:
            plan.add(
                f"EXISTS (SELECT 1 FROM json_each(s.keywords_lj) WHERE value = :{t})", **{t: tag}
            )
    return plan


def _indexed_terms(query: MarketplaceQuery, words: Sequence[str]) -> list[str]:
    """What the full-text index can look up of a query: its words of three characters
    or more, and its tags (as whole keywords). Every listing matched has all of them."""
    terms = [_phrase(w) for w in words if _indexed(w)]
    terms += [
        "keywords_l : " + _phrase(f"\n{t}\n")
        for t in sorted({t.lower() for t in query.tags})
        if "\0" not in t and not any(c.isspace() for c in t)
    ]
    return terms


def _documents(among: str) -> str:
    """The latest versions' listings whose ids are ``among`` (an SQL ``IN`` operand)."""
    return (
        f"(SELECT {_shown('l', 'd', None)} FROM search_listings l "
        f"JOIN search_docs d ON d.id = l.id WHERE l.id {among}) s"
    )


_RUNS = "IN (SELECT value FROM json_each(:ranges))"


def _older_versions(terms: list[str]) -> str:
    """Per plugin whose latest version does not run on the query's Pliers version (its
    range is one of ``:others``), the best older one that does (one of ``:ranges``, the
    lowest ``rank``), as a listing; with ``terms``, only those the index finds them in
    (read from the index first: usually far fewer)."""
    rows = (
        "search_version_text CROSS JOIN search_versions v ON v.id = search_version_text.rowid "
        "JOIN search_listings l ON l.name = v.name WHERE search_version_text MATCH :fts AND"
        if terms
        else "search_listings l JOIN search_versions v ON v.name = l.name WHERE"
    )
    return (
        f"(SELECT {_shown('l', 'd', 'v')} FROM {rows} "
        "l.engines_pliers IN (SELECT value FROM json_each(:others)) "
        f"AND v.engines_pliers {_RUNS} "
        f"AND v.rank = (SELECT MIN(o.rank) FROM search_versions o "
        f"WHERE o.name = l.name AND o.engines_pliers {_RUNS})) s"
    )


def _by_sets(
    query: MarketplaceQuery, words: Sequence[str], terms: list[str], ids: list[int] | None = None
) -> _Plan:
    """The plan of a query over the latest versions: everything reads the narrow table,
    and a word of three characters or more is matched and its place in the description
    found with sets from the full-text index, never by reading text (shorter ones read
    the documents). ``ids``: the candidates the index gave (all of them), so that sets
    are taken among them."""
    plan = _Plan("(SELECT id AS uid, * FROM search_listings) s")
    sets = 0
    every = " AND ".join(terms)

    def in_set(fts: str) -> str:
        nonlocal sets
        sets += 1
        plan.params[f"f{sets}"] = fts if ids is None or fts == every else f"({fts}) AND {every}"
        return f"s.uid IN (SELECT rowid FROM search_text WHERE search_text MATCH :f{sets})"

    if ids is not None:
        plan.add("s.uid IN (SELECT value FROM json_each(:ids))", ids=dumps(ids))
    elif terms:  # the rows the index gives, joined in its order (no IN list to build)
        plan.source = (
            "search_text CROSS JOIN (SELECT id AS uid, * FROM search_listings) s"
            " ON s.uid = search_text.rowid"
        )
        plan.add("search_text MATCH :matches", matches=every)
        plan.matches = "matches"
    doc = "(SELECT {} FROM search_docs d WHERE d.id = s.uid)"
    scores = []
    for i, word in enumerate(words):
        w, n = f"w{i}", f"n{i}"
        plan.params.update({w: word, n: len(word)})
        name = (
            f"CASE WHEN s.name_l = :{w} THEN 100 WHEN substr(s.name_l, 1, :{n}) = :{w} "
            f"THEN 30 WHEN instr(s.name_l, :{w}) THEN 20 ELSE 0 END"
        )
        plan.params[f"k{i}"] = f"\n{word}\n"
        keyword = (
            f"CASE WHEN instr(s.keywords_l, :k{i}) THEN 15 "
            f"WHEN instr(s.keywords_l, :{w}) THEN 8 ELSE 0 END"
        )
        if _indexed(word):
            described = in_set("description_l : " + _phrase(word))
        else:  # too short for the index: read the document
            described = doc.format(f"instr(d.description_l, :{w})")
            plan.add(f"(instr(s.name_l, :{w}) OR instr(s.keywords_l, :{w}) OR {described})")
        scores.append(f"({name} + {keyword} + CASE WHEN {described} THEN 5 ELSE 0 END)")
    plan.score = " + ".join(scores) or "0"
    if query.verified is not None:
        plan.add("s.verified = :verified", verified=int(query.verified))
    for i, tag in enumerate(sorted({t.lower() for t in query.tags})):
        if "\0" in tag or any(c.isspace() for c in tag):
            plan.add(
                doc.format(f"EXISTS (SELECT 1 FROM json_each(d.keywords_lj) WHERE value = :t{i})"),
                **{f"t{i}": tag},
            )
    return plan


def _first_ranked(words: Sequence[str]) -> str | None:
    """For a query of one word the index finds, the full-text query of the listings
    that rank above all others by relevance: the word in the name (a score of 20 or
    more) or a whole keyword the description holds too (15 + 5). Any other listing
    scores 15 at most (see ``_by_sets``). None for other queries."""
    if len(words) != 1 or not _indexed(words[0]):
        return None
    word, line = _phrase(words[0]), _phrase(f"\n{words[0]}\n")
    return f"(name_l : {word} OR (keywords_l : {line} AND description_l : {word}))"


def _runs_on(db: sqlite3.Connection, compatibility: str) -> tuple[list[str], list[str]]:
    """The ``engines.pliers`` ranges of live versions that accept ``compatibility``, and
    those that do not."""
    fitting: list[str] = []
    others: list[str] = []
    for (text,) in db.execute("SELECT engines_pliers FROM search_ranges"):
        try:
            runs = satisfies(compatibility, text, include_prerelease=True)
        except VersionError:
            runs = False
        (fitting if runs else others).append(text)
    return fitting, others


_ORDER = {
    "name": "s.name {d}",
    "downloads": "s.downloads {d}, s.name",
    "rating": "s.rating {d}, s.rating_count {d}, s.name",
    "updated": "s.last_updated {d}, s.name",
    "relevance": "score {d}, s.downloads {d}, s.name",
}
#: An offset beyond this is past any catalogue (and SQLite's integers).
MAX_OFFSET = 1 << 40
_KEYS = (
    "s.uid, s.name, s.license, s.license_l, s.category_bits, s.downloads, s.rating, "
    "s.rating_count, s.last_updated"
)


@dataclass
class _Match:
    """A matched row as ordering and facets read it."""

    uid: int
    name: str
    license: str
    license_l: str
    bits: int
    downloads: int
    rating: tuple[float, int]
    updated: str
    relevance: tuple[int, int]


def search(registry: Registry, query: MarketplaceQuery) -> SearchResult:
    """``query.search(registry.plugins(), query)``, answered from the index."""
    refresh(registry)
    words = (query.query or "").lower().split()
    key = query.sort_by or ("relevance" if words else "name")
    if key == "relevance" and not words:
        key = "name"
    descending = (query.sort_order or ("asc" if key == "name" else "desc")) == "desc"
    licenses = sorted({lic.lower() for lic in query.license})
    bit = CATEGORY_BITS[str(query.category)] if query.category is not None else 0
    order = (key, descending, licenses, bit, min(query.offset, MAX_OFFSET))
    if not all(_encodable(w) for w in (*words, *query.tags, *query.license)):
        return SearchResult((), 0, query.limit, query.offset, {"categories": [], "licenses": []})
    terms = _indexed_terms(query, words)
    with transaction(registry.db) as db:
        older: list[_Match] = []
        runs: list[str] = []
        ranges: str | None = None
        if query.compatibility:  # older versions shown where the latest does not run
            fitting, others = _runs_on(db, query.compatibility)
            ranges = dumps(fitting)
            runs = ["s.engines_pliers IN (SELECT value FROM json_each(:ranges))"]
            plan = _Plan(
                _older_versions(terms),
                params={"ranges": ranges, "others": dumps(others), "fts": " AND ".join(terms)},
            )
            older_plan = _row_by_row(plan, query, words)
            older = _keys(db, older_plan, SMALL + 1)
        found = None
        if len(older) <= SMALL and terms:  # a few candidates, usually: the index says which
            ids = [
                r[0]
                for r in db.execute(
                    "SELECT rowid FROM search_text WHERE search_text MATCH ? LIMIT ?",
                    (" AND ".join(terms), SMALL + 1),
                )
            ]
            if len(ids) <= SMALL:
                plan = _by_sets(query, words, terms, ids)
                if runs:
                    plan.add(runs[0], ranges=ranges)
                found = _keys(db, plan, None)
        elif len(older) <= SMALL and (words or query.tags):  # short words: row by row
            plan = _Plan(_documents("IS NOT NULL"), list(runs))
            plan.params["ranges"] = ranges
            found = _keys(db, _row_by_row(plan, query, words), SMALL + 1)
            found = found if len(found) <= SMALL else None
        if found is not None and len(found) + len(older) <= SMALL:
            return _from_matches(db, found + older, query, *order)
        if len(older) > SMALL:  # many plugins moved past this Pliers: every one counts
            older = _keys(db, older_plan, None)
        plan = _by_sets(query, words, terms)
        if runs:
            plan.add(runs[0], ranges=ranges)
        return _in_sql(db, plan, older, query, _first_ranked(words), *order)


def _keys(
    db: sqlite3.Connection,
    plan: _Plan,
    limit: int | None,
    filters: Sequence[str] = (),
    order: str | None = None,
    skip: int = 0,
) -> list[_Match]:
    """What ordering and facets read of each row ``plan`` matches (with ``filters``, in
    ``order``, at most ``limit`` after the first ``skip``)."""
    tail = f" ORDER BY {order}" if order else ""
    tail += f" LIMIT {int(limit)} OFFSET {int(skip)}" if limit is not None else ""
    rows = db.execute(
        f"SELECT {_KEYS}, {plan.score} AS score FROM {plan.sql(*filters)}{tail}", plan.params
    )
    return [_match_of(r) for r in rows]


def _match_of(r: Any) -> _Match:
    """A ``_Match`` from a row of ``_KEYS`` and the score, in that order."""
    uid, name, license_text, license_l, bits, downloads, rating, count, updated, score = r
    return _Match(
        uid,
        name,
        license_text,
        license_l,
        bits,
        downloads,
        (rating, count),
        updated,
        (score, downloads),
    )


def _in_sql(
    db: sqlite3.Connection,
    plan: _Plan,
    older: list[_Match],
    query: MarketplaceQuery,
    first_ranked: str | None,
    key: str,
    descending: bool,
    licenses: list[str],
    bit: int,
    offset: int,
) -> SearchResult:
    """A query that matches many latest versions: facets from SQL's counts per licence and
    category set, the page in SQL's order — merged with the older versions shown, if any
    (``compatibility``; there are few: at most ``SMALL``). By relevance, the page is
    taken among the listings ``first_ranked`` names (``_first_ranked``) when they fill
    it, so the thousands a common word matches are counted but not all scored."""
    groups: dict[tuple[str, str, int], int] = {}
    for m in older:
        groups[(m.license, m.license_l, m.bits)] = (
            groups.get((m.license, m.license_l, m.bits), 0) + 1
        )
    filters = []
    if bit:
        filters.append(f"(s.category_bits & {bit}) != 0")
    if licenses:
        filters.append("s.license_l IN (SELECT value FROM json_each(:licenses))")
        plan.params["licenses"] = dumps(licenses)
    order = _ORDER[key].format(d="DESC" if descending else "ASC")
    shown = [
        m for m in older if (not bit or m.bits & bit) and (not licenses or m.license_l in licenses)
    ]
    # with older versions shown, the first offset + limit of each kind, merged in order
    take, skip = (query.limit, offset) if not shown else (offset + query.limit, 0)
    counted = db.execute(
        "SELECT s.license, s.license_l, s.category_bits, COUNT(*) "
        f"FROM {plan.sql()} GROUP BY s.license, s.category_bits",
        plan.params,
    ).fetchall()
    page: list[_Match] | None = None
    if key == "relevance" and descending and first_ranked and plan.matches:
        # Every listing outside those scores less than every one inside: if they fill
        # the page (and the pages before it), the page is among them.
        matches = f"{first_ranked} AND {plan.params[plan.matches]}"
        first = replace(plan, params={**plan.params, plan.matches: matches})
        page = _keys(db, first, take, filters, order, skip)
        if len(page) < take:
            page = None
    if page is None:
        page = _keys(db, plan, take, filters, order, skip)
    for g in counted:
        groups[(g[0], g[1], g[2])] = groups.get((g[0], g[1], g[2]), 0) + g[3]
    if shown:
        page = sort_key(page + shown, key, descending, lambda m: m.name, lambda m: getattr(m, key))[
            offset : offset + query.limit
        ]
    uids = [m.uid for m in page]
    facets, total = _facets(((*g, n) for g, n in groups.items()), licenses, bit)
    return SearchResult(_shown_rows(db, uids), total, query.limit, query.offset, facets)


def _shown_rows(db: sqlite3.Connection, uids: list[int]) -> tuple[PluginListing, ...]:
    """The listings of ``uids`` (a listing's id, or minus an older version's), in order."""
    if not uids:
        return ()
    among = "IN (SELECT value FROM json_each(:uids))"
    wanted = {"uids": dumps([abs(u) for u in uids])}
    rows = db.execute(
        f"SELECT {_shown('l', 'd', None)} FROM search_listings l "
        f"JOIN search_docs d ON d.id = l.id WHERE l.id {among}",
        wanted,
    ).fetchall()
    if any(u < 0 for u in uids):  # older versions shown (compatibility)
        rows += db.execute(
            f"SELECT {_shown('l', 'd', 'v')} FROM search_versions v "
            f"JOIN search_listings l ON l.name = v.name WHERE v.id {among}",
            wanted,
        ).fetchall()
    by_uid = {r["uid"]: r for r in rows}
    return tuple(_listing(by_uid[u]) for u in uids)


def _from_matches(
    db: sqlite3.Connection,
    found: list[_Match],
    query: MarketplaceQuery,
    key: str,
    descending: bool,
    licenses: list[str],
    bit: int,
    offset: int,
) -> SearchResult:
    """Facets, order and page from every matching row (few: ``SMALL`` at most)."""
    groups: dict[tuple[str, str, int], int] = {}
    for m in found:
        group = (m.license, m.license_l, m.bits)
        groups[group] = groups.get(group, 0) + 1
    facets, total = _facets(((*g, n) for g, n in groups.items()), licenses, bit)
    matched = [
        m for m in found if (not bit or m.bits & bit) and (not licenses or m.license_l in licenses)
    ]
    page = sort_key(matched, key, descending, lambda m: m.name, lambda m: getattr(m, key))
    listings = _shown_rows(db, [m.uid for m in page[offset : offset + query.limit]])
    return SearchResult(listings, total, query.limit, query.offset, facets)


def _facets(
    groups: Iterable[tuple[str, str, int, int]], licenses: list[str], bit: int
) -> tuple[dict[str, list[dict[str, Any]]], int]:
    """The facets and the total from counts per (licence, its lower case, category set):
    a facet counts with every other filter applied, so a picked category still shows
    its siblings' counts."""
    by_category: dict[str, int] = {}
    by_license: dict[str, int] = {}
    total = 0
    for license_text, license_l, bits, count in groups:
        in_category = not bit or bits & bit
        in_license = not licenses or license_l in licenses
        if in_category:
            by_license[license_text] = by_license.get(license_text, 0) + count
        if in_license:
            for name, flag in CATEGORY_BITS.items():
                if bits & flag:
                    by_category[name] = by_category.get(name, 0) + count
            if in_category:
                total += count
    return {"categories": _facet(by_category), "licenses": _facet(by_license)}, total


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
        uids = [
            r[0]
            for r in db.execute(
                f"SELECT id FROM search_listings {tail}", (max(0, min(limit, MAX_OFFSET)),)
            )
        ]
        return list(_shown_rows(db, uids))


def category_counts(registry: Registry) -> dict[str, int]:
    """How many plugins list each category (in their ``latest`` version)."""
    refresh(registry)
    with transaction(registry.db) as db:
        groups = db.execute(
            "SELECT category_bits, COUNT(*) FROM search_listings GROUP BY category_bits"
        ).fetchall()
    counts = dict.fromkeys(CATEGORY_BITS, 0)
    for bits, n in groups:
        for name, flag in CATEGORY_BITS.items():
            if bits & flag:
                counts[name] += n
    return counts
