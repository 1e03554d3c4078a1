"""The detectors and the threat judgement on records built by hand (no engine): edge
cases stay cheap (STYLE habit 9)."""

from __future__ import annotations

from typing import Any

import pytest

from pliers_lab.security import Anomaly, SecurityPolicy
from pliers_lab.security._anomalies import (
    denial_bursts,
    new_access,
    resource_changes,
    version_changes,
)
from pliers_lab.security._baseline import build_baselines
from pliers_lab.security._threats import advisory_dicts, assess
from pliers_lab.security._timeline import VersionTimeline

T0 = 1_800_000_000.0


def access(
    t: float, resource: str, verdict: str = "allowed", permission: str = "network.outbound"
) -> dict[str, Any]:
    return {"source": "access_log", "timestamp": T0 + t, "hook": "h", "executionId": None,
            "permission": permission, "resource": resource, "operation": "http.get",
            "verdict": verdict}  # fmt: skip


def timeline(*steps: tuple[float, str]) -> VersionTimeline:
    line = VersionTimeline()
    for t, version in steps:
        line.note("p", version, T0 + t)
    return line


def test_the_timeline_places_records_in_versions_and_keeps_rollbacks_apart() -> None:
    line = timeline((0, "1.0.0"), (100, "2.0.0"), (200, "1.0.0"))
    line.note("p", "2.0.0", T0 + 150)  # a repeat of the version in force changes nothing
    assert [v for v, _s, _u in line.versions("p")] == ["1.0.0", "2.0.0", "1.0.0"]
    assert line.version_at("p", T0 - 5) == "1.0.0"  # before the first step: the first
    assert line.version_at("p", T0 + 150) == "2.0.0"
    assert line.version_at("p", T0 + 250) == "1.0.0"
    assert line.version_at("q", T0) is None


def test_learning_then_a_new_destination_and_a_new_permission() -> None:
    windows = timeline((0, "1.0.0")).versions("p")
    rows = [access(1, "a:443"), access(20, "a:443"), access(30, "b:443"),
            access(31, "b:443", "denied"),
            access(40, "users", "allowed", "database.read")]  # fmt: skip
    found = new_access("p", windows, rows, SecurityPolicy(learning_s=10))
    assert [(a.kind, a.severity, len(a.evidence)) for a in found] == [
        ("new_destination", "high", 2),  # b:443, one of its two requests denied
        ("new_permission", "low", 1),
    ]
    assert "1 of 2 requests denied" in found[0].summary
    assert found[0].timestamp == T0 + 30
    # within the learning period everything is the baseline
    assert new_access("p", windows, rows, SecurityPolicy(learning_s=100)) == []


def test_a_later_version_learns_nothing_by_itself() -> None:
    windows = timeline((0, "1.0.0"), (5, "2.0.0")).versions("p")
    rows = [access(1, "a:443"), access(6, "a:443"), access(7, "c:443")]
    (found,) = new_access("p", windows, rows, SecurityPolicy(learning_s=300))
    assert found.version == "2.0.0" and found.subject == "network.outbound c:443"


def test_a_burst_is_the_densest_window_of_denials() -> None:
    windows = timeline((0, "1.0.0")).versions("p")
    rows = [access(t, "x:1", "denied") for t in (0, 100, 101, 102, 103, 200)]
    policy = SecurityPolicy(burst_denials=4, burst_window_s=5)
    (burst,) = denial_bursts("p", windows, rows, policy)
    assert len(burst.evidence) == 4 and burst.timestamp == T0 + 100
    assert (
        denial_bursts("p", windows, rows, SecurityPolicy(burst_denials=5, burst_window_s=5)) == []
    )


def sample(t: float, memory: float | None, cpu: float | None, calls: int) -> dict[str, Any]:
    return {"source": "resources", "timestamp": T0 + t, "version": "1.0.0",
            "memoryMiB": memory, "cpuTotalMs": cpu, "calls": calls}  # fmt: skip


def test_a_sharp_change_in_memory_or_cpu_per_call() -> None:
    windows = timeline((0, "1.0.0")).versions("p")
    steady = [sample(i, 20.0, 10.0 * i, i) for i in range(5)]  # 10 ms a call, 20 MiB
    assert resource_changes("p", windows, steady, SecurityPolicy()) == []
    spike = [*steady, sample(5, 200.0, 40.0 + 200.0, 5)]  # 200 ms for one call, 200 MiB
    found = {a.subject: a for a in resource_changes("p", windows, spike, SecurityPolicy())}
    assert set(found) == {"memory", "CPU per call"}
    assert "200.0 MiB, 10.0x its median before (20.0 MiB)" in found["memory"].summary
    # a jump smaller than the floor is noise
    small = [*steady, sample(5, 70.0, 40.0, 5)]
    assert resource_changes("p", windows, small, SecurityPolicy(resource_min_mib=64)) == []


