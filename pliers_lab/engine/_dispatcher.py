"""Firing a hook: the hot path. One ``HookResult`` per execution — handed to the
handlers as their context while they run, returned to the caller afterwards — and the
hook's table of handlers as it stands at the start.

What an execution leaves behind is its trail: a successful one is appended to its
table's trails and counted later, in batches (``Ledger``); the full results of the last
executions stay in the store's ``recent`` ring.

Works in plain code and inside a running event loop (a Jupyter cell): a hook with async
handlers then runs on the engine's own loop thread.
"""

from __future__ import annotations

import inspect
import itertools
from typing import Any

from ._aio import LoopThread
from ._dispatch import (
    FailureHandler,
    begin,
    collected,
    perf,
    run_async,
    run_collect,
    run_sync,
)
from ._hook_table import HookRegistry
from ._journal import Journal
from ._ledger import BATCH
from ._modes import initial
from ._plugin_table import PluginTable
from .hook_results import HookResult

__all__ = ["Dispatcher"]

_MASK = BATCH - 1
#: Default of ``fire``'s third parameter: nobody passes it, so any third positional
#: argument is refused.
_KEYWORDS: Any = object()
_POSITIONAL = (
    "fire() takes 2 positional arguments (hook, data); user_id, session_id, event, "
    "request_id and trace_id are keyword-only"
)


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
        self.tag = journal.tag  # in every execution id: engines never collide
        self._env = (plugins.by_id, self.tag)  # what every context reads its plugin from
        self._hooks = hooks
        self._sync_tables = hooks.sync_tables
        self._ledger = journal.ledger
        # The set and the ring themselves, not their bound ``add``/``append``: a method
        # of an object attribute specialises (LOAD_METHOD_NO_DICT), a bound method kept
        # in the instance's own dict does not (a generic look-up on every call).
        self._dirty = journal.ledger.dirty
        self._recent = journal.executions.recent
        self._loop = loop
        self._failure = on_failure
        self._seq = itertools.count(1)
        self._due = BATCH  # the execution number that settles the ledger next

    def fire(
        self,
        hook: str,
        data: Any = None,
        _keywords: object = _KEYWORDS,
        user_id: str | None = None,
        session_id: str | None = None,
        event: Any = None,
        request_id: str | None = None,
        trace_id: str | None = None,
    ) -> HookResult:
        """Run ``hook``'s handlers and return the combined result.

        Works in plain code and inside a running event loop (a Jupyter cell): async
        handlers then run on the engine's own loop thread.
        """
        # ``Engine.fire`` is this method (the engine binds it as its own: no extra call).
        # ``user_id`` and the rest are keyword-only, as ``Engine.fire`` declares them, but
        # not by a bare ``*``: a missing keyword-only argument costs a dict look-up in the
        # function's keyword defaults on every call (five per plain ``fire``, ~5 % of a
        # one-handler hook), a missing positional one a read of its defaults tuple. The
        # marker after ``data`` turns a third positional argument into a TypeError, and
        # ``__signature__`` (below the class) shows the declared signature without it.
        if _keywords is not _KEYWORDS:
            raise TypeError(_POSITIONAL)
        try:
            table = self._sync_tables[hook]
        except KeyError:
            table = self._hooks.table(hook)  # built now, or one with async handlers
            if table.has_async:
                return self._loop.run(
                    self.afire(
                        hook,
                        data,
                        user_id=user_id,
                        session_id=session_id,
                        event=event,
                        request_id=request_id,
                        trace_id=trace_id,
                    )
                )
        # ``begin``, inlined: this is the one object the execution allocates.
        res = HookResult()
        res.hook = hook
        res.data = data
        res._env = self._env
        if (
            user_id is None
            and session_id is None
            and event is None
            and request_id is None
            and trace_id is None
        ):  # ``is None`` first: a truth test of None is a C call each
            res._extra = None
        else:
            res._extra = (
                (user_id, session_id, event, request_id, trace_id)
                if user_id or session_id or event is not None or request_id or trace_id
                else None
            )
        res._table = table
        res._notes = None
        res._state = None  # made on first read (context.py)
        seq = next(self._seq)
        single = table.single
        if single is not None:
            # One handler (most hooks of a host have one plugin on them): the loop below
            # without its iterator, and the trail made with room for the handler's duration.
            res._trail = trail = [seq, perf(), 0.0]
            plugin_id, fn, timeout = single
            res.plugin_id = plugin_id
            try:
                value = fn(res)
            except BaseException as exc:
                del trail[2]
                res._answers = []
                res.value = run_collect(res, self._failure, exc)
            else:
                duration = perf() - trail[1]
                if duration <= timeout:
                    trail[2] = duration  # counted by the ledger, per batch
                    res._answers = [value]
                    res.value = [] if value is None else [value]
                    table.trails.extend(trail)
                    self._dirty.add(table)
                    self._recent.append(res)
                    if seq >= self._due:
                        self._settle(seq)
                    return res
                del trail[2]
                res._answers = []
                res.value = run_collect(res, self._failure, duration)
            self._ledger.odd(res)
            self._recent.append(res)
            if seq >= self._due:
                self._settle(seq)
            return res
        straight = table.straight
        if straight is not None:
            # A collect table with its handlers unrolled (``_straight``).
            res._trail = trail = [seq, perf()]
            if straight(res, self._failure):
                table.trails.extend(trail)
                self._dirty.add(table)
            else:
                self._ledger.odd(res)
            self._recent.append(res)
            if seq >= self._due:
                self._settle(seq)
            return res
        res._answers = answers = []
        res._trail = trail = [seq, perf()]
        if table.collect:
            # ``run_collect``'s loop, inlined while every handler simply succeeds; the
            # first one that does not hands the rest of the chain over to it.
            t0 = trail[1]
            nothing = False  # did a handler answer None (left out of the value)?
            for plugin_id, fn, timeout in table.entries:
                res.plugin_id = plugin_id
                try:
                    value = fn(res)
                except BaseException as exc:
                    res.value = run_collect(res, self._failure, exc, t0)
                    break
                t1 = perf()
                duration = t1 - t0
                if duration > timeout:
                    res.value = run_collect(res, self._failure, duration, t0)
                    break
                trail.append(duration)  # counted by the ledger, per batch
                answers.append(value)
                if value is None:
                    nothing = True
                t0 = t1
            else:
                res.value = collected(answers) if nothing else answers.copy()
                table.trails.extend(trail)
                self._dirty.add(table)
                self._recent.append(res)
                if seq >= self._due:
                    self._settle(seq)
                return res
            self._ledger.odd(res)
        else:
            res.value = run_sync(res, initial(table.mode, data), self._failure)
            res.data = data  # a waterfall moved it along the chain
            self._ledger.keep(res)
        self._recent.append(res)
        if seq >= self._due:
            self._settle(seq)
        return res

    def _settle(self, seq: int) -> None:
        """Every ``BATCH`` executions: fold the trails into counters and the store.

        ``fire`` compares its execution number with ``_due`` (one specialised integer
        comparison) rather than masking it (``seq & mask``: a generic binary op). Two
        threads past the same mark both settle: harmless, settling is locked.
        """
        self._due = (seq | _MASK) + 1
        self._ledger.settle()

    async def afire(
        self,
        hook: str,
        data: Any = None,
        *,
        user_id: str | None = None,
        session_id: str | None = None,
        event: Any = None,
        request_id: str | None = None,
        trace_id: str | None = None,
    ) -> HookResult:
        """``Engine.afire``: async handlers run on the caller's loop."""
        table = self._hooks.table(hook)
        extra = (user_id, session_id, event, request_id, trace_id)
        seq = next(self._seq)
        res = begin(table, hook, data, self._env, seq, extra)
        res.value = await run_async(res, initial(table.mode, data), self._failure)
        res.data = data
        self._ledger.keep(res)
        self._recent.append(res)
        if seq >= self._due:
            self._settle(seq)
        return res


def _declared(fire: Any) -> inspect.Signature:
    """``fire``'s signature as ``Engine.fire`` declares it: no marker, context keyword-only
    (what ``help(engine.fire)`` and a notebook's ``engine.fire?`` show)."""
    signature = inspect.signature(fire)
    keyword = inspect.Parameter.KEYWORD_ONLY
    return signature.replace(
        parameters=[
            p.replace(kind=keyword) if p.name not in ("self", "hook", "data") else p
            for p in signature.parameters.values()
            if p.name != "_keywords"
        ]
    )


Dispatcher.fire.__signature__ = _declared(Dispatcher.fire)  # type: ignore[attr-defined]
