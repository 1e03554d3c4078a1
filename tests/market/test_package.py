"""Bundles: built from real plugin folders, and hostile zips refused entry by entry."""

from __future__ import annotations

import json
import os
import stat
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pliers_lab.manifest import ManifestError
from pliers_lab.market import BundleError, Limits, build_bundle, open_bundle
from pliers_lab.market._package import PACKAGE_FILE, compute_checksum

from .conftest import EXAMPLES, EXTENSIONS


def craft(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    """A zip with exactly ``entries`` (names or hand-made ZipInfo)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return path


def manifest_bytes(name: str = "p", main: str = "plugin.py") -> bytes:
    return json.dumps(
        {
            "name": name,
            "version": "1.0.0",
            "description": "a crafted test plugin",
            "author": "x",
            "license": "MIT",
            "main": main,
            "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
        }
    ).encode()


def repack(bundle: Path, change: Callable[[str, bytes], bytes | None], extra=()) -> Path:
    """Copy ``bundle`` entry by entry through ``change`` (None drops the entry)."""
    out = bundle.with_name("repacked.zip")
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = change(info.filename, src.read(info))
            if data is not None:
                dst.writestr(info.filename, data)
        for name, data in extra:
            dst.writestr(name, data)
    return out


def patch_header(
    path: Path,
    name: str,
    *,
    local: dict[int, bytes] | None = None,
    central: dict[int, bytes] | None = None,
) -> None:
    """Overwrite bytes at offsets of ``name``'s local header and central directory entry."""
    data = bytearray(path.read_bytes())
    encoded = name.encode()
    for offset in range(len(data) - 4):
        signature = bytes(data[offset : offset + 4])
        if signature == b"PK\x03\x04" and data[offset + 30 : offset + 30 + len(encoded)] == encoded:
            for at, value in (local or {}).items():
                data[offset + at : offset + at + len(value)] = value
        if signature == b"PK\x01\x02" and data[offset + 46 : offset + 46 + len(encoded)] == encoded:
            for at, value in (central or {}).items():
                data[offset + at : offset + at + len(value)] = value
    path.write_bytes(bytes(data))


# ---------------------------------------------------------------------------- build
@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_build_and_open(name: str, dist: Path) -> None:
    path = build_bundle(EXTENSIONS / name, dist)
    assert path == dist / f"{name}-1.0.0.zip"
    bundle = open_bundle(path)
    assert bundle.metadata.key == f"{name}@1.0.0"
    assert bundle.manifest.name == name
    assert {"manifest.json", "plugin.py", "config-schema.json"} <= set(bundle.names())
    assert not any(n.startswith("tests/") or "__pycache__" in n for n in bundle.names())


def test_metadata_is_the_specs_package_metadata(dist: Path) -> None:
    stamp = datetime(2025, 9, 22, 12, 0, tzinfo=UTC)
    bundle = open_bundle(build_bundle(EXTENSIONS / "csv-export", dist, created_at=stamp))
    meta = bundle.metadata.to_dict()
    assert meta["createdAt"] == "2025-09-22T12:00:00Z"
    assert meta["size"] == sum(f["size"] for f in meta["files"])
    assert meta["license"] == {"spdx": "MIT", "file": None}
    assert meta["dependencies"] == []
    assert meta["buildInfo"]["tool"].startswith("pliers_lab ")
    assert meta["checksum"] == compute_checksum(bundle.metadata.files)
    assert meta["checksum"].startswith("sha256:") and len(meta["checksum"]) == 71


def test_dependencies_and_license_file_are_recorded(make_plugin, dist: Path) -> None:
    folder = make_plugin(
        "child",
        dependencies={"base": "^1.0.0"},
        optionalDependencies={"extra": "*"},
        files={"LICENSE": "MIT License"},
    )
    meta = open_bundle(build_bundle(folder, dist)).metadata
    deps = {(d.name, d.version, d.optional, d.scope) for d in meta.dependencies}
    assert deps == {("base", "^1.0.0", False, "runtime"), ("extra", "*", True, "runtime")}
    assert meta.license == {"spdx": "MIT", "file": "LICENSE"}


def test_same_folder_same_checksum_and_bytes(dist: Path, tmp_path: Path) -> None:
    stamp = datetime(2025, 1, 1, tzinfo=UTC)
    first = build_bundle(EXTENSIONS / "audit-log", dist / "a.zip", created_at=stamp)
    second = build_bundle(EXTENSIONS / "audit-log", dist / "b.zip", created_at=stamp)
    assert first.read_bytes() == second.read_bytes()


def test_caches_vcs_and_tests_are_left_out_unless_asked(make_plugin, dist: Path) -> None:
    folder = make_plugin(
        "tidy",
        files={
            "__pycache__/plugin.cpython-311.pyc": "x",
            ".git/HEAD": "ref",
            "tests/test_tidy.py": "def test(): pass",
            "helpers/util.pyc": "x",
            "helpers/util.py": "X = 1",
        },
    )
    names = open_bundle(build_bundle(folder, dist)).names()
    assert names == ["helpers/util.py", "manifest.json", "plugin.py", "schema.json"]
    with_tests = open_bundle(build_bundle(folder, dist / "t.zip", include_tests=True)).names()
    assert "tests/test_tidy.py" in with_tests


def test_build_refuses_a_symlink_in_the_folder(make_plugin, dist: Path) -> None:
    folder = make_plugin("linky")
    os.symlink("/etc/passwd", folder / "passwd")
    with pytest.raises(BundleError, match=r"entry 'passwd': symlinks are not packaged"):
        build_bundle(folder, dist)
    assert list(dist.iterdir()) == []


def test_build_validates_the_manifest_first(make_plugin, dist: Path) -> None:
    folder = make_plugin("broken")
    data = json.loads((folder / "manifest.json").read_text())
    data["version"] = "1.0"
    (folder / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ManifestError, match="version"):
        build_bundle(folder, dist)
    assert list(dist.iterdir()) == []


def test_extract_writes_the_files_into_a_new_folder(dist: Path, tmp_path: Path) -> None:
    bundle = open_bundle(build_bundle(EXTENSIONS / "csv-export", dist))
    target = bundle.extract(tmp_path / "out")
    assert sorted(p.name for p in target.iterdir()) == bundle.names()
    assert (target / "plugin.py").read_bytes() == (EXTENSIONS / "csv-export/plugin.py").read_bytes()
    assert stat.S_IMODE((target / "plugin.py").stat().st_mode) == 0o644
    with pytest.raises(FileExistsError):
        bundle.extract(target)


def test_a_plain_zip_opens_with_computed_metadata(tmp_path: Path) -> None:
    path = craft(tmp_path / "plain.zip", [("manifest.json", manifest_bytes()), ("plugin.py", b"")])
    bundle = open_bundle(path)
    assert bundle.metadata.created_at is None
    assert bundle.names() == ["manifest.json", "plugin.py"]
    assert bundle.manifest.key == "p@1.0.0"


def test_a_manifest_naming_a_missing_file_is_a_manifest_problem(tmp_path: Path) -> None:
    path = craft(tmp_path / "m.zip", [("manifest.json", manifest_bytes(main="core.py"))])
    with pytest.raises(ManifestError, match=r"main: file 'core.py' is not in the bundle"):
        open_bundle(path).manifest  # noqa: B018


# ---------------------------------------------------------------------- hostile zips
@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("../evil.py", "zip-slip"),
        ("sub/../../evil.py", "zip-slip"),
        ("/etc/cron.d/evil", "absolute path"),
        ("C:/windows/evil.py", "absolute path"),
        ("sub\\..\\evil.py", "backslash"),
        ("a//b.py", "empty or '.' path component"),
        ("./a.py", "empty or '.' path component"),
        ("bad\x01name.py", "control characters"),
    ],
)
def test_entries_that_could_escape_are_refused(tmp_path: Path, entry: str, why: str) -> None:
    path = craft(tmp_path / "x.zip", [("manifest.json", manifest_bytes()), (entry, b"x")])
    with pytest.raises(BundleError, match=why) as info:
        open_bundle(path)
    assert info.value.entry == entry
    assert repr(entry)[1:-1] in str(info.value) or entry in str(info.value)


