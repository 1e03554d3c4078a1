"""Opening a plugin bundle someone else built, defensively (the read side of ``package``).

A bundle comes from strangers, so :func:`open_bundle` checks every entry before anything
touches the disk: absolute paths, ``..`` (zip-slip), backslashes, symlinks and special
files, encrypted or duplicate entries (also names that differ only in case), too many or
too large files and suspicious compression ratios (zip bombs) are refused with a
:class:`BundleError` naming the entry. Every file is then read — never more bytes than
the limits allow, whatever the headers claim — hashed and compared with
``.pliers/package.json``, so a file added, dropped or changed after packaging is named.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
import stat
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ._package import (
    DEFAULT_LIMITS,
    LICENSE_FILES,
    MANIFEST,
    META_DIR,
    PACKAGE_FILE,
    SIGNATURE_FILE,
    FileEntry,
    Limits,
    PackageMetadata,
    _metadata,
    compute_checksum,
)
from .refusals import BundleError

if TYPE_CHECKING:
    from ..manifest import Manifest

__all__ = ["Bundle", "open_bundle"]

_CHUNK = 1 << 16
#: What a damaged entry can raise while it is decompressed.
_CORRUPT = (
    zipfile.BadZipFile,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    zlib.error,
    lzma.LZMAError,
)


class Bundle:
    """A bundle opened and checked by :func:`open_bundle`; nothing is extracted yet.

    Attributes:
        path: the zip file.
        metadata: its ``PackageMetadata`` (computed when the zip has no package.json).
        manifest_data: the decoded ``manifest.json`` (``None`` if it is not valid JSON).
        manifest_problem: why ``manifest.json`` could not be decoded, if it could not.
        signature_bytes: the raw ``.pliers/signature.json``, if present.
    """

    def __init__(
        self,
        path: Path,
        zf_infos: dict[str, zipfile.ZipInfo],
        metadata: PackageMetadata,
        manifest_data: Any,
        manifest_problem: str | None,
        signature_bytes: bytes | None,
        limits: Limits,
    ) -> None:
        self.path = path
        self._infos = zf_infos
        self.metadata = metadata
        self.manifest_data = manifest_data
        self.manifest_problem = manifest_problem
        self.signature_bytes = signature_bytes
        self.limits = limits
        self._manifest: Manifest | None = None

    def __repr__(self) -> str:
        return f"Bundle({self.metadata.key}, {self.path})"

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def version(self) -> str:
        return self.metadata.version

    @property
    def checksum(self) -> str:
        return self.metadata.checksum

    @property
    def signed(self) -> bool:
        return self.signature_bytes is not None

    def names(self) -> list[str]:
        """The plugin's file paths, sorted (``.pliers/`` excluded)."""
        return [f.path for f in self.metadata.files]

    @property
    def manifest(self) -> Manifest:
        """The validated manifest; ``ManifestError`` lists every problem, including files
        the manifest names that the bundle lacks."""
        if self._manifest is None:
            from ..manifest import ManifestError, ManifestProblem, parse_manifest

            source = f"{self.path}!{MANIFEST}"
            if self.manifest_problem is not None:
                raise ManifestError(source, [ManifestProblem(source, (), self.manifest_problem)])
            manifest = parse_manifest(self.manifest_data, source=source)
            missing = [
                ManifestProblem(source, where, f"file {name!r} is not in the bundle")
                for where, name in _named_files(manifest)
                if name not in self._infos
            ]
            if missing:
                raise ManifestError(source, missing, plugin_id=manifest.name)
            self._manifest = manifest
        return self._manifest

    def read(self, name: str) -> bytes:
        """One file's bytes, checked against its recorded size and hash."""
        entry = next((f for f in self.metadata.files if f.path == name), None)
        if entry is None:
            raise BundleError(str(self.path), "no such file in the bundle", entry=name)
        with zipfile.ZipFile(self.path) as zf:
            data = _read_entry(zf, self._infos[name], self.path, self.limits.max_file_size)
        if len(data) != entry.size or hashlib.sha256(data).hexdigest() != entry.sha256:
            raise BundleError(str(self.path), "changed since the bundle was opened", entry=name)
        return data

    def files(self) -> dict[str, bytes]:
        """Every plugin file's bytes, each checked (for scanning without extracting)."""
        out = {}
        with zipfile.ZipFile(self.path) as zf:
            for entry in self.metadata.files:
                data = _read_entry(
                    zf, self._infos[entry.path], self.path, self.limits.max_file_size
                )
                if hashlib.sha256(data).hexdigest() != entry.sha256:
                    raise BundleError(
                        str(self.path), "changed since the bundle was opened", entry=entry.path
                    )
                out[entry.path] = data
        return out

    def extract(self, dest: str | os.PathLike[str]) -> Path:
        """Write the plugin's files into the new, empty folder ``dest`` (created here).

        Each path was checked when the bundle was opened, files are created exclusively
        (``x`` mode: never through an existing file or link) and re-hashed as written.
        """
        root = Path(dest)
        root.mkdir(parents=True, exist_ok=False)
        for name, data in self.files().items():
            target = root.joinpath(*PurePosixPath(name).parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("xb") as fh:
                fh.write(data)
            target.chmod(0o644)
        return root


def _named_files(manifest: Manifest) -> list[tuple[tuple[str | int, ...], str]]:
    """Files the manifest names, with the field that names them."""
    from ..manifest.fields import main_kind

    out: list[tuple[tuple[str | int, ...], str]] = []
    kind = main_kind(manifest.main)
    if kind == "file":
        out.append((("main",), str(PurePosixPath(manifest.main))))
    elif kind == "package":
        out.append((("main",), str(PurePosixPath(manifest.main) / "__init__.py")))
    config = manifest.configuration
    for key, name in (("schema", config.schema_file), ("default", config.default_file)):
        if name:
            out.append((("configuration", key), str(PurePosixPath(name))))
    for env, name in config.environments.items():
        out.append((("configuration", "environments", env), str(PurePosixPath(name))))
    return out


def _check_name(name: str, bundle: str, limits: Limits) -> None:
    """Refuse entry names that could land outside the extraction folder or mislead."""

    def refuse(why: str) -> BundleError:
        return BundleError(bundle, why, entry=name)

    if not name or "\0" in name or any(ord(c) < 32 for c in name):
        raise refuse("control characters in the name")
    if "\\" in name:
        raise refuse("backslash in the name (a Windows path could escape the folder)")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise refuse("absolute path (zip-slip)")
    parts = name.rstrip("/").split("/")
    if ".." in parts:
        raise refuse("'..' in the path (zip-slip: it would be written outside the plugin folder)")
    if any(p in ("", ".") for p in parts):
        raise refuse("empty or '.' path component")
    if len(name) > limits.max_path_length or len(parts) > limits.max_depth:
        raise refuse(
            f"path longer than {limits.max_path_length} characters "
            f"or deeper than {limits.max_depth}"
        )


def _check_info(info: zipfile.ZipInfo, bundle: str, limits: Limits) -> None:
    name = info.filename
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFLNK:
        raise BundleError(bundle, "a symlink (refused: it could point anywhere)", entry=name)
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise BundleError(bundle, "a device, pipe or socket, not a file", entry=name)
    if info.flag_bits & 0x1:
        raise BundleError(bundle, "encrypted entries cannot be checked", entry=name)
    if info.file_size > limits.max_file_size:
        raise BundleError(
            bundle, f"{info.file_size} bytes; at most {limits.max_file_size} per file", entry=name
        )
    if info.file_size > limits.ratio_floor and info.file_size > limits.max_ratio * max(
        info.compress_size, 1
    ):
        ratio = info.file_size / max(info.compress_size, 1)
        raise BundleError(
            bundle,
            f"compression ratio {ratio:.0f}:1 exceeds {limits.max_ratio:.0f}:1 (a zip bomb?)",
            entry=name,
        )


def _read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, bundle: Path, cap: int) -> bytes:
    """An entry's bytes, never more than ``cap`` whatever its header claims."""
    chunks = []
    total = 0
    try:
        with zf.open(info) as fh:
            while chunk := fh.read(_CHUNK):
                total += len(chunk)
                if total > cap:
                    raise BundleError(
                        str(bundle),
                        f"expands beyond {cap} bytes (a zip bomb?)",
                        entry=info.filename,
                    )
                chunks.append(chunk)
    except BundleError:
        raise
    except _CORRUPT as exc:
        raise BundleError(str(bundle), f"corrupt data ({exc})", entry=info.filename) from None
    return b"".join(chunks)


