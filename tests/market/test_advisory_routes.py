"""Reports, advisories and trust scores over HTTP: the registry service's routes
(``advisory_routes``) on a real loopback server, the ``RemoteAdvisories`` client, and an
engine learning of an advisory through it (issue 19 §2)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request

from pliers_lab import Engine, PluginState
from pliers_lab.market import (
    AdvisoryError,
    AdvisoryWatch,
    NotFoundError,
    PluginMarketplace,
    Registry,
    RegistryAccessError,
    RegistryUnavailableError,
)
from pliers_lab.market._advisory_client import RemoteAdvisories
from pliers_lab.market._advisory_routes import MAX_BODY, advisory_routes
from pliers_lab.web._server import Server

TOKENS = {"t-ann": "ann", "t-bob": "bob"}
ISSUE = {
    "severity": "critical", "type": "credential-leak", "description": "logs the API key",
    "location": "plugin.py:9", "recommendation": "do not log secrets",
}  # fmt: skip


def _user(request: Request) -> str | None:
    return TOKENS.get(request.headers.get("authorization", "").removeprefix("Bearer "))


@pytest.fixture
def service(registry: Registry) -> Iterator[str]:
    app = Starlette(routes=advisory_routes(registry, _user, prefix="/api"))
    with Server(app).start() as server:
        yield server.url + "/api"


def test_report_confirm_and_read_over_http(service: str, registry: Registry, publish) -> None:
    publish("csvx", "1.0.0")
    publish("csvx", "1.1.0")
    bob, ann = RemoteAdvisories(service, token="t-bob"), RemoteAdvisories(service, token="t-ann")
    report = bob.report("csvx", ISSUE, version="1.0.0")
    assert (report.reporter, report.version, report.status) == ("bob", "1.0.0", "open")
    with pytest.raises(RegistryAccessError, match=r"403 'bob' may not read reports on csvx"):
        bob.reports("csvx")
    assert [r.id for r in ann.reports("csvx", status="open")] == [report.id]
    with pytest.raises(RegistryAccessError, match="'bob' may not publish advisories"):
        bob.confirm(report.id, affected="<1.1.0")
    advisory = ann.confirm(report.id, affected="<1.1.0", fixed_version="1.1.0")
    assert (advisory.severity, advisory.fixed_version, advisory.reports) == (
        "critical", "1.1.0", (report.id,),
    )  # fmt: skip
    anyone = RemoteAdvisories(service)
    assert [a.id for a in anyone.advisories("csvx")] == [advisory.id]
    assert [a.id for a in anyone.advisories()] == [advisory.id]
    assert anyone.get(advisory.id).affected == "<1.1.0"
    assert [a.id for a in anyone.affecting("csvx", "1.0.0")] == [advisory.id]
    score = anyone.trust_score("csvx", "1.0.0")
    assert score.signal("advisories").value == 0.0 and score.cap == 10 and score.score <= 10
    assert anyone.trust_score("csvx").version == "1.1.0"
    published = ann.publish("csvx", affected="1.1.0", severity="low", title="noisy log")
    assert ann.withdraw(published.id).withdrawn_at is not None
    dismissed = ann.dismiss(bob.report("csvx", {**ISSUE, "severity": "low"}).id, reason="by design")
    assert dismissed.status == "dismissed"


def test_refusals_are_4xx_naming_the_problem(service: str, publish) -> None:
    publish("csvx")
    with pytest.raises(RegistryAccessError, match="401 POST /api/reports needs"):
        RemoteAdvisories(service).report("csvx", ISSUE)
    bob = RemoteAdvisories(service, token="t-bob")
    with pytest.raises(AdvisoryError, match="400 report on csvx: severity must be one of"):
        bob.report("csvx", {**ISSUE, "severity": "dire"})
    with pytest.raises(NotFoundError, match="404 no plugin 'nothing'"):
        bob.report("nothing", ISSUE)
    with pytest.raises(NotFoundError, match="404 no advisory 'PLA-0'"):
        bob.get("PLA-0")
    auth = {"authorization": "Bearer t-ann"}
    hostile: list[tuple[str, str, Any, int]] = [
        ("POST", "/reports", b"{not json", 400),
        ("POST", "/reports", b"[1, 2]", 400),
        ("POST", "/reports", b"[" * 100_000 + b"]" * 100_000, 413),
        ("POST", "/reports", b'{"pluginId": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400),
        ("POST", "/reports", b" " * (MAX_BODY + 1), 413),
        ("POST", "/reports", b'{"pluginId": 7}', 400),
        ("POST", "/reports", b'{"severity": "low"}', 400),
        ("POST", "/advisories", b'{"pluginId": "csvx", "affected": 7, "severity": "low"}', 400),
        ("POST", "/advisories", b'{"pluginId": "csvx", "affected": "^1", "severity": "low"}', 400),
        (
            "POST",
            "/advisories",
            b'{"pluginId": "nothing", "affected": "^1", "severity": "low", "title": "t"}',
            404,
        ),
        ("POST", "/reports/abc/confirm", b'{"affected": "^1"}', 400),
        ("POST", "/reports/99999999999999999999999/confirm", b'{"affected": "^1"}', 400),
        ("POST", "/reports/12345/confirm", b'{"affected": "^1"}', 404),
        ("GET", "/trust/nothing", None, 404),
        ("GET", "/trust/csvx/9.9.9", None, 404),
        ("GET", "/reports?plugin=csvx&status=weird", None, 400),
        ("GET", "/reports", None, 400),
    ]
    with httpx.Client(base_url=service, headers=auth, timeout=30) as client:
        for method, path, body, status in hostile:
            reply = client.request(method, path, content=body)
            assert reply.status_code == status, (path, body and body[:40], reply.text[:200])
            assert reply.json()["error"]["message"], path
    with pytest.raises(RegistryUnavailableError, match="no answer"):
        RemoteAdvisories("http://127.0.0.1:9", timeout_s=2).advisories()


def test_done_when_an_engine_learns_of_the_advisory_over_http_and_disables_the_plugin(
    service: str, market: PluginMarketplace, engine: Engine, publish
) -> None:
    """Issue 19, done when (the advisory over HTTP; the install from the local registry,
    until the registry service's client is there): under "disable" the plugin stops."""
    publish("csvx", "1.0.0")
    market.install("csvx")
    publish("csvx", "1.1.0")
    ask = {"format": "csvx"}
    assert engine.fire("export.format", ask).value["version"] == "1.0.0"
    watch = AdvisoryWatch(market, source=RemoteAdvisories(service), policy="disable")
    assert watch.check() == []
    advisory = RemoteAdvisories(service, token="t-ann").publish(
        "csvx",
        affected=">=1.0.0 <1.1.0",
        severity="high",
        title="rows leave",
        fixed_version="1.1.0",
    )
    [found] = watch.check()
    assert (found.advisory.id, found.action, found.state) == (advisory.id, "disabled", "stopped")
    assert engine.plugin("csvx").state is PluginState.STOPPED
    assert engine.fire("export.format", ask).value is None  # no longer called
    assert found.plan is not None and found.plan.to_version == "1.1.0"
    assert watch.fix("csvx").to_version == "1.1.0"
    assert engine.fire("export.format", ask).value["version"] == "1.1.0"
