"""Which version of a plugin ran when: the access log and the execution rows name the
plugin, not its version, so each record is placed in the version loaded at its time.

The timeline starts from the activity feed's kept events (``plugin.installed``,
``plugin.updated``) and the plugins loaded now (``loaded_at``), then follows the feed.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable
from typing import Any

__all__ = ["VersionTimeline"]


class VersionTimeline:
    """plugin id → ``(since, version)`` steps, oldest first."""

    def __init__(self) -> None:
        self._steps: dict[str, list[tuple[float, str]]] = {}
        self._lock = threading.Lock()

    def note(self, plugin_id: str, version: str, since: float) -> None:
        """``version`` of ``plugin_id`` runs from ``since`` (a repeat of the version in
        force then is ignored, so seeding twice changes nothing)."""
        with self._lock:
            steps = self._steps.setdefault(plugin_id, [])
            at = bisect.bisect_right(steps, (since, "\uffff"))
            if at and steps[at - 1][1] == version:
                return
            if at < len(steps) and steps[at][1] == version:
                steps[at] = (since, version)
                return
            steps.insert(at, (since, version))

    def seed(self, events: Iterable[dict[str, Any]], loaded: Iterable[Any]) -> None:
        """From kept activity events and the plugins loaded now (their ``loaded_at``)."""
        for event in events:
            data = event.get("data") or {}
            if event.get("type") == "plugin.installed" and data.get("version"):
                self.note(str(event["pluginId"]), str(data["version"]), event["timestamp"])
            elif event.get("type") == "plugin.updated" and data.get("new"):
                self.note(str(event["pluginId"]), str(data["new"]), event["timestamp"])
        for plugin in loaded:
            steps = self._steps.get(plugin.id)
            if not steps or steps[-1][1] != plugin.version:
                self.note(plugin.id, plugin.version, plugin.loaded_at)

    def hear(self, event: dict[str, Any]) -> None:
        """An activity-feed listener: follow installs and updates as they happen."""
        self.seed((event,), ())

    def version_at(self, plugin_id: str, timestamp: float) -> str | None:
        """The version running at ``timestamp``: the first one for earlier records."""
        with self._lock:
            steps = self._steps.get(plugin_id)
            if not steps:
                return None
            at = bisect.bisect_right(steps, (timestamp, "\uffff"))
            return steps[max(at - 1, 0)][1]

    def versions(self, plugin_id: str) -> list[tuple[str, float, float | None]]:
        """``(version, since, until)`` of each step, oldest first (``until`` None: now).
        A version loaded again later (a rollback) is a step of its own."""
        with self._lock:
            steps = list(self._steps.get(plugin_id, ()))
        return [
            (version, since, steps[i + 1][0] if i + 1 < len(steps) else None)
            for i, (since, version) in enumerate(steps)
        ]
