"""Marketplace search: the query record, listings, facets, ordering (spec:
``MarketplaceQuery``, ``PluginListing``; related-facts §6 and §7).

Sorting, and the spec's conflict about it: the typed ``MarketplaceQuery`` defaults
``sortBy`` to ``name``, the REST search to ``relevance``. Here ``sort_by=None`` means
*relevance when there is a text query, name otherwise* — both documents get their default
for the case they were written for; an explicit ``relevance`` without a text query falls
back to name. ``sort_order=None`` means each key's natural order: ascending for ``name``,
descending for ``downloads``, ``rating``, ``updated`` and ``relevance`` (the spec's
"asc" default would list the least-downloaded plugin first; ask for ``asc`` to get it).

``tags`` filters on a plugin's keywords (the listing's ``tags``), not on registry
dist-tags such as ``latest``. ``compatibility`` is a Pliers version; a plugin matches
with its highest version whose ``engines.pliers`` accepts it, and that version is the
one listed.

Relevance of a text query: every word must occur in the name, description or keywords.
A word scores 100 when it is the whole name, 30 when the name starts with it, 20 when
the name contains it, 15 when it is a keyword, 8 when a keyword contains it and 5 when
the description does; ties go to more downloads, then to the name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ..manifest import Category
from ..versions import VersionError, parse_version, satisfies

if TYPE_CHECKING:
    from ._listings import PluginRecord, VersionRecord

__all__ = ["CATEGORIES", "MarketplaceQuery", "PluginListing", "SearchResult", "search"]

SortBy = Literal["name", "downloads", "rating", "updated", "relevance"]
SORTS: tuple[str, ...] = ("name", "downloads", "rating", "updated", "relevance")
MAX_LIMIT = 100

#: The ten categories with a human title and what belongs there.
CATEGORIES: dict[str, tuple[str, str]] = {
    Category.FORM_PROCESSING: ("Form processing", "Work on form definitions and their lifecycle"),
    Category.VALIDATION: ("Validation", "Check forms and submissions"),
    Category.WORKFLOW: ("Workflow", "Statuses, transitions and approvals"),
    Category.INTEGRATION: ("Integration", "Talk to CRMs, webhooks and other systems"),
    Category.NOTIFICATION: ("Notification", "E-mail, SMS and other messages"),
    Category.ANALYTICS: ("Analytics", "Measure forms and submissions"),
    Category.SECURITY: ("Security", "Spam, sanitising, auditing and access"),
    Category.UI_ENHANCEMENT: ("UI enhancement", "Rendering and field widgets"),
    Category.DATA_TRANSFORM: ("Data transform", "Normalise, enrich and reshape data"),
    Category.REPORTING: ("Reporting", "Exports and reports"),
}


@dataclass(frozen=True)
class MarketplaceQuery:
    """The spec's ``MarketplaceQuery``; invalid values raise ``ValueError`` naming them."""

    query: str | None = None
    category: str | None = None
    tags: tuple[str, ...] = ()
    compatibility: str | None = None
    license: tuple[str, ...] = ()
    verified: bool | None = None
    sort_by: SortBy | None = None
    sort_order: Literal["asc", "desc"] | None = None
    limit: int = 20
    offset: int = 0

    def __post_init__(self) -> None:
        if self.category is not None and self.category not in CATEGORIES:
            raise ValueError(f"category {self.category!r} is not one of: {', '.join(CATEGORIES)}")
        if self.sort_by is not None and self.sort_by not in SORTS:
            raise ValueError(f"sortBy {self.sort_by!r} is not one of: {', '.join(SORTS)}")
        if self.sort_order not in (None, "asc", "desc"):
            raise ValueError(f"sortOrder {self.sort_order!r} is not 'asc' or 'desc'")
        if not isinstance(self.limit, int) or not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}, got {self.limit!r}")
        if not isinstance(self.offset, int) or self.offset < 0:
            raise ValueError(f"offset must be a non-negative integer, got {self.offset!r}")
        if self.compatibility is not None:
            try:
                parse_version(self.compatibility)
            except VersionError:
                raise ValueError(
                    f"compatibility {self.compatibility!r} is not a Pliers version such as 3.1.0"
                ) from None
        object.__setattr__(self, "tags", tuple(self.tags))
        object.__setattr__(self, "license", tuple(self.license))

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> MarketplaceQuery:
        """From REST query parameters: ``q``, ``category``, ``tags`` and ``license``
        (comma-separated), ``compatibility``, ``verified``, ``sort``, ``order``, ``limit``,
        ``offset``. Unknown parameters are refused."""
        known = {
            "q",
            "query",
            "category",
            "tags",
            "compatibility",
            "license",
            "verified",
            "sort",
            "sortBy",
            "order",
            "sortOrder",
            "limit",
            "offset",
        }
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"unknown search parameter(s): {', '.join(unknown)}")

        def words(key: str) -> tuple[str, ...]:
            return tuple(w.strip() for w in params.get(key, "").split(",") if w.strip())

        def number(key: str, default: int) -> int:
            text = params.get(key)
            if text is None:
                return default
            try:
                return int(text)
            except ValueError:
                raise ValueError(f"{key} must be an integer, got {text!r}") from None

        verified = params.get("verified")
        if verified not in (None, "true", "false"):
            raise ValueError(f"verified must be true or false, got {verified!r}")
        return cls(
            query=params.get("q") or params.get("query") or None,
            category=params.get("category") or None,
            tags=words("tags"),
            compatibility=params.get("compatibility") or None,
            license=words("license"),
            verified=None if verified is None else verified == "true",
            sort_by=(params.get("sort") or params.get("sortBy") or None),  # type: ignore[arg-type]
            sort_order=(params.get("order") or params.get("sortOrder") or None),  # type: ignore[arg-type]
            limit=number("limit", 20),
            offset=number("offset", 0),
        )


