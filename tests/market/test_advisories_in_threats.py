"""Advisories published on a registry are an input of the security monitor's threats
(issue 19 §2 meets §3): the monitor takes ``Advisories(registry).affecting`` as its
advisory source, with no import of the marketplace in the core."""

from __future__ import annotations

from pliers_lab import Engine
from pliers_lab.market import Advisories, PluginMarketplace, Registry


def test_an_advisory_on_the_installed_version_is_a_threat_with_the_fix(
    market: PluginMarketplace, publish, registry: Registry, engine: Engine
) -> None:
    publish("csvx", "1.0.0")
    market.install("csvx")
    monitor = engine.security
    monitor.advisories = Advisories(registry).affecting
    assert monitor.detect_threats("csvx") == []
    publish("csvx", "1.1.0")
    advisory = Advisories(registry).publish(
        "csvx", user="ann", affected=">=1.0.0 <1.1.0", severity="high",
        title="rows sent to a third host", fixed_version="1.1.0",
    )  # fmt: skip
    (threat,) = monitor.detect_threats("csvx")
    assert threat.version == "1.0.0" and threat.severity == "high"
    assert threat.action == "update" and "fixed in 1.1.0" in threat.summary
    assert threat.signals == (f"[high] advisory {advisory.id}: rows sent to a third host",)
    (evidence,) = threat.evidence
    assert evidence["source"] == "advisories" and evidence["id"] == advisory.id
    # without a fix, the same advisory recommends a quarantine
    Advisories(registry).withdraw(advisory.id, user="ann")
    Advisories(registry).publish(
        "csvx", user="ann", affected=">=1.0.0", severity="critical", title="every version leaks"
    )
    (threat,) = monitor.detect_threats("csvx")
    assert (threat.severity, threat.action) == ("critical", "quarantine")
