"""The access log: every host capability a sandboxed plugin asked for, allowed or not.

Spec: Runtime Security Monitoring (``checkPermission``, ``logAccess``). One row per request
— plugin, hook, execution id, category/verb/resource, the operation, the verdict
(``allowed``, ``denied``, or ``audit`` for what audit mode let through but would have
denied) and the time. Bounded; ``frame()`` builds a pandas DataFrame on demand.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any, NamedTuple

__all__ = ["AccessLog", "AccessRecord"]

ALLOWED, DENIED, AUDIT = "allowed", "denied", "audit"


class AccessRecord(NamedTuple):
    """One capability request and what the host decided."""

    timestamp: float
    plugin_id: str
    hook: str | None
    execution_id: str | None
    category: str
    verb: str
    resource: str
    operation: str
    verdict: str
    detail: str = ""


class AccessLog:
    """Bounded, thread-safe store of ``AccessRecord`` rows (oldest dropped first)."""

    def __init__(self, capacity: int = 50_000) -> None:
        self._rows: deque[AccessRecord] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def record(
        self,
        plugin_id: str,
        hook: str | None,
        execution_id: str | None,
        category: str,
        verb: str,
        resource: str,
        operation: str,
        verdict: str,
        detail: str = "",
    ) -> AccessRecord:
        row = AccessRecord(
            time.time(),
            plugin_id,
            hook,
            execution_id,
            category,
            verb,
            resource,
            operation,
            verdict,
            detail,
        )
        with self._lock:
            self._rows.append(row)
        return row

    def rows(self, plugin_id: str | None = None, verdict: str | None = None) -> list[AccessRecord]:
        with self._lock:
            rows = list(self._rows)
        return [
            r
            for r in rows
            if (plugin_id is None or r.plugin_id == plugin_id)
            and (verdict is None or r.verdict == verdict)
        ]

    def __iter__(self) -> Iterator[AccessRecord]:
        return iter(self.rows())

    def __len__(self) -> int:
        return len(self._rows)

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()

    def frame(self, plugin_id: str | None = None) -> Any:
        """The log as a pandas DataFrame, times in UTC like every other frame."""
        from ..observe.frames import frame

        return frame(self.rows(plugin_id), AccessRecord._fields, time_columns=("timestamp",))
