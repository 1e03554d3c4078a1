"""Exports: export.format answers; json is built in; unknown formats are named."""

from __future__ import annotations

import json
from typing import Any

import pytest
from host.helpers import PluginFactory

from pliers_lab.host import ExportFormatError, Host


def test_a_plugin_answers_its_format(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    host.submit("simple", {"name": "Ada", "email": "ada@example.org"})
    add_plugin(
        "tsv",
        {
            "export.format": lambda ctx: (
                None
                if ctx.data["format"] != "tsv"
                else {
                    "contentType": "text/tab-separated-values",
                    "filename": "x.tsv",
                    "body": "\n".join(s["data"]["name"] for s in ctx.data["submissions"]),
                }
            )
        },
    )
    assert host.export("simple", "tsv").value["body"] == "Ada"
    builtin = host.export("simple", "json").value
    assert json.loads(builtin["body"])["submissions"][0]["data"]["name"] == "Ada"
    assert host.events(type="form.exported")[-1]["payload"]["format"] == "json"


def test_unknown_formats_are_named(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    add_plugin("tsv", {"export.format": lambda ctx: None})
    with pytest.raises(
        ExportFormatError,
        match=r"no plugin answered export.format for 'xml' "
        r"\(asked: tsv; the host itself knows 'json'\)",
    ):
        host.export("simple", "xml")
    with pytest.raises(ExportFormatError, match="export format must be a name"):
        host.export("simple", "")
    add_plugin("liar", {"export.format": lambda ctx: "just text"})
    with pytest.raises(ExportFormatError, match=r"is not {contentType, filename, body}"):
        host.export("simple", "xml")
