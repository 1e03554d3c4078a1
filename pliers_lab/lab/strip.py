"""Strip outputs from notebooks before they go into git: ``python -m pliers_lab.lab.strip``.

Notebooks are committed without outputs, execution counts or widget state (the test
suite checks it), so diffs show what changed in the story, not in the run. Standard
library only; the notebook's JSON layout (one-space indent) is kept.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["is_stripped", "strip"]

_VOLATILE_METADATA = ("widgets", "execution")


def strip(book: dict[str, Any]) -> dict[str, Any]:
    """The notebook without outputs, execution counts and run metadata (in place)."""
    for key in _VOLATILE_METADATA:
        book.get("metadata", {}).pop(key, None)
    for cell in book.get("cells", []):
        cell.get("metadata", {}).pop("execution", None)
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return book


def is_stripped(book: dict[str, Any]) -> bool:
    """Whether ``strip`` would change nothing."""
    before = json.dumps(book, sort_keys=True)
    return json.dumps(strip(json.loads(before)), sort_keys=True) == before


def main(paths: list[str]) -> int:
    targets = [Path(p) for p in paths] or sorted(Path("notebooks").glob("*.ipynb"))
    for path in targets:
        book = json.loads(path.read_text("utf-8"))
        if is_stripped(book):
            continue
        path.write_text(json.dumps(strip(book), indent=1, ensure_ascii=False) + "\n", "utf-8")
        print(f"stripped {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
