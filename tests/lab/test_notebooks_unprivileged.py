"""Every notebook runs top to bottom as an ordinary user without cgroups, the way Binder
runs them — with user namespaces (this kind of machine) and without (Docker's default
seccomp profile refuses them). Notebook 05 shows which layers are active."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("userns", [True, False], ids=["user-namespaces", "no-user-namespaces"])
def test_every_notebook_runs_as_an_ordinary_user(ordinary_user: Any, userns: bool) -> None:
    folder = ordinary_user.repo / "notebooks"
    names = sorted(p.name for p in folder.glob("*.ipynb"))
    assert names
    out = ordinary_user.home / ("out-userns" if userns else "out-no-userns")
    done = ordinary_user.run(
        str(ordinary_user.venv / "bin" / "jupyter"), "nbconvert", "--to", "notebook",
        "--execute", "--ExecutePreprocessor.timeout=180", f"--output-dir={out}", *names,
        userns=userns, cwd=folder, timeout=1500,
    )  # fmt: skip
    assert done.returncode == 0, f"a notebook failed as an ordinary user:\n{done.stderr[-5000:]}"
    book = json.loads((out / "05-the-sandbox.ipynb").read_text())
    shown = "".join(
        "".join(output.get("data", {}).get("text/html", ""))
        for cell in book["cells"]
        for output in cell.get("outputs", [])
    )
    assert "pliers-isolation-report" in shown
    netns_active = "data-layer='netns' data-active='true'" in shown
    assert netns_active is userns
    assert "data-layer='cgroup' data-active='false'" in shown
