"""Where a marketplace finds plugins: a registry folder, a registry service's URL, or a
mirror folder — one interface (``RegistrySource``), and ``open_registry`` to pick
the right one from what the user typed (issue 19 §1).

>>> open_registry("registry")                      # a folder with registry.db   # doctest: +SKIP
>>> open_registry("http://registry.internal:8080")  # a RemoteRegistry           # doctest: +SKIP
>>> open_registry("file:///media/usb/mirror")       # a MirrorRegistry           # doctest: +SKIP

``PluginMarketplace(source, store, ...)`` calls ``open_registry`` on anything that is
not already a source, so a URL or a mirror works as easily as a local path.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..dependencies import Catalog
from ..versions import VersionError, max_satisfying
from .query import CATEGORIES, MarketplaceQuery, PluginListing, SearchResult, listing, search
from .refusals import MarketError, NotFoundError

if TYPE_CHECKING:
    from ..dependencies import PluginSpec
    from ._listings import PluginRecord, VersionRecord
    from ._package import Limits

__all__ = ["RecordReads", "RegistrySource", "open_registry"]


@runtime_checkable
class RegistrySource(Protocol):
    """What ``PluginMarketplace`` reads from a registry; ``Registry``,
    ``RemoteRegistry`` and ``MirrorRegistry`` all offer it."""

    @property
    def limits(self) -> Limits: ...

    @property
    def root(self) -> Path | str: ...

    def plugins(self) -> list[PluginRecord]: ...

    def plugin(self, name: str) -> PluginRecord: ...

    def resolve_version(self, name: str, wanted: str | None = None) -> VersionRecord: ...

    def catalog(self) -> Catalog: ...

    def download(self, name: str, version: str) -> Path: ...

    def search(self, query: MarketplaceQuery) -> SearchResult: ...

    def featured(self, limit: int = 6) -> list[PluginListing]: ...

    def popular(self, limit: int = 10) -> list[PluginListing]: ...

    def category_counts(self) -> dict[str, int]: ...


def open_registry(source: Any) -> Any:
    """The registry ``source`` names: an object with the registry interface as is; an
    ``http(s)://`` URL → ``RemoteRegistry``; a ``file://`` URL or a folder holding a
    mirror (``mirror.json``) → ``MirrorRegistry``; a registry folder (``registry.db``) →
    ``Registry``. Anything else is refused (``MarketError``), so that a typo never makes
    an empty registry."""
    if isinstance(source, RegistrySource):
        return source
    if isinstance(source, str) and source.startswith(("http://", "https://")):
        from .remote import RemoteRegistry

        return RemoteRegistry(source)
    if isinstance(source, str) and source.startswith("file:"):
        parsed = urllib.parse.urlparse(source)
        if parsed.netloc not in ("", "localhost"):
            raise ValueError(f"{source}: a file:// URL of this machine (file:///path)")
        source = Path(urllib.parse.unquote(parsed.path))
    if isinstance(source, str | os.PathLike):
        from .mirror import MIRROR_FILE, MirrorRegistry

        folder = Path(source)
        if (folder / MIRROR_FILE).is_file():
            return MirrorRegistry(folder)
        if not (folder / "registry.db").is_file():  # a typo must not make an empty registry
            raise MarketError(
                f"{folder}: neither a registry (no registry.db) nor a mirror (no "
                f"{MIRROR_FILE}); Registry({str(folder)!r}) makes a new registry there"
            )
        from ._registry import Registry

        return Registry(folder)
    raise TypeError(
        f"a registry is a Registry, a RemoteRegistry, a MirrorRegistry, a folder or a URL; "
        f"got {type(source).__name__}"
    )


def resolve_in(plugin: PluginRecord, wanted: str | None) -> VersionRecord:
    """``Registry.resolve_version`` over a plugin record: an exact version, a tag or an
    npm range; ``None`` is the ``latest`` version."""
    if wanted is None:
        latest = plugin.latest
        if latest is None:
            raise NotFoundError(f"no plugin {plugin.name!r} in the registry", plugin_id=plugin.name)
        return latest
    if wanted in plugin.tags:
        wanted = plugin.tags[wanted]
    exact = plugin.get(wanted)
    if exact is not None:
        return exact
    try:
        best = max_satisfying([v.version for v in plugin.versions], wanted)
    except VersionError:
        best = None
    found = plugin.get(best) if best is not None else None
    if found is None:
        known = ", ".join(v.version for v in plugin.versions)
        tags = ", ".join(f"{t}={v}" for t, v in sorted(plugin.tags.items()))
        raise NotFoundError(
            f"{plugin.name} has no version matching {wanted!r} "
            f"(published: {known}; tags: {tags or 'none'})",
            plugin_id=plugin.name,
        )
    return found


class FetchingCatalog(Catalog):
    """A dependency catalog that reads a plugin's versions the first time resolution
    asks for it: installing from a registry of 100,000 plugins reads the few the
    install needs, not the whole catalogue."""

    def __init__(
        self,
        fetch: Callable[[str], Iterable[PluginSpec]],
        everything: Callable[[], Iterable[PluginSpec]],
    ) -> None:
        super().__init__()
        self._fetch = fetch
        self._everything = everything
        self._asked: set[str] = set()

    def _ensure(self, name: str) -> None:
        if name not in self._asked:
            self._asked.add(name)
            for spec in self._fetch(name):
                if super().get(spec.name, spec.version) is None:
                    super().add(spec)

    def add(self, spec: PluginSpec) -> None:
        self._ensure(spec.name)
        super().add(spec)

    def versions(self, name: str) -> list[PluginSpec]:
        self._ensure(name)
        return super().versions(name)

    def get(self, name: str, version: str) -> PluginSpec | None:
        self._ensure(name)
        return super().get(name, version)

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self._ensure(name)
        return super().__contains__(name)

    def names(self) -> list[str]:
        for spec in self._everything():
            self._asked.add(spec.name)
            if super().get(spec.name, spec.version) is None:
                super().add(spec)
        return super().names()


class RecordReads:
    """The read methods a registry derives from ``plugin(name)`` and ``plugins()``:
    versions, resolution, the catalog and — for a source without an index — search,
    featured, popular and category counts over every record."""

    def plugin(self, name: str) -> PluginRecord:
        raise NotImplementedError

    def plugins(self) -> list[PluginRecord]:
        raise NotImplementedError

    def version(self, name: str, version: str) -> VersionRecord:
        plugin = self.plugin(name)
        record = plugin.get(version)
        if record is None:
            known = ", ".join(v.version for v in plugin.versions)
            raise NotFoundError(
                f"{name} has no version {version!r} (published: {known})", plugin_id=name
            )
        return record

    def resolve_version(self, name: str, wanted: str | None = None) -> VersionRecord:
        return resolve_in(self.plugin(name), wanted)

    def catalog(self) -> Catalog:
        def fetch(name: str) -> list[PluginSpec]:
            try:
                return [v.spec() for v in self.plugin(name).versions]
            except NotFoundError:
                return []

        return FetchingCatalog(
            fetch, lambda: [v.spec() for p in self.plugins() for v in p.versions]
        )

    def search(self, query: MarketplaceQuery) -> SearchResult:
        return search(self.plugins(), query)

    def featured(self, limit: int = 6) -> list[PluginListing]:
        plugins = [p for p in self.plugins() if p.featured and p.latest]
        plugins.sort(key=lambda p: (-p.rating, -p.downloads, p.name))
        return [listing(p, p.latest) for p in plugins[:limit] if p.latest]

    def popular(self, limit: int = 10) -> list[PluginListing]:
        plugins = sorted(
            (p for p in self.plugins() if p.latest), key=lambda p: (-p.downloads, p.name)
        )
        return [listing(p, p.latest) for p in plugins[:limit] if p.latest]

    def category_counts(self) -> dict[str, int]:
        counts = dict.fromkeys((str(c) for c in CATEGORIES), 0)
        for plugin in self.plugins():
            for category in plugin.latest.categories if plugin.latest else ():
                if category in counts:
                    counts[category] += 1
        return counts
