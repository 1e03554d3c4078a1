"""What every part of the engine shares: its state and the few helpers all of them call.

``Engine`` is assembled from small mixins (loading, states, recovering) so each file has
one job; this base declares the attributes they share, for readers and for mypy.
"""

from __future__ import annotations

import inspect
import itertools
import threading
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import PluginError, PluginErrorType, must_propagate, raised_text
from ..lifecycle import PluginState
from ..observe.activity import Activity
from ..observe.history import ErrorStore, ExecutionStore, RecoveryStore, TransitionStore
from ..observe.logs import LogStore
from ..plugin import Plugin
from ._aio import LoopThread
from ._cache import CodeCache
from ._hook_table import HookRegistry
from .runtimes import Runtime

S = PluginState


class EngineBase:
    """Shared state of the engine (set up by ``Engine.__init__``)."""

    tag: str
    environment: str
    default_timeout_ms: float
    default_isolation: str
    resolution_strategy: str
    executions: ExecutionStore
    errors: ErrorStore
    transitions: TransitionStore
    recoveries: RecoveryStore
    logs: LogStore
    activity: Activity
    runtimes: dict[str, Runtime]
    _plugins: dict[str, Plugin]
    _registry: HookRegistry
    _code_cache: CodeCache
    _trusted: set[str]
    _chosen_isolation: dict[str, str]
    _api_providers: list[Callable[[Plugin], Mapping[str, Any]]]
    _seq: itertools.count[int]
    _loop: LoopThread
    _lock: threading.RLock

    # Defined by the mixins that make up ``Engine``; declared here (last in the MRO) so
    # each mixin can call the others' methods.
    def plugin(self, plugin_id: str) -> Plugin:
        raise NotImplementedError

    def activate(self, plugin_id: str) -> Plugin:
        raise NotImplementedError

    def disable(self, plugin_id: str, reason: str = "disabled by user") -> Plugin:
        raise NotImplementedError

    def enable(self, plugin_id: str) -> Plugin:
        raise NotImplementedError

    def restart(self, plugin_id: str, reason: str = "restart") -> Plugin:
        raise NotImplementedError

    def _close_breaker(self, plugin: Plugin, detail: str) -> None:
        raise NotImplementedError

    def _activate(self, plugin: Plugin, replacing: Plugin | None = None) -> Plugin:
        raise NotImplementedError

    def _deactivate(self, plugin: Plugin, reason: str) -> None:
        raise NotImplementedError

    def _call(self, plugin: Plugin, name: str, kind: PluginErrorType, *args: Any) -> None:
        """Run a lifecycle handler; its failure becomes a PluginError of ``kind``."""
        fn = plugin.lifecycle_handlers.get(name)
        if fn is None:
            return
        try:
            outcome = fn(plugin, *args)
            if inspect.isawaitable(outcome):
                self._loop.run(_awaited(outcome))
        except BaseException as exc:  # sys.exit() in a plugin must not end the caller
            if must_propagate(exc):
                raise
            raise PluginError(
                kind, f"{name} {raised_text(exc)}", plugin_id=plugin.id, cause=exc
            ) from exc

    def record_error(self, error: PluginError) -> None:
        """Keep an error found outside hook dispatch (a plugin's HTTP endpoint, say): it is
        stored, logged to its plugin and passed to that plugin's ``on_error``; what the
        sandbox asked for (quarantine after a violation) is applied as for hooks."""
        plugin = self._plugins.get(error.plugin_id or "")
        self._record_error(plugin, error)
        act = getattr(self, "_sandbox_action", None)
        if plugin is not None and act is not None:
            error.recovery = act(plugin, error)

    def _record_error(self, plugin: Plugin | None, error: PluginError) -> None:
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
                self._loop.run(_awaited(outcome))
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

    def _fail(self, plugin: Plugin, error: PluginError) -> None:
        """Record ``error`` and put the plugin in ERROR (its handlers stop answering)."""
        if self._plugins.get(plugin.id) is plugin:
            self._registry.remove(plugin.id)
        if plugin.lifecycle.can_move(S.ERROR):
            plugin.lifecycle.move(S.ERROR, error.message, error.id)
        self._record_error(plugin, error)


async def _awaited(awaitable: Any) -> Any:
    return await awaitable
