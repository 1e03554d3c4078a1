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


def test_unsigned_and_unknown_keys_stay_valid_but_say_so(
    market: PluginMarketplace, dist: Path, other_key
) -> None:
    """Issue 13 §1: validate no longer answers a bare "valid" for these."""
    unsigned = market.validate(build_bundle(EXTENSIONS / "csv-export", dist)).to_dict()
    assert unsigned["valid"] is True and unsigned["signature"]["status"] == "unsigned"
    assert unsigned["warnings"] == [
        "unsigned: no .pliers/signature.json; it will run sandboxed and cannot be trusted by "
        "key (installing it needs allow_unsigned)"
    ]
    signed = build_bundle(EXTENSIONS / "audit-log", dist, signing_key=other_key, signer="eve")
    stranger = market.validate(signed).to_dict()
    assert stranger["valid"] is True and stranger["signature"]["status"] == "untrusted"
    (warning,) = stranger["warnings"]
    assert warning.startswith(f"signed by key {other_key.key_id} (eve), which is not trusted here")


def test_a_forged_signature_or_an_inline_request_is_invalid(
    market: PluginMarketplace, dist: Path, key, other_key, make_plugin
) -> None:
    import base64

    from pliers_lab.market._package import SIGNATURE_FILE, rewrite_metadata

    path = build_bundle(EXTENSIONS / "csv-export", dist, signing_key=key)
    with zipfile.ZipFile(path) as zf:
        doc = json.loads(zf.read(SIGNATURE_FILE))
    doc["signature"] = base64.b64encode(other_key.sign(b"something else")).decode()
    rewrite_metadata(path, {SIGNATURE_FILE: json.dumps(doc).encode()})
    forged = market.validate(path).to_dict()
    assert forged["valid"] is False and forged["signature"]["status"] == "invalid"
    assert forged["warnings"][0].startswith("invalid signature: the signature does not verify")

    asking = build_bundle(make_plugin("greedy", isolation="inline"), dist, signing_key=key)
    report = market.validate(asking).to_dict()
    assert report["signature"]["status"] == "verified"  # a trusted signer does not change it
    assert report["valid"] is False and report["security"]["safe"] is False
    assert [(i["severity"], i["type"]) for i in report["security"]["issues"]] == [
        ("high", "inline-isolation")
    ]
    assert report["warnings"] == [
        'asks for isolation: "inline" (manifest.json): only the host decides that; a bundle '
        "runs sandboxed unless the host trusts its id, its signing key or its folder (the "
        "scan counts the request as high risk)"
    ]
