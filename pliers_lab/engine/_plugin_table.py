"""The plugins an engine has loaded, by id, and the lock that orders changes to them.

One table per engine. Lookups are plain dict reads (the dispatch loop passes ``by_id`` to
every ``HookContext``); changes (load, activate, swap on reload, unload) happen under
``lock``, which is re-entrant because activating inside a load is one change.
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
        self.by_id[plugin.id] = plugin

    def discard(self, plugin: Plugin) -> bool:
        """Take ``plugin`` off the table if it is the listed record; whether it was."""
        if self.by_id.get(plugin.id) is not plugin:
            return False
        del self.by_id[plugin.id]
        return True

    def versions(self, *, usable: bool = False) -> dict[str, str]:
        """Plugin id → loaded version (``usable``: leaving out failed and unloaded ones)."""
        return {p.id: p.version for p in self.by_id.values() if not usable or p.state not in _GONE}

    def dependents(self, plugin_id: str) -> list[str]:
        """Loaded plugins that need ``plugin_id`` (directly or not), dependents last;
        optional dependencies do not count."""
        out: list[str] = []
        frontier = [plugin_id]
        while frontier:
            target = frontier.pop()
            for p in self.by_id.values():
                if p.id in out or p.id == plugin_id or p.state in _GONE:
                    continue
                if any(
                    d == target and s != "optional" for d, _r, s in p.manifest.all_dependencies()
                ):
                    out.append(p.id)
                    frontier.append(p.id)
        return out
