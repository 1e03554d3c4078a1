"""The marketplace browser in a real browser (issue 15 §3): JupyterLab runs notebook 10,
headless chromium searches the registry, picks a plugin, reads its scan findings and
signature, installs it (watching the progress steps drawn), then clicks Update, reads
the permission diff in the prompt and accepts it; the rendered elements are checked and
a screenshot saved.

The notebook leaves ``crm-notes`` uninstalled with 1.0.0 and 1.1.0 (which adds
``network.outbound`` to ``api.crm.example``) in its registry: the clicks start there.
"""

from __future__ import annotations

import re
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

NOTEBOOK = "10-the-marketplace.ipynb"

# Records every step label the widget draws (``data-step``), in order, as it is drawn.
WATCH_STEPS = """() => {
  const root = document.querySelector('.pliers-marketplace');
  window.pliersSteps = [];
  const seen = () => {
    const label = root.querySelector('.pliers-market-step');
    const step = label && label.getAttribute('data-step');
    const steps = window.pliersSteps;
    if (step && steps[steps.length - 1] !== step) steps.push(step);
  };
  new MutationObserver(seen).observe(
    root, {subtree: true, childList: true, characterData: true, attributes: true});
}"""


def button(scope: Any, label: str) -> Any:
    """The widget button whose text is exactly ``label`` (its icon is drawn by CSS)."""
    return scope.locator("button.widget-button", has_text=re.compile(f"^{re.escape(label)}$"))


def rows(ui: Any, table: str) -> list[str | None]:
    found = ui.locator(f"table.{table} tbody tr[data-plugin]")
    return [found.nth(i).get_attribute("data-plugin") for i in range(found.count())]


def wait_message(ui: Any, kind: str, start: str) -> str:
    """Wait until the widget's message line is of ``kind`` and starts with ``start``
    (after its icon: "installed ..." must not match the "uninstalled ..." before it)."""
    pattern = re.compile(rf"^\W*{re.escape(start)}")
    line = ui.locator(f".pliers-market-message .pliers-message.pliers-{kind}", has_text=pattern)
    line.wait_for(state="visible", timeout=60_000)
    return str(line.inner_text())


def search(ui: Any, words: str, expected: int) -> None:
    """Type ``words`` in the search box, press Enter, wait for ``expected`` rows."""
    box = ui.locator(".pliers-market-query input")
    box.fill(words)
    box.press("Enter")
    button(ui, "Search").click()
    ui.page.wait_for_function(
        "n => document.querySelectorAll("
        "'.pliers-marketplace table.pliers-market-results tbody tr[data-plugin]').length === n",
        arg=expected,
        timeout=30_000,
    )


