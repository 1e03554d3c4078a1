"""Runtime security monitoring (the spec's ``SecurityMonitor``): behaviour baselines per
plugin version, anomalies, threats with their evidence, and quarantines that outlast the
engine.

``engine.security`` is the monitor of an engine; ``Engine(security_store=path)`` keeps
quarantines in a SQLite file. Nothing here is imported until asked for.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._monitor import SecurityMonitor
    from ._quarantine_store import QuarantineStore
    from ._records import SEVERITIES, Anomaly, Baseline, BehaviorAnalysis, Threat
    from ._security_policy import SecurityPolicy
    from ._threats import AdvisorySource

__all__ = [
    "SEVERITIES",
    "AdvisorySource",
    "Anomaly",
    "Baseline",
    "BehaviorAnalysis",
    "QuarantineStore",
    "SecurityMonitor",
    "SecurityPolicy",
    "Threat",
]

_LAZY = {
    "SEVERITIES": "_records",
    "AdvisorySource": "_threats",
    "Anomaly": "_records",
    "Baseline": "_records",
    "BehaviorAnalysis": "_records",
    "QuarantineStore": "_quarantine_store",
    "SecurityMonitor": "_monitor",
    "SecurityPolicy": "_security_policy",
    "Threat": "_records",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pliers_lab.security' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{module}", __name__), name)
