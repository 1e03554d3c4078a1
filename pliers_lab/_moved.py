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
    "pliers_lab.demo": "pliers_lab.pdk._demo",
    # modules renamed so that no two share a name
    "pliers_lab.host.auth": "pliers_lab.host._plugin_auth",
    "pliers_lab.dependencies.catalog": "pliers_lab.dependencies.candidates",
    "pliers_lab.web.cli": "pliers_lab.web.serve_command",
    "pliers_lab.lab.widgets.debugger": "pliers_lab.lab.widgets.trace_debugger",
    "pliers_lab.lab.widgets.marketplace": "pliers_lab.lab.widgets._market_browser",
    "pliers_lab.debug.errors": "pliers_lab.debug.error_reports",
    "pliers_lab.host.errors": "pliers_lab.host._exceptions",
    "pliers_lab.market.errors": "pliers_lab.market.refusals",
    "pliers_lab.web.errors": "pliers_lab.web._error_envelope",
    "pliers_lab.host.events": "pliers_lab.host._event_bus",
    "pliers_lab.replay.events": "pliers_lab.replay._event_log",
    "pliers_lab.web.events": "pliers_lab.web._event_stream",
    "pliers_lab.host.notify": "pliers_lab.host._notifications",
    "pliers_lab.sandbox.notify": "pliers_lab.sandbox._seccomp_notify",
    "pliers_lab.manifest.paths": "pliers_lab.manifest.plugin_files",
    "pliers_lab.web.paths": "pliers_lab.web._allowed_folders",
    "pliers_lab.market.records": "pliers_lab.market._listings",
    "pliers_lab.observe.records": "pliers_lab.observe.history",
    "pliers_lab.web.records": "pliers_lab.web._messages",
    "pliers_lab.observe.store": "pliers_lab.observe.row_store",
    "pliers_lab.host.samples": "pliers_lab.host.sample_forms",
    "pliers_lab.host.trace": "pliers_lab.host._pipeline_trace",
    "pliers_lab.host.validation": "pliers_lab.host._form_validation",
    "pliers_lab.web.validation": "pliers_lab.web._request_validation",
    "pliers_lab.debug.worker": "pliers_lab.debug._in_worker",
    "pliers_lab.lab.samples": "pliers_lab.samples",
    # the engine's mixins, now one facade over collaborators
    "pliers_lab.engine.base": "pliers_lab.engine._core",
    "pliers_lab.engine.loading": "pliers_lab.engine._core",
    "pliers_lab.engine.states": "pliers_lab.engine._core",
    "pliers_lab.engine.recovering": "pliers_lab.engine._core",
    "pliers_lab.engine.sandboxing": "pliers_lab.engine._core",
    # one SQLite layer
    "pliers_lab.market._db": "pliers_lab.storage.sqlite",
    # modules no other package imports: private, each package's __init__ offers them
    "pliers_lab.debug.debugger": "pliers_lab.debug._debugger",
    "pliers_lab.debug.in_worker": "pliers_lab.debug._in_worker",
    "pliers_lab.debug.profile": "pliers_lab.debug._profile",
    "pliers_lab.dependencies.latest": "pliers_lab.dependencies._latest",
    "pliers_lab.dependencies.model": "pliers_lab.dependencies._model",
    "pliers_lab.dependencies.resolver": "pliers_lab.dependencies._resolver",
    "pliers_lab.engine.core": "pliers_lab.engine._core",
    "pliers_lab.host.api": "pliers_lab.host._api",
    "pliers_lab.host.checkpoint": "pliers_lab.host._checkpoint",
    "pliers_lab.host.db": "pliers_lab.host._db",
    "pliers_lab.host.definitions": "pliers_lab.host._definitions",
    "pliers_lab.host.event_bus": "pliers_lab.host._event_bus",
    "pliers_lab.host.exceptions": "pliers_lab.host._exceptions",
    "pliers_lab.host.exports": "pliers_lab.host._exports",
    "pliers_lab.host.fieldtypes": "pliers_lab.host._fieldtypes",
    "pliers_lab.host.form_validation": "pliers_lab.host._form_validation",
    "pliers_lab.host.forms": "pliers_lab.host._forms",
    "pliers_lab.host.host": "pliers_lab.host._host",
    "pliers_lab.host.imports": "pliers_lab.host._imports",
    "pliers_lab.host.integration": "pliers_lab.host._integration",
    "pliers_lab.host.migrations": "pliers_lab.host._migrations",
    "pliers_lab.host.notifications": "pliers_lab.host._notifications",
    "pliers_lab.host.pipeline_trace": "pliers_lab.host._pipeline_trace",
    "pliers_lab.host.plugin_auth": "pliers_lab.host._plugin_auth",
    "pliers_lab.host.render": "pliers_lab.host._render",
    "pliers_lab.host.run": "pliers_lab.host._run",
    "pliers_lab.host.submissions": "pliers_lab.host._submissions",
    "pliers_lab.host.tables": "pliers_lab.host._tables",
    "pliers_lab.host.tasks": "pliers_lab.host._tasks",
    "pliers_lab.host.workflow": "pliers_lab.host._workflow",
    "pliers_lab.lab.commands": "pliers_lab.lab._commands",
    "pliers_lab.lab.default": "pliers_lab.lab._default",
    "pliers_lab.lab.displays": "pliers_lab.lab._displays",
    "pliers_lab.lab.graph": "pliers_lab.lab._graph",
    "pliers_lab.lab.inline": "pliers_lab.lab._inline",
    "pliers_lab.lab.payloads": "pliers_lab.lab._payloads",
    "pliers_lab.lab.router": "pliers_lab.lab._router",
    "pliers_lab.lab.widgets.config_editor": "pliers_lab.lab.widgets._config_editor",
    "pliers_lab.lab.widgets.dashboard": "pliers_lab.lab.widgets._dashboard",
    "pliers_lab.lab.widgets.inspector": "pliers_lab.lab.widgets._inspector",
    "pliers_lab.lab.widgets.market_browser": "pliers_lab.lab.widgets._market_browser",
    "pliers_lab.lab.widgets.simulator": "pliers_lab.lab.widgets._simulator",
    "pliers_lab.manifest.load": "pliers_lab.manifest._load",
    "pliers_lab.manifest.permissions": "pliers_lab.manifest._permissions",
    "pliers_lab.market.listings": "pliers_lab.market._listings",
    "pliers_lab.market.marketplace": "pliers_lab.market._marketplace",
    "pliers_lab.market.package": "pliers_lab.market._package",
    "pliers_lab.market.registry": "pliers_lab.market._registry",
    "pliers_lab.market.store": "pliers_lab.market._store",
    "pliers_lab.pdk.checks": "pliers_lab.pdk._checks",
    "pliers_lab.pdk.demo": "pliers_lab.pdk._demo",
    "pliers_lab.pdk.docs": "pliers_lab.pdk._docs",
    "pliers_lab.pdk.doctor": "pliers_lab.pdk._doctor",
    "pliers_lab.pdk.fakes": "pliers_lab.pdk._fakes",
    "pliers_lab.pdk.harness": "pliers_lab.pdk._harness",
    "pliers_lab.pdk.init": "pliers_lab.pdk._init",
    "pliers_lab.pdk.keys": "pliers_lab.pdk._keys",
    "pliers_lab.pdk.testing": "pliers_lab.pdk._testing",
    "pliers_lab.replay.event_log": "pliers_lab.replay._event_log",
    "pliers_lab.replay.runner": "pliers_lab.replay._runner",
    "pliers_lab.sandbox.access": "pliers_lab.sandbox._access",
    "pliers_lab.sandbox.audit": "pliers_lab.sandbox._audit",
    "pliers_lab.sandbox.bytecode": "pliers_lab.sandbox._bytecode",
    "pliers_lab.sandbox.outbound": "pliers_lab.sandbox._outbound",
    "pliers_lab.sandbox.process": "pliers_lab.sandbox._process",
    "pliers_lab.sandbox.runtime": "pliers_lab.sandbox._runtime",
    "pliers_lab.sandbox.seccomp_notify": "pliers_lab.sandbox._seccomp_notify",
    "pliers_lab.sandbox.supervisor": "pliers_lab.sandbox._supervisor",
    "pliers_lab.web.allowed_folders": "pliers_lab.web._allowed_folders",
    "pliers_lab.web.auth": "pliers_lab.web._auth",
    "pliers_lab.web.bodies": "pliers_lab.web._bodies",
    "pliers_lab.web.devmode": "pliers_lab.web._devmode",
    "pliers_lab.web.dispatch": "pliers_lab.web._endpoint_pipeline",
    "pliers_lab.web.error_envelope": "pliers_lab.web._error_envelope",
    "pliers_lab.web.event_stream": "pliers_lab.web._event_stream",
    "pliers_lab.web.limits": "pliers_lab.web._limits",
    "pliers_lab.web.management": "pliers_lab.web._management",
    "pliers_lab.web.market": "pliers_lab.web._market",
    "pliers_lab.web.messages": "pliers_lab.web._messages",
    "pliers_lab.web.reports": "pliers_lab.web._reports",
    "pliers_lab.web.request_validation": "pliers_lab.web._request_validation",
    "pliers_lab.web.routing": "pliers_lab.web._routing",
    "pliers_lab.web.server": "pliers_lab.web._server",
    "pliers_lab.web.services": "pliers_lab.web._services",
    "pliers_lab.web.settings": "pliers_lab.web._settings",
    "pliers_lab.web.state": "pliers_lab.web._state",
    "pliers_lab.web.threads": "pliers_lab.web._threads",
    "pliers_lab.web.uploads": "pliers_lab.web._uploads",
    "pliers_lab.web.views": "pliers_lab.web._views",
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
