"""What the management API reports, built from the engine's stores: metric timelines,
log queries, grouped errors, configuration problems. Pure functions, no HTTP."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..lifecycle import PluginState
from ._error_envelope import ApiError, iso

if TYPE_CHECKING:
    from ..engine import Engine
    from ..plugin import Plugin
    from ._endpoint_pipeline import EndpointCall

__all__ = [
    "PERIODS",
    "config_problems",
    "error_groups",
    "log_entries",
    "metrics_report",
    "parse_time",
]

#: ``period`` → seconds, and the bucket size ``granularity=auto`` picks for it.
PERIODS: dict[str, tuple[float, str]] = {
    "1h": (3600.0, "minute"),
    "24h": (86400.0, "hour"),
    "7d": (7 * 86400.0, "hour"),
    "30d": (30 * 86400.0, "day"),
}
GRANULARITIES: dict[str, float] = {"minute": 60.0, "hour": 3600.0, "day": 86400.0}
METRIC_SETS = ("execution", "resources", "errors", "all")
_LEVELS = {
    "debug": "debug",
    "info": "info",
    "warn": "warning",
    "warning": "warning",
    "error": "error",
}


def parse_time(text: str, name: str) -> float:
    """Epoch seconds from ``1700000000(.5)`` or ISO 8601 (``2025-01-31T12:00:00Z``)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(
            "VALIDATION_FAILED",
            f"{name}={text!r} is not a time (epoch seconds or ISO 8601)",
            {"errors": [{"path": f"query.{name}", "message": "not a time", "value": text}]},
        ) from None
    if moment.tzinfo is None:
        raise ApiError(
            "VALIDATION_FAILED",
            f"{name}={text!r} needs a time zone (e.g. a trailing Z)",
            {"errors": [{"path": f"query.{name}", "message": "no time zone", "value": text}]},
        )
    return moment.timestamp()


