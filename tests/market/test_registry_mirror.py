"""A registry exported to a folder, read offline (issue 19 §1): ``pliers registry export``
writes it, ``PluginMarketplace("file:///…")`` or a ``Path`` installs, updates and
searches from it with no service running, verifying every bundle as always."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest

from pliers_lab import Engine
from pliers_lab.market import (
    BundleError,
    MarketError,
    MirrorRegistry,
    PluginMarketplace,
    PluginStore,
    Registry,
    RegistryAccessError,
    export_registry,
)
from pliers_lab.market.service import serve_registry
from pliers_lab.pdk.cli import main

CRM = {"network": {"outbound": ["api.crm.test"]}}


def test_an_exported_registry_installs_offline(
    registry: Registry, publish, store: PluginStore, engine: Engine, tmp_path: Path
) -> None:
    publish("base", "1.0.0", keywords=["memo"])
    publish("notes", "1.0.0", dependencies={"base": "^1.0.0"}, changes=["first"])
    publish("notes", "1.1.0", dependencies={"base": "^1.0.0"}, permissions=CRM)
    mirror = tmp_path / "mirror"
    about = export_registry(registry, mirror)
    assert (about["plugins"], about["versions"], about["source"]) == (2, 3, str(registry.root))
    assert sorted(p.relative_to(mirror).as_posix() for p in mirror.rglob("*.zip")) == [
        "bundles/base/base-1.0.0.zip",
        "bundles/notes/notes-1.0.0.zip",
        "bundles/notes/notes-1.1.0.zip",
    ]
    local = PluginMarketplace(registry, PluginStore(tmp_path / "other"))
    for source in (mirror, mirror.as_uri(), str(mirror)):
        offline = PluginMarketplace(source, PluginStore(tmp_path / "probe"))
        assert isinstance(offline.registry, MirrorRegistry)
        assert offline.search("memo") == local.search("memo")
        assert offline.get_versions("notes") == local.get_versions("notes")
        assert offline.get_categories() == local.get_categories()
    market = PluginMarketplace(mirror.as_uri(), store, engine=engine)
    assert market.install("notes", "1.0.0").dependencies[0]["name"] == "base"
    plan = market.plan_update("notes")
    assert plan.to_version == "1.1.0" and plan.needs_consent
    assert market.update("notes", accept_permissions=True).to_dict()["newVersion"] == "1.1.0"
    assert market.rollback("notes").to_dict()["newVersion"] == "1.0.0"
    assert registry.version("notes", "1.0.0").downloads == 0  # offline: nothing counted
    with pytest.raises(RegistryAccessError, match="read only"):
        market.registry.publish(Path("x.zip"))  # type: ignore[attr-defined]


def test_exporting_again_brings_the_mirror_up_to_date(
    registry: Registry, publish, tmp_path: Path
) -> None:
    publish("notes", "1.0.0")
    publish("audit", "1.0.0")
    mirror = tmp_path / "mirror"
    export_registry(registry, mirror)
    kept = mirror / "bundles/notes/notes-1.0.0.zip"
    os.utime(kept, (1, 1))
    publish("notes", "1.1.0")
    registry.unpublish("audit", "1.0.0", user="ann")
    about = export_registry(registry.root, mirror)
    assert (about["plugins"], about["versions"]) == (1, 2)
    assert kept.stat().st_mtime == 1  # unchanged bundles stay as they were
    assert not (mirror / "bundles/audit").exists()
    assert [v.version for v in MirrorRegistry(mirror).plugin("notes").versions] == [
        "1.1.0",
        "1.0.0",
    ]


def test_a_path_names_a_registry_or_a_mirror_never_a_new_one(
    registry: Registry, tmp_path: Path
) -> None:
    from pliers_lab.market import open_registry

    assert isinstance(open_registry(str(registry.root)), Registry)
    with pytest.raises(MarketError, match=r"neither a registry .* nor a mirror"):
        PluginMarketplace(tmp_path / "typo", PluginStore(tmp_path / "store"))
    assert not (tmp_path / "typo").exists()


def test_export_refuses_a_folder_of_something_else(registry: Registry, tmp_path: Path) -> None:
    elsewhere = tmp_path / "docs"
    elsewhere.mkdir()
    (elsewhere / "thesis.tex").write_text("do not overwrite")
    with pytest.raises(MarketError, match="not empty and not a mirror"):
        export_registry(registry, elsewhere)
    with pytest.raises(MarketError, match="not a registry mirror"):
        MirrorRegistry(elsewhere)
    (elsewhere / "mirror.json").write_text("{broken")
    with pytest.raises(MarketError, match="cannot be read as a mirror"):
        MirrorRegistry(elsewhere)


def test_a_tampered_mirror_is_refused_at_install(
    registry: Registry, publish, store: PluginStore, engine: Engine, tmp_path: Path, snap
) -> None:
    publish("notes", "1.0.0")
    mirror = tmp_path / "mirror"
    export_registry(registry, mirror)
    bundle = mirror / "bundles/notes/notes-1.0.0.zip"
    with zipfile.ZipFile(bundle, "a") as zf:
        zf.writestr("extra.py", "import os\n")
    before = snap(store.root)
    with pytest.raises(BundleError, match="not listed in"):
        PluginMarketplace(mirror, store, engine=engine).install("notes")
    assert snap(store.root) == before
    records = json.loads((mirror / "records.json").read_text())
    records["plugins"][0]["name"] = "../../escape"
    (mirror / "records.json").write_text(json.dumps(records))
    with pytest.raises(MarketError, match="not a plugin name"):
        PluginMarketplace(mirror, store).search("notes")


def test_a_service_exports_without_counting_downloads(
    registry: Registry, publish, tmp_path: Path
) -> None:
    publish("notes", "1.0.0")
    with serve_registry(registry) as server:
        about = export_registry(server.url, tmp_path / "mirror")
    assert about["source"] == server.url and about["versions"] == 1
    assert registry.version("notes", "1.0.0").downloads == 0
    assert MirrorRegistry(tmp_path / "mirror").download("notes", "1.0.0").is_file()


def test_pliers_registry_export(
    registry: Registry, publish, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    publish("notes", "1.0.0")
    mirror = tmp_path / "mirror"
    assert main(["registry", "export", str(mirror), "--root", str(registry.root)]) == 0
    out = capsys.readouterr().out
    assert "exported 1 plugins (1 versions)" in out and mirror.as_uri() in out
    assert (mirror / "mirror.json").is_file()
    assert main(["registry", "export", str(tmp_path / "m2"), "--root", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "pliers registry export: --root" in err and "not a registry" in err
    assert not (tmp_path / "nope").exists()
