"""The monitor's findings as pandas DataFrames (pandas imported only here, when asked)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..observe.frames import frame
from ._records import Anomaly, BehaviorAnalysis, Threat

__all__ = ["anomalies_frame", "behavior_frame", "events_frame", "threats_frame"]


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def behavior_frame(analyses: Sequence[BehaviorAnalysis]) -> Any:
    rows = [
        (
            b.plugin_id, b.version, b.since, b.until, b.total_calls, b.errors,
            _nan(b.error_rate), b.accesses, b.denials, _nan(b.denial_rate),
            ",".join(b.hosts), ",".join(b.denied_hosts), ",".join(b.permissions),
            _nan(b.memory_mib), _nan(b.cpu_ms_per_call),
        )
        for a in analyses
        for b in a.versions
    ]  # fmt: skip
    columns = (
        "plugin_id", "version", "since", "until", "calls", "errors", "error_rate",
        "requests", "denials", "denial_rate", "hosts", "denied_hosts", "permissions",
        "memory_mib", "cpu_ms_per_call",
    )  # fmt: skip
    return frame(rows, columns, time_columns=("since", "until"))


def anomalies_frame(anomalies: Sequence[Anomaly]) -> Any:
    rows = [
        (a.timestamp, a.plugin_id, a.version, a.kind, a.severity, a.summary, len(a.evidence))
        for a in anomalies
    ]
    columns = ("timestamp", "plugin_id", "version", "kind", "severity", "summary", "evidence")
    return frame(rows, columns, time_columns=("timestamp",))


def threats_frame(threats: Sequence[Threat]) -> Any:
    rows = [
        (t.timestamp, t.id, t.plugin_id, t.version, t.severity, t.action, t.summary,
         " | ".join(t.signals), len(t.evidence))
        for t in threats
    ]  # fmt: skip
    columns = (
        "timestamp", "id", "plugin_id", "version", "severity", "action", "summary",
        "signals", "evidence",
    )  # fmt: skip
    return frame(rows, columns, time_columns=("timestamp",))


def events_frame(rows: Sequence[tuple[Any, ...]]) -> Any:
    """``(timestamp, plugin_id, version, kind, detail)`` rows; ``kind``: ``allowed``,
    ``denied``, ``audit``, ``anomaly:<kind>``, ``quarantine``, ``release``."""
    columns = ("timestamp", "plugin_id", "version", "kind", "detail")
    return frame(rows, columns, time_columns=("timestamp",))
