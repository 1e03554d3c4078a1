"""Workflows: automatic transitions at submit, explicit transitions, roles, conditions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from host.helpers import PluginFactory, recorder

from pliers_lab import Veto
from pliers_lab.host import (
    Host,
    OperationVetoed,
    TransitionError,
    TransitionRefused,
    UnknownSubmissionError,
)
from pliers_lab.host._workflow import Workflow, describe_condition
from pliers_lab.host.sample_forms import EXPENSE_CLAIM

CLAIM = {
    "employee": "Grace Hopper",
    "email": "grace@acme.com",
    "currency": "USD",
    "category": "travel",
    "date": "2026-11-20",
    "description": "Taxi to the airport",
}

Sample = Callable[[str], dict[str, Any]]


@pytest.fixture
def claims(sample: Sample) -> dict[str, Any]:
    return sample("expense-claim")


def test_small_claims_are_approved_automatically(host: Host, claims: dict[str, Any]) -> None:
    result = host.submit("expense-claim", {**CLAIM, "amount": 42.5})
    assert result.value["status"] == "approved"
    [(src, dst, by)] = host.db.query("SELECT from_status, to_status, by FROM status_history")
    assert (src, dst, by) == ("submitted", "approved", None)
    [row] = host.db.query("SELECT channel, recipient, subject FROM notifications")
    assert tuple(row) == ("email", "grace@acme.com", "Expense claim approved")


def test_large_claims_wait_for_a_manager_and_text_them(host: Host, claims: dict[str, Any]) -> None:
    claim = host.submit("expense-claim", {**CLAIM, "amount": 1200}).value
    assert claim["status"] == "pending_approval"
    [row] = host.db.query("SELECT channel, recipient, body, status FROM notifications")
    assert tuple(row) == (
        "sms",
        "+15555550100",
        f"Expense claim {claim['id']} from Grace Hopper (1200 USD) awaits approval",
        "queued",
    )

    approved = host.transition(
        claim["id"], "approved", by="m-1", roles=["manager"], reason="fine"
    ).value
    assert approved["status"] == "approved"
    paid = host.transition(claim["id"], "paid", by="f-1", roles=["finance"])
    assert paid.value["status"] == "paid"
    history = host.db.query(
        "SELECT from_status, to_status, by, reason FROM status_history ORDER BY id"
    )
    assert [tuple(r) for r in history] == [
        ("submitted", "pending_approval", None, None),
        ("pending_approval", "approved", "m-1", "fine"),
        ("approved", "paid", "f-1", None),
    ]
    events = host.events(aggregate_id=claim["id"])
    assert [e["sequenceNumber"] for e in events] == [1, 2, 3, 4]
    assert events[2]["payload"] == {
        "submissionId": claim["id"],
        "formId": "expense-claim",
        "from": "pending_approval",
        "to": "approved",
        "changedBy": "m-1",
        "reason": "fine",
    }


def test_a_transition_that_does_not_exist_is_named(host: Host, claims: dict[str, Any]) -> None:
    claim = host.submit("expense-claim", {**CLAIM, "amount": 500}).value
    before = host.counts()
    with pytest.raises(TransitionError) as caught:
        host.transition(claim["id"], "paid", by="m-1", roles=["manager"])
    error = caught.value
    assert str(error) == (
        f"submission {claim['id']!r} (form 'expense-claim'): "
        "no transition 'pending_approval' -> 'paid'; "
        "from 'pending_approval' the form allows: approved, rejected"
    )
    assert error.allowed == ["approved", "rejected"]
    with pytest.raises(TransitionError, match="the form allows: none"):
        host.transition(claim["id"], "rejected", roles=["manager"])
        host.transition(claim["id"], "approved", roles=["manager"])
    assert host.counts()["status_history"] == before["status_history"] + 1


def test_roles_and_declarative_conditions_are_checked(host: Host, claims: dict[str, Any]) -> None:
    claim = host.submit("expense-claim", {**CLAIM, "amount": 500}).value
    before = host.counts()
    with pytest.raises(
        TransitionRefused, match=r"requires one of the roles manager \(has: intern\)"
    ):
        host.transition(claim["id"], "approved", by="i-1", roles=["intern"])
    assert host.counts() == before


def test_plugins_can_block_or_refuse_a_transition(
    host: Host, claims: dict[str, Any], add_plugin: PluginFactory
) -> None:
    claim = host.submit("expense-claim", {**CLAIM, "amount": 500}).value
    add_plugin("budget", {"workflow.condition": lambda ctx: Veto("the travel budget is spent")})
    before = host.counts()
    with pytest.raises(TransitionRefused) as caught:
        host.transition(claim["id"], "approved", by="m-1", roles=["manager"])
    assert (caught.value.plugin_id, caught.value.reason) == ("budget", "the travel budget is spent")
    host.engine.disable("budget")
    add_plugin(
        "policy",
        {
            "auth.authorize": lambda ctx: Veto(
                f"{ctx.data['user']['id']} may not approve their own claims"
            )
        },
    )
    with pytest.raises(
        OperationVetoed, match=r"refused by plugin 'policy' at auth.authorize: m-1 may not approve"
    ):
        host.transition(claim["id"], "approved", by="m-1", roles=["manager"])
    assert host.counts() == before


def test_explicit_transitions_fire_the_workflow_hooks(
    host: Host, claims: dict[str, Any], add_plugin: PluginFactory
) -> None:
    claim = host.submit("expense-claim", {**CLAIM, "amount": 500}).value
    seen = recorder(
        add_plugin,
        [
            "auth.authorize",
            "workflow.beforeTransition",
            "workflow.condition",
            "workflow.action",
            "workflow.afterTransition",
            "notification.send",
        ],
    )
    host.transition(claim["id"], "rejected", by="m-1", roles=["manager"])
    assert [n for n, _ in seen] == [
        "auth.authorize",
        "workflow.beforeTransition",
        "workflow.condition",
        "workflow.action",
        "workflow.afterTransition",
        "notification.send",
    ]
    assert seen[0][1]["user"] == {"id": "m-1", "roles": ["manager"]}
    assert seen[3][1]["transition"] == {"from": "pending_approval", "to": "rejected", "by": "m-1"}
    assert seen[3][1]["submission"]["status"] == "rejected"


def test_unknown_submissions_are_named(host: Host) -> None:
    with pytest.raises(UnknownSubmissionError, match="unknown submission 'ghost'"):
        host.transition("ghost", "approved")


def test_workflow_picks_the_first_automatic_transition_that_holds() -> None:
    form = {"id": "f", **{k: v for k, v in EXPENSE_CLAIM.items() if k == "statusDefinitions"}}
    from pliers_lab.host._definitions import normalize_form
    from pliers_lab.host._fieldtypes import FieldTypes

    normalized, problems = normalize_form({**EXPENSE_CLAIM, **form}, FieldTypes())
    assert problems == []
    flow = Workflow(normalized)
    assert flow.initial == "submitted"
    assert flow.automatic("submitted", {"amount": 10})["toStatus"] == "approved"  # type: ignore[index]
    assert flow.automatic("submitted", {"amount": 1000})["toStatus"] == "pending_approval"  # type: ignore[index]
    assert flow.automatic("submitted", {"amount": "lots"})["toStatus"] == "pending_approval"  # type: ignore[index]
    assert flow.automatic("approved", {}) is None
    assert flow.targets("pending_approval") == ["approved", "rejected"]
    assert describe_condition({"field": "amount", "op": "lte", "value": 100}) == "amount lte 100"
    assert describe_condition({"field": "card", "op": "exists"}) == "card exists"
