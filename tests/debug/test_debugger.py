"""The debugger on real plugins: line tracing with time travel, profiling, errors, replay."""

import pytest
from support import manifest, write_plugin

from pliers_lab import EngineError, PluginErrorType
from pliers_lab.debug import Breakpoint

CODE = """\
from pliers_lab import hook


def score(email):
    points = 0
    for part in email.split("@"):
        points += len(part)
    return points


@hook("submission.enrich")
def enrich(ctx):
    email = ctx.data["email"]
    total = score(email)
    if total > 1000:
        raise ValueError(f"absurd score {total}")
    return {**ctx.data, "score": total}
"""


@pytest.fixture
def scored(engine, tmp_path):
    # The inline debugger; asking for inline in the manifest is not enough (issue 13 §1).
    engine.trust("scorer")
    engine.load(write_plugin(tmp_path, "scorer", CODE, {"submission.enrich": {}}))
    return engine


def test_trace_records_lines_and_variables_and_steps_both_ways(scored):
    with scored.debugger.trace("scorer") as trace:
        result = scored.fire("submission.enrich", {"email": "ada@example.com"})
    assert result.value["score"] == 14
    functions = {f.function for f in trace.execution}
    assert functions == {"enrich", "score"}
    assert trace.execution[0].event == "call" and trace.execution[0].hook == "submission.enrich"
    assert trace.execution[0].execution_id == result.execution_id
    assert [v for _i, _line, v in trace.history("points")] == ["0", "3", "14"]
    first = trace.step()
    second = trace.step()
    assert (first.index, second.index) == (0, 1)
    assert trace.back().index == 0
    last = trace.goto(-1)
    assert last.event == "return" and last.function == "enrich" and "'score': 14" in last.value
    frame = trace.frame()
    assert len(frame) == len(trace.execution) and set(frame["function"]) == {"enrich", "score"}


def test_breakpoints_with_conditions_let_the_trace_jump_between_hits(scored):
    scored.debugger.breakpoint(
        "scorer", Breakpoint(file="plugin.py", line=7, condition="len(part) > 5")
    )
    with scored.debugger.trace("scorer") as trace:
        scored.fire("submission.enrich", {"email": "ada@example.com"})
        scored.fire("submission.enrich", {"email": "grace@hopper.org"})
    hits = sorted(trace.hits)
    assert len(hits) == 2  # "example.com" and "hopper.org", not "ada" nor "grace"
    assert trace.continue_().index == hits[0]
    assert trace.current.variables["part"] == "'example.com'"
    assert trace.continue_().index == hits[1]
    assert trace.continue_() is None and trace.state == "completed"
    assert trace.reverse_continue().index == hits[1]
    assert trace.reverse_continue().index == hits[0]


def test_tracing_ends_with_the_block_and_a_runaway_loop_is_cut(scored):
    with scored.debugger.trace("scorer", max_frames=5) as trace:
        scored.fire("submission.enrich", {"email": "a@b"})
    assert trace.truncated and len(trace.execution) == 5
    with scored.debugger.trace("scorer") as untouched:
        pass
    scored.fire("submission.enrich", {"email": "a@b"})
    assert untouched.execution == [] and untouched.state == "completed"


def test_an_exception_is_recorded_in_the_trace(scored):
    with scored.debugger.trace("scorer") as trace:
        result = scored.fire("submission.enrich", {"email": "x" * 2000})
    assert result.outcome("scorer").status == "error"
    exceptions = [f for f in trace.execution if f.event == "exception"]
    assert exceptions and "absurd score 2000" in exceptions[0].value


def test_profile_counts_calls_and_finds_the_plugins_functions(scored, tmp_path):
    with scored.debugger.profile("scorer") as prof:
        for _ in range(5):
            scored.fire("submission.enrich", {"email": "ada@example.com"})
    assert prof.calls == 5
    names = {row[0] for row in prof.top(50, own_files=tmp_path)}
    assert {"enrich", "score"} <= names
    by_name = {row[0]: row for row in prof.functions}
    assert by_name["score"][3] == 5 and by_name["enrich"][5] >= by_name["score"][5]
    assert list(prof.frame().columns) == [
        "function",
        "file",
        "line",
        "calls",
        "own_ms",
        "cumulative_ms",
    ]


def test_errors_are_grouped_by_cause_and_explained(scored):
    for n in (3000, 4000, 5000):
        scored.fire("submission.enrich", {"email": "x" * n})
    scored.configure("scorer", {"x": 1})
    (group, *rest) = scored.debugger.errors("scorer")
    assert group.occurrences == 3 and group.type == "runtime_error" and rest == []
    assert group.pattern == "handler raised ValueError: absurd score #"
    assert group.location.endswith("plugin.py:16 in enrich")
    analysis = scored.debugger.analyze_error(group.errors[-1].id)
    assert analysis.severity == "medium" and analysis.source_line.startswith("raise ValueError")
    assert "replay" in analysis.suggestions[0]
    frame = scored.debugger.errors_frame()
    assert frame.loc[0, "occurrences"] == 3
    with pytest.raises(EngineError, match="no error 'err-nope'"):
        scored.debugger.analyze_error("err-nope")


def test_replay_reproduces_a_recorded_execution_and_reports_what_changed(scored, tmp_path):
    first = scored.fire("submission.enrich", {"email": "ada@example.com"}, user_id="u1")
    again, changes = scored.debugger.replay(first.execution_id)
    assert again.value == first.value and changes == [] and again.context.user_id == "u1"
    (tmp_path / "scorer" / "plugin.py").write_text(
        CODE.replace("points += len(part)", "points += 1")
    )
    scored.reload("scorer")
    _, changes = scored.debugger.replay(first.execution_id)
    assert changes == ["scorer: answered differently", "the hook's value differs"]


