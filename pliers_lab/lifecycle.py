"""Plugin lifecycle: the spec's nine states, the transitions we allow, and their history.

The spec names the states but gives no transition table; ``TRANSITIONS`` is ours. Every
transition is kept with its time so the lab can draw a timeline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from .errors import IllegalTransition

__all__ = ["TRANSITIONS", "Lifecycle", "PluginState", "Transition"]


class PluginState(StrEnum):
    """The spec's ``PluginState``."""

    UNLOADED = "unloaded"
    LOADING = "loading"
    LOADED = "loaded"
    INITIALIZING = "initializing"
    ACTIVE = "active"
    ERROR = "error"
    STOPPING = "stopping"
    STOPPED = "stopped"
    UNLOADING = "unloading"


S = PluginState

#: Allowed transitions. ERROR can be left by a reload (LOADING), a restart
#: (INITIALIZING) or an unload; STOPPED is where a disabled plugin rests.
TRANSITIONS: dict[PluginState, frozenset[PluginState]] = {
    S.UNLOADED: frozenset({S.LOADING}),
    S.LOADING: frozenset({S.LOADED, S.ERROR}),
    S.LOADED: frozenset({S.INITIALIZING, S.UNLOADING}),
    S.INITIALIZING: frozenset({S.ACTIVE, S.ERROR}),
    S.ACTIVE: frozenset({S.STOPPING, S.ERROR}),
    S.STOPPING: frozenset({S.STOPPED, S.ERROR}),
    S.STOPPED: frozenset({S.INITIALIZING, S.UNLOADING}),
    S.ERROR: frozenset({S.LOADING, S.INITIALIZING, S.UNLOADING}),
    S.UNLOADING: frozenset({S.UNLOADED, S.ERROR}),
}


@dataclass(frozen=True, slots=True)
class Transition:
    """One recorded state change (the spec's transition record)."""

    plugin_id: str
    source: PluginState
    target: PluginState
    timestamp: float
    reason: str | None = None
    error_id: str | None = None


_BY_VALUE = {state.value: state for state in PluginState}
#: A transition as kept: source and target by value, time, reason, error id. Plain
#: strings and numbers: the garbage collector stops visiting such a tuple, where a
#: ``Transition`` (or a tuple holding enum members) stays on its rounds for as long as
#: the plugin is loaded: four of them per plugin, visited by every full collection.
_Move = tuple[str, str, float, str | None, str | None]


class Lifecycle:
    """The state of one plugin; ``move`` enforces ``TRANSITIONS`` and records history."""

    __slots__ = ("_listener", "_moves", "plugin_id", "state")

    def __init__(
        self, plugin_id: str, listener: Callable[[Transition], None] | None = None
    ) -> None:
        self.plugin_id = plugin_id
        self.state = PluginState.UNLOADED
        self._moves: tuple[_Move, ...] = ()  # a tuple of tuples of atoms: not visited
        self._listener = listener

    @property
    def history(self) -> list[Transition]:
        """Every transition, oldest first (records built when asked)."""
        plugin_id = self.plugin_id
        return [
            Transition(plugin_id, _BY_VALUE[source], _BY_VALUE[target], at, reason, error_id)
            for source, target, at, reason, error_id in self._moves
        ]

    def can_move(self, target: PluginState) -> bool:
        return target in TRANSITIONS[self.state]

    def move(
        self, target: PluginState, reason: str | None = None, error_id: str | None = None
    ) -> Transition:
        """Move to ``target`` or raise ``IllegalTransition``; returns the record."""
        allowed = TRANSITIONS[self.state]
        if target not in allowed:
            raise IllegalTransition(
                self.plugin_id, self.state.value, target.value, sorted(s.value for s in allowed)
            )
        now = time.time()
        record = Transition(self.plugin_id, self.state, target, now, reason, error_id)
        self._moves += ((self.state.value, target.value, now, reason, error_id),)
        self.state = target
        if self._listener is not None:
            self._listener(record)
        return record

    def entered_at(self, state: PluginState) -> float | None:
        """When the plugin last entered ``state`` (None if never)."""
        for _source, target, at, _reason, _error_id in reversed(self._moves):
            if target == state:
                return at
        return None
