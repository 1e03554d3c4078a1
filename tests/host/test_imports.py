"""Imports: import.validate, import.transform, every row through submit; all or none."""

from __future__ import annotations

from typing import Any

import pytest
from host.helpers import PluginFactory

from pliers_lab.host import Host, ImportFailed, MalformedPayload

ROWS = [
    {"name": "Ada", "email": "ada@example.org"},
    {"name": "Grace", "email": "grace@example.org"},
]


def test_rows_go_through_the_whole_pipeline(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    def tag(ctx: Any) -> dict[str, Any]:
        return {**ctx.data, "rows": [{**r, "age": 30} for r in ctx.data["rows"]]}

    add_plugin("ages", {"import.transform": tag})
    result = host.import_submissions("simple", ROWS, user_id="u-1")
    assert [s["data"]["age"] for s in result.value] == [30, 30]
    assert host.counts()["submissions"] == 2
    assert result.trace.names[:2] == ["import.validate", "import.transform"]
    [event] = host.events(type="form.imported")
    assert event["payload"]["count"] == 2 and event["payload"]["importedBy"] == "u-1"
    assert [t.operation for t in list(host.traces)[-3:]] == ["submit", "submit", "import"]


def test_one_bad_row_and_nothing_is_imported(host: Host, simple: dict[str, Any]) -> None:
    before = host.counts()
    with pytest.raises(ImportFailed) as caught:
        host.import_submissions("simple", [*ROWS, {"name": "X", "email": "nope"}])
    assert caught.value.row == 2
    assert str(caught.value).startswith(
        "import into form 'simple' failed at row 2: submission to form 'simple' is invalid"
    )
    assert host.counts() == before


def test_import_validate_can_refuse_the_batch(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    add_plugin(
        "dedupe",
        {
            "import.validate": lambda ctx: {
                "valid": False,
                "errors": [
                    {"field": "rows[1].email", "code": "duplicate", "message": "seen before"}
                ],
            }
        },
    )
    before = host.counts()
    with pytest.raises(
        ImportFailed, match=r"import.validate found 1 problem\(s\): rows\[1\].email: seen before"
    ):
        host.import_submissions("simple", ROWS)
    assert host.counts() == before


def test_malformed_batches(host: Host, simple: dict[str, Any], add_plugin: PluginFactory) -> None:
    with pytest.raises(MalformedPayload, match="at rows: must be a list of dicts, got str"):
        host.import_submissions("simple", "ada,ada@example.org")  # type: ignore[arg-type]
    with pytest.raises(MalformedPayload, match=r"at rows\[1\]: must be a dict, got list"):
        host.import_submissions("simple", [ROWS[0], ["x"]])  # type: ignore[list-item]
    add_plugin("breaker", {"import.transform": lambda ctx: {"rows": "gone"}})
    with pytest.raises(
        MalformedPayload, match=r"import.transform .plugin 'breaker'.: .* 'rows' list of dicts"
    ):
        host.import_submissions("simple", ROWS)
    assert host.counts()["submissions"] == 0