def test_version_n_against_version_n_minus_1() -> None:
    line = timeline((0, "1.0.0"), (100, "2.0.0"))
    rows = [access(1, "a:443"), access(2, "a:443"), access(101, "a:443"),
            access(102, "b:443", "denied"), access(103, "b:443", "denied")]  # fmt: skip
    calls = [(T0 + 1, "h", "ok"), (T0 + 2, "h", "ok"), (T0 + 101, "h", "ok")]
    baselines = build_baselines("p", line, rows, calls, [], [])
    assert [b.denial_rate for b in baselines] == [0.0, pytest.approx(2 / 3)]
    (change,) = version_changes("p", baselines, SecurityPolicy())
    assert change.severity == "high" and change.subject == "1.0.0->2.0.0"
    assert "new hosts b:443" in change.summary and "denial rate 0% → 67%" in change.summary
    aspects = {e["aspect"] for e in change.evidence}
    assert aspects == {"hosts", "denial rate"}  # the same permission (network.outbound)


def anomaly(kind: str, severity: str, version: str = "2.0.0") -> Anomaly:
    return Anomaly(kind, "p", version, T0, severity, f"{kind} seen", (), kind)


def test_threats_take_the_worst_part_and_escalate_when_kinds_agree() -> None:
    one = assess("p", "2.0.0", [anomaly("new_permission", "low")], [], [])
    assert one is not None and (one.severity, one.action) == ("low", "watch")
    two = assess(
        "p",
        "2.0.0",
        [anomaly("new_permission", "low"), anomaly("resource_change", "medium")],
        [],
        [],
    )
    assert two is not None and (two.severity, two.action) == ("high", "quarantine")
    # other versions' anomalies do not count against this one
    assert assess("p", "2.0.0", [anomaly("denial_burst", "high", "1.0.0")], [], []) is None


def test_advisories_are_an_input_and_a_broken_source_is_said() -> None:
    def source(plugin_id: str, version: str) -> list[dict[str, Any]]:
        return [
            {"id": "PLA-1", "severity": "moderate", "title": "leaks tokens", "fixedIn": "2.0.1"}
        ]

    advisories = advisory_dicts(source, "p", "2.0.0")
    threat = assess("p", "2.0.0", [], [], advisories)
    assert threat is not None and threat.severity == "medium" and threat.action == "update"
    assert (
        "fixed in 2.0.1" in threat.summary and "advisory PLA-1: leaks tokens" in threat.signals[0]
    )

    def broken(plugin_id: str, version: str) -> list[Any]:
        raise ConnectionError("registry down")

    (said,) = advisory_dicts(broken, "p", "2.0.0")
    assert "registry down" in said["error"]
    threat = assess("p", "2.0.0", [anomaly("new_permission", "low")], [], [said])
    assert threat is not None and any("registry down" in s for s in threat.signals)


def test_a_threat_id_is_stable_while_evidence_grows() -> None:
    a = assess("p", "2.0.0", [anomaly("denial_burst", "high")], [], [])
    more = Anomaly(
        "denial_burst", "p", "2.0.0", T0 + 9, "high", "9 requests denied", (), "denial_burst"
    )
    b = assess("p", "2.0.0", [more], [], [])
    assert a is not None and b is not None and a.id == b.id


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"auto_quarantine": "severe"}, "severity must be one of low, medium, high, critical"),
        ({"burst_denials": 0}, "burst_denials"),
        ({"resource_factor": 1.0}, "resource_factor must be > 1"),
        ({"learning_s": -1}, "learning_s must be >= 0"),
    ],
)
def test_a_bad_policy_says_which_field(fields: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        SecurityPolicy(**fields)


def test_a_version_that_starts_being_denied_on_a_known_host() -> None:
    """No new destination: 2.0.0 asks for the same host, now refused (its manifest lost
    the grant, or the policy's deny list grew)."""
    line = timeline((0, "1.0.0"), (100, "2.0.0"))
    rows = [access(t, "a:443") for t in (1, 2, 3)]
    rows += [access(t, "a:443", "denied") for t in (101, 102, 103)]
    baselines = build_baselines("p", line, rows, [(T0 + 1, "h", "ok")], [], [])
    windows = line.versions("p")
    assert new_access("p", windows, rows, SecurityPolicy(learning_s=300)) == []
    (change,) = version_changes("p", baselines, SecurityPolicy())
    assert change.severity == "medium" and change.summary.endswith("denial rate 0% → 100%")
    threat = assess("p", "2.0.0", [change], [r for r in rows if r["verdict"] == "denied"], [])
    assert threat is not None and threat.action == "review"
    assert [e["kind"] for e in threat.evidence if e["source"] == "anomaly"] == ["version_change"]
