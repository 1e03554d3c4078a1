"""``recovery.notifyAdmin`` reaches the host's administrator: one ``admin_notifications``
row per recovery decision, written after the operation it is about (so a rollback keeps
it), none when the manifest says false, and no plugin can read or erase them."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest
from host.helpers import SIMPLE_FORM, PluginFactory, operation_counts
from support import manifest

from pliers_lab import Engine, PluginError, PluginErrorType, hook
from pliers_lab.host import Host, StepAborted

ADA = {"name": "Ada", "email": "ada@example.org"}


def guard(engine: Engine, name: str, **recovery: Any) -> None:
    """A plugin whose veto step (fails closed: the submit aborts) always raises."""

    @hook("submission.beforeSave")
    def refuse(ctx: Any) -> None:
        raise KeyError("session")

    engine.add_plugin(
        manifest(name, {"submission.beforeSave": {}}, recovery=recovery), {"refuse": refuse}
    )


def test_a_failure_that_aborts_the_operation_is_still_told_to_the_admin(engine: Engine) -> None:
    host = Host.in_memory(engine, admin_recipient="ops@example.com")
    try:
        host.create_form(copy.deepcopy(SIMPLE_FORM))
        guard(engine, "guard", strategy="disable")
        before = operation_counts(host)
        with pytest.raises(StepAborted) as caught:
            host.submit("simple", ADA)
        assert operation_counts(host) == before  # the submission was rolled back...
        [told] = host.admin_notifications()  # ...its notice was not
        error = caught.value.error
        assert told["recipient"] == "ops@example.com" and told["status"] == "queued"
        assert (told["plugin_id"], told["action"], told["detail"]) == (
            "guard",
            "disable",
            "plugin disabled",
        )
        assert (told["error_id"], told["error_type"], told["hook"]) == (
            error.id,
            "runtime_error",
            "submission.beforeSave",
        )
        assert told["message"] == error.message
        assert host.counts()["admin_notifications"] == 1
        assert host.admin_notifications("someone-else") == []
    finally:
        host.close()


def test_notify_admin_false_writes_nothing(
    host: Host, engine: Engine, simple: dict[str, Any]
) -> None:
    guard(engine, "quiet-guard", notifyAdmin=False)
    with pytest.raises(StepAborted):
        host.submit("simple", ADA)
    assert host.admin_notifications() == []
    [record] = engine.recoveries
    assert record.plugin_id == "quiet-guard" and record.notify_admin is False


def test_a_failure_outside_any_operation_is_written_when_read(host: Host, engine: Engine) -> None:
    guard(engine, "guard")
    engine.fire("submission.beforeSave", {})
    assert host.admin.pending == 1  # queued on the failing call's thread, not written there
    [told] = host.admin_notifications()
    assert (told["plugin_id"], told["action"]) == ("guard", "ignore")
    assert host.admin.pending == 0


def test_no_plugin_reaches_the_admin_notifications(
    host: Host, engine: Engine, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    guard(engine, "guard")
    with pytest.raises(StepAborted):
        host.submit("simple", ADA)
    nosy = add_plugin("nosy", {}, permissions={"database": ["read", "write"]})
    for attempt in (
        lambda: nosy.api.database.find("admin_notifications"),
        lambda: nosy.api.database.delete("admin_notifications", {"plugin_id": "guard"}),
    ):
        with pytest.raises(PluginError) as caught:
            attempt()
        assert caught.value.type is PluginErrorType.SECURITY_ERROR
        assert "'admin_notifications' denied: it is internal to the host" in str(caught.value)
    assert len(host.admin_notifications("guard")) == 1


def test_a_plugin_failing_on_every_call_gets_one_notice_then_one_summary(
    engine: Engine, tmp_path: Any
) -> None:
    # Thousands of rows a second otherwise: one notice per plugin, action and error type
    # per window, the others counted and summed up in one row (here when the host closes).
    path = tmp_path / "host.sqlite3"
    host = Host(engine, path)
    try:
        guard(engine, "guard")
        for _ in range(4):  # (the fifth in a row would open the plugin's circuit breaker)
            engine.fire("submission.beforeSave", {})
        [first] = host.admin_notifications()
        assert (first["action"], first["detail"]) == (
            "ignore",
            "error ignored; other plugins continue",
        )
        assert host.admin.pending == 1  # the other 3, held for their summary
        last = engine.errors.for_plugin("guard")[-1]
    finally:
        host.close()
    reopened = Host(Engine(), path)
    try:
        first_again, summary = reopened.admin_notifications("guard")
        assert first_again == first
        assert summary["detail"].startswith(
            "error ignored; other plugins continue: 3 more like this after"
        )
        assert (
            "at most one notice per plugin, action and error type every 60 s" in summary["detail"]
        )
        assert (summary["error_id"], summary["message"]) == (last.id, last.message)
    finally:
        reopened.close()


def test_after_the_window_the_held_notices_are_summed_up_before_the_next_one(
    host: Host, engine: Engine
) -> None:
    host.admin.window_s = 0.2
    guard(engine, "guard")
    for _ in range(3):
        engine.fire("submission.beforeSave", {})
    time.sleep(0.25)
    engine.fire("submission.beforeSave", {})
    first, summary, latest = host.admin_notifications()
    assert "2 more like this" in summary["detail"] and "every 0.2 s" in summary["detail"]
    assert latest["detail"] == first["detail"] == "error ignored; other plugins continue"
    assert latest["error_id"] == engine.errors.for_plugin("guard")[-1].id
    assert host.admin.pending == 0
