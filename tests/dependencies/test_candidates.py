"""Catalogs read flat (extensions/) and versioned (<name>/<version>/) folders."""

import json
from pathlib import Path

from support import manifest

from pliers_lab.dependencies import Catalog, resolve

EXTENSIONS = Path(__file__).parents[2] / "extensions"


def test_the_example_plugins_resolve_cleanly():
    catalog = Catalog().scan(EXTENSIONS)
    folders = sorted(p.parent.name for p in EXTENSIONS.glob("*/manifest.json"))
    assert catalog.names() == folders and len(catalog) >= 6 and catalog.problems == []
    assert resolve(catalog).ok


def test_a_versioned_store_keeps_versions_side_by_side(tmp_path):
    for version in ("1.0.0", "1.2.0", "2.0.0-beta.1"):
        folder = tmp_path / "store" / "audit" / version
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text(json.dumps(manifest("audit", version=version)))
        (folder / "plugin.py").write_text("")
    (tmp_path / "store" / "broken").mkdir()
    (tmp_path / "store" / "broken" / "manifest.json").write_text("{")
    catalog = Catalog().scan(tmp_path / "store")
    assert [s.version for s in catalog.versions("audit")] == ["2.0.0-beta.1", "1.2.0", "1.0.0"]
    assert len(catalog.problems) == 1 and "broken" in str(catalog.problems[0])
    assert catalog.versions("audit")[0].source.root.name == "2.0.0-beta.1"