def test_symlink_and_special_entries_are_refused(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("plugin.py")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    path = craft(tmp_path / "l.zip", [("manifest.json", manifest_bytes()), (link, b"/etc/passwd")])
    with pytest.raises(BundleError, match=r"entry 'plugin.py': a symlink"):
        open_bundle(path)
    fifo = zipfile.ZipInfo("pipe")
    fifo.external_attr = (stat.S_IFIFO | 0o644) << 16
    path = craft(tmp_path / "f.zip", [("manifest.json", manifest_bytes()), (fifo, b"")])
    with pytest.raises(BundleError, match=r"entry 'pipe': a device, pipe or socket"):
        open_bundle(path)


def test_encrypted_entries_are_refused(tmp_path: Path) -> None:
    path = craft(tmp_path / "e.zip", [("manifest.json", manifest_bytes()), ("plugin.py", b"x")])
    patch_header(path, "plugin.py", central={8: b"\x01\x00"})  # flag bit 0: encrypted
    with pytest.raises(BundleError, match=r"entry 'plugin.py': encrypted"):
        open_bundle(path)


def test_duplicate_and_case_clashing_entries_are_refused(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="Duplicate name"):
        path = craft(
            tmp_path / "d.zip",
            [("manifest.json", manifest_bytes()), ("plugin.py", b"a"), ("plugin.py", b"b")],
        )
    with pytest.raises(BundleError, match=r"entry 'plugin.py': duplicate entry"):
        open_bundle(path)
    path = craft(
        tmp_path / "c.zip",
        [("manifest.json", manifest_bytes()), ("plugin.py", b"a"), ("Plugin.py", b"b")],
    )
    with pytest.raises(BundleError, match=r"entry 'Plugin.py': differs only in case"):
        open_bundle(path)


def test_a_name_both_file_and_folder_is_refused(tmp_path: Path) -> None:
    path = craft(
        tmp_path / "ff.zip", [("manifest.json", manifest_bytes()), ("lib", b"x"), ("lib/a.py", b"")]
    )
    with pytest.raises(BundleError, match=r"entry 'lib': is both a file and a folder"):
        open_bundle(path)


def test_too_many_files_too_large_and_zip_bombs_are_refused(tmp_path: Path) -> None:
    many = [("manifest.json", manifest_bytes())] + [(f"f{i}.txt", b"") for i in range(20)]
    with pytest.raises(BundleError, match=r"21 entries; at most 10 allowed"):
        open_bundle(craft(tmp_path / "many.zip", many), limits=Limits(max_files=10))
    big = [("manifest.json", manifest_bytes()), ("data.bin", os.urandom(5000))]
    with pytest.raises(BundleError, match=r"entry 'data.bin': 5000 bytes; at most 4096"):
        open_bundle(craft(tmp_path / "big.zip", big), limits=Limits(max_file_size=4096))
    total = [("manifest.json", manifest_bytes()), ("a", os.urandom(3000)), ("b", os.urandom(3000))]
    with pytest.raises(BundleError, match=r"more than 5000 bytes uncompressed"):
        open_bundle(craft(tmp_path / "total.zip", total), limits=Limits(max_total_size=5000))
    bomb = [("manifest.json", manifest_bytes()), ("zeros.txt", bytes(4 << 20))]
    with pytest.raises(
        BundleError, match=r"entry 'zeros.txt': compression ratio \d+:1 exceeds 100:1"
    ):
        open_bundle(craft(tmp_path / "bomb.zip", bomb))


def test_a_header_that_lies_about_the_size_cannot_inflate_past_it(tmp_path: Path) -> None:
    path = craft(
        tmp_path / "lie.zip", [("manifest.json", manifest_bytes()), ("a.txt", bytes(9000))]
    )
    small = (100).to_bytes(4, "little")
    patch_header(path, "a.txt", local={22: small}, central={24: small})
    with pytest.raises(BundleError, match=r"entry 'a.txt': corrupt data"):
        open_bundle(path)


def test_not_a_zip_truncated_or_corrupt_data_are_refused(dist: Path, tmp_path: Path) -> None:
    text = tmp_path / "notes.zip"
    text.write_text("just text")
    with pytest.raises(BundleError, match="not a readable zip archive"):
        open_bundle(text)
    with pytest.raises(BundleError, match="no such file"):
        open_bundle(tmp_path / "missing.zip")
    good = build_bundle(EXTENSIONS / "csv-export", dist)
    half = tmp_path / "half.zip"
    half.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(BundleError, match="not a readable zip archive"):
        open_bundle(half)
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as zf:
        info = zf.getinfo("plugin.py")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 40
    data[start : start + 8] = bytes(8)
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"entry 'plugin.py': corrupt data"):
        open_bundle(corrupt)


