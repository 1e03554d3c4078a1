"""``context.api``: the host API a plugin sees, one facade per plugin.

The engine alone has no host; the simulated Pliers host (``pliers_lab.host``) attaches its
services here. Asking for a service no host provides is a clear error, not an
AttributeError from deep inside a handler.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ..errors import PluginError, PluginErrorType
from ._cache import ResultCache

if TYPE_CHECKING:
    from ..plugin import Plugin

__all__ = ["PluginAPI"]

_MAKING = threading.Lock()  # two threads asking first get the same cache


class PluginAPI:
    """Per-plugin facade: ``cache`` always, host services once a host is attached."""

    def __init__(self, plugin: Plugin, services: dict[str, Any] | None = None) -> None:
        self._plugin_id = plugin.id
        self._services: dict[str, Any] = dict(services or {})
        self._cache: ResultCache | None = None

    @property
    def cache(self) -> ResultCache:
        """The plugin's result cache, made when first asked for: most plugins never
        cache, and a cache and its lock per plugin are two more objects that every full
        garbage collection visits for as long as the plugin is loaded."""
        cache = self._cache
        if cache is None:
            with _MAKING:
                cache = self._cache
                if cache is None:
                    cache = self._cache = ResultCache(max_entries=1000)
        return cache

    def attach(self, name: str, service: Any) -> None:
        """Offer ``service`` as ``api.<name>`` (the host does this)."""
        self._services[name] = service

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._services[name]
        except KeyError:
            offered = ", ".join(sorted(["cache", *self._services])) or "cache"
            raise PluginError(
                PluginErrorType.RUNTIME_ERROR,
                f"api.{name} is not available: no attached host offers it (offered: {offered})",
                plugin_id=self._plugin_id,
            ) from None
