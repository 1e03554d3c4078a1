"""The engine's collaborators wired by hand, without an ``Engine`` around them (STYLE §9):
each test builds only the parts it needs."""

from __future__ import annotations

from typing import Any

from support import manifest

from pliers_lab.engine._activation import Activation
from pliers_lab.engine._aio import LoopThread
from pliers_lab.engine._circuits import Circuits
from pliers_lab.engine._dispatch import HookImpl
from pliers_lab.engine._hook_table import HookRegistry
from pliers_lab.engine._journal import Journal
from pliers_lab.engine._plugin_table import PluginTable
from pliers_lab.lifecycle import PluginState
from pliers_lab.manifest import parse_manifest
from pliers_lab.plugin import Plugin

HOOK = "form.validate"


class Parts:
    """A plugin table, hook registry, journal, circuits and activation sharing one loop."""

    def __init__(self) -> None:
        self.loop = LoopThread()
        self.plugins = PluginTable()
        self.hooks = HookRegistry()
        self.journal = Journal(self.loop, max_observations=100, max_errors=100, max_logs=100)
        self.circuits = Circuits(self.plugins, self.hooks, self.journal)
        self.activation = Activation(
            self.plugins,
            self.hooks,
            self.journal,
            self.circuits,
            self.loop,
            default_timeout_ms=1000,
        )

    def record(self, name: str, handler: Any = None, **extra: Any) -> Plugin:
        """A plugin record (LOADED) with one handler of ``HOOK``, listed in the table."""
        plugin = Plugin(
            parse_manifest(manifest(name, extra.pop("hooks", {HOOK: {}}), **extra)),
            root=None,
            logs=self.journal.logs,
            on_transition=self.journal.transitioned,
        )
        plugin.handlers = {HOOK: handler or (lambda ctx: name)}
        plugin.lifecycle.move(PluginState.LOADING)
        plugin.lifecycle.move(PluginState.LOADED)
        self.plugins.add(plugin)
        return plugin

    def answers(self) -> list[Any]:
        """What each handler of ``HOOK`` returns for an empty call, in order."""
        return [impl.fn(_Ctx()) for impl in self.hooks.handlers(HOOK)]

    def close(self) -> None:
        self.loop.close()


class _Ctx:
    execution_id = "exec-test"
    plugin_id = None
    data = None


def impl_of(plugin: Plugin) -> HookImpl:
    return plugin.impls[0]