@dataclass(frozen=True)
class PluginListing:
    """The spec's ``PluginListing`` (related-facts §6 fields) plus the security score."""

    id: str
    name: str
    description: str
    version: str
    author: str
    category: str | None
    tags: tuple[str, ...]
    license: str
    downloads: int
    rating: float
    verified: bool
    last_updated: str
    compatibility: tuple[str, ...]
    rating_count: int = 0
    security_score: int = 100
    categories: tuple[str, ...] = ()
    homepage: str | None = None
    repository: str | None = None
    documentation: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "version": self.version,
            "author": self.author,
            "category": self.category,
            "categories": list(self.categories),
            "tags": list(self.tags),
            "license": self.license,
            "downloads": self.downloads,
            "rating": self.rating,
            "ratingCount": self.rating_count,
            "verified": self.verified,
            "lastUpdated": self.last_updated,
            "compatibility": list(self.compatibility),
            "securityScore": self.security_score,
            "homepage": self.homepage,
            "repository": self.repository,
            "documentation": self.documentation,
        }


def listing(plugin: PluginRecord, version: VersionRecord) -> PluginListing:
    """The listing of ``plugin`` shown at ``version``."""
    return PluginListing(
        id=plugin.name,
        name=plugin.name,
        description=version.description,
        version=version.version,
        author=version.author,
        category=version.categories[0] if version.categories else None,
        tags=version.keywords,
        license=version.license,
        downloads=plugin.downloads,
        rating=plugin.rating,
        verified=plugin.verified,
        last_updated=max(v.released_at for v in plugin.versions),
        compatibility=(version.engines_pliers,),
        rating_count=plugin.rating_count,
        security_score=version.score,
        categories=version.categories,
    )


@dataclass(frozen=True)
class SearchResult:
    """One page of listings, the total before paging, and facets (REST search shape).

    Facets count what each category or license choice would give with every *other*
    filter applied, so a picked category still shows its siblings' counts.
    """

    listings: tuple[PluginListing, ...]
    total: int
    limit: int
    offset: int
    facets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __iter__(self) -> Any:
        return iter(self.listings)

    def __len__(self) -> int:
        return len(self.listings)

    def __getitem__(self, index: int) -> PluginListing:
        return self.listings[index]

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.listings) < self.total

    def to_dict(self) -> dict[str, Any]:
        return {
            "plugins": [item.to_dict() for item in self.listings],
            "facets": self.facets,
            "pagination": {
                "total": self.total,
                "limit": self.limit,
                "offset": self.offset,
                "hasMore": self.has_more,
            },
        }


def shown_version(plugin: PluginRecord, compatibility: str | None) -> VersionRecord | None:
    """The version a listing shows: ``latest``, or the highest stable one that runs on
    ``compatibility`` (then the highest prerelease that does)."""
    if compatibility is None:
        return plugin.latest

    def runs(v: VersionRecord) -> bool:
        return satisfies(compatibility, v.engines_pliers, include_prerelease=True)

    latest = plugin.latest
    if latest is not None and runs(latest):
        return latest
    fitting = [v for v in plugin.versions if runs(v)]
    stable = [v for v in fitting if not v.prerelease]
    ordered = stable or fitting
    return ordered[0] if ordered else None


