"""webhook through a real server: signed deliveries, listing, creation, a host submission."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pliers_lab import Engine, PluginState
from pliers_lab.host import Host
from pliers_lab.host import sample_forms as samples
from pliers_lab.web import serve

PLUGIN_DIR = Path(__file__).parents[1]


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Site:
    """A served engine with the webhook plugin, an admin client and a user token."""

    def __init__(
        self, engine: Engine, host: Any = None, config: dict[str, Any] | None = None
    ) -> None:
        self.engine = engine
        self.plugin = engine.load(PLUGIN_DIR, config=config)
        self.server = serve(engine, pliers_host=host)
        self.http = httpx.Client(base_url=self.server.url, timeout=10.0)
        token = self.server.app.state.pliers.tokens.issue("ann", roles=["integrator"])
        self.auth = {"authorization": f"Bearer {token}"}

    def create(self, **body: Any) -> dict[str, Any]:
        r = self.http.post(
            "/plugins/webhook/create",
            json={"name": "CRM", "formId": "contact", **body},
            headers=self.auth,
        )
        assert r.status_code == 201, r.text
        return dict(r.json())

    def deliver(self, webhook: dict[str, Any], payload: Any, secret: str | None = None) -> Any:
        raw = json.dumps(payload).encode()
        return self.http.post(
            f"/plugins/webhook/receive/{webhook['id']}",
            content=raw,
            headers={
                "content-type": "application/json",
                "x-webhook-signature": sign(secret or webhook["secret"], raw),
            },
        )

    def close(self) -> None:
        self.http.close()
        self.server.stop()


@pytest.fixture
def site() -> Iterator[Site]:
    engine = Engine(default_isolation="inline")
    s = Site(engine)
    yield s
    s.close()
    engine.close()


def test_loads_and_serves_three_endpoints(site: Site) -> None:
    assert site.plugin.state is PluginState.ACTIVE
    routes = sorted(r.key for r in site.server.app.state.pliers.router.routes("webhook"))
    assert routes == [
        "GET /plugins/webhook/list",
        "POST /plugins/webhook/create",
        "POST /plugins/webhook/receive/:webhookId",
    ]


def test_create_returns_id_url_and_a_32_byte_secret(site: Site) -> None:
    hook = site.create(createSubmission=True, fieldMapping={"contact.email": "email"})
    assert hook["id"].startswith("wh_") and len(bytes.fromhex(hook["secret"])) == 32
    assert hook["url"] == f"{site.server.url}/plugins/webhook/receive/{hook['id']}"
    assert hook["createdBy"] == "ann"


def test_create_needs_auth_and_a_valid_body(site: Site) -> None:
    r = site.http.post("/plugins/webhook/create", json={"name": "x", "formId": "f"})
    assert r.status_code == 401
    r = site.http.post(
        "/plugins/webhook/create", json={"name": "x", "createSubmission": "yes"}, headers=site.auth
    )
    assert r.status_code == 400
    paths = {e["path"] for e in r.json()["error"]["details"]["errors"]}
    assert paths == {"body.formId", "body.createSubmission"}


def test_a_signed_delivery_is_mapped_and_stored_in_memory(site: Site) -> None:
    hook = site.create(
        createSubmission=True,
        fieldMapping={"contact.email": "email", "contact.name": "name", "msg": "message"},
    )
    r = site.deliver(hook, {"contact": {"email": "ann@example.com", "name": "Ann"}, "msg": "hi"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["data"] == {"email": "ann@example.com", "name": "Ann", "message": "hi"}
    assert body["stored"] == "memory"
    module = site.plugin.module
    (saved,) = module.SUBMISSIONS
    assert saved["id"] == body["submissionId"] and saved["formId"] == "contact"
    assert saved["metadata"]["webhookId"] == hook["id"]


def test_bad_signatures_and_unknown_webhooks(site: Site) -> None:
    hook = site.create()
    r = site.deliver(hook, {"a": 1}, secret="not-the-secret")
    assert r.status_code == 401 and r.json()["error"]["code"] == "INVALID_SIGNATURE"
    r = site.http.post(f"/plugins/webhook/receive/{hook['id']}", json={"a": 1})
    assert r.status_code == 401
    r = site.deliver({**hook, "id": "wh_nobody"}, {"a": 1})
    assert r.status_code == 404
    r = site.http.post("/plugins/webhook/receive/bad%20id!", json={})
    assert r.status_code == 400  # params schema
    assert site.deliver(hook, {"a": 1}).status_code == 200


def test_oversized_deliveries_are_refused_by_the_middleware(site: Site) -> None:
    site.engine.configure("webhook", {"maxPayloadSize": 64})
    hook = site.create()
    r = site.deliver(hook, {"blob": "x" * 100})
    assert r.status_code == 413 and r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_actions_are_templated_and_queued_without_a_host(site: Site) -> None:
    hook = site.create(
        actions=[
            {
                "type": "email",
                "to": "{{email}}",
                "subject": "Thanks {{name}}",
                "body": "via {{webhook.name}}",
            },
            {
                "type": "api_call",
                "url": "https://crm.example.com/contacts",
                "body": {"email": "{{email}}"},
            },
        ]
    )
    r = site.deliver(hook, {"email": "bo@example.com", "name": "Bo"})
    assert [a["status"] for a in r.json()["actions"]] == ["queued", "queued"]
    email, call = site.plugin.module.OUTBOX
    assert (email["to"], email["subject"], email["body"]) == (
        "bo@example.com",
        "Thanks Bo",
        "via CRM",
    )
    assert call["body"] == {"email": "bo@example.com"}


def test_list_pages_and_hides_secrets(site: Site) -> None:
    created = [site.create(name=f"hook {i}") for i in range(3)]
    site.deliver(created[0], {"x": 1})
    r = site.http.get("/plugins/webhook/list", headers=site.auth)
    body = r.json()
    assert body["pagination"] == {"total": 3, "limit": 20, "offset": 0, "hasMore": False}
    assert all("secret" not in w for w in body["webhooks"])
    assert body["webhooks"][0]["deliveries"] == 1
    r = site.http.get("/plugins/webhook/list", params={"limit": 2, "offset": 1}, headers=site.auth)
    page = r.json()
    assert [w["name"] for w in page["webhooks"]] == ["hook 1", "hook 2"]
    assert page["pagination"]["hasMore"] is False
    assert site.http.get("/plugins/webhook/list").status_code == 401
    assert (
        site.http.get("/plugins/webhook/list", params={"limit": 0}, headers=site.auth).status_code
        == 400
    )


def test_configured_webhooks_use_the_configured_secret() -> None:
    engine = Engine(default_isolation="inline")
    config = {
        "webhookSecret": "shared-secret",
        "webhooks": [{"id": "orders", "name": "Orders", "formId": "f"}],
    }
    s = Site(engine, config=config)
    try:
        r = s.deliver({"id": "orders", "secret": "shared-secret"}, {"order": 7})
        assert r.status_code == 200 and r.json()["data"] == {"order": 7}
    finally:
        s.close()
        engine.close()


def test_with_a_host_the_delivery_becomes_a_real_submission() -> None:
    engine = Engine(default_isolation="inline")
    host = Host.in_memory(engine)
    host.forms.create(samples.CONTACT)
    s = Site(engine, host=host)
    try:
        hook = s.create(
            createSubmission=True,
            fieldMapping={
                "who.name": "name",
                "who.email": "email",
                "topic": "topic",
                "text": "message",
            },
        )
        r = s.deliver(
            hook,
            {
                "who": {"name": "Ann", "email": "ann@example.com"},
                "topic": "sales",
                "text": "please call me back",
            },
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["stored"] == "host"
        saved = host.submissions.get(body["submissionId"])
        assert saved["data"]["email"] == "ann@example.com"
        assert saved["metadata"]["webhookId"] == hook["id"]
        r = s.deliver(hook, {"who": {"name": "A"}, "topic": "nonsense"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "SUBMISSION_REJECTED"
    finally:
        s.close()
        if hasattr(host, "close"):
            host.close()
        engine.close()
