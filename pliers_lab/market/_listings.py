"""What the registry hands out: published versions, plugins and publish receipts.

Plain frozen records built from database rows, so search, install and the web layer can
hold and pass them around without a connection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..versions import parse_version

if TYPE_CHECKING:
    from ..dependencies import PluginSpec
    from .scan import SecurityScanResult

__all__ = ["PluginRecord", "PublishResult", "VersionRecord"]


@dataclass(frozen=True)
class VersionRecord:
    """One published version, with the manifest fields search and install need."""

    name: str
    version: str
    released_at: str
    publisher: str
    key_id: str | None
    checksum: str
    size: int
    bundle: Path
    manifest: dict[str, Any]
    description: str
    author: str
    license: str
    keywords: tuple[str, ...]
    categories: tuple[str, ...]
    engines_pliers: str
    changes: tuple[str, ...]
    score: int
    downloads: int
    readme: str | None = None
    scan: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def prerelease(self) -> bool:
        return bool(parse_version(self.version).prerelease)

    def spec(self) -> PluginSpec:
        """This version as dependency resolution sees it (``source`` is this record)."""
        from ..dependencies import PluginSpec, Requirement

        requires = tuple(
            Requirement(dep, str(rng), scope, self.name)  # type: ignore[arg-type]
            for key, scope in (
                ("dependencies", "runtime"),
                ("peerDependencies", "peer"),
                ("optionalDependencies", "optional"),
            )
            for dep, rng in (self.manifest.get(key) or {}).items()
        )
        engines = self.manifest.get("engines") or {}
        return PluginSpec(
            self.name,
            self.version,
            requires,
            str(engines.get("pliers", "*")),
            str(engines.get("python", "*")),
            source=self,
            python_requires=tuple(self.manifest.get("requirements") or ()),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "releaseDate": self.released_at,
            "changes": list(self.changes),
        }


@dataclass(frozen=True)
class PluginRecord:
    """A plugin in the registry: its live versions (highest first) and registry data."""

    name: str
    created_at: str
    verified: bool
    featured: bool
    versions: tuple[VersionRecord, ...]
    tags: dict[str, str]
    maintainers: dict[str, str]
    rating: float
    rating_count: int

    @property
    def downloads(self) -> int:
        return sum(v.downloads for v in self.versions)

    @property
    def latest(self) -> VersionRecord | None:
        """The ``latest`` tag, else the highest stable version, else the highest."""
        tagged = self.tags.get("latest")
        by_version = {v.version: v for v in self.versions}
        if tagged in by_version:
            return by_version[tagged]
        stable = [v for v in self.versions if not v.prerelease]
        ordered = stable or list(self.versions)
        return ordered[0] if ordered else None

    def get(self, version: str) -> VersionRecord | None:
        return next((v for v in self.versions if v.version == version), None)


@dataclass(frozen=True)
class PublishResult:
    """The spec's ``PublishResult``: what was stored, and what the checks found."""

    plugin_id: str
    version: str
    checksum: str
    key_id: str | None
    release_date: str
    tags: tuple[str, ...]
    scan: SecurityScanResult

    def to_dict(self) -> dict[str, Any]:
        return {
            "pluginId": self.plugin_id,
            "version": self.version,
            "checksum": self.checksum,
            "keyId": self.key_id,
            "releaseDate": self.release_date,
            "tags": list(self.tags),
            "security": self.scan.to_dict(),
        }
