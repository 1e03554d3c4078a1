"""Issue 19's first "done when": two engines on two ports share one registry service
started on a free loopback port. One publishes; the other finds, installs, updates (the
permission diff shown first, the update refused until it is accepted) and rolls back —
each step over HTTP: the engines' management APIs, and the registry service behind them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from market.conftest import write_plugin

from pliers_lab import Engine
from pliers_lab.market import (
    PluginMarketplace,
    PluginStore,
    Registry,
    RemoteRegistry,
    SigningKey,
    build_bundle,
)
from pliers_lab.market.service import serve_registry
from pliers_lab.web import Server, serve

CRM = {"network": {"outbound": ["api.crm.test"]}, "events": ["subscribe"]}


class Node:
    """An engine with its store and marketplace on the registry's URL, served on a port."""

    def __init__(self, name: str, root: Path, registry: Any, key: SigningKey) -> None:
        self.engine = Engine()
        self.store = PluginStore(root / name)
        self.store.trust_key(key.public_key, "ann")
        self.market = PluginMarketplace(registry, self.store, engine=self.engine)
        self.server = serve(self.engine, marketplace=self.market)
        self.http = httpx.Client(
            base_url=self.server.url, headers=self.server.headers(), timeout=60
        )

    def close(self) -> None:
        self.http.close()
        self.server.stop()
        self.engine.close()

    def answer(self) -> Any:
        return self.engine.fire("export.format", {"format": "notes"}).value["version"]


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[tuple[Registry, Server]]:
    registry = Registry(tmp_path / "registry")
    with serve_registry(registry, "127.0.0.1", 0) as service:
        yield registry, service


def test_two_engines_share_one_registry_service_over_http(
    shared: tuple[Registry, Server], tmp_path: Path
) -> None:
    registry, service = shared
    key = SigningKey.generate()
    registry.register_key("ann", key.public_key)  # the registry's operator trusts ann's key
    publisher = RemoteRegistry(service.url, user="ann", key=key)
    a = Node("a", tmp_path, publisher, key)
    b = Node("b", tmp_path, service.url, key)
    try:
        ports = {a.server.url, b.server.url, service.url}
        assert len(ports) == 3 and all(u.startswith("http://127.0.0.1:") for u in ports)

        # A publishes over HTTP (a signed request; the bundle signed by the same key)
        v1 = write_plugin(tmp_path / "src", "notes", "1.0.0", keywords=["memo"])
        published = a.market.registry.publish(  # type: ignore[attr-defined]
            build_bundle(v1, tmp_path / "dist", signing_key=key), changes=["first release"]
        )
        assert (published.plugin_id, published.version) == ("notes", "1.0.0")

        # B finds it through its own management API, which asks the registry service
        found = b.http.get("/v3/marketplace/search", params={"q": "memo"})
        assert found.status_code == 200, found.text
        assert [p["id"] for p in found.json()["plugins"]] == ["notes"]
        details = b.http.get("/v3/marketplace/plugins/notes").json()
        assert details["version"] == "1.0.0" and details["installed"] is None

        # ... installs it: downloaded over HTTP, verified with B's own trusted keys
        installed = b.http.post("/v3/plugins", json={"pluginId": "notes"})
        assert installed.status_code == 201, installed.text
        assert installed.json()["signatures"]["notes@1.0.0"]["status"] == "verified"
        assert b.http.get("/v3/plugins/notes").json()["version"] == "1.0.0"
        assert b.answer() == "1.0.0"
        assert "notes" not in a.engine  # A only published

        # A publishes 1.1.0, which asks for more permissions
        v2 = write_plugin(tmp_path / "src", "notes", "1.1.0", permissions=CRM)
        a.market.registry.publish(  # type: ignore[attr-defined]
            build_bundle(v2, tmp_path / "dist", signing_key=key), changes=["talks to the CRM"]
        )

        # B sees the update and its permission diff before anything changes
        plan = b.http.get("/v3/plugins/notes/update-plan")
        assert plan.status_code == 200, plan.text
        assert plan.json()["newVersion"] == "1.1.0" and plan.json()["needsConsent"] is True
        added = {
            (p["category"], p["verb"], p["resource"]) for p in plan.json()["permissions"]["added"]
        }
        assert added == {("network", "outbound", "api.crm.test"), ("events", "subscribe", "*")}
        assert plan.json()["changes"] == ["talks to the CRM"]
        refused = b.http.put("/v3/plugins/notes", json={})
        assert refused.status_code == 403, refused.text
        error = refused.json()["error"]
        assert error["code"] == "PERMISSION_DENIED" and "api.crm.test" in error["message"]
        assert error["details"]["permissions"]["added"] == plan.json()["permissions"]["added"]
        assert b.answer() == "1.0.0"  # still the old one
        accepted = b.http.put("/v3/plugins/notes", json={"acceptPermissions": True})
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["newVersion"] == "1.1.0"
        assert b.http.get("/v3/plugins/notes").json()["version"] == "1.1.0"
        assert b.answer() == "1.1.0"

        # ... and rolls back
        back = b.http.post("/v3/plugins/notes/rollback", json={})
        assert back.status_code == 200, back.text
        assert (back.json()["oldVersion"], back.json()["newVersion"]) == ("1.1.0", "1.0.0")
        assert b.http.get("/v3/plugins/notes").json()["version"] == "1.0.0"
        assert b.answer() == "1.0.0"

        # the registry recorded B's downloads; A, which publishes, can install too
        assert [registry.version("notes", v).downloads for v in ("1.0.0", "1.1.0")] == [1, 1]
        assert a.http.post("/v3/plugins", json={"pluginId": "notes"}).status_code == 201
        assert a.answer() == "1.1.0"
        assert registry.version("notes", "1.1.0").downloads == 2
    finally:
        a.close()
        b.close()


def test_the_engine_api_names_what_it_cannot_plan_or_roll_back(tmp_path: Path) -> None:
    with Engine() as engine:
        bare = serve(engine)
        try:
            with httpx.Client(base_url=bare.url, headers=bare.headers()) as http:
                reply = http.post("/v3/plugins/notes/rollback", json={})
                assert reply.status_code == 503
                assert reply.json()["error"]["code"] == "MARKETPLACE_UNAVAILABLE"
        finally:
            bare.stop()
        market = PluginMarketplace(Registry(tmp_path / "r"), PluginStore(tmp_path / "s"))
        served = serve(engine, marketplace=market)
        try:
            with httpx.Client(base_url=served.url, headers=served.headers()) as http:
                reply = http.get("/v3/plugins/ghost/update-plan")
                assert reply.status_code == 404, reply.text
                assert "the marketplace did not install it" in reply.json()["error"]["message"]
        finally:
            served.stop()
