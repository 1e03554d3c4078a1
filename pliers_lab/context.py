"""``HookContext``: what every handler receives (spec: Hook System Architecture).

One context is built per hook execution and shared by the plugins of that execution (so
``state`` is shared); ``plugin_id`` is switched before each handler runs, and the per-plugin
views (``config``, ``logger``, ``api``) are looked up from it, so building a context costs
one small object, not one per plugin.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, final

if TYPE_CHECKING:
    from .observe.logs import PluginLogger
    from .plugin import Plugin

__all__ = ["HookContext", "HookMetadata"]


@final
class HookMetadata:
    """The spec's context metadata: execution id, start time, user and session."""

    __slots__ = ("_seq", "_tag", "request_id", "session_id", "timestamp", "trace_id", "user_id")

    def __init__(
        self,
        tag: str,
        seq: int,
        user_id: str | None = None,
        session_id: str | None = None,
        request_id: str | None = None,
        trace_id: str | None = None,
    ) -> None:
        self._tag = tag
        self._seq = seq
        self.timestamp = time.time()
        self.user_id = user_id
        self.session_id = session_id
        self.request_id = request_id
        self.trace_id = trace_id

    @property
    def execution_id(self) -> str:
        """Unique per engine run: the engine's tag and a counter (no uuid per call)."""
        return f"{self._tag}-{self._seq}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "executionId": self.execution_id,
            "timestamp": self.timestamp,
            "userId": self.user_id,
            "sessionId": self.session_id,
            "requestId": self.request_id,
            "traceId": self.trace_id,
        }


@final
class HookContext:
    """Passed to every hook handler.

    ``data`` is the hook's data (in a waterfall hook, the previous plugin's output);
    ``state`` is shared by all plugins of this execution; ``config``, ``logger`` and
    ``api`` belong to the plugin that is running.
    """

    __slots__ = ("_plugins", "data", "event", "hook", "metadata", "plugin_id", "state")

    def __init__(
        self,
        hook: str,
        data: Any,
        metadata: HookMetadata,
        plugins: dict[str, Plugin],
        event: Any = None,
    ) -> None:
        self.hook = hook
        self.data = data
        self.metadata = metadata
        self.event = event
        self.state: dict[str, Any] = {}
        self.plugin_id = ""
        self._plugins = plugins

    @property
    def execution_id(self) -> str:
        return self.metadata.execution_id

    @property
    def plugin(self) -> Plugin:
        return self._plugins[self.plugin_id]

    @property
    def config(self) -> dict[str, Any]:
        """The running plugin's current configuration."""
        return self._plugins[self.plugin_id].config

    @property
    def logger(self) -> PluginLogger:
        """The running plugin's logger, bound to this hook and execution."""
        return self._plugins[self.plugin_id].logger.bind(self.hook, self.metadata.execution_id)

    @property
    def api(self) -> Any:
        """The host API facade of the running plugin (permission-checked)."""
        return self._plugins[self.plugin_id].api

    def __repr__(self) -> str:
        return (
            f"<HookContext {self.hook} {self.metadata.execution_id} plugin={self.plugin_id!r} "
            f"state={sorted(self.state)}>"
        )
