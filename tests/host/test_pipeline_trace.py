"""The pipeline trace: steps, per-plugin outcomes, data before and after, DataFrame."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from host.helpers import PluginFactory

from pliers_lab import Veto
from pliers_lab.host import Host, OperationVetoed
from pliers_lab.host._pipeline_trace import COLUMNS, Trace

ADA = {"name": " Ada ", "email": "ada@example.org"}


def strip(ctx: Any) -> dict[str, Any]:
    sub = ctx.data["submission"]
    return {
        **ctx.data,
        "submission": {
            **sub,
            "data": {k: v.strip() if isinstance(v, str) else v for k, v in sub["data"].items()},
        },
    }


def upper(ctx: Any) -> dict[str, Any]:
    sub = ctx.data["submission"]
    return {
        **ctx.data,
        "submission": {**sub, "data": {**sub["data"], "name": sub["data"]["name"].upper()}},
    }


def test_every_step_is_recorded_in_order_with_timings(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    add_plugin("a-strip", {"submission.sanitize": strip}, priority=500)
    add_plugin("b-upper", {"submission.sanitize": upper}, priority=100)
    result = host.submit("simple", ADA)
    trace = result.trace
    assert trace.status == "ok" and trace.operation == "submit" and trace.target == "simple"
    assert trace.names[:5] == [
        "submission.beforeValidate",
        "submission.sanitize",
        "submission.transform",
        "submission.enrich",
        "validate",
    ]
    assert trace.names[-1] == "commit"
    assert all(step.duration_ms >= 0 for step in trace) and trace.duration_ms > 0
    sanitize = trace.step("submission.sanitize")
    assert sanitize.plugins == ["a-strip", "b-upper"] and sanitize.mode == "waterfall"
    assert trace.step("submission.transform").note == "no plugins"
    assert host.last_trace is trace and len(trace) == len(trace.steps)


def test_records_show_each_plugins_data_before_and_after(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    add_plugin("a-strip", {"submission.sanitize": strip}, priority=500)
    add_plugin("b-upper", {"submission.sanitize": upper}, priority=100)
    records = [
        r for r in host.submit("simple", ADA).trace.records() if r["name"] == "submission.sanitize"
    ]
    assert [r["plugin"] for r in records] == ["a-strip", "b-upper"]
    first, second = records
    assert first["before"]["submission"]["data"]["name"] == " Ada "
    assert first["after"]["submission"]["data"]["name"] == "Ada"
    assert second["before"] is first["after"]
    assert second["after"]["submission"]["data"]["name"] == "ADA"
    assert set(first) == set(COLUMNS) and first["status"] == "ok" and first["priority"] == 500


def test_the_frame_is_a_dataframe_with_one_row_per_plugin_call(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    def boom(ctx: Any) -> None:
        raise RuntimeError("nope")

    add_plugin("broken", {"submission.afterSave": boom})
    trace = host.submit("simple", ADA).trace
    frame = trace.frame()
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == len(trace.records())
    row = frame[frame["plugin"] == "broken"].iloc[0]
    assert (row["status"], row["error_type"], row["error"]) == (
        "error",
        "runtime_error",
        "handler raised RuntimeError: nope",
    )
    assert str(frame["started"].dtype).startswith("datetime64")


def test_an_aborted_operation_keeps_its_trace(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    add_plugin("no", {"submission.beforeSave": lambda ctx: Veto("closed")})
    with pytest.raises(OperationVetoed) as caught:
        host.submit("simple", ADA)
    trace = caught.value.trace
    assert isinstance(trace, Trace) and trace.status == "aborted" and trace.error is caught.value
    last = trace.steps[-1]
    assert (last.name, last.status, last.note) == ("submission.beforeSave", "vetoed", "no: closed")
    assert host.traces[-1] is trace
    summary = trace.summary()
    assert (
        "submit simple [aborted]" in summary
        and "vetoed" in summary
        and "error: submit refused by plugin 'no'" in summary
    )


def test_unknown_step_names_are_listed(host: Host, simple: dict[str, Any]) -> None:
    trace = host.submit("simple", {"name": "Ada", "email": "a@b.co"}).trace
    with pytest.raises(KeyError, match="no step 'teleport'"):
        trace.step("teleport")


def test_importing_the_package_stays_light() -> None:
    code = (
        "import sys, pliers_lab; assert 'pliers_lab.host' not in sys.modules;"
        "import pliers_lab.host; assert 'pandas' not in sys.modules, 'pandas imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
