"""One plugin's circuit breaker: closed, open, half-open, and the gate an open one puts
in front of the plugin's handlers.

Issue 14 §1: only the plugin's own failures count (the engine opens the breaker after
``RecoveryPolicy.breaker_threshold`` of them in a row; a host overload never counts), and
an open breaker **always** half-opens again after ``breaker_reset_ms`` (30 s unless the
manifest says otherwise). While it is open the plugin stays ACTIVE and its handlers stay
in the hook tables behind a gate: each call is ``skipped`` with the reason, visibly. After
the reset delay the first call is the trial (the others are still skipped while it runs):
success closes the breaker, failure opens it again for another delay.

The gate is installed only while the breaker is not closed, so a closed breaker costs
the dispatch loop nothing.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any, final

from ..errors import CircuitOpen, HostOverload

__all__ = ["BreakerState", "CircuitBreaker", "gate", "gate_async"]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


#: ``listener(state, detail)``: called after each change, outside the breaker's lock.
Listener = Callable[[BreakerState, str], None]

#: One lock for every breaker: it is taken only on failures and gated calls, for a few
#: assignments, and a lock per plugin was one more object per loaded plugin for every
#: full garbage collection to visit.
_LOCK = threading.Lock()


@final
class CircuitBreaker:
    """The breaker of one plugin (thread-safe); ``reset_s``: how long it stays open."""

    __slots__ = (
        "_lock",
        "_state",
        "_trial",
        "clock",
        "listener",
        "opened_at",
        "openings",
        "reason",
        "reset_s",
    )

    def __init__(self, reset_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.reset_s = reset_s
        self.clock = clock
        self.listener: Listener | None = None
        self._lock = _LOCK
        self._state = BreakerState.CLOSED
        self._trial = False
        self.opened_at = 0.0
        self.openings = 0
        self.reason = ""

    @property
    def state(self) -> BreakerState:
        """Closed, open, or half-open (open with its reset delay over, or a trial running)."""
        state = self._state
        if state is BreakerState.OPEN and self.clock() >= self.opened_at + self.reset_s:
            return BreakerState.HALF_OPEN
        return state

    @property
    def closed(self) -> bool:
        return self._state is BreakerState.CLOSED

    @property
    def trial_running(self) -> bool:
        """Whether a half-open trial call is running now."""
        return self._trial

    def retry_in(self) -> float:
        """Seconds until the next trial may run (0 when it may run now or it is closed)."""
        if self._state is BreakerState.CLOSED:
            return 0.0
        return max(0.0, self.opened_at + self.reset_s - self.clock())

    def trip(self, reason: str) -> bool:
        """Open (from closed); False when it was open or half-open already. The caller
        acts on the opening (the listener hears only what happens in the gate)."""
        with self._lock:
            if self._state is not BreakerState.CLOSED:
                return False
            self._open(reason)
        return True

    def admit(self) -> str | None:
        """Before a gated call: None lets it run (the breaker closed meanwhile, or this
        call is the half-open trial); otherwise why it is skipped."""
        with self._lock:
            state = self._state
            if state is BreakerState.CLOSED:
                return None
            wait = self.opened_at + self.reset_s - self.clock()
            if wait > 0:
                return f"circuit breaker open ({self.reason}); the next trial call in {wait:.1f} s"
            if self._trial:
                return f"circuit breaker half-open ({self.reason}); a trial call is running"
            self._trial = True
            self._state = BreakerState.HALF_OPEN
        self._tell(BreakerState.HALF_OPEN, "reset delay over: this call is the trial")
        return None

    def succeeded(self) -> None:
        """The trial answered: closed."""
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return
            self._state = BreakerState.CLOSED
            self._trial = False
        self._tell(BreakerState.CLOSED, "the trial call answered")

    def failed(self, detail: str) -> None:
        """The trial failed: open again for another reset delay."""
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return  # the streak decides (the engine trips it)
            self._open(f"the half-open trial failed: {detail}")
            reason = self.reason
        self._tell(BreakerState.OPEN, reason)

    def released(self) -> None:
        """The trial could not run (the host was overloaded): the next call tries."""
        with self._lock:
            self._trial = False

    def reset(self) -> None:
        """Closed by the host (activation, reload, ``engine.enable``); no notification."""
        with self._lock:
            self._state = BreakerState.CLOSED
            self._trial = False

    def _open(self, reason: str) -> None:
        self._state = BreakerState.OPEN
        self._trial = False
        self.opened_at = self.clock()
        self.openings += 1
        self.reason = reason

    def _tell(self, state: BreakerState, detail: str) -> None:
        listener = self.listener
        if listener is not None:
            listener(state, detail)


def _refuse(breaker: CircuitBreaker, plugin_id: str, hook: str, ctx: Any) -> None:
    reason = breaker.admit()
    if reason is not None:
        raise CircuitOpen(
            reason,
            plugin_id=plugin_id,
            hook=hook,
            execution_id=ctx.execution_id,
            retry_after_s=breaker.retry_in(),
        )


def gate(
    fn: Callable[[Any], Any], breaker: CircuitBreaker, plugin_id: str, hook: str
) -> Callable[[Any], Any]:
    """``fn`` behind ``breaker``: skipped while open, the trial when half-open."""

    @functools.wraps(fn)
    def gated(ctx: Any) -> Any:
        _refuse(breaker, plugin_id, hook, ctx)
        try:
            value = fn(ctx)
        except (HostOverload, KeyboardInterrupt):  # not the plugin's doing
            breaker.released()
            raise
        except BaseException as exc:
            breaker.failed(f"{type(exc).__name__}: {exc}"[:300])
            raise
        breaker.succeeded()
        return value

    return gated


def gate_async(
    fn: Callable[[Any], Awaitable[Any]], breaker: CircuitBreaker, plugin_id: str, hook: str
) -> Callable[[Any], Awaitable[Any]]:
    """``gate`` for a coroutine function (an async handler, or a sandboxed proxy's
    ``afire`` variant)."""

    @functools.wraps(fn)
    async def gated(ctx: Any) -> Any:
        import asyncio  # loaded already: an event loop is running

        _refuse(breaker, plugin_id, hook, ctx)
        try:
            value = await fn(ctx)
        except (HostOverload, KeyboardInterrupt, asyncio.CancelledError):
            breaker.released()
            raise
        except BaseException as exc:
            breaker.failed(f"{type(exc).__name__}: {exc}"[:300])
            raise
        breaker.succeeded()
        return value

    return gated
