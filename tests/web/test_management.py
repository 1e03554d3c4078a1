"""The management REST API end to end: a real server, plugins loaded from folders."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from web.helpers import endpoint_manifest

from pliers_lab import Engine, TrustPolicy

GREETER = """
calls = []

def hi(request):
    calls.append(request.metadata.request_id)
    return {"status": 200, "body": {"text": request.config["greeting"] * request.config["times"]}}

def fail(request):
    raise RuntimeError(f"broken call {len(calls)}")

def on_activate(plugin):
    plugin.logger.info("greeter ready", greeting=plugin.config["greeting"])
"""
SCHEMA = {
    "type": "object",
    "properties": {
        "greeting": {"type": "string", "minLength": 1, "default": "hello"},
        "times": {"type": "integer", "minimum": 1, "maximum": 5, "default": 1},
    },
}


def write(root: Path, name: str, version: str = "1.0.0", **extra: Any) -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    endpoints = [
        {"path": f"/plugins/{name}/hi", "method": "GET", "handler": "hi"},
        {"path": f"/plugins/{name}/fail", "method": "GET", "handler": "fail"},
    ]
    manifest = endpoint_manifest(
        name,
        endpoints,
        version=version,
        main="plugin.py",
        categories=["integration"],
        keywords=["greeting"],
        configuration={"schema": "schema.json"},
        **extra,
    )
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "plugin.py").write_text(GREETER)
    (folder / "schema.json").write_text(json.dumps(SCHEMA))
    return folder


@pytest.fixture
def api(tmp_path: Path, client: Callable[..., Any], engine: Engine) -> Any:
    """A client on a server whose plugin root is ``tmp_path``, with the admin token.

    Path installs are bundles to the engine (issue 13 §1); these tests are about HTTP, so
    the engine trusts the plugin root and they run inline like the rest of the web tests.
    """
    engine.trust_policy = TrustPolicy(folders=[tmp_path])
    c = client(
        plugin_roots=(tmp_path,),
        management_limits={
            "general": (1000, 60.0),
            "install": (10, 60.0),
            "upload": (5, 60.0),
            "search": (50, 60.0),
        },
    )
    c.headers["authorization"] = f"Bearer {c.server.token}"
    c.root = tmp_path
    return c


def install(api: Any, name: str, **extra: Any) -> Any:
    write(api.root, name, **extra)
    return api.post("/v3/plugins", json={"source": "path", "path": str(api.root / name)})


def test_the_api_needs_an_admin_token(client: Callable[..., Any]) -> None:
    c = client()
    r = c.get("/v3/plugins")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    user = c.server.app.state.pliers.tokens.issue("eve", roles=["viewer"])
    r = c.get("/v3/plugins", headers={"authorization": f"Bearer {user}"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "PERMISSION_DENIED"
    assert c.get("/healthz").json()["status"] == "ok"  # liveness needs no token


def test_install_list_and_details(api: Any, engine: Engine) -> None:
    r = install(api, "greeter")
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["pluginId"], body["version"], body["status"]) == ("greeter", "1.0.0", "active")
    assert api.get("/plugins/greeter/hi").json() == {"text": "hello"}
    for name in ("alpha", "beta"):
        assert install(api, name).status_code == 201
    engine.disable("beta")
    listing = api.get("/v3/plugins", params={"limit": 2}).json()
    assert [p["id"] for p in listing["plugins"]] == ["alpha", "beta"]
    assert listing["pagination"] == {"total": 3, "limit": 2, "offset": 0, "hasMore": True}
    page = api.get("/v3/plugins", params={"limit": 2, "offset": 2}).json()
    assert [p["id"] for p in page["plugins"]] == ["greeter"] and not page["pagination"]["hasMore"]
    assert [
        p["id"] for p in api.get("/v3/plugins", params={"status": "inactive"}).json()["plugins"]
    ] == ["beta"]
    desc = api.get("/v3/plugins", params={"sort": "name", "order": "desc"}).json()
    assert [p["id"] for p in desc["plugins"]] == ["greeter", "beta", "alpha"]
    assert api.get("/v3/plugins", params={"search": "gree"}).json()["pagination"]["total"] == 3
    r = api.get("/v3/plugins", params={"limit": 500})
    assert (
        r.status_code == 400 and r.json()["error"]["details"]["errors"][0]["path"] == "query.limit"
    )
    details = api.get("/v3/plugins/greeter").json()
    assert details["config"]["current"] == {"greeting": "hello", "times": 1}
    assert details["config"]["isValid"] is True
    assert details["dependencies"]["status"] == "satisfied"
    assert [e["served"] for e in details["endpointList"]] == [True, True]
    assert details["metrics"]["execution"]["count"] == 1


def test_a_path_install_is_a_bundle_sandboxed_unless_trusted(api: Any, engine: Engine) -> None:
    """Issue 13 §1: the folder was named over HTTP, so its manifest's ``isolation:
    inline`` is only a request; the engine's TrustPolicy decides."""
    engine.trust_policy = TrustPolicy()
    r = install(api, "pushy", isolation="inline")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["isolation"] == "process" and "asks to run inline" in body["warnings"][0]
    assert api.get("/plugins/pushy/hi").json() == {"text": "hello"}  # served from a worker
    details = api.get("/v3/plugins/pushy").json()
    assert details["isolation"] == "process" and details["warnings"] == body["warnings"]
    assert details["trust"] == {
        "origin": "bundle",
        "signer": None,
        "trusted": None,
        "placement": "untrusted bundle: always sandboxed",
    }
    status = api.get("/v3/plugins/pushy/status").json()
    assert status["isolation"] == "process" and status["warnings"] == body["warnings"]
    listed = api.get("/v3/plugins").json()["plugins"]
    assert listed[0]["warnings"] == body["warnings"]
    engine.trust_policy = TrustPolicy(folders=[api.root])
    assert api.put("/v3/plugins/pushy", json={}).status_code == 200  # decided again
    details = api.get("/v3/plugins/pushy").json()
    assert details["isolation"] == "inline" and details["warnings"] == []
    assert details["trust"]["origin"] == "bundle"
    assert details["trust"]["trusted"] == f"under trusted folder {api.root.resolve()}"


