"""Form definitions: normalization, defaults, and every problem at once with its path."""

from __future__ import annotations

import copy

from pliers_lab.host._definitions import DEFAULT_WORKFLOW, normalize_form
from pliers_lab.host._fieldtypes import FieldTypes
from pliers_lab.host.sample_forms import SAMPLE_FORMS

TYPES = FieldTypes()


def problems(definition: object) -> dict[str, str]:
    _form, found = normalize_form(definition, TYPES)
    return {p["path"]: p["message"] for p in found}


def test_defaults_are_filled_in() -> None:
    form, found = normalize_form(
        {"id": "f", "name": " Feedback ", "fields": [{"name": "text", "type": "text"}]}, TYPES
    )
    assert found == []
    assert form["name"] == "Feedback"
    assert form["version"] == 1
    assert form["fields"] == [
        {"id": "text", "label": "text", "name": "text", "type": "text", "required": False}
    ]
    assert [s["name"] for s in form["statusDefinitions"]] == [s["name"] for s in DEFAULT_WORKFLOW]
    assert form["statusDefinitions"][0]["allowedTransitions"][0] == {
        "auto": True,
        "conditions": [],
        "requiredRoles": [],
        "toStatus": "processed",
    }
    assert form["settings"] == {} and form["metadata"] == {}


def test_a_missing_id_is_generated() -> None:
    form, found = normalize_form({"name": "x", "fields": [{"name": "a", "type": "text"}]}, TYPES)
    assert not found and len(form["id"]) == 12


def test_the_sample_forms_are_valid() -> None:
    for definition in SAMPLE_FORMS.values():
        assert problems(copy.deepcopy(definition)) == {}


def test_every_problem_is_reported_with_its_path() -> None:
    found = problems(
        {
            "id": "bad id!",
            "name": "",
            "colour": "blue",
            "fields": [
                {"name": "email", "type": "emial"},
                {"name": "email", "type": "text", "required": "yes"},
                {"name": "code", "type": "text", "validation": {"pattern": "([a-z"}},
                {"name": "pick", "type": "select"},
                {"name": "note", "type": "text", "format": "markdown", "widht": 3},
                "not a field",
            ],
            "statusDefinitions": [
                {
                    "name": "new",
                    "isInitial": True,
                    "allowedTransitions": [
                        {"toStatus": "nowhere"},
                        {"toStatus": "done", "conditions": [{"field": "ghost", "op": "approx"}]},
                    ],
                },
                {"name": "done", "isInitial": True, "isFinal": True, "category": "finished"},
            ],
            "settings": {
                "notifications": [{"channel": "pigeon", "to": "", "body": "x", "on": "status:lost"}]
            },
        }
    )
    assert found["id"].startswith("must be 1-64 letters")
    assert found["name"] == "must be text of 1 to 100 characters"
    assert found["colour"] == "unknown key"
    assert "unknown field type 'emial' (did you mean 'email'?)" in found["fields[0].type"]
    assert found["fields[1].name"] == "duplicate field name 'email'"
    assert found["fields[1].required"] == "must be true or false"
    assert found["fields[2].validation.pattern"].startswith("not a regular expression")
    assert found["fields[3].options"] == "a select field needs a non-empty list of options"
    assert found["fields[4].format"] == "must be one of plain, email, url, phone"
    assert found["fields[4].widht"].startswith("unknown key")
    assert found["fields[5]"] == "a field is a dict, got str"
    assert (
        "'nowhere' is not a status" in found["statusDefinitions[0].allowedTransitions[0].toStatus"]
    )
    assert (
        "'ghost' is not a field"
        in found["statusDefinitions[0].allowedTransitions[1].conditions[0].field"]
    )
    assert found["statusDefinitions[0].allowedTransitions[1].conditions[0].op"].startswith(
        "must be one of eq"
    )
    assert found["statusDefinitions[1].category"].startswith("must be one of active")
    assert found["statusDefinitions"] == "exactly one status must be isInitial, found 2"
    assert found["settings.notifications[0].channel"] == "must be one of email, sms"
    assert found["settings.notifications[0].to"] == "must be non-empty text"
    assert found["settings.notifications[0].on"].startswith("must be one of")


def test_a_final_status_cannot_move_on() -> None:
    found = problems(
        {
            "name": "x",
            "fields": [{"name": "a", "type": "text"}],
            "statusDefinitions": [
                {
                    "name": "a",
                    "isInitial": True,
                    "isFinal": True,
                    "allowedTransitions": [{"toStatus": "a"}],
                },
            ],
        }
    )
    assert found == {"statusDefinitions[0]": "a final status cannot have transitions"}


def test_not_a_dict_and_no_fields() -> None:
    assert problems(["a"]) == {"": "a form definition is a dict, got list"}
    assert problems({"name": "x", "fields": []}) == {"fields": "must be a non-empty list of fields"}


def test_the_examples_custom_types_are_registered_and_more_can_be() -> None:
    types = FieldTypes()
    assert {"phone", "email", "creditcard"} <= {t for t in types.names() if types.get(t).custom}  # type: ignore[union-attr]
    assert problems({"name": "x", "fields": [{"name": "iban", "type": "iban"}]})
    types.register(
        "iban", lambda value, field: None if str(value).startswith("NL") else "must be Dutch"
    )
    _form, found = normalize_form(
        {"name": "x", "fields": [{"name": "iban", "type": "iban"}]}, types
    )
    assert found == []
