"""Moving a loaded plugin between its lifecycle states: activate (its handlers join the
hook tables), deactivate, restart; running its lifecycle handlers; failing it.

A quarantined plugin (a sandbox violation) cannot be activated until it is released: the
quarantine list lives here because it is a rule about activation.
"""

from __future__ import annotations

import inspect
from typing import Any

from ..errors import EngineError, PluginError, PluginErrorType, must_propagate, raised_text
from ..lifecycle import PluginState as S
from ..plugin import Plugin
from ._aio import LoopThread
from ._breaker import BreakerState
from ._circuits import Circuits
from ._dispatch import HookImpl
from ._eager import eager, never_suspends
from ._hook_table import HookRegistry
from ._journal import Journal
from ._plugin_table import PluginTable

__all__ = ["Activation"]


class Activation:
    """Activate, deactivate, restart, fail; and the quarantine that bars activation."""

    def __init__(
        self,
        plugins: PluginTable,
        hooks: HookRegistry,
        journal: Journal,
        circuits: Circuits,
        loop: LoopThread,
        *,
        default_timeout_ms: float,
    ) -> None:
        self._plugins = plugins
        self._hooks = hooks
        self._journal = journal
        self._circuits = circuits
        self._loop = loop
        self.default_timeout_ms = default_timeout_ms
        #: plugin id → why it is quarantined
        self.quarantined: dict[str, str] = {}

    def run_handler(self, plugin: Plugin, name: str, kind: PluginErrorType, *args: Any) -> None:
        """Run a lifecycle handler; its failure becomes a PluginError of ``kind``."""
        fn = plugin.lifecycle_handlers.get(name)
        if fn is None:
            return
        try:
            outcome = fn(plugin, *args)
            if inspect.isawaitable(outcome):
                self._loop.settle(outcome)
        except BaseException as exc:  # sys.exit() in a plugin must not end the caller
            if must_propagate(exc):
                raise
            raise PluginError(
                kind, f"{name} {raised_text(exc)}", plugin_id=plugin.id, cause=exc
            ) from exc

    def fail(self, plugin: Plugin, error: PluginError) -> None:
        """Record ``error`` and put the plugin in ERROR (its handlers stop answering)."""
        if self._plugins.current(plugin):
            self._hooks.remove(plugin.id)
        if plugin.lifecycle.can_move(S.ERROR):
            plugin.lifecycle.move(S.ERROR, error.message, error.id)
        self._journal.record_error(plugin, error)

    def activate(self, plugin: Plugin, replacing: Plugin | None = None) -> Plugin:
        """LOADED/STOPPED/ERROR → INITIALIZING → ACTIVE: run on_activate, register its
        handlers; with ``replacing``, take that record's place in one step (a reload)."""
        reason = self.quarantined.get(plugin.id)
        if reason is not None:
            raise EngineError(f"plugin {plugin.id!r} is quarantined ({reason}); release it first")
        with self._plugins.lock:
            plugin.lifecycle.move(S.INITIALIZING)
            try:
                self.run_handler(plugin, "on_activate", PluginErrorType.INIT_ERROR)
            except PluginError as exc:
                self.fail(plugin, exc)
                if replacing is not None and plugin.runtime and plugin.prepared:
                    plugin.runtime.stop(plugin, plugin.prepared)
                raise
            plugin.impls = self._impls_for(plugin)
            plugin.reset_breaker()  # a fresh start: whatever tripped it is in the records
            if replacing is None:
                self._hooks.add(plugin.impls)
            else:
                self._hooks.replace(replacing.id, plugin.impls)
                self._plugins.add(plugin)
            plugin.disabled_reason = None
            plugin.stats.reset_streak()
            plugin.lifecycle.move(S.ACTIVE)
        return plugin

    def _impls_for(self, plugin: Plugin) -> tuple[HookImpl, ...]:
        impls = []
        sync_checked = plugin.prepared.sync_timeouts if plugin.prepared else True
        awaited = plugin.prepared.async_handlers if plugin.prepared else {}
        for name, handler in plugin.handlers.items():
            cfg = plugin.manifest.hooks[name]
            timeout_ms = cfg.timeout if cfg.timeout is not None else self.default_timeout_ms
            fn, is_async = handler, inspect.iscoroutinefunction(handler)
            if is_async and never_suspends(handler):  # no event loop for it (``_eager``)
                fn, is_async = eager(handler), False
            impls.append(
                HookImpl(
                    plugin.id,
                    name,
                    fn,
                    priority=cfg.priority,
                    # A runtime that enforces timeouts itself (a killed worker) needs no
                    # after-the-fact check in the dispatch loop.
                    timeout=timeout_ms / 1000.0 if sync_checked else float("inf"),
                    retries=cfg.retries,
                    is_async=is_async,
                    stats=plugin.stats,
                    policy=plugin.policy,
                    afn=awaited.get(name),
                )
            )
        return tuple(impls)

    def deactivate(self, plugin: Plugin, reason: str) -> None:
        """ACTIVE → STOPPING → STOPPED: unregister its handlers, run on_deactivate."""
        with self._plugins.lock:
            plugin.lifecycle.move(S.STOPPING, reason)
            if self._plugins.current(plugin):
                self._hooks.remove(plugin.id)
            try:
                self.run_handler(plugin, "on_deactivate", PluginErrorType.RUNTIME_ERROR)
            except PluginError as exc:
                self.fail(plugin, exc)
                raise
            plugin.disabled_reason = reason
            plugin.lifecycle.move(S.STOPPED, reason)

    def disable(self, plugin: Plugin, reason: str) -> Plugin:
        if plugin.state is not S.STOPPED:
            self.deactivate(plugin, reason)
        return plugin

    def enable(self, plugin: Plugin) -> Plugin:
        """Re-activate a STOPPED (or failed) plugin; an ACTIVE one whose circuit breaker
        is open or half-open has it closed (the operator's reset)."""
        if plugin.state is S.ACTIVE:
            if plugin.circuit is not BreakerState.CLOSED:
                self._circuits.close(plugin, "closed by the host (enable)")
            return plugin
        return self.activate(plugin)

    def restart(self, plugin: Plugin, reason: str) -> Plugin:
        """Deactivate and activate again; counted in the plugin's metrics."""
        if plugin.state is S.ACTIVE:
            self.disable(plugin, reason)
        plugin.stats.restarts += 1
        return self.activate(plugin)
