"""The scanner's check of a manifest's ``limits.blockedModules`` (issue 18 §2): code that
imports a module its own manifest blocks would fail in its sandbox (the worker cannot
read that module's files: ``sandbox._plugin_limits``), so it is found before install."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..manifest import Manifest

__all__ = ["blocked_imports"]


def _imports(tree: ast.AST) -> Iterator[tuple[str, int]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            yield node.module.split(".")[0], node.lineno
        elif (  # importlib.import_module("x") / __import__("x") with a literal name
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Name) and node.func.id == "__import__")
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
            )
        ):
            yield node.args[0].value.split(".")[0], node.lineno


def blocked_imports(files: Mapping[str, bytes], manifest: Manifest | None) -> list[tuple[str, str]]:
    """``(module, "file:line")`` for each import of a module the manifest blocks (or of
    its C accelerator ``_name``)."""
    if manifest is None or not manifest.limits.blocked_modules:
        return []
    blocked = set(manifest.limits.blocked_modules)
    blocked |= {f"_{name}" for name in blocked}
    found = []
    for name in sorted(files):
        if not name.endswith(".py"):
            continue
        try:
            tree = ast.parse(files[name].decode("utf-8", "replace"), name)
        except (SyntaxError, ValueError):
            continue  # the scan reports unparsable code by itself
        found += [(m, f"{name}:{line}") for m, line in _imports(tree) if m in blocked]
    return found
