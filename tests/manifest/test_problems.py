"""Problems: path formatting, value rendering, pydantic error translation, the error."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from pydantic import ValidationError
from pydantic_core import InitErrorDetails

from pliers_lab.errors import PluginErrorType
from pliers_lab.manifest import ManifestError, ManifestProblem
from pliers_lab.manifest.problems import describe, format_path, problem, translate


@pytest.mark.parametrize(
    "path, text",
    [
        ((), "<root>"),
        (("name",), "name"),
        (("hooks", "form.validate", "priority"), 'hooks."form.validate".priority'),
        (("api", "endpoints", 0, "path"), "api.endpoints[0].path"),
        (("dependencies", "phone-lib"), 'dependencies."phone-lib"'),
        (("keywords", 2), "keywords[2]"),
        (("x", 'a "quoted" key'), 'x."a \\"quoted\\" key"'),
        (("_private", "snake_case2"), "_private.snake_case2"),
        (("", 1), '""[1]'),
    ],
)
def test_format_path(path: tuple[str | int, ...], text: str) -> None:
    assert format_path(path) == text


def test_problem_line_with_and_without_hint() -> None:
    plain = ManifestProblem(
        "manifest.json", ("hooks", "form.validate", "priority"), 'expected an integer, got "high"'
    )
    assert (
        str(plain)
        == 'manifest.json: hooks."form.validate".priority: expected an integer, got "high"'
    )
    hinted = ManifestProblem(
        "m.json", ("peerDependency",), "unknown field", 'did you mean "peerDependencies"?'
    )
    assert (
        str(hinted)
        == 'm.json: peerDependency: unknown field (hint: did you mean "peerDependencies"?)'
    )
    assert str(ManifestProblem("m.json", (), "expected a JSON object, got a list")) == (
        "m.json: <root>: expected a JSON object, got a list"
    )


@pytest.mark.parametrize(
    "value, text",
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (3, "3"),
        (2**70, "a very large integer"),
        (1.5, "1.5"),
        (float("inf"), "Infinity"),
        ("high", '"high"'),
        ("x" * 50, '"' + "x" * 37 + '..."'),
        ('say "hi"', '"say \\"hi\\""'),
        ({}, "an object"),
        ([1], "a list"),
        (object(), "a value of type object"),
    ],
)
def test_describe(value: object, text: str) -> None:
    assert describe(value) == text


def _error(error_type: Any, value: object, ctx: dict[str, Any] | None = None) -> ValidationError:
    detail = InitErrorDetails(type=error_type, loc=("field",), input=value)
    if ctx is not None:
        detail["ctx"] = ctx
    return ValidationError.from_exception_data("T", [detail])


@pytest.mark.parametrize(
    "error_type, value, ctx, message",
    [
        ("missing", {}, None, "missing required field"),
        ("extra_forbidden", 1, None, "unknown field"),
        ("int_parsing", "x", None, 'expected an integer, got "x"'),
        ("float_parsing", "x", None, 'expected a number, got "x"'),
        ("bool_parsing", "x", None, 'expected true or false, got "x"'),
        ("list_type", 1, None, "expected a list, got 1"),
        ("dict_type", 1, None, "expected an object, got 1"),
        (
            "too_short",
            [],
            {"field_type": "List", "min_length": 1, "actual_length": 0},
            "must have at least 1 item (got 0)",
        ),
        (
            "too_long",
            [1, 2, 3],
            {"field_type": "List", "max_length": 2, "actual_length": 3},
            "must have at most 2 items (got 3)",
        ),
        ("string_too_short", "", {"min_length": 1}, "must not be empty"),
        ("string_too_short", "ab", {"min_length": 3}, "must be at least 3 characters (got 2)"),
        ("less_than", 9, {"lt": 5}, "must be less than 5 (got 9)"),
        (
            "string_pattern_mismatch",
            "A",
            {"pattern": "^[a-z]+$"},
            'must match the pattern ^[a-z]+$ (got "A")',
        ),
        (
            "literal_error",
            "x",
            {"expected": "'a', 'b' or 'c'"},
            'must be one of: a, b, c (got "x")',
        ),
        ("value_error", 1, {"error": ValueError("bad thing")}, "bad thing"),
        ("uuid_type", 1, None, "invalid value (got 1)"),
    ],
)
def test_translate_gives_sentences_not_pydantic_text(
    error_type: str, value: object, ctx: dict[str, Any] | None, message: str
) -> None:
    [p] = translate(_error(error_type, value, ctx), "m.json")
    assert (p.file, p.path, p.message, p.hint) == ("m.json", ("field",), message, None)


def test_translate_carries_our_own_problems_with_hints() -> None:
    [p] = translate(_error(problem("must be tidy", "tidy it"), "x"), "m.json")
    assert (p.message, p.hint) == ("must be tidy", "tidy it")


def test_translate_reports_dict_key_errors_at_the_key() -> None:
    detail = InitErrorDetails(type="string_type", loc=("deps", 3, "[key]"), input=3)
    [p] = translate(ValidationError.from_exception_data("T", [detail]), "m.json")
    assert p.path == ("deps", 3)


def test_manifest_error_header_and_lines() -> None:
    found = [
        ManifestProblem("m.json", ("version",), "bad"),
        ManifestProblem("m.json", ("hooks", "a.b"), "worse", "fix it"),
    ]
    err = ManifestError("m.json", found, plugin_id="x")
    assert str(err) == (
        "m.json: 2 problems in plugin 'x':\n  m.json: version: bad\n"
        '  m.json: hooks."a.b": worse (hint: fix it)'
    )
    assert err.type is PluginErrorType.LOAD_ERROR and err.plugin_id == "x"
    assert err.problems == found and err.file == "m.json"
    assert err.to_dict()["type"] == "load_error"


def test_manifest_error_pickles() -> None:
    err = ManifestError(
        "m.json", [ManifestProblem("m.json", ("a", 0), "bad", "hint")], plugin_id="x"
    )
    copy = pickle.loads(pickle.dumps(err))
    assert (str(copy), copy.problems, copy.plugin_id, copy.file) == (
        str(err),
        err.problems,
        "x",
        "m.json",
    )


def test_manifest_error_singular_and_anonymous() -> None:
    err = ManifestError("m.json", [ManifestProblem("m.json", (), "no such file")])
    assert str(err) == "m.json: <root>: no such file"
    assert err.plugin_id is None
