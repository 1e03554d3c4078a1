"""Scheduled tasks: a plugin asks for later work (``api.schedule_task``); the host runs due
tasks by publishing each as a ``task.<name>`` event (payload ``{taskId, name, pluginId,
payload}``), which the plugin receives through its subscription, then marks it done."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from ._db import dumps, loads

if TYPE_CHECKING:
    from ._host import Host, HostResult

__all__ = ["Tasks"]

_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")


class Tasks:
    """The host's scheduled tasks (``host.tasks``)."""

    def __init__(self, host: Host) -> None:
        self.host = host

    def schedule(
        self, plugin_id: str | None, name: str, payload: dict[str, Any], delay_s: float = 0.0
    ) -> int:
        """Record a task due in ``delay_s`` seconds; returns its id."""
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"task name {name!r}: lowercase letters, digits, '.', '_' or '-'")
        if isinstance(delay_s, bool) or not isinstance(delay_s, int | float) or delay_s < 0:
            raise ValueError(f"delay_s must be a non-negative number, got {delay_s!r}")
        now = time.time()
        with self.host.db.joined():
            cursor = self.host.db.execute(
                "INSERT INTO tasks (plugin_id, name, payload, run_at, status, created_at)"
                " VALUES (?, ?, ?, ?, 'scheduled', ?)",
                (plugin_id, name, dumps(payload), now + delay_s, now),
            )
        return int(cursor.lastrowid or 0)

    def due(self, now: float | None = None) -> list[dict[str, Any]]:
        rows = self.host.db.query(
            "SELECT * FROM tasks WHERE status = 'scheduled' AND run_at <= ? ORDER BY run_at, id",
            (time.time() if now is None else now,),
        )
        return [{**dict(r), "payload": loads(r["payload"])} for r in rows]

    def run_due(self, now: float | None = None) -> HostResult:
        """One operation: every due task published as an event and marked done."""
        from ._host import HostResult

        host = self.host
        with host.operation("run tasks") as run:
            done = []
            for task in self.due(now):
                host.emit(
                    run,
                    f"task.{task['name']}",
                    {
                        "taskId": task["id"],
                        "name": task["name"],
                        "pluginId": task["plugin_id"],
                        "payload": task["payload"],
                    },
                    "plugin" if task["plugin_id"] else "system",
                    task["plugin_id"] or "host",
                )
                host.db.execute("UPDATE tasks SET status = 'done' WHERE id = ?", (task["id"],))
                done.append(task["id"])
        return HostResult(done, run.trace)
