"""Test helpers: manifest dicts and plugin folders on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def manifest(name: str, hooks: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """A valid manifest dict with ``hooks`` and any extra top-level fields."""
    return {
        "name": name,
        "version": extra.pop("version", "1.0.0"),
        "description": f"test plugin {name}",
        "author": "Tests <tests@example.com>",
        "license": "MIT",
        "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
        "hooks": hooks or {},
        **extra,
    }


def write_plugin(root: Path, name: str, code: str, hooks: dict[str, Any], **extra: Any) -> Path:
    """A plugin folder on disk: manifest.json and plugin.py (plus extra JSON files)."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    files = extra.pop("files", {})
    (folder / "manifest.json").write_text(json.dumps(manifest(name, hooks, **extra)))
    (folder / "plugin.py").write_text(code)
    for filename, content in files.items():
        (folder / filename).write_text(
            json.dumps(content) if not isinstance(content, str) else content
        )
    return folder
