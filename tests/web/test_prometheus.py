"""``GET /v3/metrics``: Prometheus' text format of every plugin's figures, behind the
management API's token, from a registry of the engine's own (issue 18 §1)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pliers_lab import Engine, hook
from pliers_lab.web._prometheus import FAMILIES, exposition

HOOK = "submission.afterSave"


def _manifest(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "version": "1.0.0",
        "description": "a plugin whose calls are counted",
        "author": "Tests <tests@example.com>",
        "license": "MIT",
        "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
        "hooks": {HOOK: {}},
    }


def _samples(text: str) -> dict[tuple[str, str], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (s.name, s.labels["plugin"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _add(engine: Engine, name: str) -> None:
    @hook(HOOK)
    def answer(ctx: Any) -> str:
        if ctx.data.get("fail"):
            raise ValueError("no")
        return name

    engine.add_plugin(_manifest(name), {"answer": answer})


def test_the_endpoint_needs_the_admin_token(client: Callable[..., Any]) -> None:
    c = client()
    r = c.get("/v3/metrics")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    user = c.server.app.state.pliers.tokens.issue("eve", roles=["viewer"])
    assert c.get("/v3/metrics", headers={"authorization": f"Bearer {user}"}).status_code == 403


def test_counts_with_units_in_names_and_no_sample_for_what_is_not_measured(
    client: Callable[..., Any], engine: Engine
) -> None:
    _add(engine, "counted")
    engine.fire(HOOK, {})
    engine.fire(HOOK, {"fail": True})
    c = client()
    r = c.get("/v3/metrics", headers={"authorization": f"Bearer {c.server.token}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=")
    assert "x-request-id" in r.headers and "x-ratelimit-limit" in r.headers
    samples = _samples(r.text)
    assert samples[("pliers_plugin_calls_total", "counted")] == 2
    assert samples[("pliers_plugin_errors_total", "counted")] == 1
    assert samples[("pliers_plugin_call_seconds_total", "counted")] > 0
    # An inline plugin's resources are not measured: no sample, never a 0.
    assert not [n for n, p in samples if p == "counted" and ("cpu" in n or "bytes" in n)]
    for name, _kind, _help, _figure, _scale in FAMILIES:  # each family is described
        assert f"# HELP {name}" in r.text
        assert name.endswith(("_seconds", "_bytes", "_ratio")) or name.rsplit("_", 1)[1] in (
            "calls",
            "errors",
            "requests",
            "restarts",
        ), name


def test_two_engines_in_one_process_keep_their_own_figures() -> None:
    first, second = Engine(), Engine()
    try:
        _add(first, "only-in-first")
        _add(second, "only-in-second")
        first.fire(HOOK, {})
        body, content_type = exposition(first, None)
        samples = _samples(body.decode())
        assert samples[("pliers_plugin_calls_total", "only-in-first")] == 1
        assert not [p for _n, p in samples if p == "only-in-second"]
        again, _ = exposition(first, None)  # a registry per scrape: nothing registered twice
        assert _samples(again.decode()) == samples
        body, _ = exposition(second, "application/openmetrics-text; version=1.0.0")
        assert body.rstrip().endswith(b"# EOF")  # OpenMetrics when the scraper asks
        assert b'plugin="only-in-second"' in body
        assert content_type.startswith("text/plain")
    finally:
        first.close()
        second.close()
