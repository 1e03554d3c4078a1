"""advanced-validation through the real engine: form definitions and submissions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pliers_lab import Engine, PluginError, PluginErrorType, PluginState

PLUGIN_DIR = Path(__file__).parents[1]
PLUGIN = "advanced-validation"

VISA = "4111 1111 1111 1111"
MASTERCARD = "5555-5555-5555-4444"
AMEX = "378282246310005"
BAD_LUHN = "4111111111111112"


@pytest.fixture
def engine() -> Iterator[Engine]:
    with Engine() as engine:
        engine.load(PLUGIN_DIR)
        yield engine


def field(name: str, type_: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"f-{name}",
        "name": name,
        "label": name.replace("_", " ").title(),
        "type": type_,
        "required": False,
        "validation": {},
        **extra,
    }


def form(*fields: dict[str, Any]) -> dict[str, Any]:
    return {"id": "form-1", "name": "Order", "version": 1, "fields": list(fields), "metadata": {}}


def submit(engine: Engine, the_form: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    submission = {
        "id": "sub-1",
        "formId": the_form["id"],
        "data": data,
        "metadata": {},
        "status": "draft",
    }
    result = engine.fire("submission.beforeValidate", {"form": the_form, "submission": submission})
    assert result.ok, result.summary()
    value: dict[str, Any] = result.value
    return value


def codes(issues: list[dict[str, Any]]) -> list[str]:
    return [i["code"] for i in issues]


def expiry_in(months: int) -> str:
    """MM/YY of the month ``months`` from now (negative: in the past)."""
    now = datetime.now(UTC)
    index = now.year * 12 + now.month - 1 + months
    return f"{index % 12 + 1:02d}/{index // 12 % 100:02d}"


# --------------------------------------------------------------------------- loading


def test_manifest_loads_and_plugin_is_active(engine: Engine) -> None:
    manifest = json.loads((PLUGIN_DIR / "manifest.json").read_text())
    assert manifest["name"] == PLUGIN and manifest["version"] == "1.0.0"
    assert set(manifest["hooks"]) == {"form.validate", "submission.beforeValidate"}
    assert engine.plugin(PLUGIN).state is PluginState.ACTIVE
    defaults = json.loads((PLUGIN_DIR / "config-default.json").read_text())
    assert engine.plugin(PLUGIN).config == defaults


def test_invalid_configuration_is_refused(engine: Engine) -> None:
    for bad in (
        {"acceptedCreditCardTypes": ["paypal"]},
        {"defaultCountryCode": "XX"},
        {"strictBusinessEmail": "yes"},
        {"unknownOption": 1},
    ):
        with pytest.raises(PluginError) as info:
            engine.configure(PLUGIN, bad)
        assert info.value.type is PluginErrorType.CONFIG_ERROR


# --------------------------------------------------------------------------- form.validate


def test_form_with_well_defined_fields_is_valid(engine: Engine) -> None:
    the_form = form(
        field("phone", "phone", countryCode="GB"),
        field("card", "creditcard", acceptedCardTypes=["visa"]),
        field("email", "email"),
        field("age", "number"),
    )
    value = engine.fire("form.validate", {"form": the_form}).value
    assert value == {"valid": True, "errors": [], "warnings": []}


def test_phone_field_without_country_code_warns_with_the_default(engine: Engine) -> None:
    value = engine.fire("form.validate", {"form": form(field("mobile", "phone"))}).value
    assert value["valid"] is True
    [warning] = value["warnings"]
    assert warning["field"] == "mobile" and warning["code"] == "phone_country_code_missing"
    assert "US" in warning["message"] and warning["plugin"] == PLUGIN


def test_text_field_with_phone_format_counts_as_a_phone(engine: Engine) -> None:
    the_form = form(field("tel", "text", format="phone", countryCode="ZZ"))
    value = engine.fire("form.validate", {"form": the_form}).value
    assert value["valid"] is False
    assert codes(value["errors"]) == ["phone_country_code_unsupported"]


def test_card_field_definitions(engine: Engine) -> None:
    the_form = form(
        field("card_a", "creditcard"),
        field("card_b", "creditcard", acceptedCardTypes=["visa", "paypal"]),
        field("card_c", "creditcard", acceptedCardTypes=["amex"]),
    )
    value = engine.fire("form.validate", {"form": the_form}).value
    assert value["valid"] is False
    assert [(e["field"], e["code"]) for e in value["errors"]] == [("card_b", "card_type_unknown")]
    assert [(w["field"], w["code"]) for w in value["warnings"]] == [
        ("card_a", "card_types_missing"),
        ("card_c", "card_type_not_accepted"),
    ]


# --------------------------------------------------------------------------- phones


@pytest.mark.parametrize(
    "number",
    ["(212) 555-0123", "212.555.0123", "+1 212 555 0123", "+44 20 7946 0958", "0044 20 7946 0958"],
)
def test_plausible_phone_numbers_pass(engine: Engine, number: str) -> None:
    value = submit(engine, form(field("phone", "phone")), {"phone": number})
    assert value == {"valid": True, "errors": [], "warnings": []}


@pytest.mark.parametrize(
    "number", ["12345", "call me maybe", "+1 012 555 0123", "+44 20 7946 0958 1234", "+"]
)
def test_implausible_phone_numbers_fail(engine: Engine, number: str) -> None:
    value = submit(engine, form(field("phone", "phone")), {"phone": number})
    assert value["valid"] is False
    assert codes(value["errors"]) == ["phone_invalid"]


def test_national_numbers_use_the_field_country(engine: Engine) -> None:
    the_form = form(field("phone", "phone", countryCode="GB"))
    assert submit(engine, the_form, {"phone": "020 7946 0958"})["valid"] is True
    # the same digits are not a valid US number
    assert (
        submit(engine, form(field("phone", "phone")), {"phone": "020 7946 0958"})["valid"] is False
    )


def test_default_country_comes_from_configuration(engine: Engine) -> None:
    the_form = form(field("phone", "phone"))
    assert submit(engine, the_form, {"phone": "030 123456"})["valid"] is False
    engine.configure(PLUGIN, {"defaultCountryCode": "DE"})
    assert submit(engine, the_form, {"phone": "030 123456"})["valid"] is True


def test_business_phone_that_is_a_mobile_warns(engine: Engine) -> None:
    the_form = form(
        field("office_phone", "phone", countryCode="GB"),
        field("personal_phone", "phone", countryCode="GB"),
    )
    value = submit(
        engine, the_form, {"office_phone": "07700 900123", "personal_phone": "07700 900456"}
    )
    assert value["valid"] is True
    [warning] = value["warnings"]
    assert (warning["field"], warning["code"]) == ("office_phone", "phone_not_fixed_line")
    assert "+447700900123" in warning["message"]
    fixed = submit(engine, the_form, {"office_phone": "020 7946 0958"})
    assert fixed["warnings"] == []


# --------------------------------------------------------------------------- cards


def test_valid_accepted_card_passes(engine: Engine) -> None:
    the_form = form(field("card", "creditcard"))
    for number in (VISA, MASTERCARD):
        value = submit(engine, the_form, {"card": {"number": number, "expiry": expiry_in(24)}})
        assert value == {"valid": True, "errors": [], "warnings": []}


def test_card_failing_luhn_is_an_error_and_is_masked(engine: Engine) -> None:
    value = submit(
        engine,
        form(field("card", "creditcard")),
        {"card": {"number": BAD_LUHN, "expiry": expiry_in(24)}},
    )
    assert codes(value["errors"]) == ["card_checksum"]
    message = value["errors"][0]["message"]
    assert BAD_LUHN not in message and "1112" in message


def test_card_type_must_be_accepted_by_config_and_field(engine: Engine) -> None:
    the_form = form(field("card", "creditcard"))
    amex = {"card": {"number": AMEX, "expiry": expiry_in(24)}}
    value = submit(engine, the_form, amex)
    assert codes(value["errors"]) == ["card_type_not_accepted"]
    assert AMEX not in value["errors"][0]["message"]
    assert "amex" in value["errors"][0]["message"]

    engine.configure(PLUGIN, {"acceptedCreditCardTypes": ["visa", "mastercard", "amex"]})
    assert submit(engine, the_form, amex)["valid"] is True
    # a field can narrow the configured list, never widen it
    visa_only = form(field("card", "creditcard", acceptedCardTypes=["visa"]))
    mastercard = {"card": {"number": MASTERCARD, "expiry": expiry_in(24)}}
    assert codes(submit(engine, visa_only, mastercard)["errors"]) == ["card_type_not_accepted"]


def test_card_expiry(engine: Engine) -> None:
    the_form = form(field("card", "creditcard"))

    def check(expiry: str) -> dict[str, Any]:
        return submit(engine, the_form, {"card": {"number": VISA, "expiry": expiry}})

    assert check(expiry_in(3))["warnings"] == []
    soon = check(expiry_in(1))
    assert soon["valid"] is True and codes(soon["warnings"]) == ["card_expiring"]
    assert codes(check(expiry_in(0))["warnings"]) == ["card_expiring"]
    expired = check(expiry_in(-1))
    assert expired["valid"] is False and codes(expired["errors"]) == ["card_expired"]
    assert codes(check("13/30")["errors"]) == ["card_expiry_invalid"]
    assert codes(check("2030-01")["errors"]) == ["card_expiry_invalid"]


def test_card_value_shape(engine: Engine) -> None:
    the_form = form(field("card", "creditcard"))
    assert codes(submit(engine, the_form, {"card": VISA})["errors"]) == ["card_format"]
    value = submit(engine, the_form, {"card": {"number": "4111-abcd", "expiry": "01/40"}})
    assert codes(value["errors"]) == ["card_number_invalid"]


# --------------------------------------------------------------------------- e-mail


def test_consumer_email_warns_then_fails_in_strict_mode(engine: Engine) -> None:
    the_form = form(field("email", "email"))
    value = submit(engine, the_form, {"email": "jane.doe@Gmail.com"})
    assert value["valid"] is True and codes(value["warnings"]) == ["email_consumer_domain"]
    assert submit(engine, the_form, {"email": "jane@acme.io"})["warnings"] == []

    engine.configure(PLUGIN, {"strictBusinessEmail": True})
    strict = submit(engine, the_form, {"email": "jane.doe@protonmail.com"})
    assert strict["valid"] is False and codes(strict["errors"]) == ["email_consumer_domain"]


@pytest.mark.parametrize("address", ["jane", "jane@", "@acme.io", "jane@acme", "ja ne@acme.io"])
def test_malformed_email_is_an_error(engine: Engine, address: str) -> None:
    the_form = form(field("contact", "text", format="email"))
    assert codes(submit(engine, the_form, {"contact": address})["errors"]) == ["email_invalid"]


def test_empty_answers_and_other_fields_are_left_to_core_validation(engine: Engine) -> None:
    the_form = form(
        field("phone", "phone"),
        field("email", "email"),
        field("card", "creditcard"),
        field("notes", "text"),
    )
    value = submit(engine, the_form, {"phone": "", "notes": "<b>anything</b>"})
    assert value == {"valid": True, "errors": [], "warnings": []}


def test_errors_from_several_fields_are_merged(engine: Engine) -> None:
    the_form = form(field("phone", "phone"), field("email", "email"), field("card", "creditcard"))
    value = submit(
        engine,
        the_form,
        {"phone": "12", "email": "x@aol.com", "card": {"number": VISA, "expiry": expiry_in(-2)}},
    )
    assert value["valid"] is False
    assert [(e["field"], e["code"]) for e in value["errors"]] == [
        ("phone", "phone_invalid"),
        ("card", "card_expired"),
    ]
    assert [(w["field"], w["code"]) for w in value["warnings"]] == [
        ("email", "email_consumer_domain")
    ]
    assert all(issue["plugin"] == PLUGIN for issue in value["errors"] + value["warnings"])
