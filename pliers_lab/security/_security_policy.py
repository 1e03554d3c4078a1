"""``SecurityPolicy``: what counts as an anomaly, and what the monitor does about threats."""

from __future__ import annotations

from dataclasses import dataclass

from ._records import severity_rank

__all__ = ["SecurityPolicy"]


@dataclass(frozen=True)
class SecurityPolicy:
    """Thresholds of the anomaly detectors and the automatic response (all optional)."""

    learning_s: float = 300.0
    """How long after a plugin is first seen its first version is learning: what it uses
    then is its baseline, not "new". Later versions learn nothing on their own: what they
    do is compared with what the versions before them did."""
    burst_denials: int = 5
    """Denied requests within ``burst_window_s`` that make a burst."""
    burst_window_s: float = 60.0
    resource_factor: float = 3.0
    """A resource figure this many times its earlier median is a sharp change…"""
    resource_min_mib: float = 32.0
    """…when memory also grew by at least this much (MiB)…"""
    resource_min_cpu_ms: float = 5.0
    """…or CPU per call by at least this much (ms)."""
    rate_increase: float = 0.1
    """A new version whose denial or error rate exceeds the last one's by this much (a
    fraction of its requests, calls) behaves differently."""
    auto_quarantine: str | None = None
    """Quarantine a plugin by itself when a threat reaches this severity (``low``,
    ``medium``, ``high``, ``critical``); None: only by hand."""
    max_evidence: int = 10
    """Records kept as an anomaly's evidence (the count of all is in its summary)."""

    def __post_init__(self) -> None:
        if self.auto_quarantine is not None:
            severity_rank(self.auto_quarantine)  # names the valid ones
        for name in ("learning_s", "burst_window_s", "resource_min_mib", "resource_min_cpu_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"SecurityPolicy.{name} must be >= 0, got {getattr(self, name)}")
        if self.burst_denials < 1 or self.max_evidence < 1:
            raise ValueError("SecurityPolicy.burst_denials and max_evidence must be >= 1")
        if self.resource_factor <= 1:
            raise ValueError(
                f"SecurityPolicy.resource_factor must be > 1, got {self.resource_factor}"
            )
