"""Every notebook in notebooks/ runs top to bottom in a real kernel, and is committed
without outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pliers_lab.lab.strip import is_stripped, strip

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
FOUND = sorted(NOTEBOOKS.glob("*.ipynb"))


def test_notebooks_are_numbered_stories() -> None:
    assert FOUND, "no notebooks found"
    numbers = [path.name[:2] for path in FOUND]
    assert all(n.isdigit() for n in numbers) and len(set(numbers)) == len(numbers), numbers
    assert {"01", "02", "04"} <= set(numbers)


@pytest.mark.parametrize("path", FOUND, ids=[p.stem for p in FOUND])
def test_notebook_outputs_are_stripped(path: Path) -> None:
    book = json.loads(path.read_text("utf-8"))
    assert is_stripped(book), f"{path.name} has outputs: run python -m pliers_lab.lab.strip {path}"


def test_strip_removes_outputs_counts_and_widget_state() -> None:
    book = {
        "metadata": {"widgets": {"state": {}}, "kernelspec": {"name": "python3"}},
        "cells": [
            {
                "cell_type": "code",
                "execution_count": 3,
                "metadata": {"execution": {"x": 1}},
                "outputs": [{"output_type": "stream", "text": "hi"}],
                "source": "print('hi')",
            },
            {"cell_type": "markdown", "metadata": {}, "source": "# t"},
        ],
    }
    assert not is_stripped(book)
    stripped = strip(book)
    assert is_stripped(stripped)
    assert stripped["metadata"] == {"kernelspec": {"name": "python3"}}
    assert stripped["cells"][0]["outputs"] == [] and stripped["cells"][0]["execution_count"] is None


def execute(path: Path, cwd: Path, sockets: Path) -> Any:
    """Run ``path`` in a fresh python3 kernel from ``cwd``; a failing cell not tagged
    ``raises-exception`` raises ``CellExecutionError``. Returns the executed notebook."""
    import nbformat
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    class IpcKernelManager(KernelManager):
        """ipc sockets (no TCP-without-encryption warning) at an absolute path: the kernel
        runs from ``cwd``, and a relative socket path would not meet the client's. A class,
        not an instance, so that nbclient owns the kernel and shuts it down."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(transport="ipc", ip=str(sockets / "kernel"), **kwargs)

    book = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    client = NotebookClient(
        book,
        kernel_manager_class=IpcKernelManager,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute(cwd=str(cwd))
    return book


@pytest.mark.parametrize("path", FOUND, ids=[p.stem for p in FOUND])
def test_notebook_runs_in_a_fresh_kernel(path: Path, tmp_path: Path) -> None:
    book = execute(path, NOTEBOOKS, tmp_path)
    for cell in book.cells:
        if "raises-exception" not in cell.metadata.get("tags", []):
            continue
        # A user mistake in a magic: one line on stderr, no traceback.
        texts = [o.get("text", "") for o in cell.outputs if o.get("name") == "stderr"]
        assert len(texts) == 1 and texts[0].startswith("UsageError:"), cell.outputs
        assert texts[0].strip().count("\n") == 0
