"""``sys.exit()`` in an inline plugin's hook handler or event subscriber, through the
host's pipeline: the submission goes on, the failure is that plugin's, Ctrl-C still
interrupts."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest
from host.helpers import PluginFactory, operation_counts

from pliers_lab import PluginErrorType
from pliers_lab.host import Host

ADA = {"name": "Ada", "email": "ada@example.org"}


def exits(ctx: Any) -> None:
    sys.exit(3)


async def exits_async(ctx: Any) -> None:
    await asyncio.sleep(0)
    sys.exit(3)


def stamp(ctx: Any) -> dict[str, Any]:
    return {**ctx.data, "submission": {**ctx.data["submission"], "stamped": True}}


@pytest.mark.parametrize("handler", [exits, exits_async], ids=["sync", "async"])
def test_sys_exit_in_a_pipeline_step_is_contained(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory, handler: Any
) -> None:
    add_plugin("quitter", {"submission.transform": handler, "submission.afterSave": handler})
    add_plugin("stamper", {"submission.transform": stamp}, priority=10)
    result = host.submit("simple", ADA)
    assert host.get_submission(result.value["id"])["data"] == ADA
    step = result.trace.step("submission.transform")
    assert step.result is not None
    quitter, stamper = step.result.outcomes
    assert (quitter.plugin_id, quitter.status) == ("quitter", "error")
    assert quitter.error is not None and quitter.error.type is PluginErrorType.RUNTIME_ERROR
    assert quitter.error.message == "handler called sys.exit(3)"
    assert (stamper.plugin_id, stamper.status) == ("stamper", "ok")
    assert step.result.value["submission"]["stamped"] is True
    assert step.note == "1 plugin failure(s) contained"
    after = result.trace.step("submission.afterSave").result
    assert after is not None and "sys.exit(3)" in after.outcome("quitter").error.message
    # The host keeps serving.
    assert host.submit("simple", ADA).value["id"] != result.value["id"]


def test_sys_exit_in_a_veto_step_fails_closed_like_any_error(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    from pliers_lab.host import StepAborted

    add_plugin("quitter", {"submission.beforeSave": exits})
    before = operation_counts(host)
    with pytest.raises(StepAborted, match=r"sys.exit\(3\)"):
        host.submit("simple", ADA)
    assert operation_counts(host) == before


def test_sys_exit_in_an_event_subscriber_is_recorded_and_the_others_still_run(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    got: list[str] = []
    plugin = add_plugin("quitter", {}, permissions={"events": ["subscribe"]})
    plugin.api.events.subscribe("submission.created", lambda e: sys.exit(3), priority=200)
    host.subscribe("submission.created", lambda e: got.append(e["id"]))
    host.submit("simple", ADA)
    assert len(got) == 1 and host.counts()["submissions"] == 1
    error = list(host.engine.errors)[-1]
    assert (error.plugin_id, error.hook) == ("quitter", "event:submission.created")
    assert error.type is PluginErrorType.RUNTIME_ERROR
    assert "called sys.exit(3)" in error.message


def test_keyboard_interrupt_still_interrupts_submit(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    def interrupted(ctx: Any) -> None:
        raise KeyboardInterrupt

    add_plugin("ctrl-c", {"submission.transform": interrupted})
    before = host.counts()
    with pytest.raises(KeyboardInterrupt):
        host.submit("simple", ADA)
    assert host.counts() == before  # rolled back


def test_keyboard_interrupt_in_a_subscriber_still_interrupts_submit(
    host: Host, simple: dict[str, Any]
) -> None:
    def interrupted(event: Any) -> None:
        raise KeyboardInterrupt

    host.subscribe("submission.created", interrupted)
    before = host.counts()
    with pytest.raises(KeyboardInterrupt):
        host.submit("simple", ADA)
    assert host.counts() == before
