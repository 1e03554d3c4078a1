"""The management API's security routes (issue 19 §3) on a real server: behaviour,
anomalies, threats, quarantine and release by hand, recorded; hostile input is a 4xx."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pliers_lab import Engine

HOOK = "submission.afterSave"
MANIFEST = {
    "name": "mailer",
    "version": "1.0.0",
    "description": "sends mail",
    "author": "Tests <tests@example.com>",
    "license": "MIT",
    "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
    "hooks": {HOOK: {"handler": "sent"}},
    "permissions": {"network": {"outbound": ["smtp.example.com:443"]}},
}


@pytest.fixture
def api(client: Callable[..., Any], engine: Engine) -> Any:
    engine.add_plugin(MANIFEST, {"sent": lambda ctx: "sent"})
    c = client(management_limits={"general": (1000, 60.0), "install": (10, 60.0),
                                  "upload": (5, 60.0), "search": (50, 60.0)})  # fmt: skip
    c.headers["authorization"] = f"Bearer {c.server.token}"
    return c


def _denied_burst(engine: Engine) -> None:
    """What a host service saw the plugin do: a destination it was never granted, six
    times (``log_access`` checks the manifest: each is denied)."""
    monitor = engine.security
    monitor.policy = type(monitor.policy)(learning_s=0.0)
    for _ in range(6):
        monitor.log_access("mailer", "network:exfil.example.net:443", "outbound")


def test_behaviour_anomalies_threats_quarantine_and_release(api: Any, engine: Engine) -> None:
    _denied_burst(engine)
    behavior = api.get("/v3/plugins/mailer/behavior").json()
    (version,) = behavior["versions"]
    assert version["version"] == "1.0.0" and version["denials"] == 6
    assert version["denied_hosts"] == ["exfil.example.net:443"]

    kinds = {a["kind"] for a in api.get("/v3/plugins/mailer/anomalies").json()["anomalies"]}
    assert kinds == {"new_destination", "denial_burst"}
    (threat,) = api.get("/v3/plugins/mailer/threats").json()["threats"]
    assert threat["action"] == "quarantine" and threat["severity"] == "critical"
    assert [t["id"] for t in api.get("/v3/security/threats").json()["threats"]] == [threat["id"]]

    r = api.post(
        "/v3/plugins/mailer/quarantine", json={"reason": "exfiltration", "threat": threat["id"]}
    )
    assert r.status_code == 200, r.text
    assert r.json()["quarantined"] == "exfiltration" and r.json()["status"] != "active"
    assert engine.fire(HOOK, {}).value == []
    refused = api.post("/v3/plugins/mailer/start", json={})  # it stays stopped
    assert refused.status_code == 409 and "quarantined" in refused.text, refused.text

    r = api.post("/v3/plugins/mailer/release", json={"reason": "false alarm"})
    assert r.status_code == 200 and r.json()["status"] == "active", r.text
    assert engine.fire(HOOK, {}).value == ["sent"]

    actions = api.get("/v3/security/actions", params={"pluginId": "mailer"}).json()["actions"]
    assert [(a["action"], a["reason"]) for a in actions] == [
        ("quarantine", "exfiltration"),
        ("release", "false alarm"),
    ]
    assert actions[0]["source"].startswith("api")
    evidence = actions[0]["evidence"]
    assert evidence[0]["id"] == threat["id"] and evidence[0]["source"] == "threat"


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/v3/plugins/mailer/quarantine", {}, 400),  # no reason
        ("/v3/plugins/mailer/quarantine", {"reason": "   "}, 400),
        ("/v3/plugins/mailer/quarantine", {"reason": ["x"]}, 400),
        ("/v3/plugins/mailer/quarantine", {"reason": "x" * 501}, 400),
        ("/v3/plugins/mailer/quarantine", {"reason": "x", "threat": "thr-nope"}, 400),
        ("/v3/plugins/mailer/quarantine", {"reason": "x", "threat": {"$ne": 1}}, 400),
        ("/v3/plugins/nobody/quarantine", {"reason": "x"}, 404),
        ("/v3/plugins/mailer/release", {}, 409),  # not quarantined
        ("/v3/plugins/mailer/release", {"reason": 5}, 400),
    ],
)
def test_hostile_security_requests_are_4xx(api: Any, path: str, body: Any, status: int) -> None:
    r = api.post(path, json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["message"]


def test_the_security_routes_need_the_admin_token(api: Any) -> None:
    api.headers.pop("authorization")
    assert api.get("/v3/plugins/mailer/threats").status_code == 401
    assert api.post("/v3/plugins/mailer/quarantine", json={"reason": "x"}).status_code == 401
