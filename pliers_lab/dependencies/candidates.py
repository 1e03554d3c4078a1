"""The plugin versions available to resolution: loaded, on disk, or added by code.

Two folder layouts are read: flat (``<folder>/<name>/manifest.json``, one version each,
as in ``extensions/``) and versioned (``<store>/<name>/<version>/manifest.json``, versions
side by side, as an install from a registry keeps them).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import PluginError, PluginErrorType
from ..versions import parse_version
from ._model import PluginSpec

#: The manifest's file name inside a plugin folder (``manifest.load.MANIFEST_FILE``).
_MANIFEST = "manifest.json"


class Catalog:
    """Plugin versions by name; manifests that fail to load, and folders that cannot be
    looked in, are kept in ``problems`` (``PluginError``s naming the path)."""

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
        for manifest_file in manifest_files(Path(folder), self.problems):
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


def manifest_files(folder: Path, problems: list[Exception] | None = None) -> Iterator[Path]:
    """The ``manifest.json`` of every plugin folder under ``folder``, flat or versioned
    layout, in name order.

    Whatever is named ``manifest.json`` and is not plainly absent is given, a FIFO, a
    link out of its folder or a file in a folder we may not enter included:
    ``load_manifest`` refuses it, naming its path. A folder under ``folder`` that cannot
    be listed (permission denied), or an entry that cannot be looked at, is a LOAD_ERROR
    appended to ``problems`` naming it, and the rest is still found. ``folder`` itself
    must be listable (``OSError`` otherwise: the caller named it).
    """
    from ..manifest.plugin_files import list_folder, probe

    found = problems if problems is not None else []
    for child in _folders(sorted(folder.iterdir()), found):
        manifest = child / _MANIFEST
        kind, why = probe(manifest)
        if kind != "missing" or why is not None:
            yield manifest
            continue
        entries, why = list_folder(child)
        if why is not None:
            found.append(_unreadable(child, f"cannot list the folder: {why}"))
        for version_dir in _folders(entries, found):
            manifest = version_dir / _MANIFEST
            kind, why = probe(manifest)
            if kind != "missing" or why is not None:
                yield manifest


def _folders(entries: list[Path], problems: list[Exception]) -> Iterator[Path]:
    """The folders among ``entries``; an entry that cannot be looked at is a problem."""
    from ..manifest.plugin_files import probe

    for entry in entries:
        kind, why = probe(entry)
        if why is not None:
            problems.append(_unreadable(entry, f"cannot look at it: {why}"))
        elif kind == "folder":
            yield entry


def _unreadable(path: Path, message: str) -> PluginError:
    return PluginError(
        PluginErrorType.LOAD_ERROR, f"{path}: {message}", metadata={"path": str(path)}
    )
