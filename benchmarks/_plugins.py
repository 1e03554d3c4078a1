"""Plugin folders the benchmarks share: a manifest and a ``plugin.py``, sandboxed."""

from __future__ import annotations

import json
from pathlib import Path


def write_plugin(root: Path, name: str, hook: str, code: str, what: str) -> Path:
    """The folder ``root/name``: a process-isolated plugin with one handler of ``hook``
    (``code`` is its ``plugin.py``; ``what`` goes into the manifest's description)."""
    folder = root / name
    folder.mkdir(parents=True)
    manifest = {
        "name": name,
        "version": "1.0.0",
        "description": f"benchmark {what} plugin",
        "author": "bench",
        "license": "MIT",
        "isolation": "process",
        "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
        "hooks": {hook: {}},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "plugin.py").write_text(code)
    return folder
