"""Core validation of answers: required, types, bounds, patterns, options, custom types."""

from __future__ import annotations

from typing import Any

import pytest

from pliers_lab.host._definitions import normalize_form
from pliers_lab.host._fieldtypes import FieldTypes
from pliers_lab.host._form_validation import FormRules

TYPES = FieldTypes()


def rules(*fields: dict[str, Any]) -> FormRules:
    form, found = normalize_form({"name": "t", "fields": list(fields)}, TYPES)
    assert found == []
    return FormRules(form, TYPES)


def codes(r: FormRules, answers: dict[str, Any]) -> dict[str, str]:
    return {p["field"]: p["code"] for p in r.check(answers)}


def test_required_fields_must_be_answered() -> None:
    r = rules(
        {"name": "a", "type": "text", "required": True},
        {"name": "b", "type": "number", "required": True},
    )
    assert codes(r, {"a": "  x", "b": 0}) == {}
    assert codes(r, {"a": "", "b": None}) == {"a": "required", "b": "required"}
    assert r.check({})[0]["message"] == "'a' is required"


@pytest.mark.parametrize(
    ("field", "good", "bad"),
    [
        ({"type": "text"}, "hello", 3),
        ({"type": "number"}, 2.5, "2.5"),
        ({"type": "number"}, 7, True),
        ({"type": "date"}, "2026-11-25", "25/11/2026"),
        ({"type": "select", "options": ["a", {"value": "b", "label": "B"}]}, "b", "c"),
        ({"type": "select", "options": ["a", "b"], "multiple": True}, ["a", "b"], "a"),
        ({"type": "file"}, {"name": "cv.pdf", "size": 10}, {"size": 1}),
        ({"type": "relationship"}, ["s-1", "s-2"], 3),
        ({"type": "email"}, "ada@example.org", "ada@"),
        ({"type": "phone"}, "+44 20 7946 0958", "call me"),
        ({"type": "phone"}, "(212) 555-0142", "12"),
        (
            {"type": "creditcard"},
            {"number": "4111 1111 1111 1111", "expiry": "12/29"},
            {"number": "4111", "expiry": "12/29"},
        ),
        (
            {"type": "creditcard"},
            {"number": "4111111111111111", "expiry": "01/30"},
            {"number": "4111111111111111", "expiry": "13/30"},
        ),
        ({"type": "text", "format": "email"}, "a@b.co", "nope"),
        ({"type": "text", "format": "url"}, "https://pliers.dev/x", "ftp://x"),
        ({"type": "text", "format": "phone"}, "020 7946 0958", "phone"),
    ],
)
def test_types(field: dict[str, Any], good: Any, bad: Any) -> None:
    r = rules({"name": "f", **field})
    assert codes(r, {"f": good}) == {}
    assert codes(r, {"f": bad}) == {"f": "type"}


def test_bounds_measure_what_the_type_measures() -> None:
    r = rules(
        {"name": "text", "type": "text", "validation": {"min": 2, "max": 5}},
        {"name": "n", "type": "number", "validation": {"min": 0, "max": 10}},
        {"name": "when", "type": "date", "validation": {"min": "2026-01-01"}},
        {"name": "file", "type": "file", "validation": {"max": 100}},
        {
            "name": "tags",
            "type": "select",
            "multiple": True,
            "options": ["a", "b", "c"],
            "validation": {"max": 2},
        },
    )
    assert (
        codes(
            r,
            {
                "text": "abc",
                "n": 10,
                "when": "2026-03-01",
                "file": {"name": "x", "size": 100},
                "tags": ["a"],
            },
        )
        == {}
    )
    found = r.check(
        {
            "text": "a",
            "n": 11,
            "when": "2025-12-31",
            "file": {"name": "x", "size": 101},
            "tags": ["a", "b", "c"],
        }
    )
    assert {p["field"]: p["code"] for p in found} == {
        "text": "min",
        "n": "max",
        "when": "min",
        "file": "max",
        "tags": "max",
    }
    assert found[0]["message"] == "'text' must be at least 2 characters"


def test_patterns_must_match_the_whole_answer() -> None:
    r = rules(
        {"name": "zip", "label": "ZIP code", "type": "text", "validation": {"pattern": "[0-9]{5}"}}
    )
    assert codes(r, {"zip": "12345"}) == {}
    assert r.check({"zip": "123456"}) == [
        {"field": "zip", "code": "pattern", "message": "'ZIP code' does not match '[0-9]{5}'"}
    ]


def test_every_problem_is_listed() -> None:
    r = rules(
        {"name": "a", "type": "text", "required": True},
        {"name": "b", "type": "email"},
        {"name": "c", "type": "number"},
    )
    assert [p["field"] for p in r.check({"b": "x", "c": "y"})] == ["a", "b", "c"]
