"""Recovery policy (spec: Recovery Strategies) and the circuit breaker, as data.

The engine applies a policy after a handler has failed and used up its retries; what it
did is kept as a ``RecoveryRecord`` so the lab can show every decision.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

__all__ = [
    "DEFAULT_BREAKER_RESET_MS",
    "DEFAULT_BREAKER_THRESHOLD",
    "BackoffStrategy",
    "RecoveryPolicy",
    "RecoveryRecord",
    "RecoveryStrategy",
]

#: Consecutive failures of the plugin's own after which its circuit breaker opens.
DEFAULT_BREAKER_THRESHOLD = 5
#: How long an open breaker stays open before a trial call may run (half-open). Long
#: enough for a dependency to recover, short enough that a plugin that failed for a while
#: answers again within a minute; a breaker always half-opens again (issue 14 §1).
DEFAULT_BREAKER_RESET_MS = 30_000.0


class RecoveryStrategy(StrEnum):
    RESTART = "restart"
    DISABLE = "disable"
    FALLBACK = "fallback"
    RETRY = "retry"
    IGNORE = "ignore"


class BackoffStrategy(StrEnum):
    LINEAR = "linear"
    EXPONENTIAL = "exponential"


@dataclass(frozen=True, slots=True)
class RecoveryPolicy:
    """What to do when a plugin fails.

    Attributes:
        strategy: the action after a failure (retries used up).
        max_retries: extra attempts for ``retry`` (a hook's own ``retries`` wins if higher).
        backoff: how the wait between attempts grows.
        backoff_ms: the first wait; linear waits n*base, exponential base*2**(n-1).
        fallback_plugin: the plugin whose handler answers instead, for ``fallback``.
        notify_admin: whether each recovery decision is sent to the administrator (a
            ``plugin.admin.notified`` event on the engine's activity feed).
        breaker_threshold: consecutive failures of the plugin's own after which its
            circuit breaker opens: its calls are ``skipped`` (with the reason) instead of
            run. Host overloads never count.
        breaker_reset_ms: how long the breaker stays open; then the next call is a trial
            (half-open) that closes it on success or opens it again on failure.
    """

    strategy: RecoveryStrategy = RecoveryStrategy.IGNORE
    max_retries: int = 3
    backoff: BackoffStrategy = BackoffStrategy.EXPONENTIAL
    backoff_ms: float = 100.0
    fallback_plugin: str | None = None
    notify_admin: bool = True
    breaker_threshold: int = DEFAULT_BREAKER_THRESHOLD
    breaker_reset_ms: float = DEFAULT_BREAKER_RESET_MS

    @classmethod
    def from_manifest(cls, recovery: Any) -> RecoveryPolicy:
        """Build from the manifest's ``recovery`` block (None gives the defaults).

        Equal blocks share one policy (it is frozen): most manifests leave ``recovery``
        out, and a policy per plugin would be one more object held for its lifetime that
        every full collection of the garbage collector visits.
        """
        if recovery is None:
            return _DEFAULT_POLICY
        try:
            return _shared_policy(recovery)
        except TypeError:  # an unhashable block: built for this plugin alone
            return cls._build(recovery)

    @classmethod
    def _build(cls, recovery: Any) -> RecoveryPolicy:
        breaker = getattr(recovery, "circuit_breaker", None)
        return cls(
            strategy=RecoveryStrategy(_value(recovery.strategy)),
            max_retries=recovery.max_retries,
            backoff=BackoffStrategy(_value(recovery.backoff_strategy)),
            backoff_ms=float(recovery.backoff_ms),
            fallback_plugin=recovery.fallback_plugin,
            notify_admin=recovery.notify_admin,
            breaker_threshold=breaker.threshold if breaker else DEFAULT_BREAKER_THRESHOLD,
            breaker_reset_ms=float(breaker.reset_after_ms) if breaker else DEFAULT_BREAKER_RESET_MS,
        )

    def attempts(self, hook_retries: int) -> int:
        """Retries for one call: the hook's own, or the policy's when it says ``retry``."""
        if self.strategy is RecoveryStrategy.RETRY:
            return max(hook_retries, self.max_retries)
        return hook_retries

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        base = self.backoff_ms / 1000.0
        if self.backoff is BackoffStrategy.LINEAR:
            return base * attempt
        return base * float(2 ** (attempt - 1))


_DEFAULT_POLICY = RecoveryPolicy()


@functools.lru_cache(maxsize=256)
def _shared_policy(recovery: Any) -> RecoveryPolicy:
    return RecoveryPolicy._build(recovery)


def _value(v: Any) -> str:
    return str(v)  # a StrEnum member or the literal string from the manifest


class RecoveryRecord(NamedTuple):
    """One recovery decision: when, which plugin, after which error, what was done, and
    whether the administrator was notified of it (``notify_admin``: the plugin's
    ``recovery.notifyAdmin``; false means no ``plugin.admin.notified`` event was sent)."""

    timestamp: float
    plugin_id: str
    error_id: str | None
    hook: str | None
    action: str
    detail: str
    notify_admin: bool
