"""Anomaly detectors: each reads a plugin's records and baselines and returns findings.

- ``new_access``: the first request for a destination (``network.outbound``) or another
  permission's resource that the plugin never asked for before (outside the learning
  period of its first version);
- ``denial_bursts``: many refusals in a short window;
- ``resource_changes``: memory or CPU per call jumping past a multiple of its median;
- ``version_changes``: version N against version N-1: new hosts, new permissions, a
  higher denial or error rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from statistics import median
from typing import Any

from ._baseline import Window, split
from ._records import Anomaly, Baseline
from ._security_policy import SecurityPolicy

__all__ = ["denial_bursts", "new_access", "resource_changes", "version_changes"]

OUTBOUND = "network.outbound"


def _pct(rate: float | None) -> str:
    return "none" if rate is None else f"{rate:.0%}"


def new_access(
    plugin_id: str,
    windows: Sequence[Window],
    accesses: Sequence[dict[str, Any]],
    policy: SecurityPolicy,
) -> list[Anomaly]:
    """One anomaly per (version, permission, resource) first asked for after learning."""
    if not windows:
        return []
    learned_until = windows[0][1] + policy.learning_s
    seen: set[tuple[str, str]] = set()
    found: dict[tuple[int, str, str], list[dict[str, Any]]] = {}
    for i, rows in enumerate(split(windows, accesses)):
        fresh: set[tuple[str, str]] = set()
        for row in rows:
            key = (row["permission"], row["resource"])
            if key in seen and key not in fresh:
                continue
            if i == 0 and row["timestamp"] < learned_until:
                seen.add(key)
                continue
            seen.add(key)
            fresh.add(key)
            found.setdefault((i, *key), []).append(row)
    out = []
    for (i, permission, resource), rows in found.items():
        denied = sum(r["verdict"] == "denied" for r in rows)
        destination = permission == OUTBOUND
        kind = "new_destination" if destination else "new_permission"
        severity = (
            ("high" if denied else "medium") if destination else ("medium" if denied else "low")
        )
        what = f"destination {resource}" if destination else f"{permission} on {resource!r}"
        verdicts = (
            f"{denied} of {len(rows)} requests denied"
            if denied
            else f"{len(rows)} requests, allowed"
        )
        out.append(
            Anomaly(
                kind,
                plugin_id,
                windows[i][0],
                rows[0]["timestamp"],
                severity,
                f"first access to {what} ({verdicts})",
                tuple(rows[: policy.max_evidence]),
                f"{permission} {resource}",
            )
        )
    return sorted(out, key=lambda a: a.timestamp)


def denial_bursts(
    plugin_id: str,
    windows: Sequence[Window],
    accesses: Sequence[dict[str, Any]],
    policy: SecurityPolicy,
) -> list[Anomaly]:
    """Per version, the densest run of at least ``burst_denials`` refusals within
    ``burst_window_s``."""
    out = []
    for i, rows in enumerate(split(windows, accesses)):
        denied = [r for r in rows if r["verdict"] == "denied"]
        best: tuple[int, int] = (0, 0)  # (start, end) of the densest window
        start = 0
        for end in range(len(denied)):
            while denied[end]["timestamp"] - denied[start]["timestamp"] > policy.burst_window_s:
                start += 1
            if end - start + 1 > best[1] - best[0]:
                best = (start, end + 1)
        burst = denied[best[0] : best[1]]
        if len(burst) < policy.burst_denials:
            continue
        span = burst[-1]["timestamp"] - burst[0]["timestamp"]
        resources = sorted({r["resource"] for r in burst})
        out.append(
            Anomaly(
                "denial_burst",
                plugin_id,
                windows[i][0],
                burst[0]["timestamp"],
                "high",
                f"{len(burst)} requests denied within {span:.1f} s (on {', '.join(resources[:5])})",
                tuple(burst[: policy.max_evidence]),
                "denials",
            )
        )
    return out


def _jumps(
    series: Sequence[tuple[dict[str, Any], float]], factor: float, least: float
) -> tuple[dict[str, Any], float, float] | None:
    """The first point past ``factor`` times the median before it (and ``least`` above it),
    with at least three points before: (sample, value, median)."""
    for k in range(3, len(series)):
        ref = median(v for _s, v in series[:k])
        sample, value = series[k]
        if value > factor * ref and value - ref >= least:
            return sample, value, ref
    return None


def resource_changes(
    plugin_id: str,
    windows: Sequence[Window],
    samples: Sequence[dict[str, Any]],
    policy: SecurityPolicy,
) -> list[Anomaly]:
    """Memory, or CPU per call, jumping past ``resource_factor`` times its median so far."""
    out = []
    memory = [(s, float(s["memoryMiB"])) for s in samples if s["memoryMiB"] is not None]
    cpu = []
    for a, b in pairwise(samples):
        if a["cpuTotalMs"] is None or b["cpuTotalMs"] is None:
            continue
        d_cpu, d_calls = b["cpuTotalMs"] - a["cpuTotalMs"], b["calls"] - a["calls"]
        if d_calls > 0 and d_cpu >= 0:
            cpu.append((b, d_cpu / d_calls))
    for figure, series, least, unit in (
        ("memory", memory, policy.resource_min_mib, "MiB"),
        ("CPU per call", cpu, policy.resource_min_cpu_ms, "ms"),
    ):
        jump = _jumps(series, policy.resource_factor, least)
        if jump is None:
            continue
        sample, value, ref = jump
        version = sample.get("version") or (windows[-1][0] if windows else "unknown")
        out.append(
            Anomaly(
                "resource_change",
                plugin_id,
                str(version),
                sample["timestamp"],
                "medium",
                f"{figure} {value:.1f} {unit}, {value / ref if ref else float('inf'):.1f}x "
                f"its median before ({ref:.1f} {unit})",
                (sample, {"source": "resources", "figure": figure, "median": ref, "unit": unit}),
                figure,
            )
        )
    return out


def version_changes(
    plugin_id: str, baselines: Sequence[Baseline], policy: SecurityPolicy
) -> list[Anomaly]:
    """Each version against the one before it (when that one was used at all)."""
    out = []
    for prev, cur in pairwise(baselines):
        if prev.version == cur.version or (prev.total_calls == 0 and prev.accesses == 0):
            continue
        evidence: list[dict[str, Any]] = []
        parts = []
        new_hosts = sorted(set(cur.hosts) - set(prev.hosts))
        if new_hosts:
            parts.append(f"new hosts {', '.join(new_hosts)}")
            evidence.append({"aspect": "hosts", "previous": prev.hosts, "current": cur.hosts})
        new_perms = sorted(set(cur.permissions) - set(prev.permissions))
        if new_perms:
            parts.append(f"new permissions {', '.join(new_perms)}")
            evidence.append(
                {
                    "aspect": "permissions",
                    "previous": sorted(prev.permissions),
                    "current": sorted(cur.permissions),
                }
            )
        rates_up = []
        for aspect, old, new, n in (
            ("denial rate", prev.denial_rate, cur.denial_rate, cur.denials),
            ("error rate", prev.error_rate, cur.error_rate, cur.errors),
        ):
            if new is not None and n >= 2 and new > (old or 0.0) + policy.rate_increase:
                rates_up.append(aspect)
                parts.append(f"{aspect} {_pct(old)} → {_pct(new)}")
                evidence.append({"aspect": aspect, "previous": old, "current": new, "count": n})
        if not parts:
            continue
        severity = "high" if new_hosts and "denial rate" in rates_up else "medium"
        for item in evidence:
            item.update(source="baselines", previousVersion=prev.version, version=cur.version)
        out.append(
            Anomaly(
                "version_change",
                plugin_id,
                cur.version,
                cur.since,
                severity,
                f"{cur.version} behaves differently from {prev.version}: " + "; ".join(parts),
                tuple(evidence),
                f"{prev.version}->{cur.version}",
            )
        )
    return out
