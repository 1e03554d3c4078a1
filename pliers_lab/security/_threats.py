"""Threat detection: a plugin version's anomalies, denials and advisories judged together.

The parts keep their own severities; the threat takes the highest, one step higher when
two or more kinds of anomaly agree (a new destination that is also denied in a burst is
worse than either). Advisories come from an optional source (``AdvisorySource``): the
marketplace's, or any callable a host provides.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ._records import SEVERITIES, Anomaly, Threat, severity_rank

__all__ = ["AdvisorySource", "advisory_dicts", "assess"]

#: ``(plugin_id, version) → advisories`` affecting it: mappings (or objects with
#: ``to_dict``) with ``id``, ``severity`` and optionally ``summary``/``title`` and
#: ``fixedVersion``/``fixedIn``/``fixed`` (``pliers_lab.market.Advisories.affecting`` is
#: one).
AdvisorySource = Callable[[str, str], Iterable[Any]]


def advisory_dicts(
    source: AdvisorySource | None, plugin_id: str, version: str
) -> list[dict[str, Any]]:
    """The advisories ``source`` names for the version, as dicts (a failing source is
    reported as a signal of its own, never silently dropped)."""
    if source is None:
        return []
    try:
        found = list(source(plugin_id, version))
    except Exception as exc:  # the monitor must keep working when the registry is away
        return [
            {
                "source": "advisories",
                "error": f"advisory source failed: {type(exc).__name__}: {exc}",
            }
        ]
    out = []
    for item in found:
        data = (
            item.to_dict()
            if hasattr(item, "to_dict")
            else dict(item)
            if isinstance(item, Mapping)
            else {"id": str(item)}
        )
        severity = str(data.get("severity", "medium")).lower()
        if severity == "moderate":
            severity = "medium"
        data["severity"] = severity if severity in SEVERITIES else "medium"
        out.append({"source": "advisories", **data})
    return out


def _fix(advisory: dict[str, Any]) -> str | None:
    """The version that fixes an advisory, under any of the names sources use."""
    for key in ("fixedVersion", "fixedIn", "fixed"):
        if advisory.get(key):
            return str(advisory[key])
    return None


def _escalate(severity: str) -> str:
    return SEVERITIES[min(severity_rank(severity) + 1, len(SEVERITIES) - 1)]


def assess(
    plugin_id: str,
    version: str,
    anomalies: Sequence[Anomaly],
    denials: Sequence[dict[str, Any]],
    advisories: Sequence[dict[str, Any]],
    *,
    max_evidence: int = 10,
) -> Threat | None:
    """One threat from everything known against ``plugin_id@version``; None when
    nothing is."""
    ours = [a for a in anomalies if a.plugin_id == plugin_id and a.version == version]
    usable = [a for a in advisories if "error" not in a]
    if not ours and not denials and not usable:
        return None
    levels = [a.severity for a in ours] + [a["severity"] for a in usable]
    signals = [f"[{a.severity}] {a.kind}: {a.summary}" for a in ours]
    for adv in usable:
        title = adv.get("summary") or adv.get("title")
        signals.append(
            f"[{adv['severity']}] advisory {adv.get('id', '?')}" + (f": {title}" if title else "")
        )
    signals += [f"[low] {a['error']}" for a in advisories if "error" in a]
    covered = {a.kind for a in ours} & {"denial_burst", "new_destination", "new_permission"}
    if denials and not covered:
        levels.append("low")
        signals.append(f"[low] denials: {len(denials)} requests refused by the host")
    severity = max(levels or ["low"], key=severity_rank)
    behaviour = max((severity_rank(a.severity) for a in ours), default=-1)
    if len({a.kind for a in ours}) >= 2:
        severity = _escalate(severity)
        behaviour = min(behaviour + 1, len(SEVERITIES) - 1)
    fixed = next((f for f in map(_fix, usable) if f), None)
    rank, high = severity_rank(severity), severity_rank("high")
    if behaviour >= high or (rank >= high and not fixed):
        action = "quarantine"  # what it does now, or a flaw with no fix to move to
    elif fixed:
        action = "update"
    else:
        action = "review" if rank >= severity_rank("medium") else "watch"
    evidence: list[dict[str, Any]] = [{"source": "anomaly", **a.to_dict()} for a in ours]
    evidence += advisories
    if denials and not covered:
        evidence += list(denials[-max_evidence:])
    times = [a.timestamp for a in ours] + [d["timestamp"] for d in denials]
    times += [a["timestamp"] for a in usable if isinstance(a.get("timestamp"), int | float)]
    digest = hashlib.sha1(
        "\n".join(
            [
                plugin_id,
                version,
                *sorted(a.key for a in ours),
                *sorted(str(a.get("id")) for a in usable),
            ]
        ).encode()
    ).hexdigest()[:12]
    kinds = sorted({a.kind.replace("_", " ") for a in ours})
    what = ", ".join(kinds + ([f"{len(usable)} advisories"] if usable else [])) or "denials"
    summary = f"{plugin_id}@{version}: {what}" + (f"; fixed in {fixed}" if fixed else "")
    return Threat(
        id=f"thr-{digest}",
        plugin_id=plugin_id,
        version=version,
        severity=severity,
        summary=summary,
        action=action,
        timestamp=max(times) if times else time.time(),  # an advisory without a date
        signals=tuple(signals),
        evidence=tuple(evidence),
    )
