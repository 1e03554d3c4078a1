"""The event bus: event shape, order of delivery, permissions, cascades, rollback."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from host.helpers import PluginFactory

from pliers_lab import Plugin, PluginError, PluginErrorType
from pliers_lab.host import EventCascadeError, Host, StepAborted

ADA = {"name": "Ada", "email": "ada@example.org"}
SHAPE = {
    "id",
    "type",
    "version",
    "timestamp",
    "source",
    "aggregateType",
    "aggregateId",
    "sequenceNumber",
    "causationId",
    "correlationId",
    "metadata",
    "payload",
}


def test_host_operations_publish_events_in_the_event_engine_shape(
    host: Host, simple: dict[str, Any]
) -> None:
    seen: list[dict[str, Any]] = []
    host.subscribe("*", seen.append)
    result = host.submit("simple", ADA, user_id="u-7", session_id="s-1")
    created, changed = seen
    assert set(created) == SHAPE
    assert (created["type"], created["aggregateType"], created["aggregateId"]) == (
        "submission.created",
        "submission",
        result.value["id"],
    )
    assert created["source"] == "host" and created["version"] == 1
    assert created["payload"] == {
        "submissionId": result.value["id"],
        "formId": "simple",
        "data": ADA,
        "status": "received",
        "submittedBy": "u-7",
    }
    assert created["metadata"]["sourceSystem"] == "pliers-host"
    assert (
        created["metadata"]["userId"] == "u-7" and created["metadata"]["traceId"] == result.trace.id
    )
    assert (created["sequenceNumber"], changed["sequenceNumber"]) == (1, 2)
    assert host.events(aggregate_id=result.value["id"]) == [created, changed]


def test_subscribers_run_by_priority_then_subscription_order(
    host: Host, simple: dict[str, Any]
) -> None:
    order: list[str] = []
    host.subscribe("submission.created", lambda e: order.append("normal-1"))
    host.subscribe("submission.*", lambda e: order.append("high"), priority=500)
    host.subscribe("submission.created", lambda e: order.append("normal-2"))
    host.subscribe("submission.created", lambda e: order.append("low"), priority=10)
    host.submit("simple", ADA)
    assert order == ["high", "normal-1", "normal-2", "low", "high"]  # the last: status.changed


def test_events_caused_by_events_are_delivered_breadth_first(
    host: Host, add_plugin: PluginFactory
) -> None:
    order: list[str] = []

    def on_activate(plugin: Plugin) -> None:
        events = plugin.api.events

        def on_a(event: dict[str, Any]) -> None:
            order.append(event["type"])
            events.publish("x.b1")
            events.publish("x.b2")

        events.subscribe("x.a", on_a)
        events.subscribe(
            "x.b*",
            lambda e: (
                order.append(e["type"]),
                events.publish("x.c") if e["type"] == "x.b1" else None,
            ),
        )
        events.subscribe("x.c", lambda e: order.append(e["type"]))

    plugin = add_plugin(
        "chain", {}, permissions={"events": ["subscribe", "publish"]}, on_activate=on_activate
    )
    root = plugin.api.events.publish("x.a", {"n": 1})
    assert order == ["x.a", "x.b1", "x.b2", "x.c"]
    logged = {e["type"]: e for e in host.events()}
    assert (
        logged["x.b1"]["causationId"] == root["id"]
        and logged["x.b1"]["correlationId"] == root["id"]
    )
    assert (
        logged["x.c"]["causationId"] == logged["x.b1"]["id"]
        and logged["x.c"]["correlationId"] == root["id"]
    )
    assert logged["x.a"]["source"] == "plugin:chain" and logged["x.a"]["aggregateId"] == "chain"


def test_subscribe_and_publish_need_the_events_permission(
    host: Host, add_plugin: PluginFactory
) -> None:
    mute = add_plugin("mute", {})
    narrow = add_plugin(
        "narrow",
        {},
        permissions={"events": {"subscribe": ["submission.created"], "publish": ["narrow.*"]}},
    )
    with pytest.raises(PluginError) as caught:
        mute.api.events.publish("anything")
    error = caught.value
    assert error.type is PluginErrorType.SECURITY_ERROR and error.plugin_id == "mute"
    assert (
        "events.publish on 'anything' denied: the manifest grants events.publish on nothing"
        in str(error)
    )
    with pytest.raises(
        PluginError,
        match=r"events.subscribe on 'submission.\*' denied: "
        r"the manifest grants events.subscribe on submission.created",
    ):
        narrow.api.events.subscribe("submission.*", print)
    narrow.api.events.subscribe("submission.created", print)
    narrow.api.events.publish("narrow.hello")
    with pytest.raises(PluginError, match=r"events.publish on 'submission.created' denied"):
        narrow.api.events.publish("submission.created")
    assert [(a.plugin_id, a.action, a.allowed) for a in host.api.access_log] == [
        ("mute", "events.publish", False),
        ("narrow", "events.subscribe", False),
        ("narrow", "events.subscribe", True),
        ("narrow", "events.publish", True),
        ("narrow", "events.publish", False),
    ]


def test_a_stopped_plugin_receives_nothing(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    got: list[str] = []
    plugin = add_plugin("listener", {}, permissions={"events": ["subscribe"]})
    plugin.api.events.subscribe("submission.*", lambda e: got.append(e["type"]))
    host.submit("simple", ADA)
    host.engine.disable("listener")
    host.submit("simple", ADA)
    assert got == ["submission.created", "submission.status.changed"]


def test_a_cascade_deeper_than_the_limit_is_stopped_and_rolled_back(
    engine: Any, add_plugin: PluginFactory
) -> None:
    host = Host.in_memory(engine, max_event_depth=4)
    try:
        from copy import deepcopy

        from host.helpers import SIMPLE_FORM

        host.create_form(deepcopy(SIMPLE_FORM))

        def on_activate(plugin: Plugin) -> None:
            plugin.api.events.subscribe(
                "ping", lambda e: plugin.api.events.publish("ping", {"n": e["payload"]["n"] + 1})
            )

        echo = add_plugin(
            "echo",
            {"submission.afterSave": lambda ctx: ctx.api.events.publish("ping", {"n": 1})},
            permissions={"events": ["subscribe", "publish"]},
            on_activate=on_activate,
        )
        before = host.counts()
        with pytest.raises(EventCascadeError) as caught:
            host.submit("simple", ADA)
        assert str(caught.value) == (
            "event cascade deeper than 4 stopped: publishing 'ping' by plugin 'echo' "
            "after ping -> ping -> ping -> ping"
        )
        assert caught.value.chain == ["ping"] * 5
        assert host.counts() == before
        with pytest.raises(EventCascadeError):
            echo.api.events.publish("ping", {"n": 1})
        assert host.counts() == before
    finally:
        host.close()


def test_a_swallowed_cascade_error_still_aborts(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    def on_activate(plugin: Plugin) -> None:
        def loop(event: dict[str, Any]) -> None:
            with contextlib.suppress(EventCascadeError):  # a careless plugin
                plugin.api.events.publish("loop")

        plugin.api.events.subscribe("loop", loop)

    plugin = add_plugin(
        "careless", {}, permissions={"events": ["subscribe", "publish"]}, on_activate=on_activate
    )
    before = host.counts()
    with pytest.raises(EventCascadeError, match="deeper than 8"):
        plugin.api.events.publish("loop")
    assert host.counts() == before


def test_a_failing_subscriber_is_recorded_and_the_others_still_run(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    got: list[str] = []
    plugin = add_plugin("fragile", {}, permissions={"events": ["subscribe"]})
    plugin.api.events.subscribe("submission.created", lambda e: 1 / 0, priority=200)
    host.subscribe("submission.created", lambda e: got.append(e["id"]))
    result = host.submit("simple", ADA)
    assert len(got) == 1 and host.counts()["submissions"] == 1
    error = list(host.engine.errors)[-1]
    assert (error.plugin_id, error.hook) == ("fragile", "event:submission.created")
    assert "ZeroDivisionError" in error.message
    step = result.trace.steps[result.trace.names.index("event submission.created")]
    assert step.status == "error" and step.kind == "event"


def test_a_subscriber_writing_where_it_may_not_aborts_the_operation(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    plugin = add_plugin(
        "writer",
        {},
        permissions={"events": ["subscribe"], "database": {"write": ["plugin_writer_*"]}},
    )
    plugin.api.events.subscribe(
        "submission.created",
        lambda e: plugin.api.database.update("submissions", {"id": "x"}, {"status": "hacked"}),
    )
    before = host.counts()
    with pytest.raises(StepAborted) as caught:
        host.submit("simple", ADA)
    assert caught.value.type is PluginErrorType.SECURITY_ERROR
    assert "database.update on 'submissions' denied" in str(caught.value)
    assert host.counts() == before


def test_events_of_a_failed_operation_are_neither_kept_nor_delivered(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    from pliers_lab import Veto

    got: list[str] = []
    host.subscribe("*", lambda e: got.append(e["type"]))
    add_plugin("late-veto", {"submission.beforeProcess": lambda ctx: Veto("no")})
    with pytest.raises(Exception, match="refused"):
        host.submit("simple", ADA)
    assert got == [] and host.events(type="submission.created") == []


def test_host_side_unsubscribe(host: Host, simple: dict[str, Any]) -> None:
    got: list[str] = []
    sub = host.subscribe("submission.created", lambda e: got.append(e["id"]))
    assert host.bus.unsubscribe(sub) is True
    host.submit("simple", ADA)
    assert got == [] and host.bus.unsubscribe(sub) is False


def test_hooks_see_the_operations_event_as_ctx_event(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    seen: dict[str, Any] = {}

    def look(ctx: Any) -> None:
        seen[ctx.hook] = ctx.event

    add_plugin("looker", {"submission.beforeSave": look, "form.beforeDelete": look})
    saved = host.submit("simple", ADA).value
    event = seen["submission.beforeSave"]
    assert event["type"] == "submission.created" and event["aggregateId"] == saved["id"]
    assert host.events(aggregate_id=saved["id"])[0]["id"] == event["id"]
    host.delete_form("simple", purge=True)
    assert seen["form.beforeDelete"]["type"] == "form.deleted"
    assert host.events(type="form.deleted")[0]["id"] == seen["form.beforeDelete"]["id"]
