"""The plugin versions available to resolution: loaded, on disk, or added by code.

Two folder layouts are read: flat (``<folder>/<name>/manifest.json``, one version each,
as in ``extensions/``) and versioned (``<store>/<name>/<version>/manifest.json``, versions
side by side, as an install from a registry keeps them).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from ..versions import parse_version
from .model import PluginSpec


class Catalog:
    """Plugin versions by name; manifests that fail to load are kept in ``problems``."""

    def __init__(self, specs: Iterable[PluginSpec] = ()) -> None:
        self._versions: dict[str, dict[str, PluginSpec]] = {}
        self.problems: list[Exception] = []
        for spec in specs:
            self.add(spec)

    def add(self, spec: PluginSpec) -> None:
        self._versions.setdefault(spec.name, {})[spec.version] = spec

    def scan(self, folder: str | Path, known_hooks: Iterable[str] = ()) -> Catalog:
        """Add every plugin (every version) found under ``folder``; returns self."""
        from ..manifest import ManifestError, load_manifest

        hooks = list(known_hooks)
        for manifest_file in _manifest_files(Path(folder)):
            try:
                manifest = load_manifest(manifest_file.parent, known_hooks=hooks)
            except ManifestError as exc:
                self.problems.append(exc)
                continue
            self.add(PluginSpec.from_manifest(manifest))
        return self

    def names(self) -> list[str]:
        return sorted(self._versions)

    def versions(self, name: str) -> list[PluginSpec]:
        """The versions of ``name``, highest first (empty if unknown)."""
        found = self._versions.get(name, {})
        return sorted(found.values(), key=lambda s: parse_version(s.version), reverse=True)

    def get(self, name: str, version: str) -> PluginSpec | None:
        return self._versions.get(name, {}).get(version)

    def __contains__(self, name: object) -> bool:
        return name in self._versions

    def __len__(self) -> int:
        return sum(len(v) for v in self._versions.values())


def _manifest_files(folder: Path) -> Iterator[Path]:
    for child in sorted(p for p in folder.iterdir() if p.is_dir()):
        if (child / "manifest.json").is_file():
            yield child / "manifest.json"
            continue
        for version_dir in sorted(p for p in child.iterdir() if p.is_dir()):
            if (version_dir / "manifest.json").is_file():
                yield version_dir / "manifest.json"
