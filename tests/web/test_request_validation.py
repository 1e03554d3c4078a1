"""Request validation without a server: schemas compiled once, strings converted, paths."""

from __future__ import annotations

import pytest

from pliers_lab.manifest.models import EndpointValidation
from pliers_lab.web._request_validation import RequestValidator, SchemaProblem, coerce

LIST = {
    "type": "object",
    "properties": {
        "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
        "offset": {"type": "integer", "minimum": 0, "default": 0},
        "exact": {"type": "boolean"},
        "ratio": {"type": "number"},
        "name": {"type": "string"},
    },
    "additionalProperties": False,
}
BODY = {
    "type": "object",
    "required": ["name", "formId"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "formId": {"type": "string"},
        "items": {"type": "array", "items": {"type": "object", "required": ["id"]}},
    },
}


def validator(**schemas: object) -> RequestValidator:
    return RequestValidator(EndpointValidation.model_validate(schemas))


def test_query_strings_are_converted_and_defaults_applied() -> None:
    found, _, query = validator(query=LIST).validate(
        {}, {"limit": "5", "exact": "true", "ratio": "0.5", "name": "42"}, None
    )
    assert found == []
    assert query == {"limit": 5, "offset": 0, "exact": True, "ratio": 0.5, "name": "42"}


def test_every_violation_is_listed_with_its_path() -> None:
    found, _, _ = validator(query=LIST, body=BODY).validate(
        {},
        {"limit": "500", "offset": "x", "extra": "1"},
        {"name": "", "items": [{"id": 1}, {}]},
    )
    paths = sorted(p["path"] for p in found)
    assert paths == [
        "body.formId",
        "body.items[1].id",
        "body.name",
        "query",
        "query.limit",
        "query.offset",
    ]
    by_path = {p["path"]: p for p in found}
    assert by_path["query.limit"]["value"] == 500
    assert by_path["query.offset"]["value"] == "x"  # not convertible: reported as given
    assert "required" in by_path["body.formId"]["message"]


def test_params_are_converted_but_get_no_defaults() -> None:
    schema = {"type": "object", "properties": {"id": {"type": "integer", "default": 7}}}
    found, params, _ = validator(params=schema).validate({"id": "12"}, {}, None)
    assert (found, params) == ([], {"id": 12})
    assert coerce(schema, {}, defaults=False) == {}


def test_a_broken_schema_is_refused_when_compiled() -> None:
    with pytest.raises(SchemaProblem, match=r"validation\.body"):
        validator(body={"type": 12})


def test_formats_are_checked() -> None:
    schema = {"type": "object", "properties": {"email": {"type": "string", "format": "email"}}}
    found, _, _ = validator(body=schema).validate({}, {}, {"email": "not-an-email"})
    assert [p["path"] for p in found] == ["body.email"]
