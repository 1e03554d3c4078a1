"""Which handlers answer which hook: the catalog plus custom hooks, and sorted tables."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from ..catalog import CORE_HOOKS, HookSpec, ResultMode, suggest_hook
from ..errors import EngineError, UnknownHookError
from ._dispatch import HookImpl, HookTable
from ._straight import straight_line

__all__ = ["HookRegistry"]


class HookRegistry:
    """Hook specs (core and custom) and, per hook, the sorted table of active handlers.

    Tables are immutable snapshots swapped under a lock, so an execution in flight keeps
    the handlers it started with while plugins come and go. Handlers are kept per hook and
    plugin, so taking one plugin's out costs its own hooks, not every handler there is.
    """

    def __init__(self, settle: Callable[[], None] | None = None) -> None:
        #: The engine's ledger: the counters of every handler in a table read through it.
        self._settle = settle
        self._custom: dict[str, HookSpec] = {}
        #: hook → plugin id → that plugin's handlers of the hook, in registration order.
        #: Tuples: the hook names below are then atoms only, which the garbage collector
        #: stops visiting (a set or list stays on its rounds while the plugin is loaded).
        self._impls: dict[str, dict[str, tuple[HookImpl, ...]]] = {}
        self._hooks_of: dict[str, tuple[str, ...]] = {}  # plugin id → hooks it has handlers for
        self.tables: dict[str, HookTable] = {}
        #: The tables without async handlers: what ``Dispatcher.fire`` can run at once
        #: (one lookup decides both that the table is built and that it is sync).
        self.sync_tables: dict[str, HookTable] = {}
        self._lock = threading.RLock()

    def spec(self, name: str) -> HookSpec:
        found = CORE_HOOKS.get(name) or self._custom.get(name)
        if found is None:
            raise UnknownHookError(name, suggest_hook(name, self.names()))
        return found

    def names(self) -> list[str]:
        return [*CORE_HOOKS, *self._custom]

    def specs(self) -> list[HookSpec]:
        return [*CORE_HOOKS.values(), *self._custom.values()]

    def custom_names(self) -> set[str]:
        return set(self._custom)

    def declare(self, plugin_id: str, name: str, mode: ResultMode, description: str) -> None:
        """Add a custom hook; the same name from two plugins must agree on its mode."""
        with self._lock:
            existing = self._custom.get(name)
            if existing is not None and existing.mode is not mode:
                raise EngineError(
                    f"plugin {plugin_id!r} declares custom hook {name!r} as {mode.value}, "
                    f"but {existing.declared_by!r} declared it as {existing.mode.value}"
                )
            if existing is None:
                self._custom[name] = HookSpec(name, mode, description, True, plugin_id)

    def forget_custom(self, plugin_id: str) -> None:
        with self._lock:
            for name in [n for n, s in self._custom.items() if s.declared_by == plugin_id]:
                if not self._impls.get(name):
                    del self._custom[name]
                    self._drop(name)

    def table(self, name: str) -> HookTable:
        """The current table of ``name`` (built on first use, then cached)."""
        table = self.tables.get(name)
        if table is None:
            with self._lock:
                spec = self.spec(name)
                by_plugin = self._impls.get(name, {})
                table = HookTable(name, spec.mode, [i for v in by_plugin.values() for i in v])
                if self._settle is not None:
                    for stats in table.stats:
                        stats.settle = self._settle
                self.tables[name] = table
                if not table.has_async:
                    table.straight = straight_line(table)
                    self.sync_tables[name] = table
        return table

    def _drop(self, name: str) -> None:
        """Forget the built table of ``name`` (its handlers changed): rebuilt on next use."""
        self.sync_tables.pop(name, None)
        self.tables.pop(name, None)

    def add(self, impls: Iterable[HookImpl]) -> None:
        impls = tuple(impls)
        groups: dict[tuple[str, str], list[HookImpl]] = {}
        for impl in impls:
            groups.setdefault((impl.hook, impl.plugin_id), []).append(impl)
        with self._lock:
            for (hook, plugin_id), group in groups.items():
                # One plugin's handlers of one hook (most plugins): the table keeps the
                # plugin's own tuple (``Plugin.impls``) instead of a copy.
                mine = impls if len(groups) == 1 else tuple(group)
                by_plugin = self._impls.setdefault(hook, {})
                known = by_plugin.get(plugin_id)
                by_plugin[plugin_id] = mine if known is None else (*known, *mine)
                hooks = self._hooks_of.get(plugin_id, ())
                if hook not in hooks:
                    self._hooks_of[plugin_id] = (*hooks, hook)
                self._drop(hook)

    def remove(self, plugin_id: str) -> None:
        with self._lock:
            for name in self._hooks_of.pop(plugin_id, ()):
                self._impls[name].pop(plugin_id, None)
                self._drop(name)

    def replace(
        self,
        plugin_id: str,
        impls: Iterable[HookImpl],
        when: Callable[[], bool] | None = None,
    ) -> bool:
        """Swap ``plugin_id``'s handlers for ``impls`` in one step (a hot reload), if
        ``when()`` still holds under the registry's lock; whether it was done."""
        with self._lock:
            if when is not None and not when():
                return False
            self.remove(plugin_id)
            self.add(impls)
            return True

    def handlers(self, hook: str) -> tuple[HookImpl, ...]:
        """The handlers of ``hook`` in order: a dict lookup once the table is built (the
        host asks before every hook it fires)."""
        table = self.tables.get(hook)
        return (table if table is not None else self.table(hook)).impls
