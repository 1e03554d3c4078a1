"""Per-plugin metrics: hot counters updated by dispatch, and the spec's ``PluginMetrics``."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, final

#: Error share of the recent calls at which health turns to warning / critical.
WARNING_ERROR_RATE = 0.05
CRITICAL_ERROR_RATE = 0.5
RECENT_WINDOW = 100


def _nothing() -> None:
    return None


@final
class PluginStats:
    """Counters of one plugin (durations in seconds).

    Dispatch leaves successful calls in its tables' trails and the engine's ledger
    folds them in batches: ``settle`` (the ledger's, set when the plugin's handlers join
    a table) runs before any read, so every read sees every call made before it.
    """

    __slots__ = (
        "_count",
        "_last_failure_at",
        "_max",
        "_streak",
        "_total",
        "errors",
        "overloaded",
        "recent_failures",
        "restarts",
        "settle",
        "skipped",
        "timeouts",
    )

    def __init__(self) -> None:
        self._count = 0
        self._total = 0.0
        self._max = 0.0
        self.errors = 0
        self.timeouts = 0
        self._streak = 0
        self._last_failure_at = -1
        self.restarts = 0
        """Restarts: the engine's (``restart``, reloads) and its workers' (sandboxed)."""
        self.overloaded = 0
        """Calls the host had no worker for in time (not in ``count``: not the plugin's)."""
        self.skipped = 0
        """Calls the host did not run: its circuit breaker was open, or its workers were
        stopped while the call waited (not in ``count``)."""
        # Only failures are kept, stamped with the call count they happened at, so a
        # success costs no append on the hot path.
        self.recent_failures: deque[int] = deque(maxlen=RECENT_WINDOW)
        self.settle: Callable[[], None] = _nothing

    @property
    def count(self) -> int:
        """Calls the plugin answered or failed (not the skipped or overloaded ones)."""
        self.settle()
        return self._count

    @property
    def total(self) -> float:
        """Seconds spent in the plugin's calls."""
        self.settle()
        return self._total

    @property
    def max(self) -> float:
        """The longest call, in seconds."""
        self.settle()
        return self._max

    def add_call(self, duration: float) -> None:
        """Count one call that took ``duration`` seconds (after every earlier one)."""
        self.settle()
        self._count += 1
        self._total += duration
        if duration > self._max:
            self._max = duration

    def add_calls(self, count: int, total: float, longest: float) -> None:
        """Count ``count`` calls at once (the ledger's batches)."""
        self._count += count
        self._total += total
        if longest > self._max:
            self._max = longest

    def failed(self, timeout: bool = False) -> None:
        """Count a failed call; call after ``count`` was incremented for it.

        Successes write nothing extra: the failure streak is derived from where the
        previous failure happened in the call count.
        """
        self.errors += 1
        self._streak = self._streak + 1 if self._last_failure_at == self.count - 1 else 1
        self._last_failure_at = self.count
        if timeout:
            self.timeouts += 1
        self.recent_failures.append(self.count)

    @property
    def consecutive_failures(self) -> int:
        """Failures since the last successful call."""
        return self._streak if self._last_failure_at == self.count else 0

    def reset_streak(self) -> None:
        self._streak = 0
        self._last_failure_at = -1

    def recent_error_rate(self) -> float:
        """Failures among the last ``RECENT_WINDOW`` calls."""
        if self.count == 0:
            return 0.0
        window = min(self.count, RECENT_WINDOW)
        since = self.count - window
        return sum(1 for at in self.recent_failures if at > since) / window


@dataclass(frozen=True)
class ExecutionMetrics:
    count: int
    successCount: int
    errorCount: int
    avgDuration: float
    maxDuration: float
    totalDuration: float
    overloadedCount: int = 0
    """Calls the host refused or could not serve in time (not in ``count``)."""
    skippedCount: int = 0
    """Calls skipped by the plugin's open circuit breaker (not in ``count``)."""


@dataclass(frozen=True)
class HealthMetrics:
    status: str
    lastCheck: float
    uptime: float
    restarts: int
    circuit: str = "closed"
    """The circuit breaker: ``closed``, ``open`` or ``half_open``."""


@dataclass(frozen=True)
class PluginMetrics:
    """The spec's ``PluginMetrics`` (durations in ms, uptime in ms, times in epoch s).

    ``resources`` is filled by the process sandbox; inline plugins share the engine's
    process, so per-plugin memory and CPU cannot be told apart and stay zero there.
    """

    pluginId: str
    execution: ExecutionMetrics
    health: HealthMetrics
    resources: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def empty_resources() -> dict[str, dict[str, float]]:
    return {
        "memoryUsage": {"current": 0.0, "peak": 0.0, "average": 0.0},
        "cpuUsage": {"current": 0.0, "peak": 0.0, "total": 0.0},
        "diskIO": {"read": 0.0, "write": 0.0},
        "networkIO": {"bytesIn": 0.0, "bytesOut": 0.0, "requests": 0.0},
    }


def health_status(stats: PluginStats, state_ok: bool, circuit: str = "closed") -> str:
    """healthy / warning / critical from the plugin's state, its circuit breaker (open:
    critical, half-open: warning at least) and its recent error rate."""
    if not state_ok or circuit == "open":
        return "critical"
    rate = stats.recent_error_rate()
    if rate >= CRITICAL_ERROR_RATE:
        return "critical"
    if rate >= WARNING_ERROR_RATE or circuit == "half_open":
        return "warning"
    return "healthy"


def snapshot(
    plugin_id: str,
    stats: PluginStats,
    *,
    state_ok: bool,
    active_since: float | None,
    circuit: str = "closed",
) -> PluginMetrics:
    """Build the spec's record from the plugin's counters."""
    now = time.time()
    count = stats.count
    total, peak = stats.total, stats.max
    return PluginMetrics(
        pluginId=plugin_id,
        execution=ExecutionMetrics(
            count=count,
            successCount=count - stats.errors,
            errorCount=stats.errors,
            avgDuration=(total / count * 1000.0) if count else 0.0,
            maxDuration=peak * 1000.0,
            totalDuration=total * 1000.0,
            overloadedCount=stats.overloaded,
            skippedCount=stats.skipped,
        ),
        health=HealthMetrics(
            status=health_status(stats, state_ok, circuit),
            lastCheck=now,
            uptime=(now - active_since) * 1000.0 if active_since else 0.0,
            restarts=stats.restarts,
            circuit=circuit,
        ),
        resources=empty_resources(),
    )
