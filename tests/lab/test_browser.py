"""The lab in a real browser: JupyterLab on loopback, headless Debian chromium driven by
Playwright, a notebook run, the hook simulator's Fire button clicked, the rendered
per-plugin table checked, a screenshot saved (facts/lab-stack.md has the recipe).

The notebooks are copied to a temporary folder first, so JupyterLab's autosave never
writes outputs into the repository.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from browser import (
    ARTIFACTS,
    KERNEL_IDLE,
    ROOT,
    browser_page,
    copy_notebooks,
    lab_server,
    need_chromium,
    run_all,
)

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_fire_from_the_simulator_in_jupyterlab(tmp_path: Path) -> None:
    need_chromium()
    root = copy_notebooks(tmp_path / "notebooks")
    env = {"PLIERS_EXTENSIONS": str(ROOT / "extensions")}
    with (
        lab_server(root, tmp_path / "state", env) as server,
        browser_page(server, "simulator") as page,
    ):
        run_all(page, server, "01-getting-started.ipynb")
        # The walkthrough's simulator (its cell presses Fire), then the tour's.
        walkthrough = page.locator(".pliers-simulator").nth(0)
        simulator = page.locator(".pliers-simulator").nth(1)
        fire = simulator.locator("button.widget-button", has_text="Fire")
        fire.wait_for(state="visible", timeout=90_000)
        page.wait_for_function(KERNEL_IDLE, timeout=90_000)  # every cell has run
        vetoed = walkthrough.locator("table.pliers-outcomes tbody tr[data-plugin]")
        assert vetoed.count() == 1 and vetoed.get_attribute("data-plugin") == "no-shouting"
        assert "capitals (at most 50%)" in (walkthrough.text_content() or "")
        table = simulator.locator(".pliers-outcomes")
        assert table.count() == 0  # nothing fired from the simulator yet
        started = time.perf_counter()
        fire.click()
        rows = simulator.locator("table.pliers-outcomes tbody tr[data-plugin]")
        rows.first.wait_for(state="visible", timeout=30_000)
        round_trip_ms = (time.perf_counter() - started) * 1000  # click → table drawn
        (ARTIFACTS / "simulator-fire-ms.txt").write_text(f"{round_trip_ms:.1f}\n")
        plugins = [rows.nth(i).get_attribute("data-plugin") for i in range(rows.count())]
        statuses = {rows.nth(i).get_attribute("data-status") for i in range(rows.count())}
        assert plugins == ["submission-sanitizer", "data-transform-chain"]
        assert statuses == {"ok"}
        status = simulator.locator(".pliers-message.pliers-ok").last.inner_text()
        assert "submission.transform (waterfall)" in status and "2 plugins" in status
        rows.first.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "simulator-fire.png"), full_page=False)
    assert (ARTIFACTS / "simulator-fire.png").stat().st_size > 10_000
    assert round_trip_ms < 2000, round_trip_ms  # browser → kernel → engine → browser
