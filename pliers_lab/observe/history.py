"""The engine's bounded stores of errors, lifecycle transitions and recoveries.

Each keeps the newest items only and flattens to a DataFrame on request. Hook executions
have their own store (``executions``): rows written in batches, not objects.
"""

from __future__ import annotations

from typing import Any

from ..errors import PluginError
from ..lifecycle import Transition
from ..recovery import RecoveryRecord
from .row_store import BoundedStore

__all__ = ["ErrorStore", "RecoveryStore", "TransitionStore"]


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
