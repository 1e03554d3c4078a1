"""Issue 19, done when: an advisory published on the registry is seen by an engine that has
the affected version and, under the "disable" policy, the plugin stops running — all of
it over HTTP: a registry service on one loopback port, an engine with its management API
on another, installing from the service by URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from pliers_lab import Engine, PluginState
from pliers_lab.market import (
    AdvisoryWatch,
    PluginMarketplace,
    PluginStore,
    PluginVerification,
    Registry,
    RemoteAdvisories,
    SigningKey,
    build_bundle,
)
from pliers_lab.market.remote import RemoteRegistry
from pliers_lab.market.service import registry_app
from pliers_lab.web import serve
from pliers_lab.web._server import Server

from .conftest import write_plugin

ISSUE = {
    "severity": "high", "type": "data-exfiltration", "description": "rows go to a third host",
    "location": "plugin.py:8", "recommendation": "export locally",
}  # fmt: skip


def test_done_when_an_advisory_on_the_registry_service_stops_the_plugin(
    tmp_path: Path, key: SigningKey, other_key: SigningKey, engine: Engine
) -> None:
    registry = Registry(tmp_path / "registry")
    registry.register_key("ann", key.public_key)
    registry.register_key("bob", other_key.public_key)
    dist = tmp_path / "dist"
    dist.mkdir()

    def bundle(version: str) -> Path:
        folder = write_plugin(tmp_path / "src", "csvx", version)
        return build_bundle(folder, dist, signing_key=key)

    with Server(registry_app(registry)).start() as service:
        ann = RemoteRegistry(service.url, user="ann", key=key)
        ann.publish(bundle("1.0.0"))
        store = PluginStore(tmp_path / "store")
        store.trust_key(key.public_key, "ann")
        market = PluginMarketplace(service.url, store, engine=engine)  # by URL
        market.install("csvx")
        ask = {"format": "csvx"}
        assert engine.fire("export.format", ask).value["version"] == "1.0.0"
        ann.publish(bundle("1.1.0"), changes=["exports stay local"])

        # bob reports (a signed request), ann confirms: the advisory is on the service
        bob_client = RemoteAdvisories(service.url, prefix="/v1", user="bob", key=other_key)
        report = bob_client.report("csvx", ISSUE, version="1.0.0")
        ann_client = RemoteAdvisories(service.url, prefix="/v1", user="ann", key=key)
        advisory = ann_client.confirm(report.id, affected=">=1.0.0 <1.1.0", fixed_version="1.1.0")
        assert [a.id for a in registry_advisories(registry)] == [advisory.id]

        with serve(engine, marketplace=market) as web:
            state: Any = web.app.state.pliers
            state.advisories = AdvisoryWatch(market, policy="disable")  # its source: the URL
            api = httpx.Client(base_url=web.url, headers=web.headers(), timeout=30)
            [found] = api.get("/v3/advisories").json()["advisories"]
            assert (found["advisory"]["id"], found["installedVersion"]) == (advisory.id, "1.0.0")
            assert (found["action"], found["state"]) == ("disabled", "stopped")
            assert found["update"]["newVersion"] == "1.1.0"
            assert found["update"]["changes"] == ["exports stay local"]
            assert engine.plugin("csvx").state is PluginState.STOPPED
            assert engine.fire("export.format", ask).value is None  # it no longer runs
            events = [e for e in engine.activity.recent if e["type"] == "plugin.advisory"]
            assert [e["data"]["advisoryId"] for e in events] == [advisory.id]

            trust = api.get("/v3/plugins/csvx/trust", params={"version": "1.0.0"}).json()
            signals = {s["name"]: s for s in trust["signals"]}
            assert signals["advisories"]["value"] == 0.25 and trust["cap"] == 30
            assert signals["key trust"]["value"] == 1.0  # this engine's store trusts ann

            r = api.put("/v3/plugins/csvx", json={"version": "1.1.0"})  # the offered update
            assert r.status_code == 200, r.text
            assert api.post("/v3/plugins/csvx/start").status_code == 200
            assert engine.fire("export.format", ask).value["version"] == "1.1.0"
            assert api.get("/v3/advisories").json()["advisories"] == []
            api.close()
        verification = PluginVerification(RemoteRegistry(service.url), store=store, engine=engine)
        assert [a.id for a in verification.get_security_advisories("csvx")] == [advisory.id]


def registry_advisories(registry: Registry) -> list[Any]:
    from pliers_lab.market import Advisories

    return Advisories(registry).advisories("csvx")


def test_a_mirror_of_the_service_carries_its_advisories_to_an_offline_engine(
    tmp_path: Path, key: SigningKey, engine: Engine
) -> None:
    from pliers_lab.market.mirror import export_registry

    registry = Registry(tmp_path / "registry")
    registry.register_key("ann", key.public_key)
    folder = write_plugin(tmp_path / "src", "csvx", "1.0.0")
    registry.publish(build_bundle(folder, tmp_path, signing_key=key), user="ann")
    with Server(registry_app(registry)).start() as service:
        ann = RemoteAdvisories(service.url, prefix="/v1", user="ann", key=key)
        advisory = ann.publish("csvx", affected="1.0.0", severity="critical", title="t")
        export_registry(service.url, tmp_path / "mirror")
    assert (tmp_path / "mirror" / "advisories.json").is_file()
    store = PluginStore(tmp_path / "store")
    store.trust_key(key.public_key, "ann")
    market = PluginMarketplace(f"file://{tmp_path / 'mirror'}", store, engine=engine)
    market.install("csvx")
    [found] = AdvisoryWatch(market, policy="disable").check()  # no network: the mirror's file
    assert (found.advisory.id, found.action) == (advisory.id, "disabled")


def test_the_cli_reports_publishes_and_lists_against_the_service(
    tmp_path: Path, key: SigningKey, engine: Engine, capsys
) -> None:
    import json

    from pliers_lab.pdk.cli import main

    registry = Registry(tmp_path / "registry")
    registry.register_key("ann", key.public_key)
    folder = write_plugin(tmp_path / "src", "csvx", "1.0.0")
    registry.publish(build_bundle(folder, tmp_path, signing_key=key), user="ann")
    store = PluginStore(tmp_path / "store")
    store.trust_key(key.public_key, "ann")
    pem = key.save(tmp_path / "ann.pem")
    with Server(registry_app(registry)).start() as service:
        PluginMarketplace(service.url, store).install("csvx")
        url = service.url
        assert main(["advisories", "--registry", url, "--store", str(store.root)]) == 0
        capsys.readouterr()
        publish = ["advisory", "publish", "csvx", "--affected", "<2", "--severity", "medium",
                   "--title", "verbose log", "--registry", url, "--user", "ann"]  # fmt: skip
        assert main(publish) == 2  # no key for a service
        assert "name your signing key with --key" in capsys.readouterr().err
        assert main([*publish, "--key", str(pem)]) == 0
        advisory = json.loads(capsys.readouterr().out)
        assert advisory["publishedBy"] == "ann"  # the signer
        assert main(["advisories", "--registry", url, "--store", str(store.root)]) == 1
        assert f"csvx 1.0.0: {advisory['id']} medium (<2)" in capsys.readouterr().out
        assert main(["trust", "csvx", "--registry", url, "--store", str(store.root)]) == 0
        out = capsys.readouterr().out
        assert out.startswith("csvx@1.0.0: trust ") and advisory["id"] in out