def open_bundle(path: str | os.PathLike[str], *, limits: Limits = DEFAULT_LIMITS) -> Bundle:
    """Open and check a bundle (see the module docstring); ``BundleError`` says what and
    which entry. The manifest is decoded but validated only by ``Bundle.manifest``."""
    file = Path(path)
    where = str(file)
    if not file.is_file():
        raise BundleError(where, "no such file")
    try:
        zf = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise BundleError(where, f"not a readable zip archive ({exc})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_files:
            raise BundleError(where, f"{len(infos)} entries; at most {limits.max_files} allowed")
        files: dict[str, zipfile.ZipInfo] = {}
        folders: set[str] = set()
        seen_lower: dict[str, str] = {}
        total = 0
        for info in infos:
            _check_name(info.filename, where, limits)
            _check_info(info, where, limits)
            name = info.filename.rstrip("/")
            clash = seen_lower.get(name.lower())
            if clash is not None:
                what = (
                    "duplicate entry" if clash == name else f"differs only in case from {clash!r}"
                )
                raise BundleError(where, what, entry=info.filename)
            seen_lower[name.lower()] = name
            parts = name.split("/")
            folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
            if info.is_dir():
                continue
            total += info.file_size
            if total > limits.max_total_size:
                raise BundleError(where, f"more than {limits.max_total_size} bytes uncompressed")
            files[name] = info
        for name in files:
            if name in folders:
                raise BundleError(where, "is both a file and a folder", entry=name)
        return _check_contents(zf, file, files, limits)


def _check_contents(
    zf: zipfile.ZipFile, file: Path, infos: dict[str, zipfile.ZipInfo], limits: Limits
) -> Bundle:
    where = str(file)
    meta_names = {n for n in infos if n.startswith(META_DIR + "/")}
    unknown = meta_names - {PACKAGE_FILE, SIGNATURE_FILE}
    if unknown:
        raise BundleError(where, "unknown metadata entry", entry=sorted(unknown)[0])
    if MANIFEST not in infos:
        nested = sorted(n for n in infos if n.endswith("/" + MANIFEST))
        hint = (
            f" (found {nested[0]!r}: zip the folder's contents, not the folder)" if nested else ""
        )
        raise BundleError(where, f"no {MANIFEST} at the top of the bundle{hint}")

    def small(name: str) -> bytes:
        return _read_entry(zf, infos[name], file, limits.max_metadata_size)

    manifest_problem: str | None = None
    manifest_data: Any = None
    try:
        manifest_data = json.loads(small(MANIFEST).decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        manifest_problem = f"not UTF-8 text (invalid byte at offset {exc.start})"
    except json.JSONDecodeError as exc:
        manifest_problem = f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
    except RecursionError:
        manifest_problem = "malformed JSON: nested too deeply"
    manifest_map = manifest_data if isinstance(manifest_data, dict) else {}

    entries = []
    total = 0
    for name, info in sorted(infos.items()):
        if name in meta_names:
            continue
        data = _read_entry(zf, info, file, limits.max_file_size)
        total += len(data)  # headers can lie about sizes; what was read cannot
        if total > limits.max_total_size:
            raise BundleError(where, f"expands beyond {limits.max_total_size} bytes", entry=name)
        entries.append(FileEntry(name, len(data), hashlib.sha256(data).hexdigest()))

    if PACKAGE_FILE in infos:
        try:
            recorded = PackageMetadata.from_dict(json.loads(small(PACKAGE_FILE)))
        except (ValueError, UnicodeDecodeError) as exc:
            raise BundleError(
                where, f"malformed package metadata: {exc}", entry=PACKAGE_FILE
            ) from None
        _compare(recorded, entries, manifest_map, where)
        metadata = recorded
    else:
        license_file = next((e.path for e in entries if e.path in LICENSE_FILES), None)
        metadata = _metadata(manifest_map, entries, None, license_file)
    signature = small(SIGNATURE_FILE) if SIGNATURE_FILE in infos else None
    return Bundle(file, infos, metadata, manifest_data, manifest_problem, signature, limits)


def _compare(
    recorded: PackageMetadata, entries: list[FileEntry], manifest: Mapping[str, Any], where: str
) -> None:
    """The files on hand are exactly the ones ``package.json`` lists, byte for byte."""
    listed = {f.path: f for f in recorded.files}
    actual = {f.path: f for f in entries}
    for name in sorted(actual.keys() - listed.keys()):
        raise BundleError(
            where, f"not listed in {PACKAGE_FILE} (added after packaging?)", entry=name
        )
    for name in sorted(listed.keys() - actual.keys()):
        raise BundleError(where, f"listed in {PACKAGE_FILE} but missing", entry=name)
    for name, entry in sorted(actual.items()):
        if entry != listed[name]:
            raise BundleError(
                where,
                f"content does not match {PACKAGE_FILE} (modified after packaging)",
                entry=name,
            )
    if compute_checksum(entries) != recorded.checksum:
        raise BundleError(
            where, f"checksum in {PACKAGE_FILE} does not match the files", entry=PACKAGE_FILE
        )
    if recorded.size != sum(e.size for e in entries):
        raise BundleError(where, "recorded size does not match the files", entry=PACKAGE_FILE)
    for key in ("name", "version"):
        if str(manifest.get(key)) != getattr(recorded, key):
            raise BundleError(
                where,
                f"{PACKAGE_FILE} says {key} {getattr(recorded, key)!r}, "
                f"the manifest says {manifest.get(key)!r}",
                entry=PACKAGE_FILE,
            )
