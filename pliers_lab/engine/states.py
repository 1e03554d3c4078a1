"""Moving loaded plugins between states, and changing their configuration."""

from __future__ import annotations

import inspect
import time
from collections.abc import Mapping
from typing import Any

from ..config import ConfigSource, deep_merge, describe_changes
from ..errors import PluginError, PluginErrorType
from ..plugin import Plugin
from ._dispatch import HookImpl
from .base import EngineBase, S


class StatesOps(EngineBase):
    """Activate, disable, enable, restart, configure."""

    def activate(self, plugin_id: str) -> Plugin:
        """LOADED/STOPPED/ERROR → INITIALIZING → ACTIVE: run on_activate, register handlers."""
        return self._activate(self.plugin(plugin_id))

    def _activate(self, plugin: Plugin, replacing: Plugin | None = None) -> Plugin:
        """Activate ``plugin``; with ``replacing``, take that record's place atomically."""
        self._check_quarantine(plugin)  # type: ignore[attr-defined]  # SandboxOps
        with self._lock:
            plugin.lifecycle.move(S.INITIALIZING)
            try:
                self._call(plugin, "on_activate", PluginErrorType.INIT_ERROR)
            except PluginError as exc:
                self._fail(plugin, exc)
                if replacing is not None and plugin.runtime and plugin.prepared:
                    plugin.runtime.stop(plugin, plugin.prepared)
                raise
            plugin.impls = self._impls_for(plugin)
            plugin.breaker.reset()  # a fresh start: whatever tripped it is in the records
            if replacing is None:
                self._registry.add(plugin.impls)
            else:
                self._registry.replace(replacing.id, plugin.impls)
                self._plugins[plugin.id] = plugin
            plugin.disabled_reason = None
            plugin.stats.reset_streak()
            plugin.lifecycle.move(S.ACTIVE)
        return plugin

    def _impls_for(self, plugin: Plugin) -> list[HookImpl]:
        impls = []
        sync_checked = plugin.prepared.sync_timeouts if plugin.prepared else True
        awaited = plugin.prepared.async_handlers if plugin.prepared else {}
        for name, fn in plugin.handlers.items():
            cfg = plugin.manifest.hooks[name]
            timeout_ms = cfg.timeout if cfg.timeout is not None else self.default_timeout_ms
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
                    is_async=inspect.iscoroutinefunction(fn),
                    stats=plugin.stats,
                    policy=plugin.policy,
                    afn=awaited.get(name),
                )
            )
        return impls

    def disable(self, plugin_id: str, reason: str = "disabled by user") -> Plugin:
        """ACTIVE → STOPPING → STOPPED: unregister handlers, run on_deactivate."""
        plugin = self.plugin(plugin_id)
        if plugin.state is not S.STOPPED:
            self._deactivate(plugin, reason)
        return plugin

    def _deactivate(self, plugin: Plugin, reason: str) -> None:
        with self._lock:
            plugin.lifecycle.move(S.STOPPING, reason)
            if self._plugins.get(plugin.id) is plugin:
                self._registry.remove(plugin.id)
            try:
                self._call(plugin, "on_deactivate", PluginErrorType.RUNTIME_ERROR)
            except PluginError as exc:
                self._fail(plugin, exc)
                raise
            plugin.disabled_reason = reason
            plugin.lifecycle.move(S.STOPPED, reason)

    def enable(self, plugin_id: str) -> Plugin:
        """Re-activate a STOPPED (or failed) plugin; an ACTIVE one whose circuit breaker
        is open or half-open has it closed (the operator's reset)."""
        plugin = self.plugin(plugin_id)
        if plugin.state is S.ACTIVE:
            if not plugin.breaker.closed:
                self._close_breaker(plugin, "closed by the host (enable)")
            return plugin
        return self.activate(plugin_id)

    def restart(self, plugin_id: str, reason: str = "restart") -> Plugin:
        """Deactivate and activate again; counted in the plugin's metrics."""
        plugin = self.plugin(plugin_id)
        if plugin.state is S.ACTIVE:
            self.disable(plugin_id, reason)
        plugin.stats.restarts += 1
        return self.activate(plugin_id)

    # ------------------------------------------------------------------ configuration
    def validate_config(
        self, plugin_id: str, config: Mapping[str, Any], *, merge: bool = False
    ) -> list[str]:
        """The problems ``config`` would have (a dry run: nothing changes)."""
        plugin = self.plugin(plugin_id)
        source = plugin.config_source or ConfigSource(plugin.id, None, {})
        overrides = deep_merge(plugin.config_overrides, config) if merge else dict(config)
        return source.problems(deep_merge(source.initial(self.environment), overrides))

    def configure(
        self, plugin_id: str, config: Mapping[str, Any], *, merge: bool = False
    ) -> dict[str, Any]:
        """Validate and apply a configuration; ``on_config_change`` sees the result.

        ``config`` replaces what the user set before (``merge=True``: is merged into it);
        defaults and the environment's overlay always apply underneath. An invalid
        configuration raises CONFIG_ERROR, listing every violation with its path, and the
        old one stays active. Returns the configuration now in force.
        """
        plugin = self.plugin(plugin_id)
        overrides = deep_merge(plugin.config_overrides, config) if merge else dict(config)
        return self._apply_config(plugin, plugin.config_source, overrides)

    def reload_config(self, plugin_id: str) -> dict[str, Any]:
        """Read the plugin's configuration files again (schema, defaults, overlays) and
        apply them under the user's settings; a broken file leaves the old config."""
        plugin = self.plugin(plugin_id)
        try:
            source = ConfigSource.from_manifest(
                plugin.id, plugin.root, plugin.manifest.configuration
            )
        except PluginError as exc:
            self._record_error(plugin, exc)
            raise
        return self._apply_config(plugin, source, plugin.config_overrides)

    def _apply_config(
        self, plugin: Plugin, source: ConfigSource | None, overrides: dict[str, Any]
    ) -> dict[str, Any]:
        source = source or ConfigSource(plugin.id, None, {})
        try:
            resolved = source.resolve(overrides, self.environment)
        except PluginError as exc:
            self._record_error(plugin, exc)
            raise
        for warning in source.warnings:
            plugin.logger.warning(f"configuration accepted with a violation: {warning}")
        before = (plugin.config, plugin.config_source, plugin.config_overrides)
        plugin.config, plugin.config_source = resolved, source
        plugin.config_overrides = overrides
        plugin.config_changes = describe_changes(before[0], resolved)
        plugin.config_updated_at = time.time()
        try:
            self._call(plugin, "on_config_change", PluginErrorType.CONFIG_ERROR, resolved)
        except PluginError as exc:
            plugin.config, plugin.config_source, plugin.config_overrides = before
            self._fail(plugin, exc)
            raise
        self.activity.emit("plugin.config.updated", plugin.id, changes=plugin.config_changes)
        return resolved
