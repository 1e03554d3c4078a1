"""The engine's activity feed: what happened to plugins, as the spec's websocket events.

Event types (REST API document): ``plugin.status.changed`` (old and new status),
``plugin.installed``, ``plugin.updated``, ``plugin.uninstalled``, ``plugin.error.occurred``,
``plugin.config.updated``; ours: ``plugin.admin.notified`` (a recovery decision for a
plugin whose ``recovery.notifyAdmin`` is true: action, detail, errorId, errorType,
message, hook), ``plugin.quarantined`` and ``plugin.released`` (reason, source, version,
evidence: ``pliers_lab.security``), ``plugin.advisory`` (an advisory affecting the
plugin: advisoryId, severity, affected, fixedVersion, action: ``pliers_lab.market``),
and the web layer adds ``plugin.metrics.updated`` on a timer and ``plugin.log`` for
plugins in dev mode. Each event is ``{type, pluginId, data,
timestamp}``.

Listeners run on the thread that made the change (a hook call, a reload, a web request),
so they must be quick; an exception one raises is swallowed, so the engine's work goes
on. The newest ``history`` events are also kept (``recent``, ``frame()``: the lab's
``%pliers activity``). Nothing here is on the hook-dispatch path: events come from
lifecycle changes, configuration and recorded errors.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["EVENT_TYPES", "Activity", "ActivityEvent"]

#: The spec's websocket event types, and ours (``plugin.admin.notified``, ``plugin.log``).
EVENT_TYPES = (
    "plugin.status.changed",
    "plugin.installed",
    "plugin.updated",
    "plugin.uninstalled",
    "plugin.error.occurred",
    "plugin.config.updated",
    "plugin.admin.notified",
    "plugin.limit.exceeded",
    "plugin.quarantined",
    "plugin.released",
    "plugin.advisory",
    "plugin.metrics.updated",
    "plugin.log",
)

ActivityEvent = dict[str, Any]
Listener = Callable[[ActivityEvent], None]


class Activity:
    """Fan-out of ``ActivityEvent`` dicts to listeners (the websocket, a widget...), and
    the newest ``history`` of them."""

    def __init__(self, history: int = 1000) -> None:
        self._listeners: tuple[Listener, ...] = ()
        self._lock = threading.Lock()
        self.recent: deque[ActivityEvent] = deque(maxlen=history)

    def frame(self, plugin_id: str | None = None) -> Any:
        """The kept events as a DataFrame (timestamp, type, plugin_id, data)."""
        from .frames import frame

        rows = [
            (e["timestamp"], e["type"], e["pluginId"], e["data"])
            for e in list(self.recent)
            if plugin_id is None or e["pluginId"] == plugin_id
        ]
        return frame(rows, ("timestamp", "type", "plugin_id", "data"), time_columns=("timestamp",))

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every event; returns the function that stops it."""
        with self._lock:
            self._listeners = (*self._listeners, listener)

        def stop() -> None:
            with self._lock:
                self._listeners = tuple(x for x in self._listeners if x is not listener)

        return stop

    def emit(self, kind: str, plugin_id: str | None, **data: Any) -> None:
        event = {"type": kind, "pluginId": plugin_id, "data": data, "timestamp": time.time()}
        self.recent.append(event)
        for listener in self._listeners:  # a snapshot: (un)subscribing never disturbs it
            try:
                listener(event)
            except Exception:  # a watcher must never break what the engine was doing
                continue
