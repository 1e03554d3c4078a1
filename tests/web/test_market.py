"""The management API over a real marketplace (registry, signed bundles, store)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import pliers_lab.market as market_pkg
from pliers_lab import Engine

CODE = """
from pliers_lab import hook

@hook("export.format")
def answer(ctx):
    return {"version": %r} if ctx.data.get("format") == "x" else None
"""


def publish(root: Path, registry: Any, key: Any, version: str) -> None:
    folder = root / f"src-{version}"
    folder.mkdir(parents=True)
    manifest = {
        "name": "exporter",
        "version": version,
        "description": f"exporter at {version}",
        "author": "Tests <t@example.com>",
        "license": "MIT",
        "main": "plugin.py",
        "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
        "categories": ["reporting"],
        "keywords": ["export"],
        "isolation": "inline",
        "hooks": {"export.format": {"async": False}},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "plugin.py").write_text(CODE % version)
    dist = root / "dist"
    dist.mkdir(exist_ok=True)
    registry.publish(market_pkg.build_bundle(folder, dist, signing_key=key), user="ann")


@pytest.fixture
def api(tmp_path: Path, engine: Engine, start: Callable[..., Any]) -> Any:
    import httpx

    from pliers_lab.web import serve

    key = market_pkg.SigningKey.generate()
    registry = market_pkg.Registry(tmp_path / "registry")
    registry.register_key("ann", key.public_key)
    store = market_pkg.PluginStore(tmp_path / "store")
    store.trust_key(key.public_key, "ann")
    for version in ("1.0.0", "1.1.0"):
        publish(tmp_path, registry, key, version)
    marketplace = market_pkg.PluginMarketplace(registry, store, engine=engine)
    server = serve(engine, marketplace=marketplace)
    client = httpx.Client(base_url=server.url, headers=server.headers(), timeout=30.0)
    yield client
    client.close()
    server.stop()


def test_search_install_update_uninstall(api: Any, engine: Engine) -> None:
    found = api.get("/v3/marketplace/search", params={"q": "exporter"}).json()
    assert [p["id"] for p in found["plugins"]] == ["exporter"]
    assert api.get("/v3/marketplace/plugins/exporter").json()["id"] == "exporter"
    r = api.post("/v3/plugins", json={"pluginId": "exporter", "version": "1.0.0"})
    assert r.status_code == 201, r.text
    assert r.json()["version"] == "1.0.0"
    assert engine.fire("export.format", {"format": "x"}).value == {"version": "1.0.0"}
    r = api.post("/v3/plugins", json={"pluginId": "exporter"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "PLUGIN_ALREADY_EXISTS"
    r = api.put("/v3/plugins/exporter", json={"version": "1.1.0"})
    assert r.status_code == 200, r.text
    assert engine.plugin("exporter").version == "1.1.0"
    r = api.delete("/v3/plugins/exporter")
    assert r.status_code == 200, r.text
    assert "exporter" not in engine


def test_marketplace_errors_keep_their_codes(api: Any) -> None:
    r = api.post("/v3/plugins", json={"pluginId": "nobody"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "PLUGIN_NOT_FOUND"
    r = api.get("/v3/marketplace/search", params={"sort": "colour"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "VALIDATION_FAILED"
