"""The security monitor on a real engine with real sandboxed plugins (issue 19 §3).

The done-when story: version 1 of a plugin fetches host A (its baseline); version 2
also fetches host B, which its manifest does not grant, and is denied again and again.
The monitor reports the new destination, the burst of denials and the version's change
as anomalies with the access-log rows as evidence, and one threat that recommends a
quarantine; policy (or a person) quarantines it; release restores it; both are recorded;
the quarantine survives an engine restart on the same store.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from security.conftest import HOOK

from pliers_lab import Engine, EngineError
from pliers_lab.sandbox import ProcessRuntime, SandboxPolicy
from pliers_lab.security import SecurityPolicy


def _engine(tmp_path: Path, store: Path) -> tuple[Engine, ProcessRuntime]:
    # loopback destinations: nothing on the deny list (the default denies 127.0.0.0/8)
    runtime = ProcessRuntime(SandboxPolicy(data_root=tmp_path / "data", network_deny=()))
    engine = Engine(default_isolation="process", security_store=store)
    engine.register_runtime(runtime)
    return engine, runtime


def test_a_new_version_fetching_a_new_host_and_denied_is_a_threat_and_quarantined(
    tmp_path: Path, destinations: tuple[str, str], fetcher: Callable[..., Path]
) -> None:
    host_a, host_b = destinations
    store = tmp_path / "security.db"
    engine, runtime = _engine(tmp_path, store)
    try:
        engine.load(fetcher("1.0.0", [host_a]))
        for _ in range(3):  # the baseline: version 1 fetches host A only
            assert engine.fire(HOOK, {"urls": [host_a]}).value == [["hello from 127.0.0.1"]]
        monitor = engine.security
        assert monitor.detect_anomalies("fetcher") == []
        assert monitor.detect_threats("fetcher") == []

        engine.reload("fetcher", fetcher("2.0.0", [host_a]))
        for _ in range(6):  # version 2 also fetches host B, not granted
            answer = engine.fire(HOOK, {"urls": [host_a, host_b]}).value[0]
            assert answer[0] == "hello from 127.0.0.1"
            assert answer[1].startswith("security_error") and "not granted" in answer[1]

        b = host_b.split("//", 1)[1]
        analysis = monitor.analyze_behavior("fetcher")
        assert [v.version for v in analysis.versions] == ["1.0.0", "2.0.0"]
        v1, v2 = analysis.versions
        assert v1.hosts == [host_a.split("//", 1)[1]] and v1.denials == 0
        assert v1.calls == {HOOK: 3} and v2.calls == {HOOK: 6}
        assert v2.hosts == sorted([host_a.split("//", 1)[1], b])
        assert v2.denials == 6 and v2.denial_rate == 0.5 and v2.denied_hosts == [b]

        anomalies = {a.kind: a for a in monitor.detect_anomalies("fetcher")}
        assert set(anomalies) == {"new_destination", "denial_burst", "version_change"}
        new = anomalies["new_destination"]
        assert new.version == "2.0.0" and new.severity == "high" and b in new.summary
        assert {row["resource"] for row in new.evidence} == {b}
        assert all(row["verdict"] == "denied" for row in new.evidence)
        burst = anomalies["denial_burst"]
        assert len(burst.evidence) == 6 and "6 requests denied" in burst.summary
        change = anomalies["version_change"]
        assert "2.0.0 behaves differently from 1.0.0" in change.summary
        assert f"new hosts {b}" in change.summary and "denial rate 0% → 50%" in change.summary

        # Without a policy, a threat is reported, the plugin keeps running.
        (threat,) = monitor.detect_threats("fetcher")
        assert threat.version == "2.0.0" and threat.action == "quarantine"
        assert threat.severity == "critical"  # three kinds of anomaly agree
        kinds = {e["kind"] for e in threat.evidence if e["source"] == "anomaly"}
        assert kinds == set(anomalies)
        assert engine.quarantined("fetcher") is None

        # Under a policy, the monitor's round quarantines it, with the evidence.
        monitor.policy = SecurityPolicy(auto_quarantine="high")
        assert [t.id for t in monitor.check()] == [threat.id]
        reason = engine.quarantined("fetcher")
        assert reason is not None and threat.id in reason
        assert engine.plugin("fetcher").state.value != "active"
        assert engine.fire(HOOK, {"urls": [host_a]}).value == []  # it no longer runs
        with pytest.raises(EngineError, match="quarantined"):
            engine.enable("fetcher")
        (event,) = [e for e in engine.activity.recent if e["type"] == "plugin.quarantined"]
        assert event["data"]["source"] == "policy" and event["data"]["version"] == "2.0.0"
        assert {e.get("kind") for e in event["data"]["evidence"]} >= set(anomalies)

        # Released by hand: it runs again, and the same evidence does not quarantine it.
        monitor.release("fetcher", source="test", reason="reviewed: host B is expected")
        assert engine.plugin("fetcher").state.value == "active"
        assert engine.fire(HOOK, {"urls": [host_a]}).value == [["hello from 127.0.0.1"]]
        monitor.check()
        assert engine.quarantined("fetcher") is None
        actions = [(a["action"], a["source"]) for a in engine.security_actions("fetcher")]
        assert actions == [("quarantine", "policy"), ("release", "test")]
        assert engine.security_actions("fetcher")[1]["reason"] == "reviewed: host B is expected"

        # New evidence after the release: quarantined again.
        engine.fire(HOOK, {"urls": [host_b]})
        (again,) = monitor.check()
        assert again.id == threat.id  # the same threat, with more evidence
        assert engine.quarantined("fetcher") is not None
    finally:
        engine.close()
        runtime.close()

    # A new engine on the same store starts the plugin quarantined: loaded, not running.
    engine, runtime = _engine(tmp_path, store)
    try:
        plugin = engine.load(fetcher("2.0.0", [host_a]))
        assert plugin.state.value == "loaded"
        assert threat.id in (engine.quarantined("fetcher") or "")
        assert engine.fire(HOOK, {"urls": [host_a]}).value == []
        assert [a["action"] for a in engine.security_actions("fetcher")] == [
            "quarantine",
            "release",
            "quarantine",
        ]
        engine.release("fetcher", source="test")
        assert engine.fire(HOOK, {"urls": [host_a]}).value == [["hello from 127.0.0.1"]]
    finally:
        engine.close()
        runtime.close()

    # And released, it stays released on the next start.
    engine, runtime = _engine(tmp_path, store)
    try:
        assert engine.load(fetcher("2.0.0", [host_a])).state.value == "active"
        assert engine.quarantined("fetcher") is None
    finally:
        engine.close()
        runtime.close()


def test_a_sharp_rise_in_a_workers_memory_is_an_anomaly(
    tmp_path: Path, make_grower: Callable[..., Path]
) -> None:
    engine, runtime = _engine(tmp_path, tmp_path / "security.db")
    try:
        engine.load(make_grower())
        monitor = engine.security
        for _ in range(4):  # the baseline: a small worker
            engine.fire(HOOK, {})
            assert monitor.sample("grower") is not None
        assert [a for a in monitor.detect_anomalies("grower") if a.kind == "resource_change"] == []
        assert engine.fire(HOOK, {"grow": True}).value == [1]
        monitor.sample("grower")
        jumps = {
            a.subject: a for a in monitor.detect_anomalies("grower") if a.kind == "resource_change"
        }
        assert jumps["memory"].evidence[0]["memoryMiB"] >= 80  # (and CPU per call, likely)
        base = monitor.analyze_behavior("grower").current
        assert base.memory_mib is not None and base.memory_mib >= 80
    finally:
        engine.close()
        runtime.close()
