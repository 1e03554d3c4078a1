"""What an engine keeps of what happened: executions, errors, lifecycle moves, recovery
decisions, plugin logs, and the activity feed that tells listeners (the host, the web's
event stream) as it happens.

Every error a plugin causes goes through ``record_error`` once, so the store, the feed,
the plugin's log and its ``on_error`` handler always agree.
"""

from __future__ import annotations

import inspect
import os
import time

from ..errors import PluginError, PluginErrorType, must_propagate, raised_text
from ..lifecycle import Transition
from ..observe.activity import Activity
from ..observe.executions import ExecutionStore
from ..observe.history import ErrorStore, RecoveryStore, TransitionStore
from ..observe.logs import LogStore
from ..plugin import Plugin
from ..recovery import RecoveryRecord
from ._aio import LoopThread
from ._ledger import Ledger

__all__ = ["Journal"]


class Journal:
    """The engine's bounded records and its activity feed."""

    def __init__(
        self,
        loop: LoopThread,
        *,
        max_observations: int,
        max_errors: int,
        max_logs: int,
        max_results: int = 100,
    ) -> None:
        #: Identifies this engine in execution ids (several engines may share a machine).
        self.tag = os.urandom(3).hex()
        self.executions = ExecutionStore(max_observations, self.tag, max_results)
        #: Folds the hot path's trails into counters and ``executions`` in batches.
        self.ledger = Ledger(self.executions)
        self.errors = ErrorStore(max_errors)
        self.transitions = TransitionStore(max_errors)
        self.recoveries = RecoveryStore(max_errors)
        self.logs = LogStore(max_logs)
        self.activity = Activity()
        self._loop = loop

    def record_error(self, plugin: Plugin | None, error: PluginError) -> None:
        """Keep ``error``, log it to the plugin and let its ``on_error`` know.

        A failure that is not the plugin's (``error.counted`` False: a host overload) is
        kept and announced the same way, but logged as a warning, not made the plugin's
        ``last_error`` and not passed to its ``on_error``."""
        if not error.counted:
            error.recovery = "not_counted"
        self.errors.append(error)
        self.activity.emit(
            "plugin.error.occurred",
            error.plugin_id,
            errorId=error.id,
            errorType=error.type.value,
            message=error.message,
            hook=error.hook,
            executionId=error.execution_id,
        )
        if plugin is None:
            return
        if not error.counted:
            plugin.logger.bind(error.hook, error.execution_id).warning(str(error))
            return
        plugin.last_error = error
        plugin.logger.bind(error.hook, error.execution_id).error(str(error))
        handler = plugin.lifecycle_handlers.get("on_error")
        if handler is None:
            return
        try:
            outcome = handler(plugin, error)
            if inspect.isawaitable(outcome) and not self._loop.in_loop_thread():
                self._loop.settle(outcome)
        except BaseException as exc:  # on_error itself failing must not recurse
            if must_propagate(exc):
                raise
            self.errors.append(
                PluginError(
                    PluginErrorType.RUNTIME_ERROR,
                    f"on_error {raised_text(exc)}",
                    plugin_id=plugin.id,
                    cause=exc,
                )
            )

    def transitioned(self, record: Transition) -> None:
        """Every lifecycle move: kept, and told to the activity feed's listeners."""
        self.transitions.append(record)
        self.activity.emit(
            "plugin.status.changed",
            record.plugin_id,
            old=record.source.value,
            new=record.target.value,
            reason=record.reason,
        )

    def recovered(
        self, plugin: Plugin, error: PluginError | None, action: str, detail: str
    ) -> None:
        """One recovery decision (policy, breaker, sandbox action), as a record; and, when
        the plugin's ``recovery.notifyAdmin`` says so (the default), a
        ``plugin.admin.notified`` event for the administrator on the activity feed. The
        record's ``notify_admin`` says whether that event was sent."""
        notify = plugin.policy.notify_admin
        record = RecoveryRecord(
            time.time(),
            plugin.id,
            error.id if error else None,
            error.hook if error else None,
            action,
            detail,
            notify,
        )
        self.recoveries.append(record)
        if notify:
            self.activity.emit(
                "plugin.admin.notified",
                plugin.id,
                action=action,
                detail=detail,
                errorId=record.error_id,
                errorType=error.type.value if error else None,
                message=error.message if error else None,
                hook=record.hook,
            )
