"""Firing a hook: the hot path. One ``HookContext`` per execution, the hook's table of
handlers as it stands at the start, the result mode's combination, one ``HookResult``
kept in the journal.

Works in plain code and inside a running event loop (a Jupyter cell): a hook with async
handlers then runs on the engine's own loop thread.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

from ..context import HookContext
from ._aio import LoopThread
from ._dispatch import FailureHandler, run_async, run_collect, run_sync
from ._hook_table import HookRegistry
from ._journal import Journal
from ._modes import initial
from ._plugin_table import PluginTable
from .hook_results import HookResult

__all__ = ["Dispatcher"]


class Dispatcher:
    """Runs hooks over the current hook tables; failures go to ``on_failure``."""

    def __init__(
        self,
        plugins: PluginTable,
        hooks: HookRegistry,
        journal: Journal,
        loop: LoopThread,
        on_failure: FailureHandler,
    ) -> None:
        self.tag = os.urandom(3).hex()  # in every execution id: engines never collide
        self._by_id = plugins.by_id  # read without a call on the hot path
        self._hooks = hooks
        self._tables = hooks.tables
        self._executions = journal.executions
        self._loop = loop
        self._failure = on_failure
        self._seq = itertools.count(1)

    def fire(
        self,
        hook: str,
        data: Any,
        user_id: str | None,
        session_id: str | None,
        event: Any,
        request_id: str | None,
        trace_id: str | None,
    ) -> HookResult:
        table = self._tables.get(hook)
        if table is None:
            table = self._hooks.table(hook)
        if table.has_async:
            return self._loop.run(
                self.afire(hook, data, user_id, session_id, event, request_id, trace_id)
            )
        extra = (
            (user_id, session_id, event, request_id, trace_id)
            if user_id or session_id or event is not None or request_id or trace_id
            else None
        )
        ctx = HookContext(hook, data, self._by_id, self.tag, next(self._seq), extra)
        if table.collect:
            value, record = run_collect(table, ctx, [], self._failure)
        else:
            value, record = run_sync(table, ctx, initial(table.mode, data), self._failure)
        result = HookResult(ctx, table.mode_name, data, value, table.impls, record)
        self._executions.append(result)
        return result

    async def afire(
        self,
        hook: str,
        data: Any,
        user_id: str | None,
        session_id: str | None,
        event: Any,
        request_id: str | None,
        trace_id: str | None,
    ) -> HookResult:
        table = self._hooks.table(hook)
        extra = (user_id, session_id, event, request_id, trace_id)
        ctx = HookContext(hook, data, self._by_id, self.tag, next(self._seq), extra)
        value, record = await run_async(table, ctx, initial(table.mode, data), self._failure)
        result = HookResult(ctx, table.mode_name, data, value, table.impls, record)
        self._executions.append(result)
        return result