def test_search_install_and_accept_an_update_in_jupyterlab(tmp_path: Path) -> None:
    need_chromium()
    root = copy_notebooks(tmp_path / "notebooks")
    env = {"PLIERS_EXTENSIONS": str(ROOT / "extensions")}
    with (
        lab_server(root, tmp_path / "state", env) as server,
        browser_page(server, "marketplace") as page,
    ):
        run_all(page, server, NOTEBOOK, timeout_ms=240_000)
        ui = page.locator(".pliers-marketplace")
        ui.wait_for(state="visible", timeout=30_000)
        ui.scroll_into_view_if_needed()

        # Search: everything, then the notes.
        search(ui, "", 6)
        assert rows(ui, "pliers-market-results") == [
            "advanced-validation",
            "audit-log",
            "crm-notes",
            "csv-export",
            "submission-guard",
            "webhook",
        ]
        # Select: webhook's scan finding and its signature, as drawn.
        ui.locator(".pliers-market-plugin select").select_option("webhook")
        finding = ui.locator("table.pliers-market-scan tbody tr[data-severity='medium']")
        finding.wait_for(state="visible", timeout=30_000)
        assert "undeclared-permission" in finding.inner_text()
        signature = ui.locator(".pliers-market-details .pliers-market-signature")
        assert signature.get_attribute("data-status") == "verified"
        search(ui, "notes", 1)
        assert rows(ui, "pliers-market-results") == ["crm-notes"]
        header = ui.locator(".pliers-market-details .pliers-market-header")
        page.wait_for_function(
            "() => document.querySelector('.pliers-marketplace .pliers-market-header')"
            ".getAttribute('data-plugin') === 'crm-notes'",
            timeout=30_000,
        )
        assert header.get_attribute("data-installed") == ""
        versions = ui.locator("table.pliers-market-versions tbody tr[data-version]")
        assert [versions.nth(i).get_attribute("data-version") for i in range(2)] == [
            "1.1.0",
            "1.0.0",
        ]

        # Install 1.0.0, watching the steps the widget draws while the kernel works.
        ui.locator(".pliers-market-version select").select_option("1.0.0")
        page.wait_for_function(
            "() => document.querySelector('.pliers-marketplace .pliers-market-header')"
            ".getAttribute('data-version') === '1.0.0'",
            timeout=30_000,
        )
        page.evaluate(WATCH_STEPS)
        button(ui, "Install").click()
        installed = wait_message(ui, "ok", "installed crm-notes 1.0.0")
        assert "runs in process isolation" in installed
        steps = page.evaluate("window.pliersSteps")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "marketplace-steps.txt").write_text(" ".join(steps) + "\n")
        order = ["waiting", "resolve", "download", "verify", "scan", "install", "start", "done"]
        assert steps == sorted(steps, key=order.index), steps  # drawn in order
        assert steps[-1] == "done" and len(set(steps) - {"waiting", "done"}) >= 3, steps
        assert "process" in ui.locator(".pliers-market-header").inner_text()
        assert ui.locator("table.pliers-market-results tr[data-installed='1.0.0']").count() == 1

        # Update: the prompt shows the permission 1.1.0 adds; nothing changes before Accept.
        button(ui, "Update").click()
        prompt = ui.locator(".pliers-market-prompt")
        prompt.wait_for(state="visible", timeout=30_000)
        added = prompt.locator("table.pliers-permission-diff tbody tr[data-change='added']")
        assert added.count() == 1
        assert added.inner_text().split() == ["+", "new", "network", "outbound", "api.crm.example"]
        assert "update crm-notes 1.0.0 → 1.1.0" in prompt.inner_text()
        assert "pushes each note to the CRM" in prompt.inner_text()
        wait_message(ui, "warning", "crm-notes 1.1.0 asks for new permissions")
        assert header.get_attribute("data-installed") == "1.0.0"
        page.set_viewport_size({"width": 1400, "height": 2000})  # the whole widget
        ui.scroll_into_view_if_needed()
        ui.screenshot(path=str(ARTIFACTS / "marketplace.png"))
        page.set_viewport_size({"width": 1400, "height": 1000})

        # Accept: updated to exactly 1.1.0, the prompt gone.
        button(prompt, "Accept and update").click()
        updated = wait_message(ui, "ok", "updated crm-notes 1.0.0 → 1.1.0")
        assert "granted network.outbound[api.crm.example]" in updated
        prompt.wait_for(state="hidden", timeout=30_000)
        page.wait_for_function(
            "() => document.querySelector('.pliers-marketplace .pliers-market-header')"
            ".getAttribute('data-installed') === '1.1.0'",
            timeout=30_000,
        )
        assert ui.locator("table.pliers-market-results tr[data-installed='1.1.0']").count() == 1
        kept = ui.locator("table.pliers-market-versions tbody tr[data-state='kept']")
        assert kept.get_attribute("data-version") == "1.0.0"  # kept beside, for a rollback
        assert button(ui, "Rollback").is_enabled()

        # Neither the widget nor the notebook's tables are cut off at the right.
        overflowing = page.evaluate(WIDER_THAN_OUTPUT)
        assert overflowing == [], overflowing
    assert (ARTIFACTS / "marketplace.png").stat().st_size > 10_000
