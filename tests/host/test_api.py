"""``ctx.api``: database, events, submissions and tasks, each checked against the manifest."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from host.helpers import PluginFactory, operation_counts

from pliers_lab import Plugin, PluginError, PluginErrorType, Veto
from pliers_lab.host import Host, StepAborted

ADA = {"name": "Ada", "email": "ada@example.org"}
RW = {"database": ["read", "write"]}


def security(call: Any) -> PluginError:
    with pytest.raises(PluginError) as caught:
        call()
    assert caught.value.type is PluginErrorType.SECURITY_ERROR
    return caught.value


def invalid(call: Any) -> PluginError:
    with pytest.raises(PluginError) as caught:
        call()
    assert caught.value.type is PluginErrorType.VALIDATION_ERROR
    return caught.value


def test_own_tables_are_documents_created_on_first_insert(
    host: Host, add_plugin: PluginFactory
) -> None:
    db = add_plugin("keeper", {}, permissions=RW).api.database
    assert (
        db.find("notes") == []
        and db.count("notes") == 0
        and db.update("notes", {"id": 1}, {"a": 1}) == 0
    )
    ids = [db.insert("notes", {"topic": t, "n": n}) for t, n in (("a", 1), ("b", 2), ("a", 3))]
    assert ids == [1, 2, 3]
    assert host.db.query("SELECT name, plugin_id, short_name FROM plugin_tables")[0][:] == (
        "plugin_keeper_notes",
        "keeper",
        "notes",
    )
    assert db.find("notes", {"topic": "a"}) == [
        {"id": 1, "topic": "a", "n": 1},
        {"id": 3, "topic": "a", "n": 3},
    ]
    assert db.find("notes", {"n": {"$gte": 2}}, order_by="-n") == [
        {"id": 3, "topic": "a", "n": 3},
        {"id": 2, "topic": "b", "n": 2},
    ]
    assert db.find("notes", limit=1, offset=1) == [{"id": 2, "topic": "b", "n": 2}]
    assert db.find_one("plugin_keeper_notes", {"topic": {"$in": ["b"]}}) == {
        "id": 2,
        "topic": "b",
        "n": 2,
    }
    assert db.count("notes", {"topic": "a"}) == 2
    assert db.update("notes", {"topic": "a"}, {"done": True, "n": None}) == 2
    assert db.find_one("notes", {"id": 1}) == {"id": 1, "topic": "a", "done": True}
    assert db.delete("notes", {"done": True}) == 2
    assert db.count("notes") == 1


def test_host_tables_need_the_matching_grant(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    saved = host.submit("simple", ADA).value
    reader = add_plugin("reader", {}, permissions={"database": {"read": ["submissions"]}})
    [row] = reader.api.database.find("submissions", {"status": "processed"})
    assert row["id"] == saved["id"] and row["data"] == ADA and row["metadata"] == {}
    assert json.loads(json.dumps(row)) == row
    error = security(lambda: reader.api.database.find("status_history"))
    assert error.plugin_id == "reader"
    assert str(error) == (
        "[security_error] plugin 'reader': database.find on 'status_history' denied: "
        "the manifest grants database.read on submissions"
    )
    assert error.metadata == {"action": "database.find", "resource": "status_history"}
    assert list(host.api.access_log)[-1][1:5] == (
        "reader",
        "database.find",
        "status_history",
        False,
    )


def test_some_host_tables_are_off_limits_whatever_the_manifest_says(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    admin = add_plugin("admin", {}, permissions={"database": ["read", "write", "execute"]})
    db = admin.api.database
    assert "host table 'forms' allows plugins only read" in str(
        security(lambda: db.update("forms", {"id": "simple"}, {"name": "x"}))
    )
    assert "allows plugins only read, update" in str(
        security(lambda: db.insert("submissions", {"id": "x"}))
    )
    assert "it is internal to the host" in str(security(lambda: db.find("schema_migrations")))
    assert "internal" in str(security(lambda: db.delete("plugin_tables", {"name": "x"})))
    assert "internal" in str(security(lambda: db.find("sqlite_master")))
    assert (
        db.insert(
            "tasks",
            {"name": "x", "payload": {"a": 1}, "run_at": 0, "status": "scheduled", "created_at": 0},
        )
        == 1
    )
    assert db.find("tasks")[0]["payload"] == {"a": 1}


def test_another_plugins_namespace_is_refused(host: Host, add_plugin: PluginFactory) -> None:
    a = add_plugin("a", {}, permissions=RW)
    a.api.database.insert("b_c", {"x": 1})  # plugin_a_b_c
    other = add_plugin("a-b", {}, permissions=RW)
    error = security(lambda: other.api.database.find("c"))  # would also be plugin_a_b_c
    assert "database.find on 'plugin_a_b_c' denied: it belongs to plugin 'a'" in str(error)
    assert "belongs to another plugin's namespace" in str(
        security(lambda: a.api.database.find("plugin_zz_x"))
    )


def test_malformed_calls_are_validation_errors(host: Host, add_plugin: PluginFactory) -> None:
    db = add_plugin(
        "sloppy", {}, permissions={"database": ["read", "write"], "events": ["publish"]}
    ).api.database
    db.insert("t", {"a": 1})
    assert "is not a plain identifier" in str(invalid(lambda: db.find("t; DROP TABLE forms")))
    assert "unknown operator '$near'" in str(invalid(lambda: db.find("t", {"a": {"$near": 1}})))
    assert "has no column 'nope'" in str(invalid(lambda: db.find("tasks", {"nope": 1})))
    assert "a delete needs a where clause" in str(invalid(lambda: db.delete("t", {})))
    assert "not JSON data" in str(invalid(lambda: db.insert("t", {"a": object()})))
    assert "'id' is assigned by the database" in str(invalid(lambda: db.insert("t", {"id": 5})))
    assert "limit must be a non-negative integer" in str(invalid(lambda: db.find("t", limit=-1)))
    assert db.count("t") == 1


def test_procedures_need_execute(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    host.submit("simple", ADA)
    runner = add_plugin("runner", {}, permissions={"database": {"execute": ["submission_counts"]}})
    assert runner.api.database.execute("submission_counts") == [
        {"form_id": "simple", "status": "processed", "n": 1}
    ]
    assert "database.execute on 'recent_events' denied" in str(
        security(lambda: runner.api.database.execute("recent_events"))
    )
    assert "no procedure 'nope'" in str(invalid(lambda: runner.api.database.execute("nope")))


def test_update_submission_merges_validates_and_publishes(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    saved = host.submit("simple", ADA).value
    crm = add_plugin("crm", {}, permissions={"database": {"write": ["submissions"]}})
    updated = crm.api.update_submission(saved["id"], data={"age": 36}, metadata={"crmId": "c-9"})
    assert updated["data"] == {**ADA, "age": 36} and updated["metadata"] == {"crmId": "c-9"}
    assert host.get_submission(saved["id"])["metadata"] == {"crmId": "c-9"}
    [event] = host.events(type="submission.updated")
    assert (
        event["payload"]["changes"] == ["age", "metadata.crmId"]
        and event["payload"]["updatedBy"] == "plugin:crm"
    )
    assert "would be invalid: 'age' must be at most 150" in str(
        invalid(lambda: crm.api.submissions.update(saved["id"], data={"age": 900}))
    )
    assert "unknown submission 'ghost'" in str(
        invalid(lambda: crm.api.update_submission("ghost", data={}))
    )
    nosy = add_plugin("nosy", {})
    assert "update_submission on 'submissions' denied" in str(
        security(lambda: nosy.api.update_submission(saved["id"], data={}))
    )


def test_scheduled_tasks_come_back_as_events(host: Host, add_plugin: PluginFactory) -> None:
    got: list[dict[str, Any]] = []

    def on_activate(plugin: Plugin) -> None:
        plugin.api.events.subscribe("task.crm-sync-retry", lambda e: got.append(e["payload"]))

    retry = add_plugin(
        "retry",
        {},
        permissions={"database": {"write": ["tasks"]}, "events": ["subscribe"]},
        on_activate=on_activate,
    )
    first = retry.api.schedule_task("crm-sync-retry", {"submission": "s-1"})
    retry.api.tasks.schedule("crm-sync-retry", {"submission": "s-2"}, delay_s=3600)
    assert "task name 'Bad Name'" in str(invalid(lambda: retry.api.schedule_task("Bad Name")))
    done = host.run_due_tasks().value
    assert done == [first]
    assert got == [
        {
            "taskId": first,
            "name": "crm-sync-retry",
            "pluginId": "retry",
            "payload": {"submission": "s-1"},
        }
    ]
    assert [t["name"] for t in host.tasks.due(now=10**12)] == ["crm-sync-retry"]


def test_api_writes_belong_to_the_operation_and_roll_back_with_it(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    async def remember(ctx: Any) -> None:  # async: runs on the host's own loop
        ctx.api.database.insert(
            "seen", {"hook": ctx.hook, "submission": ctx.data["submission"]["id"]}
        )

    add_plugin(
        "memo",
        {
            "submission.beforeValidate": remember,
            "submission.afterSave": lambda ctx: ctx.api.database.insert("seen", {"hook": ctx.hook}),
        },
        permissions=RW,
    )
    host.submit("simple", ADA)
    assert host.db.query("SELECT COUNT(*) FROM plugin_memo_seen")[0][0] == 2
    add_plugin("stop", {"submission.beforeProcess": lambda ctx: Veto("stop")})
    with pytest.raises(Exception, match="stop"):
        host.submit("simple", ADA)
    assert host.db.query("SELECT COUNT(*) FROM plugin_memo_seen")[0][0] == 2


def test_api_calls_from_the_engines_loop_thread_join_the_operation(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    threads: list[str] = []

    async def remember(ctx: Any) -> None:
        threads.append(threading.current_thread().name)
        ctx.api.database.insert("seen", {"n": 1})

    add_plugin("memo", {"submission.beforeValidate": remember}, permissions=RW)
    add_plugin("stop", {"submission.beforeSave": lambda ctx: Veto("stop")})

    async def inside_a_running_loop() -> None:  # like a Jupyter cell
        with pytest.raises(Exception, match="stop"):
            host.submit("simple", ADA)

    asyncio.run(inside_a_running_loop())
    assert threads == ["pliers-engine-loop"]
    assert (
        host.db.query("SELECT COUNT(*) FROM sqlite_master WHERE name = 'plugin_memo_seen'")[0][0]
        == 0
    )


def test_a_forbidden_write_during_submit_aborts_it_and_names_the_culprit(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    def sneaky(ctx: Any) -> None:
        ctx.api.database.insert("mine", {"ok": True})  # allowed
        ctx.api.database.update(
            "submissions", {"id": ctx.data["submission"]["id"]}, {"status": "paid"}
        )  # not granted

    add_plugin(
        "sneaky",
        {"submission.afterSave": sneaky},
        permissions={"database": {"read": ["*"], "write": ["plugin_sneaky_*"]}},
    )
    before = operation_counts(host)
    with pytest.raises(StepAborted) as caught:
        host.submit("simple", ADA)
    error = caught.value
    assert (error.type, error.plugin_id, error.hook) == (
        PluginErrorType.SECURITY_ERROR,
        "sneaky",
        "submission.afterSave",
    )
    assert str(error).startswith(
        "submit aborted at submission.afterSave: [security_error] plugin 'sneaky', "
        "hook 'submission.afterSave'"
    )
    assert (
        "database.update on 'submissions' denied: "
        "the manifest grants database.write on plugin_sneaky_*" in str(error)
    )
    assert operation_counts(host) == before
    [told] = host.admin_notifications()
    assert (told["plugin_id"], told["error_id"], told["error_type"]) == (
        "sneaky",
        error.error.id,
        "security_error",
    )


def test_the_wire_entry_point_speaks_json(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    host.submit("simple", ADA)
    add_plugin(
        "remote",
        {},
        permissions={"database": ["read", "write"], "events": ["publish", "subscribe"]},
    )
    assert host.api.call("remote", "database.insert", {"table": "t", "row": {"a": 1}}) == 1
    rows = host.api.call(
        "remote", "database.find", {"table": "submissions", "where": {"form_id": "simple"}}
    )
    event = host.api.call("remote", "events.publish", {"type": "remote.ping", "payload": {"x": 1}})
    for value in (rows, event):
        assert json.loads(json.dumps(value)) == value
    assert "cannot be called over the wire" in str(
        security(lambda: host.api.call("remote", "events.subscribe", {"pattern": "*"}))
    )
    assert host.api.frame()["action"].tolist()[-1] == "events.publish"


def test_a_host_operation_from_the_engines_loop_thread_is_refused(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    refused: list[str] = []

    async def nested(ctx: Any) -> None:  # plugin code that grabbed the host: don't
        try:
            host.submit("simple", ADA)
        except Exception as exc:
            refused.append(str(exc))

    add_plugin("nested", {"submission.afterSave": nested})

    async def inside_a_running_loop() -> None:
        host.submit("simple", ADA)

    asyncio.run(inside_a_running_loop())
    assert "would wait for itself" in refused[0] and "through ctx.api" in refused[0]
    assert host.counts()["submissions"] == 1


def test_an_unloaded_plugins_subscriptions_go_with_it(
    host: Host, add_plugin: PluginFactory
) -> None:
    got: list[str] = []

    def on_activate(plugin: Plugin) -> None:
        plugin.api.events.subscribe("task.*", lambda e: got.append(e["type"]))

    add_plugin("listener", {}, permissions={"events": ["subscribe"]}, on_activate=on_activate)
    host.subscribe("task.*", lambda e: got.append("host:" + e["type"]))
    owners = [s.plugin_id for s in host.bus.subscriptions()]
    assert owners.count("listener") == 1
    host.engine.unload("listener")
    assert [s.plugin_id for s in host.bus.subscriptions()] == [None]  # the host's own stays
    host.bus.publish(host.bus.event("task.ping", {}, aggregate_type="system", aggregate_id="t1"))
    assert got == ["host:task.ping"]
