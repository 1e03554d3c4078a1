"""Report builders without a server: times, configuration problems, errors."""

from __future__ import annotations

import pytest
from web.helpers import endpoint_manifest

from pliers_lab import Engine, PluginError, PluginErrorType
from pliers_lab.web._error_envelope import ApiError
from pliers_lab.web._reports import config_problems, error_groups, parse_time


def test_parse_time() -> None:
    assert parse_time("1700000000.5", "from") == 1700000000.5
    assert parse_time("2023-11-14T22:13:20Z", "from") == 1700000000.0
    with pytest.raises(ApiError, match="time zone"):
        parse_time("2023-11-14T22:13:20", "to")
    with pytest.raises(ApiError, match="not a time"):
        parse_time("yesterday", "to")


def test_config_problems_carry_path_and_value() -> None:
    lines = [
        "retry.max: 11 is greater than the maximum of 10",
        "<root>: 'x' was unexpected",
        "items[1]: 'a' is not of type 'integer'",
    ]
    config = {"retry": {"max": 11}, "items": [1, "a"]}
    assert config_problems(lines, config) == [
        {"path": "retry.max", "message": "11 is greater than the maximum of 10", "value": 11},
        {"path": "<root>", "message": "'x' was unexpected", "value": None},
        {"path": "items[1]", "message": "'a' is not of type 'integer'", "value": "a"},
    ]


def test_error_groups(engine: Engine) -> None:
    plugin = engine.add_plugin(endpoint_manifest("g", []), {})
    for n in range(3):
        engine.record_error(
            PluginError(
                PluginErrorType.RUNTIME_ERROR,
                f"call {n} failed",
                plugin_id="g",
                hook="GET /plugins/g/x",
            )
        )
    engine.record_error(PluginError(PluginErrorType.SECURITY_ERROR, "denied", plugin_id="g"))
    report = error_groups(engine, plugin, severity=None, resolved=None, limit=10)
    assert [(g["type"], g["occurrences"]) for g in report["errors"]] == [
        ("runtime_error", 3),
        ("security_error", 1),
    ]
    assert report["summary"]["bySeverity"] == {"low": 0, "medium": 3, "high": 0, "critical": 1}
    only = error_groups(engine, plugin, severity="critical", resolved=None, limit=10)
    assert [g["type"] for g in only["errors"]] == ["security_error"]
    assert (
        report["errors"][0]["id"]
        == error_groups(engine, plugin, severity=None, resolved=None, limit=1)["errors"][0]["id"]
    )
