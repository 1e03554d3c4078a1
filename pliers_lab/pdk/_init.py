"""``pliers init PATH``: make a plugin of a folder that already holds its code (spec PDK
``init``).

The code is read, never run: ``ast`` finds the functions decorated ``@hook("...")`` and
the file that holds them, and a ``manifest.json`` is written that declares those hooks,
with the folder's name as the plugin's name. An existing manifest is never overwritten.
What the manifest cannot guess (description, permissions, configuration) is left for the
author; ``pliers validate`` says what is still missing.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from ..errors import PliersError

__all__ = ["init_plugin"]


class InitError(PliersError):
    """The folder cannot be made a plugin as it is (the message says why)."""


def _hooks_in(source: str, path: Path) -> list[str]:
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        raise InitError(f"{path} line {exc.lineno}: {exc.msg}") from None
    found: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for deco in node.decorator_list:
            if (
                isinstance(deco, ast.Call)
                and getattr(deco.func, "id", getattr(deco.func, "attr", None)) == "hook"
                and deco.args
                and isinstance(deco.args[0], ast.Constant)
                and isinstance(deco.args[0].value, str)
                and deco.args[0].value not in found
            ):
                found.append(deco.args[0].value)
    return found


def _name_of(folder: Path) -> str:
    name = re.sub(r"[^a-z0-9]+", "-", folder.name.lower()).strip("-")
    if not name or not name[0].isalpha():
        raise InitError(
            f"{folder}: cannot make a plugin name of {folder.name!r} (lowercase letters, digits "
            "and hyphens, starting with a letter); pass --name"
        )
    return name


def init_plugin(
    folder: str | Path,
    *,
    name: str | None = None,
    author: str = "Plugin Author <author@example.com>",
) -> Path:
    """Write ``folder/manifest.json`` for the code already there; its path."""
    root = Path(folder)
    if not root.is_dir():
        raise InitError(f"{root}: not a folder")
    manifest_path = root / "manifest.json"
    if manifest_path.exists():
        raise InitError(
            f"{manifest_path} exists already; edit it, or validate it with pliers validate"
        )
    candidates = {}
    for path in sorted(root.glob("*.py")):
        hooks = _hooks_in(path.read_text(encoding="utf-8"), path)
        if hooks:
            candidates[path] = hooks
    if not candidates:
        raise InitError(
            f'{root}: no function decorated @hook("...") in its .py files; write one first '
            "(or start from a template: pliers create)"
        )
    if len(candidates) > 1:
        files = ", ".join(p.name for p in candidates)
        raise InitError(f"{root}: hooks in several files ({files}); keep them in one main file")
    ((main, hooks),) = candidates.items()
    plugin = name or _name_of(root)
    manifest = {
        "name": plugin,
        "version": "0.1.0",
        "description": f"{plugin}: describe what it does for the people who install it",
        "author": author,
        "license": "MIT",
        "main": main.name,
        "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
        "hooks": {hook: {} for hook in hooks},
        "permissions": {},
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest_path
