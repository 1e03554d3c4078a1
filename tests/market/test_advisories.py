"""Security reports, advisories and the engine's advisory policy, for real: a registry
database, a store, an engine running the plugins (issue 19 §2)."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest

from pliers_lab import Engine, PluginState
from pliers_lab.market import (
    Advisories,
    AdvisoryError,
    AdvisoryWatch,
    NotFoundError,
    PluginMarketplace,
    PluginVerification,
    Registry,
    RegistryAccessError,
    SecurityIssue,
)

ISSUE = SecurityIssue(
    "high", "data-exfiltration", "export.format sends the rows to a third host",
    "plugin.py:12", "Remove the upload; export locally.",
)  # fmt: skip


def answers(engine: Engine, name: str) -> bool:
    result = engine.fire("export.format", {"format": name})
    return result.value is not None and result.value.get("plugin") == name


def test_a_report_is_stored_against_a_version_and_listed(registry: Registry, publish) -> None:
    publish("csvx", "1.0.0")
    publish("csvx", "1.1.0")
    verification = PluginVerification(registry)
    report = verification.report_security("csvx", ISSUE, version="1.0.0", reporter="bob")
    assert (report.plugin_id, report.version, report.status) == ("csvx", "1.0.0", "open")
    assert (report.severity, report.type, report.location) == (
        "high",
        "data-exfiltration",
        "plugin.py:12",
    )
    latest = verification.report_security("csvx", ISSUE.to_dict(), reporter="carl")
    assert latest.version == "1.1.0"  # no version: the latest
    assert [r.id for r in Advisories(registry).reports("csvx")] == [report.id, latest.id]
    actions = [(a["action"], a["user"]) for a in registry.audit("csvx")]
    assert ("report", "bob") in actions and ("report", "carl") in actions
    json.dumps(report.to_dict())


@pytest.mark.parametrize(
    ("issue", "field"),
    [
        ({**ISSUE.to_dict(), "severity": "urgent"}, "severity"),
        ({**ISSUE.to_dict(), "type": ""}, "type"),
        ({**ISSUE.to_dict(), "description": 7}, "description"),
        ({**ISSUE.to_dict(), "description": "x" * 9000}, "description"),
    ],
)
def test_a_malformed_report_is_refused_naming_the_field(
    registry: Registry, publish, issue, field
) -> None:
    publish("csvx")
    with pytest.raises(AdvisoryError, match=rf"report on csvx: {field}"):
        Advisories(registry).report("csvx", issue, reporter="bob")
    assert Advisories(registry).reports() == []


def test_a_report_on_an_unknown_version_is_refused(registry: Registry, publish) -> None:
    publish("csvx")
    with pytest.raises(NotFoundError, match=r"csvx has no version matching '9\.9\.9'"):
        Advisories(registry).report("csvx", ISSUE, version="9.9.9", reporter="bob")


def test_only_maintainers_confirm_a_report_into_an_advisory(registry: Registry, publish) -> None:
    publish("csvx", "1.0.0")
    publish("csvx", "1.1.0")
    advisories = Advisories(registry)
    report = advisories.report("csvx", ISSUE, version="1.0.0", reporter="bob")
    with pytest.raises(RegistryAccessError, match="'bob' may not publish advisories on csvx"):
        advisories.confirm(report.id, user="bob", affected=">=1.0.0 <1.1.0")
    advisory = advisories.confirm(
        report.id, user="ann", affected=">=1.0.0 <1.1.0", fixed_version="1.1.0"
    )
    assert advisory.id.startswith("PLA-") and advisory.severity == "high"  # the report's
    assert (advisory.affected, advisory.fixed_version, advisory.reports) == (
        ">=1.0.0 <1.1.0", "1.1.0", (report.id,),
    )  # fmt: skip
    assert advisories.get_report(report.id).status == "confirmed"
    assert advisories.get_report(report.id).advisory_id == advisory.id
    assert advisory.affects("1.0.0") and advisory.affects("1.0.5-rc.1")
    assert not advisory.affects("1.1.0") and not advisory.affects("0.9.0")
    assert [a.id for a in PluginVerification(registry).get_security_advisories("csvx")] == [
        advisory.id
    ]
    assert [a.id for a in advisories.affecting("csvx", "1.0.0")] == [advisory.id]
    assert advisories.affecting("csvx", "1.1.0") == []
    with pytest.raises(AdvisoryError, match="not open"):
        advisories.confirm(report.id, user="ann", affected="1.0.0")


def test_a_maintainer_dismisses_a_report(registry: Registry, publish) -> None:
    publish("csvx")
    registry.add_maintainer("csvx", "dora", user="ann")
    advisories = Advisories(registry)
    report = advisories.report("csvx", ISSUE, reporter="bob")
    dismissed = advisories.dismiss(report.id, user="dora", reason="the host is the user's own")
    assert (dismissed.status, dismissed.decided_by) == ("dismissed", "dora")
    assert dismissed.decision == "the host is the user's own"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"affected": ">=1.0.0 <<1.1"}, "affected: invalid range"),
        ({"affected": "*"}, "matches every version"),
        ({"affected": "^1.0.0", "fixed_version": "1.2.0"}, "fixed_version 1.2.0 is inside"),
        ({"affected": "^1.0.0", "fixed_version": "two"}, "fixed_version: invalid version"),
        ({"affected": "^1.0.0", "severity": "severe"}, "severity must be one of"),
    ],
)
def test_an_advisory_with_a_bad_range_or_fix_is_refused(
    registry: Registry, publish, options, message
) -> None:
    publish("csvx")
    fields = {"severity": "high", "title": "leak", **options}
    with pytest.raises(AdvisoryError, match=message):
        Advisories(registry).publish("csvx", user="ann", **fields)
    assert Advisories(registry).advisories() == []


def test_a_withdrawn_advisory_affects_nothing(registry: Registry, publish) -> None:
    publish("csvx")
    advisories = Advisories(registry)
    advisory = advisories.publish("csvx", user="ann", affected="1.0.0", severity="low", title="t")
    withdrawn = advisories.withdraw(advisory.id, user="ann")
    assert withdrawn.withdrawn_at is not None and not withdrawn.affects("1.0.0")
    assert advisories.affecting("csvx", "1.0.0") == []


def test_the_advisory_tables_are_registry_migrations(tmp_path, registry: Registry) -> None:
    conn = sqlite3.connect(registry.db)
    try:
        steps = [r[0] for r in conn.execute("SELECT description FROM schema_migrations")]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()
    assert {"security_reports", "advisories"} <= tables
    assert len(steps) >= 3
    Registry(registry.root)  # opening again applies nothing twice


# ------------------------------------------------------------------ engine side
@pytest.fixture
def affected(market: PluginMarketplace, publish, registry: Registry, engine: Engine):
    """csvx 1.0.0 installed and answering; 1.1.0 published; an advisory on 1.0.x."""
    publish("csvx", "1.0.0")
    market.install("csvx")
    assert answers(engine, "csvx")
    publish("csvx", "1.1.0", changes=["no more upload"])
    return Advisories(registry).publish(
        "csvx", user="ann", affected=">=1.0.0 <1.1.0", severity="high",
        title="rows sent to a third host", fixed_version="1.1.0",
    )  # fmt: skip


def test_under_warn_the_plugin_keeps_running_and_the_fix_is_offered(
    market: PluginMarketplace, engine: Engine, affected
) -> None:
    watch = AdvisoryWatch(market)
    [found] = watch.check()
    assert (found.plugin_id, found.version, found.advisory.id) == ("csvx", "1.0.0", affected.id)
    assert found.action == "warned" and found.state == "active"
    assert found.fixed_by == "1.1.0" and found.plan is not None
    assert (found.plan.from_version, found.plan.to_version) == ("1.0.0", "1.1.0")
    assert found.plan.changes == ("no more upload",)
    assert answers(engine, "csvx")
    events = [e for e in engine.activity.recent if e["type"] == "plugin.advisory"]
    assert [e["data"]["advisoryId"] for e in events] == [affected.id]
    assert events[0]["data"]["action"] == "warned"
    assert watch.check()[0].action == "seen"  # recorded once
    assert len([e for e in engine.activity.recent if e["type"] == "plugin.advisory"]) == 1
    frame = watch.frame()
    assert frame.loc[0, "advisory"] == affected.id and frame.loc[0, "update_to"] == "1.1.0"


def test_done_when_under_disable_the_plugin_stops_running_and_the_update_fixes_it(
    market: PluginMarketplace, engine: Engine, affected
) -> None:
    """Issue 19, done when: an advisory published on the registry is seen by an engine
    that has the affected version and, under the "disable" policy, the plugin stops."""
    watch = AdvisoryWatch(market, policy="disable")
    [found] = watch.check()
    assert found.action == "disabled" and found.state == "stopped"
    assert engine.plugin("csvx").state is PluginState.STOPPED
    assert not answers(engine, "csvx")  # its hook is no longer called
    [event] = [e for e in engine.activity.recent if e["type"] == "plugin.advisory"]
    assert event["pluginId"] == "csvx"
    assert (event["data"]["advisoryId"], event["data"]["action"]) == (affected.id, "disabled")
    # the operator enables it by hand: the same advisory does not disable it again
    engine.enable("csvx")
    assert watch.check()[0].action == "seen" and answers(engine, "csvx")
    engine.disable("csvx")
    result = watch.fix("csvx")
    assert (result.from_version, result.to_version) == ("1.0.0", "1.1.0")
    assert engine.plugin("csvx").version == "1.1.0"
    assert engine.plugin("csvx").state is PluginState.ACTIVE and answers(engine, "csvx")
    assert watch.check() == []


def test_no_fix_offered_when_every_newer_version_is_affected(
    market: PluginMarketplace, registry: Registry, publish, affected
) -> None:
    Advisories(registry).publish(
        "csvx", user="ann", affected="1.1.0", severity="critical", title="worse"
    )
    found = AdvisoryWatch(market).check()
    assert [f.advisory.severity for f in found] == ["high"]  # 1.1.0's does not affect 1.0.0
    assert found[0].fixed_by is None and found[0].plan is None
    assert "no published version is free" in found[0].note


def test_the_policy_is_checked() -> None:
    with pytest.raises(ValueError, match="advisory policy must be one of warn, disable"):
        AdvisoryWatch(policy="quarantine", source=object())  # type: ignore[arg-type]


def test_started_the_watch_learns_of_a_new_advisory_on_its_own(
    market: PluginMarketplace, registry: Registry, publish, engine: Engine
) -> None:
    publish("csvx", "1.0.0")
    market.install("csvx")
    watch = AdvisoryWatch(market, policy="disable")
    watch.start(interval_s=0.05)
    try:
        advisory = Advisories(registry).publish(
            "csvx", user="ann", affected="1.0.0", severity="medium", title="late news"
        )
        deadline = time.monotonic() + 10
        while engine.plugin("csvx").state is not PluginState.STOPPED:
            assert time.monotonic() < deadline, "the watch did not disable csvx within 10 s"
            time.sleep(0.02)
    finally:
        watch.stop()
    assert [f.advisory.id for f in watch.last] == [advisory.id]
    assert watch.last[0].fixed_by is None and "no published version is free" in watch.last[0].note
    with pytest.raises(ValueError, match="interval_s must be positive"):
        watch.start(0)


def test_advisories_exported_to_a_file_feed_an_offline_engine(
    market: PluginMarketplace, registry: Registry, publish, engine: Engine, tmp_path
) -> None:
    from pliers_lab.market._advisory_files import FileAdvisories, write_advisories

    publish("csvx", "1.0.0")
    market.install("csvx")
    source = FileAdvisories(tmp_path)
    watch = AdvisoryWatch(market, source=source, policy="disable")
    assert watch.check() == []  # no file yet: nothing known
    advisory = Advisories(registry).publish(
        "csvx", user="ann", affected="^1.0.0", severity="high", title="t"
    )
    assert write_advisories(registry, tmp_path) == tmp_path / "advisories.json"
    assert [a.id for a in source.advisories("csvx")] == [advisory.id]
    assert watch.check()[0].action == "disabled"
    (tmp_path / "advisories.json").write_text('{"advisories": [{"id": 1}]}')
    with pytest.raises(AdvisoryError, match=r"advisories\.json: not an advisories file"):
        source.advisories()


def test_a_fix_that_breaks_a_dependent_is_named_not_offered(
    market: PluginMarketplace, registry: Registry, publish
) -> None:
    publish("csvx", "1.0.0")
    publish("report", "1.0.0", dependencies={"csvx": "^1.0.0"})
    market.install("report")  # brings csvx 1.0.0
    publish("csvx", "2.0.0")
    Advisories(registry).publish(
        "csvx", user="ann", affected="<2.0.0", severity="high", title="t", fixed_version="2.0.0"
    )
    [found] = AdvisoryWatch(market).check()
    assert found.fixed_by == "2.0.0" and found.plan is None
    assert found.note.startswith("the update to 2.0.0 cannot be planned:")
    assert "report" in found.note  # the dependent that needs ^1.0.0


def test_the_spec_verification_methods_check_a_bundle(
    registry: Registry, store, key, other_key, tmp_path, make_plugin
) -> None:
    from pliers_lab.market import build_bundle

    from .conftest import SHELL_CODE

    good = build_bundle(make_plugin("csvx"), tmp_path / "a", signing_key=key)
    foreign = build_bundle(
        make_plugin("shell", code=SHELL_CODE), tmp_path / "b", signing_key=other_key
    )
    verification = PluginVerification(registry, store=store)
    assert verification.verify_signature(good).status == "verified"
    assert verification.verify_signature(foreign).status == "untrusted"
    assert PluginVerification(registry).verify_signature(good).valid  # the registry's keys
    assert verification.checksum(good).startswith("sha256:")
    assert verification.checksum(good) == registry.publish(good, user="ann").checksum
    scan = verification.scan(foreign)
    assert not scan.safe and scan.issues[0].severity == "critical"
