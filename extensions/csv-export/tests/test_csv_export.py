"""csv-export through the real engine: a ``first`` hook that answers csv and jsonl."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pliers_lab import Engine, PluginError, PluginErrorType, PluginState

PLUGIN_DIR = Path(__file__).parents[1]
PLUGIN = "csv-export"

FORM = {
    "id": "f-1",
    "name": "Contact us!",
    "version": 2,
    "metadata": {},
    "fields": [
        {"id": "a", "name": "name", "label": "Name", "type": "text", "required": True},
        {"id": "b", "name": "message", "label": "Message", "type": "text", "required": False},
        {
            "id": "c",
            "name": "topics",
            "label": "Topics",
            "type": "select",
            "required": False,
            "options": ["sales", "support"],
        },
        {"id": "d", "name": "optin", "label": "Opt in", "type": "text", "required": False},
    ],
}
SUBMISSIONS = [
    {
        "id": "s-1",
        "formId": "f-1",
        "status": "new",
        "metadata": {},
        "data": {
            "name": "Ann Lee",
            "message": "Hello, world\nsecond line",
            "topics": ["sales"],
            "optin": True,
        },
    },
    {
        "id": "s-2",
        "formId": "f-1",
        "status": "closed",
        "metadata": {},
        "data": {"name": '=HYPERLINK("http://evil")', "extra": "ignored"},
    },
]


@pytest.fixture
def engine() -> Iterator[Engine]:
    with Engine() as engine:
        engine.load(PLUGIN_DIR)
        yield engine


def export(engine: Engine, fmt: str, submissions: list[dict[str, Any]] = SUBMISSIONS) -> Any:
    result = engine.fire("export.format", {"format": fmt, "form": FORM, "submissions": submissions})
    assert result.ok, result.summary()
    return result.value


def parse(body: str, delimiter: str = ",") -> list[list[str]]:
    return list(csv.reader(io.StringIO(body, newline=""), delimiter=delimiter))


def test_manifest_loads_and_plugin_is_active(engine: Engine) -> None:
    manifest = json.loads((PLUGIN_DIR / "manifest.json").read_text())
    assert manifest["hooks"] == {
        "export.format": {"priority": 100, "async": False, "timeout": 30000, "retries": 0}
    }
    assert engine.plugin(PLUGIN).state is PluginState.ACTIVE
    with pytest.raises(PluginError) as info:
        engine.configure(PLUGIN, {"delimiter": "::"})
    assert info.value.type is PluginErrorType.CONFIG_ERROR


def test_csv_export(engine: Engine) -> None:
    answer = export(engine, "csv")
    assert answer["contentType"] == "text/csv; charset=utf-8"
    assert answer["filename"] == "contact-us-submissions.csv"
    assert parse(answer["body"]) == [
        ["id", "name", "message", "topics", "optin", "status"],
        ["s-1", "Ann Lee", "Hello, world\nsecond line", '["sales"]', "true", "new"],
        ["s-2", '\'=HYPERLINK("http://evil")', "", "", "", "closed"],
    ]
    assert answer["body"].endswith("\r\n")


def test_formula_escaping_and_delimiter_are_configurable(engine: Engine) -> None:
    engine.configure(PLUGIN, {"delimiter": ";", "escapeFormulas": False})
    rows = parse(export(engine, "CSV")["body"], delimiter=";")
    assert rows[2][1] == '=HYPERLINK("http://evil")'
    numbers = [{"id": "s-3", "status": "new", "data": {"name": -5}}]
    engine.configure(PLUGIN, {"delimiter": ",", "escapeFormulas": True})
    assert parse(export(engine, "csv", numbers)["body"])[1][1] == "-5"  # numbers are not text


def test_no_submissions_gives_only_the_header(engine: Engine) -> None:
    assert parse(export(engine, "csv", [])["body"]) == [
        ["id", "name", "message", "topics", "optin", "status"]
    ]


def test_jsonl_export(engine: Engine) -> None:
    answer = export(engine, "jsonl")
    assert answer["contentType"] == "application/x-ndjson"
    assert answer["filename"] == "contact-us-submissions.jsonl"
    lines = answer["body"].splitlines()
    assert [json.loads(line) for line in lines] == [
        {
            "id": "s-1",
            "name": "Ann Lee",
            "message": "Hello, world\nsecond line",
            "topics": ["sales"],
            "optin": True,
            "status": "new",
        },
        {
            "id": "s-2",
            "name": '=HYPERLINK("http://evil")',
            "message": None,
            "topics": None,
            "optin": None,
            "status": "closed",
        },
    ]
    assert list(json.loads(lines[0])) == ["id", "name", "message", "topics", "optin", "status"]


@pytest.mark.parametrize("fmt", ["pdf", "xlsx", ""])
def test_other_formats_are_passed_on(engine: Engine, fmt: str) -> None:
    result = engine.fire("export.format", {"format": fmt, "form": FORM, "submissions": []})
    assert result.ok and result.value is None
    assert [(o.plugin_id, o.status) for o in result.outcomes] == [(PLUGIN, "ok")]


def test_first_answer_wins_over_lower_priority_exporters(engine: Engine, tmp_path: Path) -> None:
    other = tmp_path / "xml-export"
    other.mkdir()
    (other / "manifest.json").write_text(
        json.dumps(
            {
                "name": "xml-export",
                "version": "1.0.0",
                "description": "Test probe answering any format",
                "author": "tests",
                "license": "MIT",
                "main": "plugin.py",
                "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
                "hooks": {"export.format": {"priority": 50, "async": False}},
            }
        )
    )
    (other / "plugin.py").write_text(
        "from typing import Any\n"
        "from pliers_lab import HookContext, hook\n\n"
        "@hook('export.format')\n"
        "def xml(ctx: HookContext) -> dict[str, Any]:\n"
        "    return {'contentType': 'application/xml', 'filename': 'x.xml', 'body': '<x/>'}\n"
    )
    engine.load(other)

    csv_result = engine.fire(
        "export.format", {"format": "csv", "form": FORM, "submissions": SUBMISSIONS}
    )
    assert csv_result.value["filename"] == "contact-us-submissions.csv"
    assert [o.status for o in csv_result.outcomes if o.plugin_id == "xml-export"] in (
        [],
        ["skipped"],
    )

    xml_result = engine.fire("export.format", {"format": "xml", "form": FORM, "submissions": []})
    assert xml_result.value["contentType"] == "application/xml"
    assert [o.plugin_id for o in xml_result.outcomes] == [PLUGIN, "xml-export"]
