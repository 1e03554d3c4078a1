"""Each plugin's circuit breaker as the hook tables see it: while a breaker is open or
half-open, the plugin's handlers sit behind a gate that skips a call with the reason
(``_breaker``); when it closes, the plain handlers are back. Every move is a
``RecoveryRecord``.

Whoever else swaps a plugin's handlers (the debugger's tracing wrappers) goes through
``swap`` so that the gate stays in front of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from ..errors import PluginError
from ..lifecycle import PluginState
from ..plugin import Plugin
from ._breaker import BreakerState, gate, gate_async
from ._dispatch import HookImpl
from ._hook_table import HookRegistry
from ._journal import Journal
from ._plugin_table import PluginTable

__all__ = ["Circuits"]


class Circuits:
    """Gates plugins' handlers behind their breakers, and keeps the record of each move."""

    def __init__(self, plugins: PluginTable, hooks: HookRegistry, journal: Journal) -> None:
        self._plugins = plugins
        self._hooks = hooks
        self._journal = journal

    def trip(self, plugin: Plugin, reason: str, error: PluginError) -> None:
        """Open ``plugin``'s breaker after ``error`` (no-op if it is open already)."""
        if plugin.breaker.trip(reason):
            plugin.breaker.listener = partial(self.moved, plugin)
            self.moved(plugin, BreakerState.OPEN, reason, error)

    def close(self, plugin: Plugin, detail: str) -> None:
        """The operator's reset: close the breaker, ungate the handlers."""
        plugin.breaker.reset()
        self.moved(plugin, BreakerState.CLOSED, detail)

    def moved(
        self,
        plugin: Plugin,
        state: BreakerState,
        detail: str,
        error: PluginError | None = None,
    ) -> None:
        """The breaker changed: gate or ungate the plugin's handlers, keep the record.

        Called with the failure that tripped it, or by the gate (half-open trial admitted,
        trial answered, trial failed) on the thread of that call."""
        reset_s = plugin.breaker.reset_s
        if state is BreakerState.OPEN:
            self._hooks.replace(plugin.id, self.gated(plugin, plugin.impls), self._serving(plugin))
        elif state is BreakerState.CLOSED:
            self._hooks.replace(plugin.id, plugin.impls, self._serving(plugin))
        if state is BreakerState.OPEN:  # tripped by a failure, or a failed trial (gate)
            action = "circuit_open" if error is not None else "circuit_reopened"
            detail = f"{detail}; calls are skipped, a trial call in {reset_s:g} s"
        else:
            action = "circuit_half_open" if state is BreakerState.HALF_OPEN else "circuit_closed"
        plugin.logger.warning(f"{action.replace('_', ' ')}: {detail}")
        self._journal.recovered(plugin, error, action, detail)

    def gated(self, plugin: Plugin, impls: Sequence[HookImpl]) -> Sequence[HookImpl]:
        """``impls`` behind the plugin's breaker when it is not closed (as they are
        otherwise): what the hook tables hold for it."""
        if plugin.circuit is BreakerState.CLOSED:
            return impls
        breaker = plugin.breaker
        return [
            impl.with_fn(
                (gate_async if impl.is_async else gate)(impl.fn, breaker, plugin.id, impl.hook),
                gate_async(impl.afn, breaker, plugin.id, impl.hook) if impl.afn else None,
            )
            for impl in impls
        ]

    def swap(self, plugin: Plugin, impls: Sequence[HookImpl]) -> bool:
        """Serve ``impls`` for ``plugin`` (behind its breaker) if it still serves; whether
        it did. A plugin reloaded or stopped meanwhile keeps the tables it has."""
        return self._hooks.replace(plugin.id, self.gated(plugin, impls), self._serving(plugin))

    def _serving(self, plugin: Plugin) -> Callable[[], bool]:
        def serving() -> bool:  # checked under the registry's lock: a concurrent disable
            # or reload removes or replaces the handlers after it, never before
            return self._plugins.current(plugin) and plugin.state is PluginState.ACTIVE

        return serving