def test_changes_after_packaging_are_detected(dist: Path) -> None:
    good = build_bundle(EXTENSIONS / "csv-export", dist)
    edited = repack(good, lambda n, d: d + b"\nimport os" if n == "plugin.py" else d)
    with pytest.raises(BundleError, match=r"entry 'plugin.py': content does not match"):
        open_bundle(edited)
    added = repack(good, lambda n, d: d, extra=[("backdoor.py", b"import os")])
    with pytest.raises(BundleError, match=r"entry 'backdoor.py': not listed in"):
        open_bundle(added)
    dropped = repack(good, lambda n, d: None if n == "README.md" else d)
    with pytest.raises(BundleError, match=r"entry 'README.md': listed in .* but missing"):
        open_bundle(dropped)


def test_inconsistent_or_malformed_metadata_is_refused(dist: Path) -> None:
    good = build_bundle(EXTENSIONS / "csv-export", dist)

    def meta(change: Callable[[dict], None]) -> Callable[[str, bytes], bytes]:
        def edit(name: str, data: bytes) -> bytes:
            if name != PACKAGE_FILE:
                return data
            doc = json.loads(data)
            change(doc)
            return json.dumps(doc).encode()

        return edit

    renamed = repack(good, meta(lambda d: d.update(version="9.9.9")))
    with pytest.raises(BundleError, match=r"says version '9.9.9', the manifest says '1.0.0'"):
        open_bundle(renamed)
    checksum = repack(good, meta(lambda d: d.update(checksum="sha256:" + "0" * 64)))
    with pytest.raises(BundleError, match=r"checksum in \.pliers/package\.json does not match"):
        open_bundle(checksum)
    garbage = repack(good, lambda n, d: b"{not json" if n == PACKAGE_FILE else d)
    with pytest.raises(
        BundleError, match=r"entry '.pliers/package.json': malformed package metadata"
    ):
        open_bundle(garbage)
    unknown = repack(good, lambda n, d: d, extra=[(".pliers/hooks.sh", b"rm -rf /")])
    with pytest.raises(BundleError, match=r"entry '.pliers/hooks.sh': unknown metadata entry"):
        open_bundle(unknown)


