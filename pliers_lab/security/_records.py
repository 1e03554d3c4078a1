"""What the security monitor reports: a version's baseline, anomalies and threats.

Plain frozen records with a ``to_dict`` (JSON for the management API and the CLI). The
``evidence`` of an anomaly or a threat is the concrete records it was found in (access
log rows, errors, resource samples, advisories), each a small dict, so a reader can check
the finding without trusting the detector.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["SEVERITIES", "Anomaly", "Baseline", "BehaviorAnalysis", "Threat", "severity_rank"]

#: Severities, least first (the advisories' scale too).
SEVERITIES = ("low", "medium", "high", "critical")


def severity_rank(severity: str) -> int:
    """0 for ``low`` … 3 for ``critical``; ValueError naming the valid ones otherwise."""
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        raise ValueError(
            f"severity must be one of {', '.join(SEVERITIES)}, got {severity!r}"
        ) from None


@dataclass(frozen=True)
class Baseline:
    """How one version of a plugin behaved while it was loaded (``until`` None: still is).

    Counts are of what the engine recorded and still holds (its stores are bounded; the
    access log is whole when it is kept in a file). Resource figures are None when no
    sample was taken while this version ran, never 0.
    """

    plugin_id: str
    version: str
    since: float
    """Epoch seconds this version was first seen running."""
    until: float | None
    calls: dict[str, int]
    """Hook → plugin calls recorded."""
    errors: int
    error_rate: float | None
    """Errors per call (None without calls)."""
    accesses: int
    """Host capability requests (the access log), allowed or not."""
    denials: int
    denial_rate: float | None
    """Denied requests per request (None without requests)."""
    permissions: dict[str, list[str]]
    """``category.verb`` → resources used (allowed or attempted)."""
    hosts: list[str]
    """Outbound destinations (``host:port``) the plugin asked for."""
    denied_hosts: list[str]
    memory_mib: float | None
    """Largest worker memory sampled while this version ran (MiB)."""
    cpu_ms_per_call: float | None
    """Worker CPU time per call between samples (ms)."""

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["total_calls"] = self.total_calls
        return out


@dataclass(frozen=True)
class BehaviorAnalysis:
    """The spec's ``BehaviorAnalysis``: a plugin's baselines, one per version, oldest first."""

    plugin_id: str
    version: str
    state: str
    quarantined: str | None
    versions: tuple[Baseline, ...]
    analyzed_at: float

    @property
    def current(self) -> Baseline:
        """The baseline of the version loaded now."""
        return self.versions[-1]

    @property
    def previous(self) -> Baseline | None:
        """The baseline of the version before it, if there was one."""
        return self.versions[-2] if len(self.versions) > 1 else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "pluginId": self.plugin_id,
            "version": self.version,
            "state": self.state,
            "quarantined": self.quarantined,
            "analyzedAt": self.analyzed_at,
            "versions": [b.to_dict() for b in self.versions],
        }


@dataclass(frozen=True)
class Anomaly:
    """Behaviour that departs from the plugin's baseline.

    ``kind``: ``new_destination``, ``new_permission``, ``denial_burst``,
    ``resource_change`` or ``version_change``.
    """

    kind: str
    plugin_id: str
    version: str
    timestamp: float
    """When it was first seen (epoch seconds): the first record of the evidence."""
    severity: str
    summary: str
    evidence: tuple[dict[str, Any], ...] = field(default=())
    subject: str = ""
    """What it is about, stable while evidence grows (``network.outbound 10.0.0.5:443``,
    ``memory``, ``1.0.0->2.0.0``)."""

    @property
    def key(self) -> str:
        """Identifies the finding across runs of the detector (counts aside)."""
        return f"{self.plugin_id}@{self.version}:{self.kind}:{self.subject}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "pluginId": self.plugin_id,
            "version": self.version,
            "timestamp": self.timestamp,
            "severity": self.severity,
            "summary": self.summary,
            "subject": self.subject,
            "evidence": list(self.evidence),
        }


@dataclass(frozen=True)
class Threat:
    """Anomalies, denials and advisories of one plugin version, judged together.

    ``action`` is what the monitor recommends: ``watch``, ``review``, ``update`` (an
    advisory names a fixed version) or ``quarantine``.
    """

    id: str
    """Stable for a plugin version and the kinds of finding against it (more evidence of
    the same keeps the id)."""
    plugin_id: str
    version: str
    severity: str
    summary: str
    action: str
    timestamp: float
    """The newest evidence (epoch seconds)."""
    signals: tuple[str, ...]
    """Why: one line per anomaly or advisory that went into it."""
    evidence: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pluginId": self.plugin_id,
            "version": self.version,
            "severity": self.severity,
            "summary": self.summary,
            "action": self.action,
            "timestamp": self.timestamp,
            "signals": list(self.signals),
            "evidence": list(self.evidence),
        }
