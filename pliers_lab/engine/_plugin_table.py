"""The plugins an engine has loaded, by id, and the lock that orders changes to them.

One table per engine. Lookups are plain dict reads (the dispatch loop passes ``by_id`` to
every ``HookContext``); changes (load, activate, swap on reload, unload) happen under
``lock``, which is re-entrant because activating inside a load is one change.

Who needs whom is indexed when a record is listed, so the dependency checks of a load and
the dependents of an unload cost what they find, not the size of the table: loading or
closing N plugins is linear in N (issue 17).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from ..errors import UnknownPluginError
from ..lifecycle import PluginState
from ..plugin import Plugin

__all__ = ["PluginTable"]

_GONE = (PluginState.ERROR, PluginState.UNLOADED)


class PluginTable:
    """Plugin records by id, in load order."""

    def __init__(self) -> None:
        self.by_id: dict[str, Plugin] = {}
        self.lock = threading.RLock()
        #: dependency name → {id of a listed plugin that names it: (range, scope)}
        self._needed_by: dict[str, dict[str, tuple[str, str]]] = {}

    def require(self, plugin_id: str) -> Plugin:
        """The plugin called ``plugin_id``; ``UnknownPluginError`` (with the ids there
        are) when none is loaded."""
        try:
            return self.by_id[plugin_id]
        except KeyError:
            raise UnknownPluginError(plugin_id, list(self.by_id)) from None

    def get(self, plugin_id: str) -> Plugin | None:
        return self.by_id.get(plugin_id)

    def __contains__(self, plugin_id: object) -> bool:
        return plugin_id in self.by_id

    def __iter__(self) -> Iterator[Plugin]:
        return iter(list(self.by_id.values()))

    def __len__(self) -> int:
        return len(self.by_id)

    def ids(self) -> list[str]:
        return list(self.by_id)

    def current(self, plugin: Plugin) -> bool:
        """``plugin`` is the record listed under its id (not an old one a reload replaced,
        nor a new one still being checked beside it)."""
        return self.by_id.get(plugin.id) is plugin

    def add(self, plugin: Plugin) -> None:
        """List ``plugin`` under its id (in place of the record there, on a reload)."""
        old = self.by_id.get(plugin.id)
        if old is not None:
            self._unindex(old)
        self.by_id[plugin.id] = plugin
        for name, rng, scope in plugin.manifest.all_dependencies():
            self._needed_by.setdefault(name, {})[plugin.id] = (rng, scope)

    def discard(self, plugin: Plugin) -> bool:
        """Take ``plugin`` off the table if it is the listed record; whether it was."""
        if self.by_id.get(plugin.id) is not plugin:
            return False
        del self.by_id[plugin.id]
        self._unindex(plugin)
        return True

    def _unindex(self, plugin: Plugin) -> None:
        for name, _rng, _scope in plugin.manifest.all_dependencies():
            needing = self._needed_by.get(name)
            if needing is not None:
                needing.pop(plugin.id, None)
                if not needing:
                    del self._needed_by[name]

    def needing(self, name: str) -> list[tuple[Plugin, str, str]]:
        """Listed plugins, neither failed nor unloaded, that name ``name`` as a
        dependency: ``(plugin, range, scope)``, optional ones included."""
        out = []
        for plugin_id, (rng, scope) in self._needed_by.get(name, {}).items():
            plugin = self.by_id[plugin_id]
            if plugin.state not in _GONE:
                out.append((plugin, rng, scope))
        return out

    def versions(self, *, usable: bool = False) -> dict[str, str]:
        """Plugin id → loaded version (``usable``: leaving out failed and unloaded ones)."""
        return {p.id: p.version for p in self.by_id.values() if not usable or p.state not in _GONE}

    def dependents(self, plugin_id: str) -> list[str]:
        """Loaded plugins that need ``plugin_id`` (directly or not), dependents last;
        optional dependencies do not count."""
        out: list[str] = []
        seen = {plugin_id}
        frontier = [plugin_id]
        while frontier:
            target = frontier.pop()
            for plugin, _rng, scope in self.needing(target):
                if scope != "optional" and plugin.id not in seen:
                    seen.add(plugin.id)
                    out.append(plugin.id)
                    frontier.append(plugin.id)
        return out
