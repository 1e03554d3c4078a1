"""Plugin bundles: a zip of the plugin folder plus ``.pliers/package.json`` (spec: Plugin
Packaging, ``PluginPackage`` and ``PackageMetadata``).

Layout of a bundle::

    manifest.json, plugin.py, config-schema.json, ...   the plugin folder, at the top
    .pliers/package.json     metadata: files [{path, size, sha256}], checksum, size,
                             createdAt, dependencies, license, buildInfo
    .pliers/signature.json   optional Ed25519 signature (see ``signing``)

The checksum is SHA-256 over a canonical listing of the files (``<sha256> <size> <path>``
per line, sorted by path), not over the zip's bytes: recompressing a bundle keeps it, any
change of content, name or set of files breaks it, and a signature of the checksum covers
every file. ``.pliers/`` itself is outside the listing (it describes the listing).

Reading a bundle someone else built is ``bundle.open_bundle``'s job.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import tempfile
import zipfile
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .refusals import BundleError

if TYPE_CHECKING:
    from .signing import SigningKey

__all__ = [
    "DEFAULT_LIMITS",
    "PACKAGE_FILE",
    "SIGNATURE_FILE",
    "Dependency",
    "FileEntry",
    "Limits",
    "PackageMetadata",
    "build_bundle",
    "compute_checksum",
]

FORMAT = 1
META_DIR = ".pliers"
PACKAGE_FILE = ".pliers/package.json"
SIGNATURE_FILE = ".pliers/signature.json"
MANIFEST = "manifest.json"

#: Folders never packaged: caches, VCS data, environments.
EXCLUDED_DIRS = frozenset(
    {
        "__pycache__",
        ".git",
        ".hg",
        ".svn",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".hypothesis",
        ".tox",
        ".venv",
        "node_modules",
        META_DIR,
    }
)
EXCLUDED_SUFFIXES = (".pyc", ".pyo")
EXCLUDED_NAMES = frozenset({".DS_Store", "Thumbs.db"})
LICENSE_FILES = ("LICENSE", "LICENSE.txt", "LICENSE.md", "COPYING")
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed entry dates: the same folder gives the same zip
_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class Limits:
    """What an untrusted bundle may contain; beyond these it is refused unread."""

    max_files: int = 1000
    """Entries in the archive (folders included)."""
    max_file_size: int = 16 << 20
    """Uncompressed bytes of one file."""
    max_total_size: int = 64 << 20
    """Uncompressed bytes of all files together."""
    max_ratio: float = 100.0
    """Uncompressed/compressed size of one entry; text compresses ~5-10x, bombs ~1000x."""
    ratio_floor: int = 1 << 20
    """Entries smaller than this are not ratio-checked (tiny files compress oddly)."""
    max_path_length: int = 240
    max_depth: int = 16
    max_metadata_size: int = 1 << 20
    """Bytes of ``.pliers/*`` and ``manifest.json``."""


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One packaged file: its POSIX path in the bundle, size and SHA-256 (hex)."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Dependency:
    """The spec's ``Dependency``: a plugin ``name`` at npm range ``version``."""

    name: str
    version: str
    optional: bool = False
    scope: str = "runtime"


@dataclass(frozen=True)
class PackageMetadata:
    """The spec's ``PackageMetadata`` with the file listing the checksum is computed from.

    ``size`` is the uncompressed size of the plugin's files; ``created_at`` is ``None``
    for a plain zip that was not built by :func:`build_bundle`.
    """

    name: str
    version: str
    checksum: str
    size: int
    files: tuple[FileEntry, ...]
    created_at: str | None = None
    dependencies: tuple[Dependency, ...] = ()
    license: dict[str, Any] = field(default_factory=dict)
    build_info: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "name": self.name,
            "version": self.version,
            "checksum": self.checksum,
            "size": self.size,
            "createdAt": self.created_at,
            "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in self.files],
            "dependencies": [
                {"name": d.name, "version": d.version, "optional": d.optional, "scope": d.scope}
                for d in self.dependencies
            ],
            "license": self.license,
            "buildInfo": self.build_info,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PackageMetadata:
        """Parse ``.pliers/package.json``; ``ValueError`` says which field is wrong."""
        try:
            if data.get("format") != FORMAT:
                raise ValueError(f"unknown format {data.get('format')!r} (this reads {FORMAT})")
            files = tuple(
                FileEntry(_str(f["path"]), _int(f["size"]), _str(f["sha256"]))
                for f in data["files"]
            )
            deps = tuple(
                Dependency(
                    _str(d["name"]), _str(d["version"]), bool(d["optional"]), _str(d["scope"])
                )
                for d in data.get("dependencies", ())
            )
            return cls(
                _str(data["name"]),
                _str(data["version"]),
                _str(data["checksum"]),
                _int(data["size"]),
                files,
                data.get("createdAt"),
                deps,
                dict(data.get("license") or {}),
                dict(data.get("buildInfo") or {}),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"missing or malformed field {exc}") from None


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError(f"expected a non-negative integer, got {value!r}")
    return value


def compute_checksum(files: Iterable[FileEntry]) -> str:
    """``sha256:<hex>`` over ``<sha256> <size> <path>\\n`` lines sorted by path."""
    digest = hashlib.sha256()
    for entry in sorted(files, key=lambda f: f.path.encode()):
        digest.update(f"{entry.sha256} {entry.size} {entry.path}\n".encode())
    return "sha256:" + digest.hexdigest()


def _dependencies(manifest_data: Mapping[str, Any]) -> tuple[Dependency, ...]:
    out: list[Dependency] = []
    for key, scope, optional in (
        ("dependencies", "runtime", False),
        ("peerDependencies", "peer", False),
        ("optionalDependencies", "runtime", True),
    ):
        deps = manifest_data.get(key)
        if isinstance(deps, dict):
            out += [Dependency(str(n), str(r), optional, scope) for n, r in deps.items()]
    return tuple(out)


def _metadata(
    manifest_data: Mapping[str, Any],
    files: list[FileEntry],
    created_at: str | None,
    license_file: str | None,
    build_info: dict[str, Any] | None = None,
) -> PackageMetadata:
    return PackageMetadata(
        name=str(manifest_data.get("name", "?")),
        version=str(manifest_data.get("version", "?")),
        checksum=compute_checksum(files),
        size=sum(f.size for f in files),
        files=tuple(sorted(files, key=lambda f: f.path.encode())),
        created_at=created_at,
        dependencies=_dependencies(manifest_data),
        license={"spdx": str(manifest_data.get("license", "")), "file": license_file},
        build_info=build_info or {},
    )


# ---------------------------------------------------------------------------------- build
def _walk(folder: Path, include_tests: bool) -> list[tuple[str, Path]]:
    """``(bundle path, file)`` pairs under ``folder``; symlinks and special files refused."""
    found: list[tuple[str, Path]] = []
    for here, dirs, names in os.walk(folder, followlinks=False):
        base = Path(here)
        kept = []
        for d in sorted(dirs):
            if d in EXCLUDED_DIRS or (not include_tests and d == "tests" and base == folder):
                continue
            if (base / d).is_symlink():
                raise BundleError(
                    str(folder), "symlinks are not packaged", entry=_rel(base / d, folder)
                )
            kept.append(d)
        dirs[:] = kept
        for name in sorted(names):
            path = base / name
            if name in EXCLUDED_NAMES or name.endswith(EXCLUDED_SUFFIXES):
                continue
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                raise BundleError(
                    str(folder), "symlinks are not packaged", entry=_rel(path, folder)
                )
            if not stat.S_ISREG(mode):
                raise BundleError(str(folder), "not a regular file", entry=_rel(path, folder))
            found.append((_rel(path, folder), path))
    return sorted(found, key=lambda item: item[0].encode())


def _rel(path: Path, folder: Path) -> str:
    return path.relative_to(folder).as_posix()


def _hash_file(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            size += len(chunk)
            digest.update(chunk)
    return size, digest.hexdigest()


def _zipinfo(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    return info


def build_bundle(
    folder: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    include_tests: bool = False,
    signing_key: SigningKey | None = None,
    signer: str | None = None,
    created_at: datetime | None = None,
    limits: Limits = DEFAULT_LIMITS,
    exclude: Collection[str] = (),
) -> Path:
    """Package the plugin in ``folder`` as ``<name>-<version>.zip``; returns its path.

    ``out`` is the bundle's file name (``.zip``), or a folder to put it in, made when
    missing (default: the current
    folder). The manifest is validated first (a ``ManifestError`` lists its problems).
    ``__pycache__``, VCS folders, ``*.pyc`` and (unless ``include_tests``) the top-level
    ``tests/`` are left out, and so are the ``exclude`` paths (relative, ``/``-separated:
    e.g. earlier bundles written into the folder); a symlink anywhere is refused. With
    ``signing_key`` the bundle is signed in the same step (see ``signing.sign_bundle``).
    """
    from .._version import __version__
    from ..manifest import load_manifest

    source = Path(folder)
    manifest = load_manifest(source)
    files = [f for f in _walk(source, include_tests) if f[0] not in exclude]
    if len(files) > limits.max_files:
        raise BundleError(str(source), f"{len(files)} files; at most {limits.max_files} allowed")
    entries = []
    for name, path in files:
        size, digest = _hash_file(path)
        if size > limits.max_file_size:
            raise BundleError(
                str(source), f"{size} bytes; at most {limits.max_file_size} per file", entry=name
            )
        entries.append(FileEntry(name, size, digest))
    manifest_data = json.loads((source / MANIFEST).read_text("utf-8-sig"))
    stamp = (created_at or datetime.now(UTC)).astimezone(UTC)
    license_file = next((n for n, _ in files if n in LICENSE_FILES), None)
    metadata = _metadata(
        manifest_data,
        entries,
        stamp.isoformat(timespec="seconds").replace("+00:00", "Z"),
        license_file,
        {
            "tool": f"pliers_lab {__version__}",
            "python": ".".join(map(str, sys.version_info[:3])),
            "includesTests": include_tests,
        },
    )
    if metadata.size > limits.max_total_size:
        raise BundleError(str(source), f"{metadata.size} bytes; at most {limits.max_total_size}")
    target = Path(out) if out is not None else Path.cwd()
    if target.is_dir() or (not target.exists() and target.suffix.lower() != ".zip"):
        # a folder, existing or not: a name without .zip never becomes the bundle's file
        target.mkdir(parents=True, exist_ok=True)
        target = target / f"{manifest.name}-{manifest.version}.zip"
    extra: dict[str, bytes] = {PACKAGE_FILE: _json_bytes(metadata.to_dict())}
    if signing_key is not None:
        from .signing import signature_document

        extra[SIGNATURE_FILE] = _json_bytes(signature_document(metadata, signing_key, signer))
    _write_zip(target, [(name, path.read_bytes()) for name, path in files], extra)
    return target


def _json_bytes(data: Any) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def _write_zip(target: Path, files: list[tuple[str, bytes]], extra: Mapping[str, bytes]) -> None:
    """Write atomically: a reader never sees half a bundle, a failure leaves no file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".bundle-", suffix=".zip", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w") as zf:
            for name, data in [*files, *sorted(extra.items())]:
                zf.writestr(_zipinfo(name), data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def rewrite_metadata(path: Path, extra: Mapping[str, bytes]) -> None:
    """Replace or add ``.pliers/*`` entries of a bundle, keeping every file as it is."""
    with zipfile.ZipFile(path) as zf:
        files = [
            (info.filename, zf.read(info))
            for info in zf.infolist()
            if not info.is_dir() and info.filename not in extra
        ]
    _write_zip(path, files, extra)
