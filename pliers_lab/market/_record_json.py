"""Registry records as JSON and back: what the registry service sends, what a mirror
folder holds, what the remote client reads (issue 19 §1).

Reading is defensive: the JSON comes from another machine, so every field is checked for
its type and a wrong one is a ``ValueError`` naming it (the client turns it into a
``MarketError`` naming the registry). Nothing read here is trusted for an install: the
bundle's checksum and signature are checked on the client against its own keys.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from ..manifest.fields import is_plugin_name
from ._listings import PluginRecord, VersionRecord
from .query import PluginListing, SearchResult

__all__ = [
    "WIRE_FORMAT",
    "bundle_file",
    "listing_from_wire",
    "plugin_from_wire",
    "plugin_to_wire",
    "search_from_wire",
]

WIRE_FORMAT = "pliers-registry-v1"
#: What a version may look like on the wire: it becomes part of a file name.
_VERSION = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+(?:[-+][0-9A-Za-z.+-]{1,200})?")
T = TypeVar("T")


def bundle_file(name: str, version: str) -> str:
    """``<name>-<version>.zip``, refused (``ValueError``) for a name or version that
    could reach outside a folder: they come from another machine."""
    if not is_plugin_name(name) or not _VERSION.fullmatch(version):
        raise ValueError(f"{name[:80]!r}@{version[:80]!r} is not a plugin name and version")
    return f"{name}-{version}.zip"


def version_to_wire(v: VersionRecord) -> dict[str, Any]:
    return {
        "name": v.name,
        "version": v.version,
        "releasedAt": v.released_at,
        "publisher": v.publisher,
        "keyId": v.key_id,
        "checksum": v.checksum,
        "size": v.size,
        "manifest": v.manifest,
        "description": v.description,
        "author": v.author,
        "license": v.license,
        "keywords": list(v.keywords),
        "categories": list(v.categories),
        "enginesPliers": v.engines_pliers,
        "changes": list(v.changes),
        "score": v.score,
        "downloads": v.downloads,
        "readme": v.readme,
        "scan": v.scan,
    }


def plugin_to_wire(p: PluginRecord) -> dict[str, Any]:
    """A plugin with every live version, as the service and a mirror give it."""
    return {
        "name": p.name,
        "createdAt": p.created_at,
        "verified": p.verified,
        "featured": p.featured,
        "versions": [version_to_wire(v) for v in p.versions],
        "tags": dict(p.tags),
        "maintainers": dict(p.maintainers),
        "rating": p.rating,
        "ratingCount": p.rating_count,
    }


def _get(data: Mapping[str, Any], key: str, kind: type[T] | tuple[type, ...], where: str) -> T:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: not a JSON object")
    value = data.get(key)
    if isinstance(kind, tuple):
        ok = isinstance(value, kind)
    else:
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        raise ValueError(f"{where}.{key}: expected {_kind(kind)}, got {type(value).__name__}")
    return value  # type: ignore[return-value]


def _kind(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join("null" if k is type(None) else k.__name__ for k in kinds)


def _strings(data: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    items = _get(data, key, list, where)
    if not all(isinstance(i, str) for i in items):
        raise ValueError(f"{where}.{key}: expected a list of strings")
    return tuple(items)


def _string_map(data: Mapping[str, Any], key: str, where: str) -> dict[str, str]:
    items = _get(data, key, dict, where)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in items.items()):
        raise ValueError(f"{where}.{key}: expected an object of strings")
    return dict(items)


def _number(data: Mapping[str, Any], key: str, where: str) -> float:
    value: Any = _get(data, key, (int, float), where)
    if isinstance(value, bool):
        raise ValueError(f"{where}.{key}: expected a number, got bool")
    return float(value)


def version_from_wire(data: Any, bundle: Path, where: str) -> VersionRecord:
    optional_text = (str, type(None))
    return VersionRecord(
        name=_get(data, "name", str, where),
        version=_get(data, "version", str, where),
        released_at=_get(data, "releasedAt", str, where),
        publisher=_get(data, "publisher", str, where),
        key_id=_get(data, "keyId", optional_text, where),
        checksum=_get(data, "checksum", str, where),
        size=_get(data, "size", int, where),
        bundle=bundle,
        manifest=_get(data, "manifest", dict, where),
        description=_get(data, "description", str, where),
        author=_get(data, "author", str, where),
        license=_get(data, "license", str, where),
        keywords=_strings(data, "keywords", where),
        categories=_strings(data, "categories", where),
        engines_pliers=_get(data, "enginesPliers", str, where),
        changes=_strings(data, "changes", where),
        score=_get(data, "score", int, where),
        downloads=_get(data, "downloads", int, where),
        readme=_get(data, "readme", optional_text, where),
        scan=_get(data, "scan", dict, where),
    )


def plugin_from_wire(data: Any, bundle_of: Callable[[str, str], Path]) -> PluginRecord:
    """A ``PluginRecord`` from JSON; ``bundle_of(name, version)`` says where that
    version's bundle is (or will be, once downloaded). ``ValueError`` names a bad field."""
    name = _get(data, "name", str, "plugin")
    where = f"plugin {name[:80]!r}"
    if not is_plugin_name(name):
        raise ValueError(f"{where}: not a plugin name (lowercase letters, digits, hyphens)")
    versions = []
    for i, item in enumerate(_get(data, "versions", list, where)):
        record = version_from_wire(item, Path(), f"{where}.versions[{i}]")
        if record.name != name:
            raise ValueError(f"{where}.versions[{i}] is a version of {record.name[:80]!r}")
        if not _VERSION.fullmatch(record.version):
            raise ValueError(f"{where}.versions[{i}]: {record.version[:80]!r} is not a version")
        versions.append(
            version_from_wire(item, bundle_of(name, record.version), f"{where}.versions[{i}]")
        )
    from ..versions import VersionError, parse_version

    try:
        versions.sort(key=lambda v: parse_version(v.version), reverse=True)
    except VersionError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return PluginRecord(
        name=name,
        created_at=_get(data, "createdAt", str, where),
        verified=_get(data, "verified", bool, where),
        featured=_get(data, "featured", bool, where),
        versions=tuple(versions),
        tags=_string_map(data, "tags", where),
        maintainers=_string_map(data, "maintainers", where),
        rating=_number(data, "rating", where),
        rating_count=_get(data, "ratingCount", int, where),
    )


