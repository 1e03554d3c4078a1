"""Every widget and every plot of the notebooks, as a person sees them: one JupyterLab
server, one Debian chromium, notebooks 01-07 and 09 run one after another (08 and 10 have
their own browser tests), each ``.pliers-*`` widget and each matplotlib picture saved as an
element screenshot to ``test-artifacts/lab/screens/<notebook>-<n>-<kind>.png``.

Each screenshot must be a real picture (not blank, not one colour), the count of widgets
and plots must be what the notebook shows, and the defects only a browser can judge must
be gone: the dashboard's plots keep their aspect, wide DataFrames scroll in their own box
instead of running off the right edge, a dependency conflict's reason is whole.
"""

from __future__ import annotations

import io
import json
import shutil
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from browser import (
    ARTIFACTS,
    ROOT,
    browser_page,
    copy_notebooks,
    lab_server,
    need_chromium,
    run_all,
)

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SCREENS = ARTIFACTS / "screens"

#: What each notebook shows: widget kinds (``.pliers-<kind>`` roots) in order, and plots.
SHOWN: dict[str, tuple[list[str], int]] = {
    # the walkthrough's simulator and pipeline timeline, then the tour's widgets
    "01-getting-started.ipynb": (["simulator", "simulator", "inspector", "config-editor"], 1),
    "02-hooks-priorities-and-result-modes.ipynb": (["simulator"], 0),
    "03-the-submission-pipeline.ipynb": ([], 2),  # two pipeline timelines
    "04-metrics-and-error-analysis.ipynb": (["dashboard"], 4),  # 2 durations, errors, timeline
    "05-the-sandbox.ipynb": ([], 1),  # the security monitor's events over time
    "06-dependencies-and-conflicts.ipynb": ([], 2),  # the resolution's graph, %pliers graph
    "07-configuration-and-hot-reload.ipynb": (["config-editor"], 0),
    "09-endpoints-and-live-events.ipynb": ([], 0),
}
WIDGETS = ", ".join(
    f".jp-OutputArea-output .pliers-{kind}"
    for kind in ("simulator", "inspector", "config-editor", "dashboard")
)
# A picture the kernel sent (image/png), not an image inside a widget.
PLOTS = ".jp-OutputArea-output.jp-RenderedImage > img"

# Every output rendered and laid out (JupyterLab windows long notebooks).
SCROLL_THROUGH = """async () => {
  const panel = '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer';
  const scroller = document.querySelector(panel);
  if (!scroller) return;
  for (let y = 0, n = 0; y <= scroller.scrollHeight && n < 300; y += 600, n++) {
    scroller.scrollTop = y;
    await new Promise((r) => setTimeout(r, 30));
  }
  scroller.scrollTop = 0;
}"""

# Each DataFrame: inside the lab's box? wider than it, and does the box scroll? The text of
# its cells, to look for pandas' "..." cut.
FRAMES = """() => Array.from(document.querySelectorAll('.jp-OutputArea-output table.dataframe'))
  .map((table) => {
    // A DataFrame shown by the lab, or a table inside one of its widgets' panels.
    const box = table.closest('.pliers-frame, div.pliers-lab');
    const output = table.closest('.jp-OutputArea-output');
    return {
      boxed: !!box,
      overflow: box ? getComputedStyle(box).overflowX : null,
      scrollWidth: box ? box.scrollWidth : 0,
      clientWidth: box ? box.clientWidth : 0,
      tableWidth: table.getBoundingClientRect().width,
      tableRight: table.getBoundingClientRect().right,
      boxRight: (box || output).getBoundingClientRect().right,
      // textContent, not innerText: JupyterLab does not lay out cells scrolled out of
      // view on a busy machine, and innerText of what is not laid out is empty.
      cells: Array.from(table.querySelectorAll('td')).map((td) => td.textContent),
      text: table.textContent,
    };
  })"""

# The dashboard's two plots: drawn size against the PNG's own.
DASHBOARD_IMAGES = """() => Array.from(document.querySelectorAll('.pliers-dashboard img'))
  .map((img) => ({w: img.clientWidth, h: img.clientHeight, nw: img.naturalWidth,
                  nh: img.naturalHeight}))"""


def shut_down_kernels(server: Any) -> None:
    """End every session of the server (its kernel too) without asking the page: closing
    a notebook with outputs opens a save-or-discard dialog."""
    auth = {"Authorization": f"token {server.token}"}
    with urllib.request.urlopen(
        urllib.request.Request(f"{server.url}/api/sessions", headers=auth), timeout=10
    ) as reply:
        sessions = json.loads(reply.read())
    for session in sessions:
        request = urllib.request.Request(
            f"{server.url}/api/sessions/{session['id']}", headers=auth, method="DELETE"
        )
        urllib.request.urlopen(request, timeout=30).close()


