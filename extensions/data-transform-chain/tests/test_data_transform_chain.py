"""data-transform-chain through the real engine: pipelines, failures and enrichment."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from pliers_lab import Engine, PluginError, PluginErrorType, PluginState

PLUGIN_DIR = Path(__file__).parents[1]
PLUGIN = "data-transform-chain"

FIELDS = [
    {"id": "f1", "name": "email", "label": "Work e-mail", "type": "email", "required": True},
    {"id": "f2", "name": "phone", "label": "Phone", "type": "phone", "required": False},
    {
        "id": "f3",
        "name": "uk_phone",
        "label": "UK phone",
        "type": "phone",
        "required": False,
        "countryCode": "GB",
    },
    {"id": "f4", "name": "address", "label": "Address", "type": "text", "required": False},
    {"id": "f5", "name": "company", "label": "Company", "type": "text", "required": False},
]


@pytest.fixture
def engine() -> Iterator[Engine]:
    with Engine() as engine:
        engine.load(PLUGIN_DIR)
        yield engine


def payload(answers: dict[str, Any], *steps: dict[str, Any]) -> dict[str, Any]:
    form = {
        "id": "lead",
        "name": "Lead capture",
        "version": 2,
        "fields": FIELDS,
        "metadata": {"transformPipeline": list(steps)} if steps else {},
    }
    submission = {
        "id": "sub-42",
        "formId": "lead",
        "data": answers,
        "metadata": {},
        "status": "new",
    }
    return {"form": form, "submission": submission}


def step(
    type_: str, field: str | None = None, required: bool = False, **extra: Any
) -> dict[str, Any]:
    return {"type": type_, "field": field, "required": required, **extra}


def transform(engine: Engine, data: dict[str, Any]) -> dict[str, Any]:
    result = engine.fire("submission.transform", data)
    assert result.ok, result.summary()
    submission: dict[str, Any] = result.value["submission"]
    return submission


def test_manifest_loads_and_plugin_is_active(engine: Engine) -> None:
    manifest = json.loads((PLUGIN_DIR / "manifest.json").read_text())
    assert {h: c["priority"] for h, c in manifest["hooks"].items()} == {
        "submission.transform": 100,
        "submission.enrich": 100,
    }
    assert engine.plugin(PLUGIN).state is PluginState.ACTIVE
    assert engine.plugin(PLUGIN).config == {
        "defaultCountryCode": "US",
        "businessFields": ["company", "email"],
    }
    with pytest.raises(PluginError) as info:
        engine.configure(PLUGIN, {"defaultCountryCode": "Mars"})
    assert info.value.type is PluginErrorType.CONFIG_ERROR


def test_form_without_pipeline_leaves_data_unchanged(engine: Engine) -> None:
    data = payload({"email": "ann@acme.com"})
    result = engine.fire("submission.transform", data)
    assert result.ok and result.value == data


def test_full_pipeline(engine: Engine) -> None:
    data = payload(
        {
            "email": "ann@sales.acme.com",
            "phone": "(415) 555-0199",
            "uk_phone": "020 7946 0958",
            "address": "1 Market St, San Francisco, CA 94105",
        },
        step("normalize_phone", "phone"),
        step("normalize_phone", "uk_phone", required=True),
        step("geocode_address", "address"),
        step("enrich_company", "email"),
        step("validate_business", required=True),
    )
    before = copy.deepcopy(data)
    submission = transform(engine, data)
    assert data == before  # the engine's input is never mutated
    assert submission["data"] == {
        "email": "ann@sales.acme.com",
        "phone": "+14155550199",
        "uk_phone": "+442079460958",
        "address": "1 Market St, San Francisco, CA 94105",
        "address_geo": {"city": "San Francisco", "country": "US", "lat": 37.7749, "lon": -122.4194},
        "company": "Acme Corporation",
    }
    assert [entry["status"] for entry in submission["metadata"]["transformLog"]] == ["applied"] * 5


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("212-555-0123", "US", "+12125550123"),
        ("1 (212) 555 0123", "US", "+12125550123"),
        ("+49 30 1234567", "US", "+49301234567"),
        ("0049 30 1234567", "US", "+49301234567"),
        ("030 1234567", "DE", "+49301234567"),
    ],
)
def test_normalize_phone_uses_the_configured_country(
    engine: Engine, raw: str, country: str, expected: str
) -> None:
    engine.configure(PLUGIN, {"defaultCountryCode": country})
    submission = transform(engine, payload({"phone": raw}, step("normalize_phone", "phone")))
    assert submission["data"]["phone"] == expected


def test_failed_optional_steps_are_skipped_and_logged(engine: Engine) -> None:
    data = payload(
        {"email": "bob@unknown-startup.io", "phone": "+1 2", "address": "Atlantis"},
        step("normalize_phone", "phone"),
        step("geocode_address", "address"),
        step("enrich_company", "email"),
        step("geocode_address", "missing"),
    )
    submission = transform(engine, data)
    assert submission["data"] == data["submission"]["data"]
    log = submission["metadata"]["transformLog"]
    assert [(e["step"], e["status"]) for e in log] == [
        ("normalize_phone", "skipped"),
        ("geocode_address", "skipped"),
        ("enrich_company", "skipped"),
        ("geocode_address", "skipped"),
    ]
    assert "unknown-startup.io" in log[2]["reason"]
    assert "'missing'" in log[3]["reason"]
    warnings = engine.logs.for_plugin(PLUGIN, "warning")
    assert [(w.message, w.fields["step"], w.fields["field"]) for w in warnings] == [
        ("transform step skipped", e["step"], e["field"]) for e in log
    ]


def test_failed_required_step_fails_the_hook_and_keeps_the_data(engine: Engine) -> None:
    data = payload(
        {"email": "ann@acme.com", "address": "Atlantis"},
        step("enrich_company", "email"),
        step("geocode_address", "address", required=True),
    )
    result = engine.fire("submission.transform", data)
    assert not result.ok
    outcome = result.outcome(PLUGIN)
    assert outcome.status == "error" and outcome.error is not None
    assert outcome.error.type is PluginErrorType.RUNTIME_ERROR
    assert "geocode_address" in str(outcome.error) and "'address'" in str(outcome.error)
    assert result.value == data  # nothing of the half-run pipeline leaks out


def test_unknown_or_malformed_steps_are_errors(engine: Engine) -> None:
    for pipeline, words in [
        ([step("translate", "email")], ["unknown", "translate"]),
        ([{"field": "email"}], ["step 1", "type"]),
        ([step("normalize_phone")], ["normalize_phone", "field"]),
    ]:
        data = payload({"email": "ann@acme.com"}, *pipeline)
        result = engine.fire("submission.transform", data)
        outcome = result.outcome(PLUGIN)
        assert outcome.status == "error" and outcome.error is not None
        assert all(word in str(outcome.error) for word in words), str(outcome.error)
        assert result.value == data


def test_enrich_company_keeps_a_typed_company_and_supports_targets(engine: Engine) -> None:
    typed = transform(
        engine,
        payload(
            {"email": "ann@acme.com", "company": "Acme UK Ltd"}, step("enrich_company", "email")
        ),
    )
    assert typed["data"]["company"] == "Acme UK Ltd"
    target = transform(
        engine,
        payload({"email": "ANN@Globex.com"}, step("enrich_company", "email", target="employer")),
    )
    assert target["data"]["employer"] == "Globex Corporation"


def test_validate_business_fields(engine: Engine) -> None:
    ok = transform(
        engine,
        payload(
            {"email": "ann@acme.com", "company": "Acme"}, step("validate_business", required=True)
        ),
    )
    assert ok["metadata"]["transformLog"][0]["status"] == "applied"

    result = engine.fire(
        "submission.transform",
        payload(
            {"email": "ann@acme.com", "company": ""},
            step("validate_business", required=True, fields=["company", "phone"]),
        ),
    )
    error = result.outcome(PLUGIN).error
    assert error is not None and "company, phone" in str(error)

    engine.configure(PLUGIN, {"businessFields": ["email"]})
    relaxed = transform(
        engine, payload({"email": "ann@acme.com"}, step("validate_business", required=True))
    )
    assert relaxed["metadata"]["transformLog"][0]["status"] == "applied"


@pytest.mark.parametrize(
    ("address", "city"),
    [
        ("10 Downing St, London SW1A 2AA, United Kingdom", "London"),
        ("5 Rue de Rivoli, 75001 Paris, France", "Paris"),
        ({"street": "Unter den Linden 1", "city": "berlin"}, "Berlin"),
    ],
)
def test_geocode_address_shapes(engine: Engine, address: Any, city: str) -> None:
    submission = transform(
        engine, payload({"address": address}, step("geocode_address", "address", required=True))
    )
    assert submission["data"]["address_geo"]["city"] == city


def test_enrich_adds_metadata(engine: Engine) -> None:
    data = payload({"email": " Ann@Acme.COM", "phone": "", "company": "Acme", "tags": []})
    data["submission"]["metadata"] = {"source": "web"}
    before = time.time()
    result = engine.fire("submission.enrich", data, user_id="u-1")
    assert result.ok
    metadata = result.value["submission"]["metadata"]
    assert metadata["source"] == "web"
    enrichment = metadata["enrichment"]
    assert enrichment["emailDomain"] == "acme.com"
    assert enrichment["fieldCount"] == 2
    received = datetime.fromisoformat(enrichment["receivedAt"].replace("Z", "+00:00"))
    assert before - 1 <= received.timestamp() <= time.time() + 1
    assert "enrichment" not in data["submission"]["metadata"]


def test_enrich_without_email(engine: Engine) -> None:
    result = engine.fire("submission.enrich", payload({"email": "not an address"}))
    assert result.value["submission"]["metadata"]["enrichment"]["emailDomain"] is None
    assert result.value["submission"]["metadata"]["enrichment"]["fieldCount"] == 1


def test_bad_submissions_do_not_trip_the_circuit_breaker(engine: Engine) -> None:
    failing = payload({"address": "Atlantis"}, step("geocode_address", "address", required=True))
    for _ in range(8):  # the engine's default breaker would disable the plugin after 5
        assert engine.fire("submission.transform", failing).outcome(PLUGIN).status == "error"
    assert engine.plugin(PLUGIN).state is PluginState.ACTIVE
    good = payload({"address": "Tokyo"}, step("geocode_address", "address", required=True))
    assert transform(engine, good)["data"]["address_geo"]["city"] == "Tokyo"


def test_the_pipeline_works_on_a_deep_copy_of_the_answers(engine: Engine) -> None:
    """Nested answers come out equal but not shared: a later plugin changing them in
    place cannot reach the data this hook received (inline: no wire copies it)."""
    engine.unload(PLUGIN)
    engine.trust(PLUGIN)
    engine.load(PLUGIN_DIR)
    resume = {"name": "cv.pdf", "tags": ["a", {"b": 1.5}], "size": 10}
    data = payload(
        {"email": "ann@acme.com", "resume": resume},
        step("enrich_company", "email"),
    )
    answers = transform(engine, data)["data"]
    assert answers["resume"] == resume
    assert answers["resume"] is not resume
    assert answers["resume"]["tags"] is not resume["tags"]
    assert answers["resume"]["tags"][1] is not resume["tags"][1]