def test_missing_manifest_and_a_zipped_folder_are_explained(tmp_path: Path) -> None:
    path = craft(tmp_path / "n.zip", [("plugin.py", b"")])
    with pytest.raises(BundleError, match=r"no manifest.json at the top of the bundle$"):
        open_bundle(path)
    nested = craft(
        tmp_path / "f.zip", [("p/manifest.json", manifest_bytes()), ("p/plugin.py", b"")]
    )
    with pytest.raises(BundleError, match=r"found 'p/manifest.json': zip the folder's contents"):
        open_bundle(nested)


def test_a_manifest_that_is_not_json_is_reported_by_manifest(tmp_path: Path) -> None:
    path = craft(tmp_path / "j.zip", [("manifest.json", b"{oops"), ("plugin.py", b"")])
    bundle = open_bundle(path)
    with pytest.raises(ManifestError, match="malformed JSON at line 1"):
        bundle.manifest  # noqa: B018


def test_a_missing_output_folder_is_made_and_holds_the_bundle(tmp_path: Path) -> None:
    out = tmp_path / "not" / "yet" / "dist"
    path = build_bundle(EXTENSIONS / "audit-log", out)
    assert out.is_dir() and path.parent == out and path.name.startswith("audit-log-")
    named = build_bundle(EXTENSIONS / "audit-log", tmp_path / "new" / "named.zip")
    assert named == tmp_path / "new" / "named.zip" and named.is_file()