def listing_from_wire(data: Any) -> PluginListing:
    """A ``PluginListing`` from its ``to_dict()`` shape."""
    where = "listing"
    optional_text = (str, type(None))
    return PluginListing(
        id=_get(data, "id", str, where),
        name=_get(data, "name", str, where),
        description=_get(data, "description", str, where),
        version=_get(data, "version", str, where),
        author=_get(data, "author", str, where),
        category=_get(data, "category", optional_text, where),
        tags=_strings(data, "tags", where),
        license=_get(data, "license", str, where),
        downloads=_get(data, "downloads", int, where),
        rating=_number(data, "rating", where),
        verified=_get(data, "verified", bool, where),
        last_updated=_get(data, "lastUpdated", str, where),
        compatibility=_strings(data, "compatibility", where),
        rating_count=_get(data, "ratingCount", int, where),
        security_score=_get(data, "securityScore", int, where),
        categories=_strings(data, "categories", where),
        homepage=_get(data, "homepage", optional_text, where),
        repository=_get(data, "repository", optional_text, where),
        documentation=_get(data, "documentation", optional_text, where),
    )


def search_from_wire(data: Any) -> SearchResult:
    """A ``SearchResult`` from its ``to_dict()`` shape."""
    where = "search result"
    page = _get(data, "pagination", dict, where)
    facets = _get(data, "facets", dict, where)
    clean: dict[str, list[dict[str, Any]]] = {}
    for key, items in facets.items():
        if not isinstance(items, list):
            raise ValueError(f"{where}.facets.{key}: expected a list")
        clean[str(key)] = [
            {
                "name": _get(i, "name", str, f"{where}.facets.{key}"),
                "count": _get(i, "count", int, f"{where}.facets.{key}"),
            }
            for i in items
        ]
    return SearchResult(
        tuple(listing_from_wire(item) for item in _get(data, "plugins", list, where)),
        _get(page, "total", int, f"{where}.pagination"),
        _get(page, "limit", int, f"{where}.pagination"),
        _get(page, "offset", int, f"{where}.pagination"),
        clean,
    )
