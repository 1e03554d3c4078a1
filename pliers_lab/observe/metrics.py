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
        # success costs no append on the hot path; made at the first failure (a plugin
        # that never fails holds one object less for the garbage collector to visit).
        self.recent_failures: deque[int] | None = None
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
        recent = self.recent_failures
        if recent is None:
            recent = self.recent_failures = deque(maxlen=RECENT_WINDOW)
        recent.append(self.count)

    @property
    def consecutive_failures(self) -> int:
        """Failures since the last successful call."""
        return self._streak if self._last_failure_at == self.count else 0

    def reset_streak(self) -> None:
        self._streak = 0
        self._last_failure_at = -1

    def recent_error_rate(self) -> float:
        """Failures among the last ``RECENT_WINDOW`` calls."""
        if self.count == 0 or self.recent_failures is None:
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


Resources = dict[str, dict[str, Any]]
"""``PluginMetrics.resources``: the spec's four groups of figures (a number, or None where
not measured), then ``units``, ``sources`` and ``notMeasured``, each keyed by
``"<group>.<field>"`` (``resource_figures`` reads it back as rows)."""

#: Every figure of ``PluginMetrics.resources``: (group, field, unit). The spec's units,
#: made exact (its MB is 2**20 bytes; its CPU % is of one CPU); the block-I/O pair is ours.
RESOURCE_FIGURES: tuple[tuple[str, str, str], ...] = (
    ("memoryUsage", "current", "MiB"),
    ("memoryUsage", "peak", "MiB"),
    ("memoryUsage", "average", "MiB"),
    ("cpuUsage", "current", "% of one CPU"),
    ("cpuUsage", "peak", "% of one CPU"),
    ("cpuUsage", "total", "ms"),
    ("diskIO", "read", "bytes"),
    ("diskIO", "write", "bytes"),
    ("diskIO", "blockRead", "bytes"),
    ("diskIO", "blockWrite", "bytes"),
    ("networkIO", "bytesIn", "bytes"),
    ("networkIO", "bytesOut", "bytes"),
    ("networkIO", "requests", "requests"),
)

#: ``Engine.metrics_frame``'s column of each figure of ``RESOURCE_FIGURES``, in order.
RESOURCE_COLUMNS: tuple[str, ...] = (
    "memory_mib",
    "memory_peak_mib",
    "memory_average_mib",
    "cpu_recent_pct",
    "cpu_peak_pct",
    "cpu_total_ms",
    "fs_read_bytes",
    "fs_write_bytes",
    "block_read_bytes",
    "block_write_bytes",
    "net_in_bytes",
    "net_out_bytes",
    "net_requests",
)


