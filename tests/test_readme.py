"""The README keeps its promises to a newcomer: its links lead to files of this
repository, and the five-minute walkthrough is notebook 01's own cells (which the suite
runs and clicks)."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_every_relative_link_in_the_docs_leads_to_a_file_of_the_repository() -> None:
    for page in (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))):
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = (page.parent / target.split("#", 1)[0]).resolve()
            assert path.is_relative_to(ROOT), f"{page.name}: {target} leaves the repository"
            assert path.exists(), f"{page.name}: {target} does not exist"


def test_the_walkthrough_is_notebook_01s_cells_in_order() -> None:
    section = README.split("## Your first plugin in five minutes", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 4
    book = json.loads((ROOT / "notebooks" / "01-getting-started.ipynb").read_text())
    cells = ["".join(c["source"]) for c in book["cells"] if c["cell_type"] == "code"]
    shown = [line for block in blocks for line in block.strip().split("\n")]
    position = 0
    for cell in cells:
        lines = cell.split("\n")
        if shown[position : position + len(lines)] == lines:
            position += len(lines)
    assert position == len(shown), (
        f"README walkthrough drifted from notebook 01 at: {shown[position]}"
    )
    assert "%%pliers plugin no-shouting" in section and "HookSimulator" in section