def _bucket_rows(
    samples: Iterable[tuple[float, float, bool]], start: float, step: float, count: int
) -> list[dict[str, Any]]:
    buckets = [[0, 0, 0.0, 0.0] for _ in range(count)]
    for at, duration_ms, failed in samples:
        i = int((at - start) // step)
        if 0 <= i < count:
            b = buckets[i]
            b[0] += 1
            b[1] += int(failed)
            b[2] += duration_ms
            b[3] = max(b[3], duration_ms)
    return [
        {
            "timestamp": iso(start + i * step),
            "count": n,
            "errorCount": errors,
            "avgDuration": total / n if n else 0.0,
            "maxDuration": peak,
        }
        for i, (n, errors, total, peak) in enumerate(buckets)
    ]


def metrics_report(
    engine: Engine,
    plugin: Plugin,
    calls: Iterable[EndpointCall],
    *,
    period: str,
    granularity: str,
    metrics: str,
    now: float,
) -> dict[str, Any]:
    """Per-bucket timelines of hook calls and endpoint calls (execution), errors by type,
    and the current resource figures (the sandbox samples resources; no history is
    kept, so their timeline is the present value only)."""
    seconds, auto = PERIODS[period]
    chosen = auto if granularity == "auto" else granularity
    step = GRANULARITIES[chosen]
    start = math.floor((now - seconds) / step) * step
    count = math.ceil((now - start) / step) or 1
    snapshot = plugin.metrics().to_dict()
    report: dict[str, Any] = {
        "pluginId": plugin.id,
        "period": period,
        "granularity": chosen,
        "from": iso(start),
        "to": iso(now),
        "summary": snapshot["execution"],
        "health": snapshot["health"],
    }
    if metrics in ("execution", "all"):
        samples: list[tuple[float, float, bool]] = [
            (row[5], row[6], row[7] not in ("ok", "skipped"))
            for row in engine.executions.rows()
            if row[3] == plugin.id and row[5] >= start
        ]
        samples.extend(
            (c.timestamp, c.duration_ms, c.error_id is not None)
            for c in calls
            if c.plugin_id == plugin.id and c.timestamp >= start
        )
        report["execution"] = _bucket_rows(samples, start, step, count)
    if metrics in ("errors", "all"):
        by_type: list[dict[str, int]] = [{} for _ in range(count)]
        for error in engine.errors.for_plugin(plugin.id):
            i = int((error.timestamp - start) // step)
            if 0 <= i < count:
                by_type[i][error.type.value] = by_type[i].get(error.type.value, 0) + 1
        report["errors"] = [
            {"timestamp": iso(start + i * step), "count": sum(types.values()), "byType": types}
            for i, types in enumerate(by_type)
        ]
    if metrics in ("resources", "all"):
        report["resources"] = {"current": snapshot["resources"], "timeline": []}
    return report


def log_entries(
    engine: Engine,
    plugin_id: str,
    *,
    level: str | None,
    since: float | None,
    until: float | None,
    search: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], int]:
    """The newest ``limit`` matching log entries (newest first) and how many matched."""
    floor = _LEVELS[level] if level else None
    needle = search.lower() if search else None
    found = [
        e
        for e in engine.logs.for_plugin(plugin_id, floor)
        if (since is None or e.timestamp >= since)
        and (until is None or e.timestamp <= until)
        and (needle is None or needle in e.message.lower())
    ]
    out = [
        {
            "timestamp": iso(e.timestamp),
            "level": "warn" if e.level == "warning" else e.level,
            "message": e.message,
            "context": {
                "pluginId": e.plugin_id,
                "hook": e.hook,
                "executionId": e.execution_id,
                **{k: _plain(v) for k, v in e.fields.items()},
            },
        }
        for e in reversed(found[-limit:])
    ]
    return out, len(found)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return repr(value)


SEVERITIES = ("low", "medium", "high", "critical")


def error_groups(
    engine: Engine,
    plugin: Plugin,
    *,
    severity: str | None,
    resolved: bool | None,
    limit: int,
) -> dict[str, Any]:
    """Errors grouped by cause (``pliers_lab.debug``), with occurrences, firstSeen,
    lastSeen and a summary by severity.

    ``resolved``: a group whose last occurrence precedes the plugin's latest activation
    (a reload or restart since made it go away), while the plugin is active.
    """
    from ..debug.error_reports import group_errors

    active_since = plugin.activated_at if plugin.state is PluginState.ACTIVE else None
    groups = []
    summary = dict.fromkeys(SEVERITIES, 0)
    for group in group_errors(engine.errors.for_plugin(plugin.id)):
        is_resolved = active_since is not None and group.last_seen < active_since
        summary[group.severity] = summary.get(group.severity, 0) + group.occurrences
        if severity is not None and group.severity != severity:
            continue
        if resolved is not None and is_resolved != resolved:
            continue
        latest = max(group.errors, key=lambda e: e.timestamp)
        groups.append(
            {
                "id": _group_id(plugin.id, group.type, group.hook, group.pattern, group.location),
                "type": group.type,
                "severity": group.severity,
                "hook": group.hook,
                "message": latest.message,
                "pattern": group.pattern,
                "location": group.location,
                "occurrences": group.occurrences,
                "firstSeen": iso(group.first_seen),
                "lastSeen": iso(group.last_seen),
                "resolved": is_resolved,
                "errorIds": [e.id for e in group.errors[-5:]],
                "stack": latest.stack,
            }
        )
    return {
        "pluginId": plugin.id,
        "errors": groups[:limit],
        "total": len(groups),
        "summary": {"bySeverity": summary, "occurrences": sum(summary.values())},
    }


def _group_id(*key: str | None) -> str:
    return "grp-" + hashlib.sha1(repr(key).encode()).hexdigest()[:12]


_CONFIG_PATH = re.compile(r"^(?P<path>[^:]*?): (?P<message>.*)$", re.S)
_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _lookup(config: Any, path: str) -> Any:
    value = config
    for name, index in _PART.findall(path):
        try:
            value = value[int(index)] if index else value[name]
        except (KeyError, IndexError, TypeError):
            return None
    return value if value is None or isinstance(value, str | int | float | bool) else None


def config_problems(lines: Iterable[str], config: Any) -> list[dict[str, Any]]:
    """``engine.validate_config`` lines (``a.b: message``) as ``{path, message, value}``."""
    out = []
    for line in lines:
        found = _CONFIG_PATH.match(line)
        path, message = (found["path"], found["message"]) if found else ("<root>", line)
        value = None if path == "<root>" else _lookup(config, path)
        out.append({"path": path, "message": message, "value": value})
    return out
