"""The submission pipeline: hook order, data flow, validation, vetoes, error policy."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from host.helpers import SIMPLE_FORM, PluginFactory, operation_counts, recorder

from pliers_lab import PluginErrorType, Veto
from pliers_lab.host import (
    Host,
    MalformedPayload,
    OperationVetoed,
    StepAborted,
    SubmissionInvalid,
    UnknownFormError,
)

PIPELINE = [
    "submission.beforeValidate",
    "submission.sanitize",
    "submission.transform",
    "submission.enrich",
    "form.validation.custom",
    "submission.afterValidate",
    "submission.beforeSave",
    "submission.afterSave",
    "submission.beforeProcess",
    "workflow.beforeTransition",
    "workflow.condition",
    "workflow.action",
    "workflow.afterTransition",
    "submission.afterProcess",
    "notification.send",
    "email.template",
    "sms.send",
]

NOTIFYING = {
    **copy.deepcopy(SIMPLE_FORM),
    "id": "notifying",
    "settings": {
        "notifications": [
            {
                "channel": "email",
                "to": "{{email}}",
                "subject": "Hello {{name}}",
                "body": "Thanks, {{name}} ({{submission.id}})",
            },
            {"channel": "sms", "to": "+15555550100", "body": "{{name}} wrote to {{form.name}}"},
        ]
    },
}

ADA = {"name": "Ada", "email": "ada@example.org", "age": 36}


@pytest.fixture
def notifying(host: Host) -> dict[str, Any]:
    return host.create_form(copy.deepcopy(NOTIFYING)).value


def test_hooks_fire_in_the_issues_order(
    host: Host, notifying: dict[str, Any], add_plugin: PluginFactory
) -> None:
    seen = recorder(add_plugin, PIPELINE)
    result = host.submit("notifying", ADA, user_id="u-1", session_id="s-1")
    assert [name for name, _ in seen] == PIPELINE
    saved = result.value
    assert saved["status"] == "processed"
    assert seen[0][1] == {"form": notifying, "submission": {**saved, "status": "received"}}
    assert seen[10][1]["transition"] == {"from": "received", "to": "processed", "by": None}
    assert host.get_submission(saved["id"])["data"] == ADA
    counts = host.counts()
    assert (counts["submissions"], counts["status_history"], counts["notifications"]) == (1, 1, 2)
    assert [e["type"] for e in host.events(aggregate_id=saved["id"])] == [
        "submission.created",
        "submission.status.changed",
    ]
    email, sms = host.db.query(
        "SELECT channel, recipient, subject, body, status FROM notifications ORDER BY id"
    )
    assert tuple(email) == (
        "email",
        "ada@example.org",
        "Hello Ada",
        f"Thanks, Ada ({saved['id']})",
        "queued",
    )
    assert tuple(sms) == ("sms", "+15555550100", None, "Ada wrote to Simple", "queued")


def test_data_flows_through_sanitize_transform_enrich(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    def step(key: str, fn: Any) -> Any:
        def handler(ctx: Any) -> dict[str, Any]:
            sub = ctx.data["submission"]
            return {
                **ctx.data,
                "submission": {
                    **sub,
                    "data": fn(sub["data"]),
                    "metadata": {**sub["metadata"], key: True},
                },
            }

        return handler

    add_plugin(
        "clean",
        {"submission.sanitize": step("sanitized", lambda d: {**d, "name": d["name"].strip()})},
    )
    add_plugin(
        "shape",
        {"submission.transform": step("transformed", lambda d: {**d, "email": d["email"].lower()})},
    )
    add_plugin("more", {"submission.enrich": step("enriched", lambda d: d)})
    result = host.submit("simple", {"name": "  Ada ", "email": "ADA@Example.org"})
    saved = host.get_submission(result.value["id"])
    assert saved["data"] == {"name": "Ada", "email": "ada@example.org"}
    assert saved["metadata"] == {"sanitized": True, "transformed": True, "enriched": True}
    sanitize = result.trace.step("submission.sanitize")
    assert sanitize.before["submission"]["data"]["name"] == "  Ada "
    assert sanitize.after["submission"]["data"]["name"] == "Ada"


def test_validation_lists_every_problem_and_saves_nothing(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    add_plugin(
        "early",
        {
            "submission.beforeValidate": lambda ctx: {
                "valid": False,
                "errors": [
                    {"field": "email", "code": "domain", "message": "no free-mail addresses"}
                ],
                "warnings": ["be nice"],
            }
        },
    )
    add_plugin(
        "custom",
        {
            "form.validation.custom": lambda ctx: {
                "valid": False,
                "errors": [{"field": "age", "code": "adult", "message": "must be an adult"}],
            }
        },
    )
    before = host.counts()
    with pytest.raises(SubmissionInvalid) as caught:
        host.submit("simple", {"name": "A", "email": "nope", "age": 200})
    error = caught.value
    assert [(e["field"], e["code"]) for e in error.errors] == [
        ("email", "domain"),
        ("name", "min"),
        ("email", "type"),
        ("age", "max"),
        ("age", "adult"),
    ]
    assert error.warnings[0]["message"] == "be nice"
    text = str(error)
    assert text.startswith("submission to form 'simple' is invalid (5 problems):")
    assert (
        "email: no free-mail addresses [early]" in text
        and "name: 'name' must be at least 2 characters" in text
    )
    assert host.counts() == before
    assert error.trace is not None and error.trace.status == "aborted"


def test_bad_input_is_named_and_changes_nothing(host: Host, simple: dict[str, Any]) -> None:
    before = host.counts()
    with pytest.raises(UnknownFormError, match=r"unknown form 'nope' \(forms: simple\)"):
        host.submit("nope", ADA)
    with pytest.raises(
        MalformedPayload,
        match=r"submit to form 'simple': malformed payload at data: must be a dict",
    ):
        host.submit("simple", ["Ada"])  # type: ignore[arg-type]
    with pytest.raises(MalformedPayload, match=r"at data.name: object is not JSON data"):
        host.submit("simple", {"name": object(), "email": "a@b.co"})
    with pytest.raises(MalformedPayload, match=r"at data.age: NaN and infinity are not JSON"):
        host.submit("simple", {"name": "Ada", "email": "a@b.co", "age": float("nan")})
    with pytest.raises(MalformedPayload, match=r"at metadata: must be a dict"):
        host.submit("simple", ADA, metadata=["x"])  # type: ignore[arg-type]
    with pytest.raises(
        SubmissionInvalid,
        match=r"'shoe_size' is not a field of this form \(fields: age, email, name\)",
    ):
        host.submit("simple", {**ADA, "shoe_size": 42})
    assert host.counts() == before


def test_a_veto_before_save_aborts_with_the_plugins_reason(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    add_plugin("spam-filter", {"submission.beforeSave": lambda ctx: Veto("looks like spam")})
    before = host.counts()
    with pytest.raises(OperationVetoed) as caught:
        host.submit("simple", ADA)
    assert (
        str(caught.value)
        == "submit refused by plugin 'spam-filter' at submission.beforeSave: looks like spam"
    )
    assert host.counts() == before
    assert (
        caught.value.trace is not None and caught.value.trace.names[-1] == "submission.beforeSave"
    )


def test_a_veto_after_the_save_still_leaves_nothing(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    add_plugin("no-processing", {"submission.beforeProcess": lambda ctx: Veto("processing paused")})
    before = host.counts()
    with pytest.raises(OperationVetoed, match="processing paused"):
        host.submit("simple", ADA)
    assert host.counts() == before


def test_a_transition_veto_aborts_the_submission(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    add_plugin(
        "gate",
        {"workflow.beforeTransition": lambda ctx: Veto(f"not to {ctx.data['transition']['to']}")},
    )
    before = host.counts()
    with pytest.raises(
        OperationVetoed,
        match=r"refused by plugin 'gate' at workflow.beforeTransition: not to processed",
    ):
        host.submit("simple", ADA)
    assert host.counts() == before


def test_a_failed_condition_leaves_the_submission_in_its_status(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    add_plugin("office-hours", {"workflow.condition": lambda ctx: Veto("outside office hours")})
    result = host.submit("simple", ADA)
    assert result.value["status"] == "received"
    assert host.counts()["status_history"] == 0
    step = result.trace.steps[result.trace.names.index("workflow")]
    assert (step.status, step.note) == (
        "refused",
        "stays 'received': office-hours: outside office hours",
    )


def test_a_broken_waterfall_answer_names_plugin_and_hook(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    add_plugin("lossy", {"submission.transform": lambda ctx: {"form": ctx.data["form"]}})
    before = host.counts()
    with pytest.raises(
        MalformedPayload,
        match=r"submission.transform \(plugin 'lossy'\): "
        r"malformed payload at ctx.data: the data must keep",
    ):
        host.submit("simple", ADA)
    host.engine.disable("lossy")
    add_plugin(
        "sneaky",
        {
            "submission.enrich": lambda ctx: {
                **ctx.data,
                "submission": {**ctx.data["submission"], "id": "mine"},
            }
        },
    )
    with pytest.raises(MalformedPayload, match="may not change the submission's id"):
        host.submit("simple", ADA)
    assert host.counts() == before


def test_errors_in_waterfall_and_after_hooks_are_contained(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    def boom(ctx: Any) -> None:
        raise RuntimeError(f"broken at {ctx.hook}")

    add_plugin(
        "flaky",
        {
            "submission.transform": boom,
            "submission.afterSave": boom,
            "submission.beforeValidate": boom,
        },
    )
    result = host.submit("simple", {"name": "Ada", "email": "ada@example.org"})
    assert host.get_submission(result.value["id"])["data"] == {
        "name": "Ada",
        "email": "ada@example.org",
    }
    for hook_name in ("submission.transform", "submission.afterSave", "submission.beforeValidate"):
        step = result.trace.step(hook_name)
        [outcome] = step.result.outcomes  # type: ignore[union-attr]
        assert outcome.status == "error" and outcome.error is not None
        assert outcome.error.message == f"handler raised RuntimeError: broken at {hook_name}"
        assert step.note == "1 plugin failure(s) contained"


def test_errors_in_veto_hooks_fail_closed(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    def boom(ctx: Any) -> None:
        raise KeyError("session")

    add_plugin("guard", {"submission.beforeSave": boom})
    before = operation_counts(host)
    with pytest.raises(StepAborted) as caught:
        host.submit("simple", ADA)
    error = caught.value
    assert (error.plugin_id, error.hook, error.type) == (
        "guard",
        "submission.beforeSave",
        PluginErrorType.RUNTIME_ERROR,
    )
    assert "submit aborted at submission.beforeSave: [runtime_error] plugin 'guard'" in str(error)
    assert operation_counts(host) == before
    assert (
        error.trace is not None
        and error.trace.steps[-1].note == "guard failed (veto hooks fail closed)"
    )


def test_the_error_policy_can_be_changed_per_hook(engine: Any, add_plugin: PluginFactory) -> None:
    strict = Host.in_memory(engine, on_plugin_error={"submission.transform": "abort"})
    try:
        strict.create_form(copy.deepcopy(SIMPLE_FORM))

        def boom(ctx: Any) -> None:
            raise ValueError("required step failed")

        add_plugin("required-step", {"submission.transform": boom})
        before = operation_counts(strict)
        with pytest.raises(StepAborted, match="required step failed"):
            strict.submit("simple", ADA)
        assert operation_counts(strict) == before
    finally:
        strict.close()


def test_email_template_and_sms_gateway_shape_the_outbox(
    host: Host, notifying: dict[str, Any], add_plugin: PluginFactory
) -> None:
    sent: list[Any] = []

    def template(ctx: Any) -> dict[str, Any]:
        email = ctx.data["email"]
        return {**ctx.data, "email": {**email, "subject": "[Pliers] " + email["subject"]}}

    add_plugin("branding", {"email.template": template})
    add_plugin(
        "gateway",
        {
            "sms.send": lambda ctx: {"id": "sms-1", "to": ctx.data["sms"]["to"]},
            "notification.send": lambda ctx: sent.append(ctx.data["notifications"]),
        },
    )
    host.submit("notifying", ADA)
    rows = host.db.query("SELECT channel, subject, status, receipt FROM notifications ORDER BY id")
    assert tuple(rows[0]) == ("email", "[Pliers] Hello Ada", "queued", None)
    assert tuple(rows[1]) == ("sms", None, "sent", '{"id":"sms-1","to":"+15555550100"}')
    assert [n["channel"] for n in sent[0]] == ["email", "sms"]


def test_warnings_are_returned_with_the_result(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    add_plugin(
        "picky",
        {
            "submission.beforeValidate": lambda ctx: {
                "valid": True,
                "errors": [],
                "warnings": [
                    {"field": "email", "code": "free", "message": "consider a work address"}
                ],
            }
        },
    )
    result = host.submit("simple", ADA)
    assert result.warnings == [
        {"field": "email", "code": "free", "message": "consider a work address", "plugin": "picky"}
    ]
