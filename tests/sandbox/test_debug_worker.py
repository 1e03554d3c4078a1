"""The debugger on sandboxed plugins: tracing and profiling happen in the worker."""

from __future__ import annotations

import pytest
from sandbox.helpers import MakePlugin

from pliers_lab import Engine, EngineError
from pliers_lab.debug.trace import Breakpoint

HOOK = "submission.afterSave"

CODE = """
from pliers_lab import hook


def double(n):
    total = n * 2
    return total


@hook("submission.afterSave")
def after(ctx):
    n = ctx.data["n"]
    result = double(n)
    if n < 0:
        raise ValueError("negative")
    return result
"""


def test_trace_with_time_travel_in_a_worker(sandbox: Engine, make_plugin: MakePlugin) -> None:
    sandbox.load(make_plugin("traced", CODE))
    sandbox.debugger.breakpoint("traced", Breakpoint(function="double", condition="n == 3"))
    with sandbox.debugger.trace("traced") as trace:
        runs = [sandbox.fire(HOOK, {"n": n}) for n in (2, 3, -1)]
    assert [r.value for r in runs[:2]] == [[4], [6]] and not runs[2].ok

    assert {f.function for f in trace.execution} == {"after", "double"}
    assert {f.execution_id for f in trace.execution} == {r.execution_id for r in runs}
    assert trace.execution[0].event == "call" and trace.execution[0].hook == HOOK
    returns = [f for f in trace.execution if f.function == "double" and f.event == "return"]
    assert [(f.variables["n"], f.value) for f in returns] == [("2", "4"), ("3", "6"), ("-1", "-2")]
    # The breakpoint's condition was evaluated in the worker, over the frame's locals.
    assert trace.hits and all(trace.execution[i].variables.get("n") == "3" for i in trace.hits)
    hit = trace.continue_()
    assert hit is not None and hit.function == "double" and hit.variables["n"] == "3"
    assert trace.back() is not None and trace.reverse_continue() is None  # time travel
    # A handler that raised still sent its lines back.
    raised = [f for f in trace.execution if f.event == "exception"]
    assert raised and "ValueError: negative" in (raised[-1].value or "")
    assert [value for _index, _line, value in trace.history("total")] == ["4", "6", "-2"]
    assert trace.dropped == 0 and not trace.truncated

    recorded = len(trace.execution)
    sandbox.fire(HOOK, {"n": 5})  # the session is closed: nothing more is recorded
    assert len(trace.execution) == recorded


def test_trace_stops_at_max_frames(sandbox: Engine, make_plugin: MakePlugin) -> None:
    sandbox.load(make_plugin("traced", CODE))
    with sandbox.debugger.trace("traced", max_frames=5) as trace:
        sandbox.fire(HOOK, {"n": 1})
        sandbox.fire(HOOK, {"n": 2})
    assert len(trace.execution) == 5 and trace.truncated


def test_profile_in_a_worker(sandbox: Engine, make_plugin: MakePlugin) -> None:
    sandbox.load(make_plugin("profiled", CODE))
    with sandbox.debugger.profile("profiled") as result:
        for n in range(4):
            sandbox.fire(HOOK, {"n": n})
    assert result.calls == 4
    rows = {(name, calls) for name, _file, _line, calls, _own, _cum in result.functions}
    assert ("double", 4) in rows and ("after", 4) in rows
    with (
        sandbox.debugger.profile("profiled"),
        pytest.raises(EngineError, match="already being traced or profiled"),
        sandbox.debugger.trace("profiled"),
    ):
        pass
