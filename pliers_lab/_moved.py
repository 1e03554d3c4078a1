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
    # modules renamed so that no two share a name
    "pliers_lab.host.auth": "pliers_lab.host.plugin_auth",
    "pliers_lab.dependencies.catalog": "pliers_lab.dependencies.candidates",
    "pliers_lab.web.cli": "pliers_lab.web.serve_command",
    "pliers_lab.lab.widgets.debugger": "pliers_lab.lab.widgets.trace_debugger",
    "pliers_lab.lab.widgets.marketplace": "pliers_lab.lab.widgets.market_browser",
    "pliers_lab.debug.errors": "pliers_lab.debug.error_reports",
    "pliers_lab.host.errors": "pliers_lab.host.exceptions",
    "pliers_lab.market.errors": "pliers_lab.market.refusals",
    "pliers_lab.web.errors": "pliers_lab.web.error_envelope",
    "pliers_lab.host.events": "pliers_lab.host.event_bus",
    "pliers_lab.replay.events": "pliers_lab.replay.event_log",
    "pliers_lab.web.events": "pliers_lab.web.event_stream",
    "pliers_lab.host.notify": "pliers_lab.host.notifications",
    "pliers_lab.sandbox.notify": "pliers_lab.sandbox.seccomp_notify",
    "pliers_lab.manifest.paths": "pliers_lab.manifest.plugin_files",
    "pliers_lab.web.paths": "pliers_lab.web.allowed_folders",
    "pliers_lab.market.records": "pliers_lab.market.listings",
    "pliers_lab.observe.records": "pliers_lab.observe.history",
    "pliers_lab.web.records": "pliers_lab.web.messages",
    "pliers_lab.observe.store": "pliers_lab.observe.row_store",
    "pliers_lab.host.samples": "pliers_lab.host.sample_forms",
    "pliers_lab.host.trace": "pliers_lab.host.pipeline_trace",
    "pliers_lab.host.validation": "pliers_lab.host.form_validation",
    "pliers_lab.web.validation": "pliers_lab.web.request_validation",
    "pliers_lab.debug.worker": "pliers_lab.debug.in_worker",
    "pliers_lab.lab.samples": "pliers_lab.samples",
    # the engine's mixins, now one facade over collaborators
    "pliers_lab.engine.base": "pliers_lab.engine.core",
    "pliers_lab.engine.loading": "pliers_lab.engine.core",
    "pliers_lab.engine.states": "pliers_lab.engine.core",
    "pliers_lab.engine.recovering": "pliers_lab.engine.core",
    "pliers_lab.engine.sandboxing": "pliers_lab.engine.core",
    # one SQLite layer
    "pliers_lab.market._db": "pliers_lab.storage.sqlite",
}


class _Alias(importlib.abc.Loader):
    def __init__(self, new: str) -> None:
        self.new = new
        self.spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(
            f"{spec.name} moved to {self.new}; import it from there",
            DeprecationWarning,
            stacklevel=4,
        )
        module = importlib.import_module(self.new)
        self.spec = module.__spec__  # the import system puts the alias's spec on it next
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run (the module is the new one, already executed); give it back its
        own spec, so its relative imports still resolve from where it lives."""
        module.__spec__ = self.spec


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