def check_picture(png: bytes, where: str) -> tuple[int, int]:
    """A real picture: big enough and not a single colour. Returns its size."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    width, height = image.size
    assert width >= 150 and height >= 60, (where, image.size)
    assert len(png) > 3000, (where, len(png))
    colours = image.getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 8, (where, colours and colours[:3])
    assert any(low != high for low, high in image.getextrema()), where
    return width, height


def shoot(page: Any, notebook: str) -> tuple[list[str], int]:
    """Screenshot each widget and each plot of the open notebook, in order on the page."""
    prefix = notebook[:2]
    page.evaluate(SCROLL_THROUGH)
    elements = page.locator(f"{WIDGETS}, {PLOTS}")
    kinds: list[str] = []
    plots = 0
    for n in range(elements.count()):
        element = elements.nth(n)
        classes = element.get_attribute("class") or ""
        kind = next((c[len("pliers-") :] for c in classes.split() if c.startswith("pliers-")), "")
        if not kind:
            kind, plots = "plot", plots + 1
        else:
            kinds.append(kind)
        element.scroll_into_view_if_needed()
        page.wait_for_timeout(150)  # images decoded, widgets laid out
        path = SCREENS / f"{prefix}-{n + 1}-{kind}.png"
        png = element.screenshot(path=str(path), animations="disabled")
        check_picture(png, path.name)
    return kinds, plots


def check_frames(page: Any, notebook: str) -> list[dict[str, Any]]:
    """Every DataFrame is in one of the lab's boxes; one wider than it scrolls inside it."""
    frames: list[dict[str, Any]] = page.evaluate(FRAMES)
    for i, frame in enumerate(frames):
        where = f"{notebook} DataFrame {i}: {frame['text'][:80]!r}"
        assert frame["boxed"] and frame["overflow"] in ("auto", "scroll"), where
        if frame["tableWidth"] > frame["clientWidth"] + 1:
            assert frame["scrollWidth"] > frame["clientWidth"], where
        # The box ends inside the output, so nothing runs off the right edge unseen.
        assert frame["boxRight"] <= page.viewport_size["width"], where
        assert not any(cell.rstrip().endswith("...") for cell in frame["cells"]), where
    return frames


def test_screenshots_of_every_widget_and_plot(tmp_path: Path) -> None:
    need_chromium()
    if SCREENS.exists():
        shutil.rmtree(SCREENS)
    SCREENS.mkdir(parents=True)
    root = copy_notebooks(tmp_path / "notebooks")
    env = {"PLIERS_EXTENSIONS": str(ROOT / "extensions")}
    seen: dict[str, tuple[list[str], int]] = {}
    frames: dict[str, list[dict[str, Any]]] = {}
    started = time.monotonic()
    with (
        lab_server(root, tmp_path / "state", env) as server,
        browser_page(server, "screenshots") as page,
    ):
        # Tall enough that the dashboard (the tallest widget) fits whole in a screenshot.
        page.set_viewport_size({"width": 1400, "height": 1800})
        for notebook in SHOWN:
            run_all(page, server, notebook, timeout_ms=180_000)
            seen[notebook] = shoot(page, notebook)
            frames[notebook] = check_frames(page, notebook)
            if notebook.startswith("04"):
                images = page.evaluate(DASHBOARD_IMAGES)
                assert len(images) == 2, images
                for image in images:  # the drawn plot has the PNG's own shape
                    drawn, own = image["w"] / image["h"], image["nw"] / image["nh"]
                    assert abs(drawn / own - 1) < 0.03, image
            shut_down_kernels(server)  # one kernel at a time on a shared machine
            print(notebook, seen[notebook], f"{time.monotonic() - started:.0f} s", flush=True)
    assert seen == SHOWN
    # Notebook 05's wide tables (the sandbox's refusals of `curious`): whole (no "..."
    # cell, checked above), and each fits its box or scrolls in it, never past the edge.
    wide = [f for f in frames["05-the-sandbox.ipynb"] if "refused by the sandbox" in f["text"]]
    assert wide, [f["text"][:80] for f in frames["05-the-sandbox.ipynb"]]
    for f in wide:
        fits = f["tableWidth"] <= f["clientWidth"] + 1
        assert fits or f["scrollWidth"] > f["clientWidth"], f
    # Notebook 06: why pdf-export was left out, and its conflict, in full.
    text = "\n".join(f["text"] for f in frames["06-dependencies-and-conflicts.ipynb"])
    assert "no version of forms-core satisfies both ^1.2.0 and ^2.0.0" in text
    assert "[error] pdf-export needs forms-core ^1.2.0 vs charts (^2.0.0)" in text
    shots = sorted(SCREENS.glob("*.png"))
    assert len(shots) == sum(len(kinds) + plots for kinds, plots in SHOWN.values())