def relevance(words: list[str], version: VersionRecord) -> int:
    """The documented relevance score; 0 when some word matches nothing."""
    name = version.name.lower()
    keywords = [k.lower() for k in version.keywords]
    description = version.description.lower()
    total = 0
    for word in words:
        score = 0
        if word == name:
            score += 100
        elif name.startswith(word):
            score += 30
        elif word in name:
            score += 20
        if word in keywords:
            score += 15
        elif any(word in k for k in keywords):
            score += 8
        if word in description:
            score += 5
        if score == 0:
            return 0
        total += score
    return total


Candidate = tuple["PluginRecord", "VersionRecord", int]


def candidate(plugin: PluginRecord, query: MarketplaceQuery, words: list[str]) -> Candidate | None:
    """``(plugin, shown version, relevance)`` if ``plugin`` passes the text, verified and
    tags filters of ``query`` (``words``: its lower-cased words), else None. Category and
    license are left to the caller: the facets count without one or the other."""
    version = shown_version(plugin, query.compatibility)
    if version is None:
        return None
    score = relevance(words, version) if words else 0
    if words and not score:
        return None
    if query.verified is not None and plugin.verified != query.verified:
        return None
    wanted_tags = {t.lower() for t in query.tags}
    if wanted_tags - {k.lower() for k in version.keywords}:
        return None
    return plugin, version, score


def search(plugins: list[PluginRecord], query: MarketplaceQuery) -> SearchResult:
    """Filter, facet, sort and page ``plugins`` by ``query`` (see the module docstring).

    A ``Registry`` answers the same from its full-text index (``Registry.search``)."""
    words = (query.query or "").lower().split()
    candidates: list[Candidate] = []
    for plugin in plugins:
        found = candidate(plugin, query, words)
        if found is not None:
            candidates.append(found)

    licenses = {lic.lower() for lic in query.license}

    def in_category(c: Candidate) -> bool:
        return query.category is None or query.category in c[1].categories

    def in_license(c: Candidate) -> bool:
        return not licenses or c[1].license.lower() in licenses

    facets = {
        "categories": _facet((c for c in candidates if in_license(c)), lambda c: c[1].categories),
        "licenses": _facet((c for c in candidates if in_category(c)), lambda c: (c[1].license,)),
    }
    matched = [c for c in candidates if in_category(c) and in_license(c)]
    matched = _sort(matched, query, bool(words))
    page = matched[query.offset : query.offset + query.limit]
    return SearchResult(
        tuple(listing(p, v) for p, v, _ in page), len(matched), query.limit, query.offset, facets
    )


def _facet(candidates: Any, values: Callable[[Candidate], tuple[str, ...]]) -> list[dict[str, Any]]:
    counts: Counter[str] = Counter()
    for c in candidates:
        counts.update(set(values(c)))
    return [
        {"name": k, "count": n} for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


T = TypeVar("T")


def sort_key(
    items: list[T],
    key: str,
    descending: bool,
    name: Callable[[T], str],
    primary: Callable[[T], Any],
) -> list[T]:
    """``items`` in the order a search lists them: by ``primary`` (ascending or
    descending), ties by name ascending; ``key == "name"`` sorts by name only."""
    items = sorted(items, key=name)  # the stable tie-breaker, always ascending
    return sorted(items, key=name if key == "name" else primary, reverse=descending)


def _sort(items: list[Candidate], query: MarketplaceQuery, has_words: bool) -> list[Candidate]:
    key = query.sort_by or ("relevance" if has_words else "name")
    if key == "relevance" and not has_words:
        key = "name"
    descending = (query.sort_order or ("asc" if key == "name" else "desc")) == "desc"
    primary: dict[str, Callable[[Candidate], Any]] = {
        "name": lambda c: c[0].name,
        "downloads": lambda c: c[0].downloads,
        "rating": lambda c: (c[0].rating, c[0].rating_count),
        "updated": lambda c: max(v.released_at for v in c[0].versions),
        "relevance": lambda c: (c[2], c[0].downloads),
    }
    return sort_key(items, key, descending, lambda c: c[0].name, primary[key])
