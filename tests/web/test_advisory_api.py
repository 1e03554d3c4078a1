"""``/v3/advisories`` and ``/v3/plugins/{id}/trust`` over a real server, registry, store
and engine (issue 19 §2)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import pliers_lab.market as market_pkg
from pliers_lab import Engine, PluginState, TrustPolicy

from .test_market import publish


@pytest.fixture
def api(tmp_path: Path, engine: Engine, start: Callable[..., Any]) -> Any:
    import httpx

    from pliers_lab.web import serve

    key = market_pkg.SigningKey.generate()
    registry = market_pkg.Registry(tmp_path / "registry")
    registry.register_key("ann", key.public_key)
    store = market_pkg.PluginStore(tmp_path / "store")
    store.trust_key(key.public_key, "ann")
    engine.trust_policy = TrustPolicy(keys={key.key_id})
    for version in ("1.0.0", "1.1.0"):
        publish(tmp_path, registry, key, version)
    marketplace = market_pkg.PluginMarketplace(registry, store, engine=engine)
    marketplace.install("exporter", "1.0.0")
    server = serve(engine, marketplace=marketplace)
    client = httpx.Client(base_url=server.url, headers=server.headers(), timeout=30.0)
    client.state = server.app.state.pliers  # type: ignore[attr-defined]
    client.registry, client.market = registry, marketplace  # type: ignore[attr-defined]
    yield client
    client.close()
    server.stop()


def _advise(registry: Any) -> Any:
    return market_pkg.Advisories(registry).publish(
        "exporter", user="ann", affected=">=1.0.0 <1.1.0", severity="critical",
        title="exports to a third host", fixed_version="1.1.0",
    )  # fmt: skip


def test_advisories_are_listed_with_the_update_and_warn_keeps_it_running(
    api: Any, engine: Engine
) -> None:
    assert api.get("/v3/advisories").json() == {"policy": "warn", "advisories": []}
    advisory = _advise(api.registry)
    body = api.get("/v3/advisories").json()
    [found] = body["advisories"]
    assert (found["pluginId"], found["installedVersion"]) == ("exporter", "1.0.0")
    assert found["advisory"]["id"] == advisory.id and found["advisory"]["severity"] == "critical"
    assert found["update"]["newVersion"] == "1.1.0" and found["action"] == "warned"
    assert engine.plugin("exporter").state is PluginState.ACTIVE
    one = api.get("/v3/plugins/exporter/advisories").json()
    assert [a["id"] for a in one["advisories"]] == [advisory.id]
    assert [a["advisory"]["id"] for a in one["affecting"]] == [advisory.id]
    # the offered update goes through the ordinary route
    r = api.put("/v3/plugins/exporter", json={"version": found["update"]["newVersion"]})
    assert r.status_code == 200, r.text
    assert api.get("/v3/advisories").json()["advisories"] == []


def test_under_disable_the_api_check_stops_the_plugin(api: Any, engine: Engine) -> None:
    api.state.advisories = market_pkg.AdvisoryWatch(api.market, engine=engine, policy="disable")
    assert engine.fire("export.format", {"format": "x"}).value == {"version": "1.0.0"}
    advisory = _advise(api.registry)
    [found] = api.get("/v3/advisories").json()["advisories"]
    assert (found["action"], found["state"]) == ("disabled", "stopped")
    assert engine.fire("export.format", {"format": "x"}).value is None
    assert any(
        e["type"] == "plugin.advisory" and e["data"]["advisoryId"] == advisory.id
        for e in engine.activity.recent
    )


def test_the_trust_score_shows_its_signals(api: Any) -> None:
    body = api.get("/v3/plugins/exporter/trust", params={"version": "1.0.0"}).json()
    assert body["pluginId"] == "exporter" and body["version"] == "1.0.0"
    signals = {s["name"]: s for s in body["signals"]}
    assert signals["key trust"]["value"] == 1.0  # the server's store trusts ann
    assert (
        signals["runtime"]["known"] is False and "not run here yet" in signals["runtime"]["detail"]
    )
    assert 0 <= body["score"] <= 100
    r = api.get("/v3/plugins/nothing/trust")
    assert r.status_code == 404 and r.json()["error"]["code"] == "PLUGIN_NOT_FOUND"
    r = api.get("/v3/plugins/exporter/trust", params={"version": "x" * 300})
    assert r.status_code == 400 and "query.version" in r.json()["error"]["message"]


def test_the_security_monitor_takes_the_servers_advisories(api: Any) -> None:
    """Issue 19 §3: a threat over the management API counts the registry's advisories."""
    assert api.get("/v3/plugins/exporter/threats").json()["threats"] == []
    advisory = _advise(api.registry)
    [threat] = api.get("/v3/plugins/exporter/threats").json()["threats"]
    assert threat["version"] == "1.0.0" and threat["severity"] == "critical"
    assert threat["action"] == "update" and "fixed in 1.1.0" in threat["summary"]
    assert [e["id"] for e in threat["evidence"]] == [advisory.id]
