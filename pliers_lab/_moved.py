"""Modules that moved, still importable from their old names with a DeprecationWarning
that names the new place (``import pliers_lab.dispatch`` keeps working for a release).

One meta-path finder answers for every old name, so the package root holds no shim
files: the old name becomes an alias of the new module in ``sys.modules``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType
from typing import Any

__all__ = ["MOVED", "install"]

#: Old module name → where it lives now.
MOVED = {
    "pliers_lab.api": "pliers_lab.engine._plugin_api",
    "pliers_lab.cache": "pliers_lab.engine._cache",
    "pliers_lab.runtime": "pliers_lab.engine.runtimes",
    "pliers_lab._aio": "pliers_lab.engine._aio",
    "pliers_lab.registry": "pliers_lab.engine._hook_table",
    "pliers_lab.modes": "pliers_lab.engine._modes",
    "pliers_lab.dispatch": "pliers_lab.engine._dispatch",
    "pliers_lab.loader": "pliers_lab.engine.loader",
    "pliers_lab.breaker": "pliers_lab.engine._breaker",
    "pliers_lab.results": "pliers_lab.engine.hook_results",
    "pliers_lab._semver_parse": "pliers_lab.versions._parse",
    "pliers_lab.hotreload": "pliers_lab.config.hotreload",
    "pliers_lab.optimize": "pliers_lab.observe.optimize",
    "pliers_lab.demo": "pliers_lab.pdk.demo",
}


class _Alias(importlib.abc.Loader):
    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(
            f"{spec.name} moved to {self.new}; import it from there",
            DeprecationWarning,
            stacklevel=4,
        )
        return importlib.import_module(self.new)

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module is the new one, already executed."""


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        new = MOVED.get(name)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(name, _Alias(new))


def install() -> None:
    """Answer for the old names (once per interpreter)."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.append(_Finder())
