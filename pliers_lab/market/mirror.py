"""A registry exported to a folder of files, and read from it: for air-gapped sites and
for Binder, where no registry service runs (issue 19 §1).

::

    export_registry("registry", "mirror")     # pliers registry export mirror --root registry
    market = PluginMarketplace("file:///media/usb/mirror", store, engine=engine)
    market.install("csv-export")

The folder::

    mirror.json                           what it is: format, when, from where, counts
    records.json                          every plugin with every live version (the
                                          service's ``/v1/records`` shape)
    bundles/<name>/<name>-<version>.zip   each version's bundle, as published

Export again into the same folder to bring it up to date: bundles already there with the
right checksum stay, withdrawn versions go, ``mirror.json`` is written last. A mirror is
read only: installs from it are verified like any other (checksum, signature against the
store's trusted keys, scan); downloads are not counted, and nothing can be published or
rated. Search reads every record (no index): fine for the catalogues one carries around.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._package import DEFAULT_LIMITS, Limits
from ._record_json import WIRE_FORMAT, bundle_file, plugin_from_wire, plugin_to_wire
from .refusals import BundleError, MarketError, NotFoundError, RegistryAccessError
from .sources import RecordReads

if TYPE_CHECKING:
    from ._listings import PluginRecord

__all__ = ["MIRROR_FILE", "MIRROR_FORMAT", "MirrorRegistry", "export_registry"]

MIRROR_FORMAT = "pliers-registry-mirror-v1"
MIRROR_FILE = "mirror.json"
RECORDS_FILE = "records.json"
BUNDLES = "bundles"


def export_registry(source: Any, folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Write ``source`` (a registry folder, URL, ``Registry`` or ``RemoteRegistry``) into
    ``folder`` as a mirror (see the module docstring); returns what ``mirror.json`` says.

    ``folder`` must be new, empty, or a mirror already (refused otherwise, so that a typo
    never fills a folder of something else)."""
    from .bundle import open_bundle
    from .sources import open_registry

    registry = open_registry(source)
    root = Path(folder)
    if root.exists() and any(root.iterdir()) and not (root / MIRROR_FILE).is_file():
        raise MarketError(f"{root}: not empty and not a mirror ({MIRROR_FILE} is missing)")
    bundles = root / BUNDLES
    bundles.mkdir(parents=True, exist_ok=True)
    plugins = registry.plugins()
    wanted: set[Path] = set()
    versions = 0
    for plugin in plugins:
        for record in plugin.versions:
            target = bundles / plugin.name / bundle_file(plugin.name, record.version)
            wanted.add(target)
            versions += 1
            if target.is_file():
                try:
                    if open_bundle(target).checksum == record.checksum:
                        continue
                except BundleError:
                    pass
            target.parent.mkdir(parents=True, exist_ok=True)
            if hasattr(registry, "url"):  # a service: not counted as a download
                fetched = registry.download(plugin.name, record.version, count=False)
            else:
                fetched = record.bundle
            _copy(Path(fetched), target)
    for stale in bundles.glob("*/*.zip"):
        if stale not in wanted:
            stale.unlink()
    for empty in bundles.iterdir():
        if empty.is_dir() and not any(empty.iterdir()):
            empty.rmdir()
    _write_json(
        root / RECORDS_FILE,
        {"format": WIRE_FORMAT, "plugins": [plugin_to_wire(p) for p in plugins]},
    )
    about = {
        "format": MIRROR_FORMAT,
        "exportedAt": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "source": str(registry.root),
        "plugins": len(plugins),
        "versions": versions,
    }
    from ._advisory_files import write_advisories

    write_advisories(registry, root)  # advisories.json: an offline engine's advisories (§2)
    _write_json(root / MIRROR_FILE, about)
    return about


def _copy(source: Path, target: Path) -> None:
    handle, tmp = tempfile.mkstemp(prefix=".copy-", dir=target.parent)
    os.close(handle)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_json(path: Path, data: Any) -> None:
    handle, tmp = tempfile.mkstemp(prefix=".write-", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class MirrorRegistry(RecordReads):
    """A mirror folder (``export_registry``) read as a registry: search, details,
    versions, installs and updates — offline."""

    def __init__(self, folder: str | os.PathLike[str], *, limits: Limits = DEFAULT_LIMITS) -> None:
        self.folder = Path(folder)
        self.limits = limits
        about = self.folder / MIRROR_FILE
        try:
            self.about = json.loads(about.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise MarketError(
                f"{self.folder}: not a registry mirror ({MIRROR_FILE} is missing)"
            ) from None
        except (OSError, ValueError) as exc:
            raise MarketError(f"{about}: cannot be read as a mirror: {exc}") from None
        if not isinstance(self.about, dict) or self.about.get("format") != MIRROR_FORMAT:
            raise MarketError(f"{about}: not a {MIRROR_FORMAT} mirror")
        self._records: dict[str, PluginRecord] | None = None
        self._stamp: tuple[int, int] | None = None

    @property
    def root(self) -> Path:
        return self.folder

    def __repr__(self) -> str:
        return f"MirrorRegistry({str(self.folder)!r})"

    def _all(self) -> dict[str, PluginRecord]:
        path = self.folder / RECORDS_FILE
        try:
            stat = path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            if self._records is None or stamp != self._stamp:
                data = json.loads(path.read_text(encoding="utf-8"))
                if not isinstance(data, dict) or not isinstance(data.get("plugins"), list):
                    raise ValueError("no plugins list")
                records = [plugin_from_wire(item, self._bundle_path) for item in data["plugins"]]
                self._records = {p.name: p for p in records}
                self._stamp = stamp
        except (OSError, ValueError) as exc:
            raise MarketError(f"{path}: cannot be read as a mirror's records: {exc}") from None
        return self._records

    def _bundle_path(self, name: str, version: str) -> Path:
        return self.folder / BUNDLES / name / bundle_file(name, version)

    def plugins(self) -> list[PluginRecord]:
        return [p for _, p in sorted(self._all().items()) if p.versions]

    def plugin(self, name: str, *, include_empty: bool = False) -> PluginRecord:
        found = self._all().get(name)
        if found is None or (not found.versions and not include_empty):
            raise NotFoundError(f"no plugin {name!r} in the mirror {self.folder}", plugin_id=name)
        return found

    def download(self, name: str, version: str) -> Path:
        """The bundle's path in the mirror (installs read it from there, verifying it)."""
        record = self.version(name, version)
        if not record.bundle.is_file():
            raise NotFoundError(
                f"{record.key}: its bundle is missing from the mirror ({record.bundle})",
                plugin_id=name,
            )
        return record.bundle

    def publish(self, *args: Any, **kwargs: Any) -> Any:
        raise RegistryAccessError(
            f"the mirror {self.folder} is read only: publish to the registry it was "
            "exported from, then export again"
        )

    def rate(self, *args: Any, **kwargs: Any) -> Any:
        raise RegistryAccessError(f"the mirror {self.folder} is read only")