@dataclass(frozen=True)
class PluginMetrics:
    """The spec's ``PluginMetrics`` (durations in ms, uptime in ms, times in epoch s).

    ``resources`` holds measured figures only: for a sandboxed plugin its workers' (the
    kernel's accounting, and what the host did for it); a figure that is not measured is
    None, with the reason in ``resources["notMeasured"]`` — never a 0 meaning "unknown".
    Inline plugins share the engine's process, so none of these is theirs alone
    (``inline_resources``). Units and sources: ``resources["units"]``/``["sources"]``.
    """

    pluginId: str
    execution: ExecutionMetrics
    health: HealthMetrics
    resources: Resources = field(default_factory=dict)
    limitsExceeded: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The limits the plugin hit, per limit as the manifest names it (``memory``, ``cpu``,
    ``executionTime``, ``disk``, ``network``...): ``count``, ``actions`` (count per thing
    the engine did: ``killed``, ``timed out``, ``throttled``...) and ``last`` (plugin,
    limit, value, cap, unit, action, at, detail). Only a runtime that applies per-plugin
    limits (a sandboxed plugin's workers) can record hits: empty for the others."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ResourceSheet:
    """Builds a ``resources`` record one figure at a time, each measured (value and
    source) or not (the reason); figures never set are not measured, "not reported"."""

    __slots__ = ("_reasons", "_sources", "_values")

    def __init__(self) -> None:
        self._values: dict[str, float] = {}
        self._sources: dict[str, str] = {}
        self._reasons: dict[str, str] = {}

    def measured(self, figure: str, value: float, source: str) -> None:
        """``figure`` (``"group.field"``) is ``value`` in its unit, read from ``source``."""
        self._values[figure] = float(value)
        self._sources[figure] = source
        self._reasons.pop(figure, None)

    def not_measured(self, figure: str, reason: str) -> None:
        """``figure`` is not measured, because ``reason``."""
        self._values.pop(figure, None)
        self._sources.pop(figure, None)
        self._reasons[figure] = reason

    def to_dict(self) -> Resources:
        out: Resources = {}
        units: dict[str, Any] = {}
        sources: dict[str, Any] = {}
        missing: dict[str, Any] = {}
        for group, name, unit in RESOURCE_FIGURES:
            figure = f"{group}.{name}"
            value = self._values.get(figure)
            out.setdefault(group, {})[name] = value
            units[figure] = unit
            if value is None:
                missing[figure] = self._reasons.get(figure, "not reported by its runtime")
            else:
                sources[figure] = self._sources[figure]
        out["units"], out["sources"], out["notMeasured"] = units, sources, missing
        return out


#: Why an inline plugin's figures are not measured (it runs in the engine's own process).
INLINE_NOT_MEASURED = {
    "memoryUsage": "runs inline, in the engine's process: its memory cannot be told apart "
    "from the host's and the other inline plugins'",
    "cpuUsage": "runs inline, in the engine's process: per-call attribution "
    "(time.thread_time() around each handler) costs two system calls, ~2 µs each here, more "
    "than an inline hook call itself, and misses the threads and awaits a handler starts",
    "diskIO": "runs inline, in the engine's process: its file I/O cannot be told apart from "
    "the host's",
    "networkIO": "runs inline: it reaches the network directly, not through the host's "
    "fetch capability, so no one counts its bytes",
}


def inline_resources(where: str = "inline") -> Resources:
    """The ``resources`` of a plugin whose runtime measures nothing for it: every figure
    not measured, with the reason (``where``: the runtime's name)."""
    sheet = ResourceSheet()
    for group, name, _unit in RESOURCE_FIGURES:
        reason = INLINE_NOT_MEASURED[group]
        if where != "inline":
            reason = f"runs in the {where!r} runtime, which reports no figures for it"
        sheet.not_measured(f"{group}.{name}", reason)
    return sheet.to_dict()


def empty_resources() -> Resources:
    """Every figure not measured (a plugin not loaded: no runtime holds it)."""
    sheet = ResourceSheet()
    for group, name, _unit in RESOURCE_FIGURES:
        sheet.not_measured(f"{group}.{name}", "the plugin has no runtime (not loaded)")
    return sheet.to_dict()


def resource_figures(resources: Resources) -> list[tuple[str, float | None, str, str]]:
    """``resources`` as rows ``(figure, value or None, unit, source or why not)``, in
    ``RESOURCE_FIGURES`` order (figures a record lacks are reported as not measured)."""
    units = resources.get("units") or {}
    sources = resources.get("sources") or {}
    missing = resources.get("notMeasured") or {}
    rows: list[tuple[str, float | None, str, str]] = []
    for group, name, unit in RESOURCE_FIGURES:
        figure = f"{group}.{name}"
        value = (resources.get(group) or {}).get(name)
        if value is None:
            why = str(missing.get(figure, "not in this record"))
            rows.append((figure, None, str(units.get(figure, unit)), why))
        else:
            source = str(sources.get(figure, ""))
            rows.append((figure, float(value), str(units.get(figure, unit)), source))
    return rows


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
    resources: Resources | None = None,
    limits_exceeded: dict[str, dict[str, Any]] | None = None,
) -> PluginMetrics:
    """Build the spec's record from the plugin's counters (and its runtime's figures)."""
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
        resources=resources if resources is not None else empty_resources(),
        limitsExceeded=limits_exceeded or {},
    )