def test_logs_can_be_watched_and_searched(engine):
    from pliers_lab import hook

    engine.add_plugin(
        manifest("talker", {"integration.sync": {}}),
        {"s": hook("integration.sync")(lambda c: c.logger.info("synced 3 contacts"))},
    )
    seen = []
    stop = engine.debugger.watch_logs("talker", seen.append)
    engine.fire("integration.sync")
    stop()
    engine.fire("integration.sync")
    assert [e.message for e in seen] == ["synced 3 contacts"]
    assert len(engine.debugger.get_logs("talker", search="CONTACTS")) == 2


def test_a_missing_execution_or_trace_is_a_clear_error(engine):
    with pytest.raises(EngineError, match="execution 'x-1' is not in the store"):
        engine.debugger.replay("x-1")
    with pytest.raises(EngineError, match="no trace 'trace-x'"):
        engine.debugger.step("trace-x")
    assert PluginErrorType.RUNTIME_ERROR.value == "runtime_error"


COUNTER = """\
from pliers_lab import hook


@hook("submission.afterSave")
def count(ctx):
    words = sum(len(str(v).split()) for v in ctx.data["answers"].values())
    return {"words": words}
"""


def test_a_generators_hidden_iterator_is_not_shown_as_a_variable(engine, tmp_path):
    # Issue 15 §4: trace tables showed ``.0: <dict_valueiterator …>``, the iterator a
    # generator expression consumes, instead of the values the plugin's code named.
    engine.trust("counter")
    engine.load(write_plugin(tmp_path, "counter", COUNTER, {"submission.afterSave": {}}))
    with engine.debugger.trace("counter") as trace:
        result = engine.fire("submission.afterSave", {"answers": {"a": "one two", "b": "three"}})
    assert result.outcome("counter").value == {"words": 3}
    shown = [(name, value) for f in trace.execution for name, value in f.variables.items()]
    assert not [(n, v) for n, v in shown if not n.isidentifier() or "valueiterator" in v]
    in_generator = [f for f in trace.execution if f.function == "<genexpr>"]
    assert {f.variables.get("v") for f in in_generator} >= {"'one two'", "'three'"}
    assert trace.frame()["variables"].map(lambda d: ".0" in d).sum() == 0


def test_a_worker_row_with_a_hidden_iterator_keeps_only_named_variables():
    from pliers_lab.debug import DebugTrace
    from pliers_lab.debug.trace import TraceSink

    trace = DebugTrace("p")
    row = {"event": "line", "function": "<genexpr>", "file": "/p/plugin.py", "line": 6,
           "variables": {".0": "<dict_valueiterator object at 0x7f>", "v": "'three'"},
           "timestamp": 0.5, "depth": 1}  # fmt: skip
    TraceSink(trace, 10)({"frames": [row]}, "submission.afterSave", "x-1", 0.0)
    assert trace.execution[0].variables == {"v": "'three'"} and trace.dropped == 0


def test_breakpoints_chosen_after_recording_stop_where_that_line_ran(scored):
    with scored.debugger.trace("scorer") as trace:
        scored.fire("submission.enrich", {"email": "ada@example.com"})
    (plugin_file,) = trace.files()
    assert plugin_file.endswith("/scorer/plugin.py")
    assert trace.lines("plugin.py") == trace.lines() and 7 in trace.lines()
    assert trace.lines("other.py") == [] and trace.frames_at(7, "other.py") == []
    at_seven = trace.frames_at(7, "plugin.py")
    assert len(at_seven) == 2  # "ada" and "example.com"
    assert trace.frames_at(7, function="enrich") == []
    assert trace.continue_(at_seven).variables["part"] == "'ada'"
    assert trace.continue_(at_seven).variables["part"] == "'example.com'"
    assert trace.continue_(at_seven) is None and trace.state == "completed"
    assert trace.reverse_continue(at_seven).index == at_seven[1]
    assert trace.hits == set()  # the recorded hits are untouched


def test_each_event_says_what_it_changed(scored):
    # Issue 15 §4: the recording's table repeated every variable, ctx first, on each row.
    with scored.debugger.trace("scorer") as trace:
        scored.fire("submission.enrich", {"email": "ada@example.com"})
    changes = trace.changes()
    assert len(changes) == len(trace.execution)
    assert list(changes[0]) == ["ctx"] and trace.execution[0].event == "call"
    assert sum("ctx" in c for c in changes) == 1  # set once, never again
    calls = [i for i, f in enumerate(trace.execution) if f.function == "score"]
    assert changes[calls[0]] == {"email": "'ada@example.com'"}  # the call: its argument
    points = [c["points"] for i, c in enumerate(changes) if i in calls and "points" in c]
    assert points == ["0", "3", "14"]
    back_in_enrich = next(i for i in range(calls[-1] + 1, len(changes)) if "total" in changes[i])
    assert changes[back_in_enrich] == {"total": "14"}
    table = trace.frame()
    assert table["changed"].tolist()[calls[0]] == "email='ada@example.com'"


def test_a_trace_keeps_the_code_that_ran_when_the_plugin_changes_later(scored, tmp_path):
    with scored.debugger.trace("scorer") as trace:
        scored.fire("submission.enrich", {"email": "ada@example.com"})
    (file,) = trace.files()
    assert trace.source(file) == CODE.splitlines(True)
    (tmp_path / "scorer" / "plugin.py").write_text("# rewritten\n" + CODE)
    scored.reload("scorer")
    scored.fire("submission.enrich", {"email": "ada@example.com"})  # the new code runs
    assert trace.source(file)[6] == "        points += len(part)\n"  # line 7, as recorded
    assert trace.source("/no/such/file.py") == []