def test_install_errors(api: Any, tmp_path: Path) -> None:
    assert install(api, "greeter").status_code == 201
    r = install(api, "greeter")
    assert r.status_code == 409 and r.json()["error"]["code"] == "PLUGIN_ALREADY_EXISTS"
    r = api.post("/v3/plugins", json={"source": "path", "path": "/etc"})
    assert r.status_code == 403
    r = api.post("/v3/plugins", json={"pluginId": "greeter", "version": "1.0.0"})
    assert r.status_code == 503 and r.json()["error"]["code"] == "MARKETPLACE_UNAVAILABLE"
    r = api.post("/v3/plugins", files={"package": ("p.zip", b"PK")})
    assert r.status_code == 503
    r = install(api, "needy", dependencies={"absent": "^1.0.0"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "DEPENDENCY_CONFLICT"
    broken = write(tmp_path, "broken")
    (broken / "manifest.json").write_text('{"name": "broken"}')
    r = api.post("/v3/plugins", json={"source": "path", "path": str(broken)})
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_PLUGIN_PACKAGE"
    assert r.json()["error"]["details"]["errors"]
    r = api.get("/v3/plugins/nobody")
    assert r.status_code == 404 and r.json()["error"]["code"] == "PLUGIN_NOT_FOUND"


def test_configuration(api: Any) -> None:
    install(api, "greeter")
    r = api.post("/v3/plugins/greeter/config/validate", json={"times": 9, "colour": "red"})
    body = r.json()
    assert body["valid"] is False
    assert {(e["path"], e["value"]) for e in body["errors"]} == {("times", 9), ("<root>", None)}
    r = api.put("/v3/plugins/greeter/config", json={"times": 9})
    assert r.status_code == 400 and r.json()["error"]["code"] == "CONFIGURATION_INVALID"
    r = api.put("/v3/plugins/greeter/config", json={"greeting": "hey", "times": 2})
    body = r.json()
    assert body["isValid"] is True
    assert body["restartRequired"] is True  # on_activate, no on_config_change
    assert body["changes"] == ["greeting: 'hello' -> 'hey'", "times: 1 -> 2"]
    assert api.get("/plugins/greeter/hi").json() == {"text": "heyhey"}
    config = api.get("/v3/plugins/greeter/config").json()
    assert config["current"] == {"greeting": "hey", "times": 2} and config["lastUpdated"]
    assert config["schema"] == SCHEMA


def test_start_stop_restart_and_status(api: Any) -> None:
    install(api, "greeter")
    r = api.post("/v3/plugins/greeter/stop", json={"reason": "maintenance"})
    body = r.json()
    assert (body["action"], body["previousStatus"], body["currentStatus"]) == (
        "stop",
        "active",
        "stopped",
    )
    assert api.get("/plugins/greeter/hi").status_code == 404
    status = api.get("/v3/plugins/greeter/status").json()
    assert status["status"] == "inactive" and status["disabledReason"] == "maintenance"
    assert api.post("/v3/plugins/greeter/start").json()["currentStatus"] == "active"
    assert api.get("/plugins/greeter/hi").status_code == 200
    r = api.post("/v3/plugins/greeter/restart", json={"timeout": 5000})
    assert r.json()["currentStatus"] == "active"
    status = api.get("/v3/plugins/greeter/status").json()
    assert status["restarts"] == 1
    # Inline: no per-plugin limit applies and nothing is its own to measure (issue 18 §1)
    assert status["resources"]["memory"] == {"current": None, "limit": None, "unit": "MiB"}
    assert status["resources"]["cpu"]["limit"] is None
    assert status["limits"]["applied"] is False and "inline" in status["limits"]["reason"]
    assert "runs inline" in status["resources"]["notMeasured"]["memoryUsage.current"]
    assert api.post("/v3/plugins/greeter/restart", json={"timeout": -1}).status_code == 400


def test_metrics_logs_and_grouped_errors(api: Any) -> None:
    install(api, "greeter")
    for _ in range(3):
        api.get("/plugins/greeter/hi")
    for _ in range(4):
        assert api.get("/plugins/greeter/fail").status_code == 500
    metrics = api.get("/v3/plugins/greeter/metrics", params={"period": "1h"}).json()
    assert metrics["granularity"] == "minute" and len(metrics["execution"]) >= 60
    assert sum(b["count"] for b in metrics["execution"]) == 7
    assert sum(b["errorCount"] for b in metrics["execution"]) == 4
    assert sum(b["count"] for b in metrics["errors"]) == 4
    assert {e["endpoint"]: e["count"] for e in metrics["endpoints"]} == {
        "GET /plugins/greeter/hi": 3,
        "GET /plugins/greeter/fail": 4,
    }
    only = api.get(
        "/v3/plugins/greeter/metrics", params={"metrics": "errors", "period": "7d"}
    ).json()
    assert "execution" not in only and only["granularity"] == "hour"
    assert api.get("/v3/plugins/greeter/metrics", params={"period": "2y"}).status_code == 400
    logs = api.get("/v3/plugins/greeter/logs").json()
    assert logs["logs"][-1]["message"] == "greeter ready"
    assert logs["logs"][-1]["context"]["greeting"] == "hello"
    errors = api.get(
        "/v3/plugins/greeter/logs", params={"level": "error", "search": "broken"}
    ).json()
    assert errors["total"] == 4 and all(e["level"] == "error" for e in errors["logs"])
    grouped = api.get("/v3/plugins/greeter/errors").json()
    (group,) = grouped["errors"]
    assert group["occurrences"] == 4 and group["type"] == "runtime_error"
    assert group["hook"] == "GET /plugins/greeter/fail" and group["resolved"] is False
    assert group["firstSeen"] <= group["lastSeen"]
    assert grouped["summary"]["bySeverity"]["medium"] == 4
    assert (
        api.get("/v3/plugins/greeter/errors", params={"severity": "critical"}).json()["errors"]
        == []
    )
    api.post("/v3/plugins/greeter/restart")
    assert api.get("/v3/plugins/greeter/errors", params={"resolved": "true"}).json()["total"] == 1


def test_update_uninstall_and_dependents(api: Any, engine: Engine) -> None:
    install(api, "base")
    install(api, "addon", dependencies={"base": "^1.0.0"})
    write(api.root, "base", version="1.1.0")
    r = api.put("/v3/plugins/base", json={})
    assert r.status_code == 200, r.text
    assert r.json()["changes"] == ["version: 1.0.0 -> 1.1.0"]
    assert engine.plugin("base").version == "1.1.0"
    r = api.put("/v3/plugins/base", json={"version": "9.9.9"})
    assert r.status_code == 503
    r = api.delete("/v3/plugins/base")
    assert r.status_code == 409 and r.json()["error"]["details"]["dependents"] == ["addon"]
    r = api.delete("/v3/plugins/base", params={"force": "true"})
    assert r.json()["affectedPlugins"] == ["addon"]
    assert "base" not in engine and "addon" not in engine
    assert api.get("/plugins/base/hi").status_code == 404


def test_management_rate_limits(client: Callable[..., Any]) -> None:
    c = client(
        management_limits={
            "general": (2, 60.0),
            "install": (1, 60.0),
            "upload": (1, 60.0),
            "search": (1, 60.0),
        }
    )
    headers = {"authorization": f"Bearer {c.server.token}"}
    answers = [c.get("/v3/plugins", headers=headers) for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 429]
    assert answers[0].headers["x-ratelimit-limit"] == "2"
    assert answers[2].json()["error"]["code"] == "RATE_LIMITED"
    assert c.get("/v3/marketplace/search", headers=headers).status_code == 503
    assert c.get("/v3/marketplace/search", headers=headers).status_code == 429
    assert c.get("/v3/nowhere", headers=headers).json()["error"]["code"] == "ROUTE_NOT_FOUND"


def test_served_endpoints(api: Any, add: Callable[..., Any]) -> None:
    install(api, "greeter")
    add(
        "quiet",
        [{"path": "/plugins/quiet/x", "method": "GET", "handler": "h"}],
        {"h": lambda request: None},
        permissions={"network": ["inbound"]},  # but no api.register
    )
    body = api.get("/v3/endpoints").json()
    assert sorted(e["path"] for e in body["endpoints"]) == [
        "/plugins/greeter/fail",
        "/plugins/greeter/hi",
    ]
    assert [p["pluginId"] for p in body["problems"]] == ["quiet"]
