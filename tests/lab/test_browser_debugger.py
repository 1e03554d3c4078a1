"""The trace debugger in a real browser (issue 15 §3): JupyterLab runs notebook 08, headless
chromium clicks Step forward and Step back, types a breakpoint line and clicks Continue to
breakpoint; the line shown and the variables table drawn are checked, a screenshot saved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browser import (
    ARTIFACTS,
    ROOT,
    WIDER_THAN_OUTPUT,
    browser_page,
    copy_notebooks,
    lab_server,
    need_chromium,
    run_all,
)

pytestmark = [pytest.mark.slow, pytest.mark.browser]

NOTEBOOK = "08-debugging-and-replay.ipynb"


def shown(debugger: Any, index: int) -> tuple[int, str]:
    """Wait until the widget shows event ``index``; (its line, its event kind) as drawn."""
    position = debugger.locator(f'.pliers-position[data-index="{index}"]')
    position.wait_for(state="visible", timeout=30_000)
    line = position.locator(".pliers-line").text_content()
    assert line == position.get_attribute("data-line")
    return int(line), str(position.get_attribute("data-event"))


def variable(debugger: Any, name: str) -> str:
    """The value the rendered variables table shows for ``name``."""
    cell = debugger.locator(f'table.pliers-variables tr[data-name="{name}"] td').nth(1)
    return str(cell.text_content())


def test_step_and_continue_to_a_breakpoint_in_jupyterlab(tmp_path: Path) -> None:
    need_chromium()
    root = copy_notebooks(tmp_path / "notebooks")
    env = {"PLIERS_EXTENSIONS": str(ROOT / "extensions")}
    with (
        lab_server(root, tmp_path / "state", env) as server,
        browser_page(server, "debugger") as page,
    ):
        run_all(page, server, NOTEBOOK, timeout_ms=240_000)
        debugger = page.locator(".pliers-debugger")
        debugger.wait_for(state="visible", timeout=30_000)
        debugger.scroll_into_view_if_needed()
        # A fresh tape starts at its first event: the handler's call.
        assert shown(debugger, 0)[1] == "call"
        forward = debugger.locator("button.widget-button", has_text="Step forward")
        back = debugger.locator("button.widget-button", has_text="Step back")
        forward.click()
        assert shown(debugger, 1) == (3, "line")  # items = ...
        forward.click()
        assert shown(debugger, 2) == (4, "line")  # total = 0.0
        assert variable(debugger, "items").startswith("[{'coupon': 50")
        back.click()
        assert shown(debugger, 1) == (3, "line")
        assert debugger.locator('table.pliers-source tr.pliers-current[data-line="3"]').count()

        # The line computing price (line 8 of the cell), set after the fact.
        typed = debugger.locator(".widget-text input")
        typed.fill("8")
        go = debugger.locator("button.widget-button", has_text="Continue to breakpoint")
        go.click()
        assert shown(debugger, 6) == (8, "line")
        assert "'pen'" in variable(debugger, "item") and variable(debugger, "discount") == "0.5"
        # A line that never ran: one line that says so, and the widget stays put.
        typed.fill("2")
        go.click()
        error = debugger.locator(".pliers-message.pliers-error")
        error.wait_for(state="visible", timeout=30_000)
        assert "line 2 of <pliers plugin basket> never ran in this trace" in error.inner_text()
        assert shown(debugger, 6) == (8, "line")
        typed.fill("8")
        go.click()  # the book has no coupon, yet the pens' discount is still set: the bug
        assert shown(debugger, 10) == (8, "line")
        assert "'book'" in variable(debugger, "item") and variable(debugger, "discount") == "0.5"
        message = debugger.locator(".pliers-message.pliers-ok")
        assert "breakpoint hit: line 8 (event 10)" in message.inner_text()
        # The code drawn is the code that ran, though the notebook fixed the plugin since.
        current = debugger.locator("table.pliers-source tr.pliers-current td").nth(1)
        assert 'item["qty"] * (1 - discount)' in current.inner_text()

        # The replay's progress bar reached its end.
        progress = page.locator(".pliers-replay-progress")
        progress.scroll_into_view_if_needed()
        drawn = str(progress.text_content())
        assert "partitions" in drawn and "501 events" in drawn, drawn

        # Issue 15 §4: no table of the notebook is cut off at the right of its output.
        overflowing = page.evaluate(WIDER_THAN_OUTPUT)
        assert overflowing == [], overflowing

        debugger.scroll_into_view_if_needed()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        debugger.screenshot(path=str(ARTIFACTS / "debugger.png"))
    assert (ARTIFACTS / "debugger.png").stat().st_size > 10_000
