"""A loaded plugin's configuration: validate, apply (``on_config_change`` sees it), read
its files again. An invalid configuration is refused with every violation and its path,
and the one in force stays.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ..config import ConfigSource, deep_merge, describe_changes
from ..errors import PluginError, PluginErrorType
from ..plugin import Plugin
from ._activation import Activation
from ._journal import Journal

__all__ = ["Configurator"]


class Configurator:
    """Validates and applies plugin configurations for one environment's overlay."""

    def __init__(self, journal: Journal, activation: Activation, environment: str) -> None:
        self._journal = journal
        self._activation = activation
        self.environment = environment

    def problems(self, plugin: Plugin, config: Mapping[str, Any], *, merge: bool) -> list[str]:
        """What is wrong with ``config`` for ``plugin`` (a dry run: nothing changes)."""
        source = plugin.config_source or ConfigSource(plugin.id, None, {})
        overrides = deep_merge(plugin.config_overrides, config) if merge else dict(config)
        return source.problems(deep_merge(source.initial(self.environment), overrides))

    def configure(
        self, plugin: Plugin, config: Mapping[str, Any], *, merge: bool
    ) -> dict[str, Any]:
        overrides = deep_merge(plugin.config_overrides, config) if merge else dict(config)
        return self.apply(plugin, plugin.config_source, overrides)

    def reload(self, plugin: Plugin) -> dict[str, Any]:
        """Read the plugin's configuration files again and apply them under the user's
        settings; a broken file leaves the old configuration."""
        try:
            source = ConfigSource.from_manifest(
                plugin.id, plugin.root, plugin.manifest.configuration
            )
        except PluginError as exc:
            self._journal.record_error(plugin, exc)
            raise
        return self.apply(plugin, source, plugin.config_overrides)

    def apply(
        self, plugin: Plugin, source: ConfigSource | None, overrides: dict[str, Any]
    ) -> dict[str, Any]:
        source = source or ConfigSource(plugin.id, None, {})
        try:
            resolved = source.resolve(overrides, self.environment)
        except PluginError as exc:
            self._journal.record_error(plugin, exc)
            raise
        for warning in source.warnings:
            plugin.logger.warning(f"configuration accepted with a violation: {warning}")
        before = (plugin.config, plugin.config_source, plugin.config_overrides)
        plugin.config, plugin.config_source = resolved, source
        plugin.config_overrides = overrides
        plugin.config_changes = describe_changes(before[0], resolved)
        plugin.config_updated_at = time.time()
        try:
            self._activation.run_handler(
                plugin, "on_config_change", PluginErrorType.CONFIG_ERROR, resolved
            )
        except PluginError as exc:
            plugin.config, plugin.config_source, plugin.config_overrides = before
            self._activation.fail(plugin, exc)
            raise
        self._journal.activity.emit(
            "plugin.config.updated", plugin.id, changes=plugin.config_changes
        )
        return resolved
