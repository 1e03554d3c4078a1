"""``Journal``: every error goes to the store, the feed, the plugin's log and its
``on_error`` once; a host overload is kept but not held against the plugin."""

from __future__ import annotations

import pytest
from engine_parts import Parts
from support import manifest

from pliers_lab.errors import HostOverload, PluginError, PluginErrorType


@pytest.fixture
def parts():
    built = Parts()
    yield built
    built.close()


def test_a_plugins_error_is_kept_announced_logged_and_handed_to_on_error(parts):
    plugin = parts.record("alpha")
    handed = []
    plugin.lifecycle_handlers = {"on_error": lambda p, error: handed.append(error)}
    heard = []
    parts.journal.activity.subscribe(heard.append)
    error = PluginError(PluginErrorType.RUNTIME_ERROR, "boom", plugin_id="alpha", hook="h")
    parts.journal.record_error(plugin, error)
    assert list(parts.journal.errors) == [error] and handed == [error]
    assert plugin.last_error is error
    assert [e["type"] for e in heard] == ["plugin.error.occurred"]
    assert any("boom" in e.message for e in parts.journal.logs.for_plugin("alpha", "error"))


def test_a_host_overload_is_kept_but_not_the_plugins_error(parts):
    plugin = parts.record("alpha")
    handed = []
    plugin.lifecycle_handlers = {"on_error": lambda p, error: handed.append(error)}
    overload = HostOverload("no worker within 50 ms", plugin_id="alpha", hook="h")
    parts.journal.record_error(plugin, overload)
    assert list(parts.journal.errors) == [overload] and overload.recovery == "not_counted"
    assert handed == [] and plugin.last_error is None
    assert parts.journal.logs.for_plugin("alpha", "warning")


def test_a_failing_on_error_is_recorded_once_without_recursion(parts):
    plugin = parts.record("alpha")

    def on_error(_plugin, _error):
        raise ValueError("on_error is broken too")

    plugin.lifecycle_handlers = {"on_error": on_error}
    error = PluginError(PluginErrorType.RUNTIME_ERROR, "boom", plugin_id="alpha")
    parts.journal.record_error(plugin, error)
    first, second = parts.journal.errors
    assert first is error
    assert second.type is PluginErrorType.RUNTIME_ERROR
    assert "on_error raised ValueError: on_error is broken too" in second.message


def test_lifecycle_moves_are_kept_and_announced(parts):
    heard = []
    parts.journal.activity.subscribe(heard.append)
    parts.record("alpha")
    moves = [(t.source.value, t.target.value) for t in parts.journal.transitions]
    assert moves == [("unloaded", "loading"), ("loading", "loaded")]
    assert [e["type"] for e in heard] == ["plugin.status.changed"] * 2


# -- recovery.notifyAdmin, through a real engine ---------------------------------------------


def _failing(engine, name, recovery):
    def broken(ctx):
        raise RuntimeError("the CRM is down")

    broken.__pliers_hooks__ = ("submission.afterSave",)
    return engine.add_plugin(
        manifest(name, {"submission.afterSave": {}}, recovery=recovery), {"broken": broken}
    )


def test_each_recovery_decision_is_sent_to_the_admin_by_default(engine):
    heard = []
    engine.activity.subscribe(heard.append)
    _failing(engine, "crm", {"strategy": "disable"})
    engine.fire("submission.afterSave", {})
    (error,) = engine.errors.for_plugin("crm")
    (record,) = engine.recoveries
    assert (record.action, record.detail, record.notify_admin) == (
        "disable",
        "plugin disabled",
        True,
    )
    (notice,) = [e for e in heard if e["type"] == "plugin.admin.notified"]
    assert notice["pluginId"] == "crm"
    assert notice["data"] == {
        "action": "disable",
        "detail": "plugin disabled",
        "errorId": error.id,
        "errorType": "runtime_error",
        "message": error.message,
        "hook": "submission.afterSave",
    }
    assert "plugin.admin.notified" in [e["type"] for e in engine.activity.recent]


def test_a_breaker_move_is_a_decision_the_admin_hears_of_too(engine):
    heard = []
    engine.activity.subscribe(heard.append)
    _failing(engine, "crm", {"circuitBreaker": {"threshold": 2}})
    for _ in range(2):
        engine.fire("submission.afterSave", {})
    actions = [e["data"]["action"] for e in heard if e["type"] == "plugin.admin.notified"]
    assert actions == ["ignore", "ignore", "circuit_open"]
    assert [r.action for r in engine.recoveries] == actions


def test_notify_admin_false_sends_nothing_and_the_record_says_so(engine):
    heard = []
    engine.activity.subscribe(heard.append)
    _failing(engine, "crm", {"strategy": "disable", "notifyAdmin": False})
    engine.fire("submission.afterSave", {})
    (record,) = engine.recoveries
    assert record.action == "disable" and record.notify_admin is False
    assert "plugin.admin.notified" not in [e["type"] for e in heard]
    assert engine.recoveries.frame()["notify_admin"].tolist() == [False]
