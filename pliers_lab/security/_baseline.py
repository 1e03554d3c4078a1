"""Behaviour analysis: one ``Baseline`` per version a plugin ran, from its records.

Each record (access, call, error, resource sample) falls in the version window of the
timeline its timestamp is in; a version loaded twice (a rollback) has two windows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import pairwise
from statistics import median
from typing import Any

from ._records import Baseline
from ._timeline import VersionTimeline

__all__ = ["Window", "build_baselines", "split"]

Window = tuple[str, float, float | None]


def _index(windows: Sequence[Window], timestamp: float) -> int:
    """The window holding ``timestamp``; records older than the first go to the first."""
    for i in range(len(windows) - 1, -1, -1):
        if timestamp >= windows[i][1]:
            return i
    return 0


def split(
    windows: Sequence[Window], records: Sequence[dict[str, Any]]
) -> list[list[dict[str, Any]]]:
    """``records`` in one list per window, in order."""
    out: list[list[dict[str, Any]]] = [[] for _ in windows]
    if windows:
        for record in records:
            out[_index(windows, record["timestamp"])].append(record)
    return out


def _cpu_per_call(samples: Sequence[dict[str, Any]]) -> float | None:
    """Median CPU ms per call between consecutive samples that saw calls (a worker
    restart, whose CPU counter starts again, is skipped)."""
    rates = []
    for a, b in pairwise(samples):
        if a["cpuTotalMs"] is None or b["cpuTotalMs"] is None:
            continue
        cpu, n = b["cpuTotalMs"] - a["cpuTotalMs"], b["calls"] - a["calls"]
        if n > 0 and cpu >= 0:
            rates.append(cpu / n)
    return median(rates) if rates else None


def build_baselines(
    plugin_id: str,
    timeline: VersionTimeline,
    accesses: Sequence[dict[str, Any]],
    calls: Sequence[tuple[float, str, str]],
    errors: Sequence[dict[str, Any]],
    samples: Sequence[dict[str, Any]],
) -> list[Baseline]:
    """The plugin's baselines, oldest version first."""
    windows = timeline.versions(plugin_id)
    if not windows:
        return []
    by_access = split(windows, accesses)
    by_error = split(windows, errors)
    by_sample = split(windows, samples)
    by_call = split(windows, [{"timestamp": t, "hook": h} for t, h, _s in calls])
    out = []
    for i, (version, since, until) in enumerate(windows):
        hooks = Counter(c["hook"] for c in by_call[i])
        total = sum(hooks.values())
        rows = by_access[i]
        denied = [r for r in rows if r["verdict"] == "denied"]
        permissions: dict[str, set[str]] = {}
        for r in rows:
            permissions.setdefault(r["permission"], set()).add(r["resource"])
        hosts = sorted({r["resource"] for r in rows if r["permission"] == "network.outbound"})
        memory = [s["memoryMiB"] for s in by_sample[i] if s["memoryMiB"] is not None]
        out.append(
            Baseline(
                plugin_id=plugin_id,
                version=version,
                since=since,
                until=until,
                calls=dict(sorted(hooks.items())),
                errors=len(by_error[i]),
                error_rate=len(by_error[i]) / total if total else None,
                accesses=len(rows),
                denials=len(denied),
                denial_rate=len(denied) / len(rows) if rows else None,
                permissions={k: sorted(v) for k, v in sorted(permissions.items())},
                hosts=hosts,
                denied_hosts=sorted(
                    {r["resource"] for r in denied if r["permission"] == "network.outbound"}
                ),
                memory_mib=max(memory) if memory else None,
                cpu_ms_per_call=_cpu_per_call(by_sample[i]),
            )
        )
    return out
