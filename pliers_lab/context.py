"""``HookContext``: what every handler receives (spec: Hook System Architecture).

One context is built per hook execution and shared by the plugins of that execution (so
``state`` is shared); ``plugin_id`` is switched before each handler runs, and the per-plugin
views (``config``, ``logger``, ``api``) are looked up from it, so building a context costs
one small object, not one per plugin.
"""

from __future__ import annotations

import time
from itertools import accumulate
from typing import TYPE_CHECKING, Any, final

if TYPE_CHECKING:
    from .observe.logs import PluginLogger
    from .plugin import Plugin

_perf = time.perf_counter
#: [epoch seconds at perf_counter() == 0, perf reading when that was measured]: a perf
#: reading converts to wall time. Measured again when read a second after the last time,
#: so a wall clock the system steps (NTP on a VM) does not leave timestamps behind.
_epoch = [time.time() - time.perf_counter(), time.perf_counter()]


def wall_time(perf: float) -> float:
    """Epoch seconds of a ``perf_counter`` reading (rows keep clock reads, not times)."""
    now = _perf()
    if now - _epoch[1] > 1.0:
        _epoch[0], _epoch[1] = time.time() - _perf(), now
    return _epoch[0] + perf


def clock_reads(trail: list[float]) -> list[float]:
    """The clock (``perf_counter``) at the start of each handler of an execution's
    trail, then at its end: the trail keeps the first read and each handler's duration
    (``_dispatch.Trail``), so these are running sums."""
    return list(accumulate(trail[2:], initial=trail[1]))


__all__ = ["Extra", "HookContext", "HookMetadata", "clock_reads", "wall_time"]

#: The optional parts of a context, passed together only when a caller gives any:
#: (user_id, session_id, event, request_id, trace_id).
Extra = tuple["str | None", "str | None", Any, "str | None", "str | None"]


@final
class HookMetadata:
    """The spec's context metadata: execution id, start time, user and session."""

    __slots__ = ("execution_id", "request_id", "session_id", "timestamp", "trace_id", "user_id")

    def __init__(
        self,
        execution_id: str,
        timestamp: float,
        user_id: str | None = None,
        session_id: str | None = None,
        request_id: str | None = None,
        trace_id: str | None = None,
    ) -> None:
        self.execution_id = execution_id
        self.timestamp = timestamp
        self.user_id = user_id
        self.session_id = session_id
        self.request_id = request_id
        self.trace_id = trace_id

    def to_dict(self) -> dict[str, Any]:
        return {
            "executionId": self.execution_id,
            "timestamp": self.timestamp,
            "userId": self.user_id,
            "sessionId": self.session_id,
            "requestId": self.request_id,
            "traceId": self.trace_id,
        }

    def __repr__(self) -> str:
        return f"HookMetadata({self.to_dict()!r})"


class HookContext:
    """Passed to every hook handler.

    ``data`` is the hook's data (in a waterfall hook, the previous plugin's output);
    ``state`` is shared by all plugins of this execution; ``config``, ``logger`` and
    ``api`` belong to the plugin that is running. The execution's metadata is kept in
    the context's own slots and ``metadata`` is built on first use.

    Dispatch builds one object per execution: a ``HookResult`` (a context that has
    finished), handed to the handlers as their context while they run and returned to
    the caller afterwards — one allocation on the hot path instead of two.
    """

    __slots__ = (
        "_env",
        "_extra",
        "_meta",
        "_state",
        "_trail",
        "data",
        "hook",
        "plugin_id",
    )

    plugin_id: str  # set by dispatch before each handler runs
    #: ``state`` once first read; None until then. Set to None when the execution starts:
    #: reading an unset slot raises (and formats) an AttributeError, ~2k instructions,
    #: which every sandboxed call (it sends the state along) and first ``ctx.state`` paid.
    _state: dict[str, Any] | None
    _meta: HookMetadata
    #: (plugins by id, the engine's tag): shared by every execution of one engine.
    _env: tuple[dict[str, Plugin], str]
    #: The execution's trail: its number, then a clock read (``perf_counter``) before
    #: the first handler and each handler's duration (``dispatch.Trail``).
    _trail: list[float]
    _extra: Extra | None

    def __init__(
        self,
        hook: str,
        data: Any,
        plugins: dict[str, Plugin],
        tag: str = "x",
        seq: int = 0,
        extra: Extra | None = None,
    ) -> None:
        # Only what every execution needs is stored here; ``state`` and ``metadata`` are
        # made on first use, ``plugin_id`` is set by dispatch (habit 3: hot-path objects
        # are lean).
        self.hook = hook
        self.data = data
        self._env = (plugins, tag)
        self._trail = [seq, _perf()]  # a clock read, not time.time(): half the cost
        self._extra = extra
        self._state = None

    @property
    def timestamp(self) -> float:
        """When the execution started, in epoch seconds."""
        return wall_time(self._trail[1])

    @property
    def user_id(self) -> str | None:
        return self._extra[0] if self._extra else None

    @property
    def session_id(self) -> str | None:
        return self._extra[1] if self._extra else None

    @property
    def event(self) -> Any:
        """The event that triggered the hook (spec ``BaseEvent``), if the caller gave one."""
        return self._extra[2] if self._extra else None

    @property
    def request_id(self) -> str | None:
        return self._extra[3] if self._extra else None

    @property
    def trace_id(self) -> str | None:
        return self._extra[4] if self._extra else None

    @property
    def state(self) -> dict[str, Any]:
        """Shared by the plugins of this execution (created on first use)."""
        state = self._state
        if state is None:
            state = self._state = {}
        return state

    @property
    def execution_id(self) -> str:
        """Unique per engine run: the engine's tag and a counter (no uuid per call)."""
        return f"{self._env[1]}-{self._trail[0]}"

    @property
    def metadata(self) -> HookMetadata:
        """Execution id, start time, user, session, request and trace ids."""
        try:
            return self._meta
        except AttributeError:  # once per execution that asks
            self._meta = HookMetadata(
                self.execution_id,
                self.timestamp,
                self.user_id,
                self.session_id,
                self.request_id,
                self.trace_id,
            )
            return self._meta

    @property
    def plugin(self) -> Plugin:
        return self._env[0][self.plugin_id]

    @property
    def config(self) -> dict[str, Any]:
        """The running plugin's current configuration."""
        return self._env[0][self.plugin_id].config

    @property
    def logger(self) -> PluginLogger:
        """The running plugin's logger, bound to this hook and execution."""
        return self._env[0][self.plugin_id].logger.bind(self.hook, self.execution_id)

    @property
    def api(self) -> Any:
        """The host API facade of the running plugin (permission-checked)."""
        return self._env[0][self.plugin_id].api

    def __repr__(self) -> str:
        plugin = getattr(self, "plugin_id", None)
        return f"<HookContext {self.hook} {self.execution_id} plugin={plugin!r}>"
