"""The engine's bounded stores: hook executions, errors, lifecycle transitions, recoveries.

Each keeps the newest items only and flattens to a DataFrame on request. Execution rows
are stored per execution (one append per ``fire``, not per plugin) and expanded to one
row per plugin call when a frame is asked for.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from ..engine.hook_results import HookResult
from ..errors import PluginError
from ..lifecycle import Transition
from ..recovery import RecoveryRecord
from .row_store import BoundedStore

__all__ = ["ErrorStore", "ExecutionStore", "RecoveryStore", "TransitionStore"]


def _execution_rows(result: HookResult) -> list[tuple[Any, ...]]:
    rows = result.rows
    if not rows:
        return []
    # perf_counter starts are turned into wall time relative to the execution's start.
    origin = rows[0][1]
    out = []
    for impl, start, duration, status, error, retries, _value, reason in rows:
        out.append(
            (
                result.execution_id,
                result.hook,
                result.mode,
                impl.plugin_id,
                impl.priority,
                result.started + (start - origin),
                duration * 1000.0,
                status,
                error.type.value if error is not None else None,
                error.message if error is not None else None,
                retries,
                reason,
            )
        )
    return out


class ExecutionStore(BoundedStore[HookResult]):
    """Recent hook executions, bounded by plugin calls (rows), not by executions, so a
    hook with 100 handlers does not keep 100 times the memory; ``frame()`` has one row
    per plugin call.
    """

    def __init__(self, capacity: int) -> None:
        super().__init__(
            capacity,
            (
                "execution_id",
                "hook",
                "mode",
                "plugin_id",
                "priority",
                "start",
                "duration_ms",
                "status",
                "error_type",
                "error",
                "retries",
                "reason",
            ),
            _execution_rows,
            time_columns=("start",),
        )
        self._items = deque()
        self.rows_held = 0
        self.rows_dropped = 0

    def append(self, item: HookResult) -> None:
        items = self._items
        items.append(item)
        self.total += 1
        held = self.rows_held + len(item.impls)
        if held > self.capacity:
            # A full store drops one execution per append: done here, without a call
            # (trimming in batches instead lets the collector rescan the store: slower).
            dropped = len(items.popleft().impls)
            held -= dropped
            self.rows_dropped += dropped
        self.rows_held = held
        if held > self.capacity:
            self._trim()

    def _trim(self) -> None:
        items = self._items
        while self.rows_held > self.capacity and len(items) > 1:
            dropped = len(items.popleft().impls)
            self.rows_held -= dropped
            self.rows_dropped += dropped

    def find(self, execution_id: str) -> HookResult | None:
        for result in self:
            if result.execution_id == execution_id:
                return result
        return None


def _error_rows(error: PluginError) -> list[tuple[Any, ...]]:
    return [
        (
            error.id,
            error.timestamp,
            error.type.value,
            error.plugin_id,
            error.hook,
            error.execution_id,
            error.message,
            error.recovery,
            type(error.cause).__name__ if error.cause is not None else None,
        )
    ]


class ErrorStore(BoundedStore[PluginError]):
    """Recent plugin errors, newest last."""

    def __init__(self, capacity: int) -> None:
        super().__init__(
            capacity,
            (
                "error_id",
                "timestamp",
                "type",
                "plugin_id",
                "hook",
                "execution_id",
                "message",
                "recovery",
                "cause",
            ),
            _error_rows,
            time_columns=("timestamp",),
        )

    def for_plugin(self, plugin_id: str) -> list[PluginError]:
        return [e for e in self if e.plugin_id == plugin_id]


class TransitionStore(BoundedStore[Transition]):
    """Lifecycle transitions of every plugin: the lab's timeline."""

    def __init__(self, capacity: int) -> None:
        super().__init__(
            capacity,
            ("plugin_id", "source", "target", "timestamp", "reason", "error_id"),
            lambda t: [
                (t.plugin_id, t.source.value, t.target.value, t.timestamp, t.reason, t.error_id)
            ],
            time_columns=("timestamp",),
        )


class RecoveryStore(BoundedStore[RecoveryRecord]):
    """Every recovery decision (retry, fallback, disable, restart, circuit breaker)."""

    def __init__(self, capacity: int) -> None:
        super().__init__(
            capacity,
            ("timestamp", "plugin_id", "error_id", "hook", "action", "detail", "notify_admin"),
            lambda r: [tuple(r)],
            time_columns=("timestamp",),
        )
