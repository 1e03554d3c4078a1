"""The trace debugger and the replay progress bar without a frontend: a real plugin traced
by a real engine, the buttons clicked, what the widget shows read back (issue 15 §3, §4)."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from support import write_plugin

from pliers_lab import Engine, EngineError, TrustPolicy
from pliers_lab.debug import Breakpoint
from pliers_lab.lab.widgets import TraceDebugger
from pliers_lab.lab.widgets.trace_debugger import ReplayProgress
from pliers_lab.replay import replay, synthetic_log

EXTENSIONS = Path(__file__).resolve().parents[3] / "extensions"

# Notebook 08's patient: the discount of a couponed item leaks into the next item.
BASKET = """\
from pliers_lab import hook


@hook("submission.enrich")
def checkout(ctx):
    items = ctx.data["submission"]["data"]["items"]
    total = 0.0
    for item in items:
        if "coupon" in item:
            discount = item["coupon"] / 100
        price = item["price"] * item["qty"] * (1 - discount)
        total += price
    submission = {**ctx.data["submission"], "total": round(total, 2)}
    return {**ctx.data, "submission": submission}
"""
PRICE_LINE = 11
ORDER = {
    "submission": {
        "data": {
            "items": [
                {"sku": "pen", "price": 2.0, "qty": 10, "coupon": 50},
                {"sku": "book", "price": 20.0, "qty": 1},
            ]
        }
    }
}


@pytest.fixture
def engine(tmp_path: Path) -> Any:
    eng = Engine()
    eng.trust("basket")
    eng.load(write_plugin(tmp_path, "basket", BASKET, {"submission.enrich": {}}))
    yield eng
    eng.close()


def record(engine: Engine) -> Any:
    with engine.debugger.trace("basket") as trace:
        result = engine.fire("submission.enrich", ORDER)
    assert result.value["submission"]["total"] == 20.0  # the bug: 30 was due
    return trace


def position(dbg: TraceDebugger) -> tuple[int, int, str]:
    """(event index, line, event kind) as the position line shows them."""
    pattern = r'data-index="(\d+)" data-line="(\d+)" data-event="(\w+)"'
    found = re.search(pattern, dbg.position.value)
    assert found, dbg.position.value
    return int(found[1]), int(found[2]), found[3]


def variables(dbg: TraceDebugger) -> dict[str, str]:
    """The variables table as shown: name → value."""
    rows = re.findall(
        r'<tr data-name="([^"]+)"[^>]*><td><code>[^<]*</code></td><td><code>([^<]*)</code>',
        dbg.variables.value,
    )
    return {name: unescape(value) for name, value in rows}


def said(widget_html: str) -> str:
    """The one line of a message, its text only."""
    text = unescape(re.sub(r"<[^>]+>", "", widget_html)).strip()
    assert "\n" not in text and "Traceback" not in text, text
    return text


def test_steps_forward_and_back_showing_line_code_and_variables(engine: Engine) -> None:
    trace = record(engine)
    dbg = TraceDebugger(trace)
    assert position(dbg) == (0, 4, "call")  # a fresh trace: its first event
    assert dbg.back_button.disabled and not dbg.step_button.disabled
    for _ in range(3):
        dbg.step_button.click()
    assert position(dbg) == (3, 8, "line") and trace.cursor == 3
    assert variables(dbg)["total"] == "0.0" and "item" not in variables(dbg)
    dbg.step_button.click()  # the for line ran: item is the pen now
    assert "'pen'" in variables(dbg)["item"]
    assert 'data-name="item" class="pliers-changed"' in dbg.variables.value
    assert 'data-name="total" class' not in dbg.variables.value  # unchanged
    dbg.back_button.click()
    assert position(dbg) == (3, 8, "line") and "item" not in variables(dbg)
    source = dbg.source.value
    assert '<tr data-line="8" class="pliers-current">' in source
    assert "for item in items:" in unescape(source)
    dbg.goto(-1)
    assert position(dbg)[2] == "return" and dbg.step_button.disabled
    assert "returned" in dbg.position.value and "&#x27;total&#x27;: 20.0" in dbg.position.value
    dbg.step()  # past the end: said, not an error
    assert said(dbg.message.value).endswith("this is the last recorded event")


def test_the_slider_scrubs_the_recording(engine: Engine) -> None:
    trace = record(engine)
    dbg = TraceDebugger(trace)
    assert dbg.frame.max == len(trace.execution) - 1
    dbg.frame.value = 6
    assert position(dbg)[0] == 6 and trace.cursor == 6
    dbg.step_button.click()
    assert dbg.frame.value == 7


def test_a_breakpoint_line_set_after_the_fact_finds_the_leaked_discount(engine: Engine) -> None:
    dbg = TraceDebugger(record(engine))
    dbg.breakpoints.value = str(PRICE_LINE)
    dbg.continue_button.click()
    index, line, _ = position(dbg)
    assert line == PRICE_LINE and "'pen'" in variables(dbg)["item"]
    assert said(dbg.message.value) == f"✓ breakpoint hit: line {PRICE_LINE} (event {index})"
    assert f'<tr data-line="{PRICE_LINE}" class="pliers-current pliers-breakpoint">' in (
        dbg.source.value
    )
    dbg.continue_button.click()  # the book: no coupon, yet the pens' discount is still set
    assert position(dbg)[1] == PRICE_LINE and "'book'" in variables(dbg)["item"]
    assert variables(dbg)["discount"] == "0.5"
    dbg.continue_button.click()
    assert position(dbg)[1] == PRICE_LINE  # stays
    assert said(dbg.message.value) == "! no breakpoint hit after this event"
    dbg.reverse_button.click()
    assert position(dbg) == (index, PRICE_LINE, "line")
    dbg.breakpoints.value = f"plugin.py:{PRICE_LINE}, 14"
    dbg.continue_button.click()
    assert position(dbg)[1] == PRICE_LINE and "'book'" in variables(dbg)["item"]
    dbg.continue_button.click()
    assert position(dbg)[1:] == (14, "line")


def test_breakpoints_recorded_with_the_trace_are_stops_too(engine: Engine) -> None:
    engine.debugger.breakpoint(
        "basket",
        Breakpoint(line=PRICE_LINE, condition="'coupon' not in item and discount > 0"),
    )
    trace = record(engine)
    (hit,) = trace.hits
    dbg = TraceDebugger(trace)
    dbg.continue_button.click()
    assert position(dbg)[0] == hit and "'book'" in variables(dbg)["item"]


def test_mistakes_are_one_clear_line_and_do_not_move(engine: Engine) -> None:
    dbg = TraceDebugger(record(engine))
    dbg.continue_button.click()
    assert said(dbg.message.value) == "! no breakpoint is set"
    for typed, expected in [
        ("eight", "✗ breakpoint 'eight' is not a line: write 8, or plugin.py:8"),
        ("42", "✗ line 42 of plugin.py never ran in this trace (lines that ran: 4, 6-14)"),
        ("8, 5", "✗ line 5 of plugin.py never ran in this trace (lines that ran: 4, 6-14)"),
        ("other.py:3", "✗ no line of 'other.py' ran in this trace (files: plugin.py)"),
    ]:
        dbg.breakpoints.value = typed
        dbg.continue_button.click()
        assert said(dbg.message.value) == expected
        assert position(dbg)[0] == 0
    dbg.step_button.click()
    assert dbg.message.value == ""  # a move clears the last complaint


def test_an_empty_trace_says_so_and_disables_the_controls(engine: Engine) -> None:
    with engine.debugger.trace("basket") as trace:
        pass
    dbg = TraceDebugger(trace)
    assert "nothing was recorded" in said(dbg.message.value)
    assert dbg.step_button.disabled and dbg.continue_button.disabled and dbg.frame.disabled
    assert dbg.step() is None and dbg.continue_() is None and dbg.position.value == ""


def test_a_trace_id_is_looked_up_in_the_engines_debugger(engine: Engine) -> None:
    trace = record(engine)
    assert TraceDebugger(trace.id, engine).trace is trace
    with pytest.raises(EngineError, match=r"no trace 'trace-nope' \(traces: trace-"):
        TraceDebugger("trace-nope", engine)


def test_the_replay_progress_bar_follows_a_real_replay(tmp_path: Path) -> None:
    log = synthetic_log(tmp_path / "events.jsonl", 60)
    bar = ReplayProgress()
    seen: list[tuple[int, int]] = []
    bar.bar.observe(lambda change: seen.append((change["new"], bar.bar.max)), "value")
    report = replay(
        log,
        EXTENSIONS,
        scheduler="synchronous",
        blocksize="4KiB",
        trust=TrustPolicy(folders=[EXTENSIONS]),
        progress=bar,
    )
    total = report.partitions
    assert total > 2 and seen == [(done, total) for done in range(1, total + 1)]
    assert bar.bar.value == bar.bar.max == total and bar.bar.bar_style == "success"
    line = said(bar.label.value)
    assert line.startswith(f"✓ {total}/{total} partitions · {report.events:,} events")


def test_the_code_shown_is_the_code_that_ran_even_after_a_fix(
    engine: Engine, tmp_path: Path
) -> None:
    # Notebook 08 redefines the plugin after recording: the old run must not be drawn
    # against the fixed code's lines.
    trace = record(engine)
    fixed = BASKET.replace(
        '        if "coupon" in item:\n            discount = item["coupon"] / 100\n',
        '        discount = item.get("coupon", 0) / 100\n',
    )
    (tmp_path / "basket" / "plugin.py").write_text(fixed)
    engine.reload("basket")
    dbg = TraceDebugger(trace)
    dbg.breakpoints.value = str(PRICE_LINE)
    dbg.continue_button.click()
    current = re.search(r'class="pliers-current[^"]*">.*?</td><td>(.*?)</td>', dbg.source.value)
    assert current is not None
    assert unescape(current[1]).strip().startswith("price = item[")
