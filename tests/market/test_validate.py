"""``validate``: the REST ``POST /plugins/validate`` report, never an exception."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from pliers_lab.market import PluginMarketplace, build_bundle

from .conftest import EXTENSIONS


def test_a_good_bundle(market: PluginMarketplace, dist: Path, key) -> None:
    bundle = build_bundle(EXTENSIONS / "csv-export", dist, signing_key=key)
    report = market.validate(bundle).to_dict()
    assert report["valid"] is True
    assert report["manifest"] == {
        "valid": True,
        "errors": [],
        "pluginId": "csv-export",
        "version": "1.0.0",
    }
    assert report["security"] == {"safe": True, "issues": [], "score": 100, "recommendations": []}
    assert report["dependencies"] == {"resolved": [], "conflicts": [], "missing": []}
    assert report["signature"]["status"] == "verified"
    assert report["package"]["files"][0] == "README.md"
    json.dumps(report)


def test_dependencies_resolve_against_registry_and_store(
    market, publish, make_plugin, dist
) -> None:
    publish("base", "1.0.0")
    market.install("base")
    publish("extra", "2.0.0")
    folder = make_plugin(
        "newcomer",
        dependencies={"base": "^1.0.0", "extra": "^2.0.0"},
        optionalDependencies={"nice": "*"},
    )
    report = market.validate(build_bundle(folder, dist)).to_dict()
    assert report["dependencies"]["resolved"] == [
        {"name": "base", "version": "1.0.0", "installed": True},
        {"name": "extra", "version": "2.0.0", "installed": False},
    ]
    assert report["dependencies"]["missing"] == [
        {"name": "nice", "range": "*", "requiredBy": "newcomer", "optional": True}
    ]
    assert report["valid"] is True and report["signature"]["status"] == "unsigned"


def test_missing_and_conflicting_dependencies(market, publish, make_plugin, dist) -> None:
    publish("base", "1.0.0")
    market.install("base")
    folder = make_plugin("greedy", dependencies={"base": "^2.0.0", "ghost": "^1.0.0"})
    report = market.validate(build_bundle(folder, dist)).to_dict()
    deps = report["dependencies"]
    assert report["valid"] is False
    assert deps["missing"] == [{"name": "ghost", "range": "^1.0.0", "requiredBy": "greedy"}]
    assert [(c["plugin1"], c["dependency"]) for c in deps["conflicts"]] == [("greedy", "base")]


def test_an_invalid_manifest_lists_its_problems(market: PluginMarketplace, tmp_path: Path) -> None:
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(
            "manifest.json", json.dumps({"name": "bad", "version": "x", "hooks": {"nope": {}}})
        )
        zf.writestr("plugin.py", "import pickle\n")
    report = market.validate(path).to_dict()
    assert report["valid"] is False and report["package"]["valid"] is True
    paths = {e["path"] for e in report["manifest"]["errors"]}
    assert {"version", "description", "engines"} <= paths
    assert report["security"]["safe"] is False
    assert report["security"]["issues"][0]["type"] == "unsafe-deserialization"


def test_a_broken_package_is_reported(market: PluginMarketplace, tmp_path: Path) -> None:
    path = tmp_path / "slip.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", "{}")
        zf.writestr("../../etc/cron.d/x", "* * * * * root sh")
    report = market.validate(path).to_dict()
    assert report["valid"] is False
    assert (
        report["package"]["valid"] is False and report["package"]["entry"] == "../../etc/cron.d/x"
    )
    assert "zip-slip" in report["package"]["errors"][0]
