"""One transaction per host operation: 1,000 failures injected at random hook points by a
real plugin leave no partial rows; the operations that commit are complete."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from host.helpers import PluginFactory, operation_counts

from pliers_lab import Plugin, Veto
from pliers_lab.host import Host, HostError
from pliers_lab.host.sample_forms import synthetic

HOOKS = {
    "submission.beforeValidate": "validate",
    "submission.sanitize": "waterfall",
    "submission.transform": "waterfall",
    "submission.enrich": "waterfall",
    "form.validation.custom": "validate",
    "submission.afterValidate": "collect",
    "submission.beforeSave": "veto",
    "submission.afterSave": "collect",
    "submission.beforeProcess": "veto",
    "workflow.beforeTransition": "veto",
    "workflow.condition": "veto",
    "workflow.action": "collect",
    "workflow.afterTransition": "collect",
    "submission.afterProcess": "collect",
    "notification.send": "collect",
    "email.template": "waterfall",
    "sms.send": "first",
}
ACTIONS = ("raise", "refuse", "forbidden-write", "cascade")


class Chaos:
    """The plan for the next submission: at which hook to do what."""

    def __init__(self) -> None:
        self.attempt = -1
        self.hook = ""
        self.action = ""
        self.injected = 0
        self.fired: Counter[tuple[str, str]] = Counter()


def chaos_handler(plan: Chaos, hook_name: str, mode: str) -> Callable[[Any], Any]:
    def handler(ctx: Any) -> Any:
        api = ctx.api
        # Leave traces first, in two tables, so a failure has something to undo.
        api.database.insert("marks", {"attempt": plan.attempt, "hook": hook_name})
        api.events.publish("chaos.mark", {"attempt": plan.attempt, "hook": hook_name})
        if hook_name != plan.hook:
            return None
        plan.injected += 1
        plan.fired[(hook_name, plan.action)] += 1
        if plan.action == "raise":
            raise RuntimeError(f"injected failure at {hook_name}")
        if plan.action == "forbidden-write":
            api.database.update("submissions", {"status": "received"}, {"status": "hijacked"})
        if plan.action == "cascade":
            api.events.publish("chaos.echo", {"attempt": plan.attempt})
        if plan.action == "refuse":
            if mode == "veto":
                return Veto(f"injected veto at {hook_name}")
            if mode == "validate":
                return {
                    "valid": False,
                    "errors": [{"field": None, "code": "chaos", "message": "injected"}],
                }
            if mode == "waterfall":
                return {"broken": True}
            raise RuntimeError(f"injected failure at {hook_name}")
        return None

    return handler


def submission_rows(host: Host, submission_id: str) -> dict[str, int]:
    q = host.db.query
    return {
        "history": q(
            "SELECT COUNT(*) FROM status_history WHERE submission_id = ?", (submission_id,)
        )[0][0],
        "notifications": q(
            "SELECT COUNT(*) FROM notifications WHERE submission_id = ?", (submission_id,)
        )[0][0],
        "events": q("SELECT COUNT(*) FROM events WHERE aggregate_id = ?", (submission_id,))[0][0],
    }


def expected_rows(submission: dict[str, Any]) -> dict[str, int]:
    """What a committed submission of these forms must have left, by its final status."""
    status = submission["status"]
    if submission["formId"] == "contact":
        moves, notes = (1, 1) if status == "processed" else (0, 1)
    elif status == "approved":
        moves, notes = 1, 1  # e-mail on approval
    elif status == "pending_approval":
        moves, notes = 1, 1  # SMS to the manager
    else:  # a chaos condition kept it in 'submitted'
        moves, notes = 0, 0
    return {"history": moves, "notifications": notes, "events": 1 + moves}


@pytest.fixture
def chaos(host: Host, add_plugin: PluginFactory, sample: Callable[[str], Any]) -> Chaos:
    sample("contact")
    sample("expense-claim")
    plan = Chaos()

    def on_activate(plugin: Plugin) -> None:
        plugin.api.events.subscribe(
            "chaos.echo", lambda e: plugin.api.events.publish("chaos.echo", e["payload"])
        )

    add_plugin(
        "chaos",
        {h: chaos_handler(plan, h, mode) for h, mode in HOOKS.items()},
        permissions={
            "database": {"read": ["*"], "write": ["plugin_chaos_*"]},
            "events": ["subscribe", "publish"],
        },
        on_activate=on_activate,
    )
    return plan


def test_a_thousand_injected_failures_leave_no_partial_rows(host: Host, chaos: Chaos) -> None:
    rng = random.Random(20261125)
    answers = {
        "contact": synthetic("contact", 10**6, seed=1),
        "expense-claim": synthetic("expense-claim", 10**6, seed=2),
    }
    committed: dict[int, str] = {}
    aborted: list[int] = []
    attempt = 0
    host.admin.window_s = 0.0  # a row per recovery decision, counted at the end
    while chaos.injected < 1000:
        attempt += 1
        form_id = rng.choice(("contact", "expense-claim"))
        chaos.attempt, chaos.hook, chaos.action = (
            attempt,
            rng.choice(list(HOOKS)),
            rng.choice(ACTIONS),
        )
        before = operation_counts(host)
        try:
            result = host.submit(form_id, next(answers[form_id]), metadata={"attempt": attempt})
        except HostError as exc:
            assert exc.trace is not None and exc.trace.status == "aborted"
            assert operation_counts(host) == before, (
                f"attempt {attempt}: {chaos.action} at {chaos.hook} left rows behind"
            )
            aborted.append(attempt)
            continue
        saved = result.value
        committed[attempt] = saved["id"]
        assert submission_rows(host, saved["id"]) == expected_rows(saved), (
            f"attempt {attempt} is incomplete"
        )
        # Every call of the chaos plugin left its mark, including calls that failed after
        # writing (a contained failure keeps what the plugin wrote; see run.py).
        calls = sum(
            1
            for step in result.trace.steps
            if step.result is not None
            for o in step.result.outcomes
            if o.plugin_id == "chaos" and o.status != "skipped"
        )
        marks = host.db.query(
            "SELECT COUNT(*) FROM plugin_chaos_marks WHERE json_extract(doc, '$.attempt') = ?",
            (attempt,),
        )
        assert marks[0][0] == calls >= 13

    # Both outcomes happened often, and every kind of failure was injected somewhere.
    assert chaos.injected == 1000
    assert len(aborted) > 300 and len(committed) > 300
    assert {action for (_hook, action) in chaos.fired} == set(ACTIONS)
    assert len({hook for (hook, _action) in chaos.fired}) == len(HOOKS)

    # Nothing in the database belongs to an aborted attempt; nothing is orphaned.
    q = host.db.query
    assert q("SELECT COUNT(*) FROM submissions")[0][0] == len(committed)
    kept = {
        r[0] for r in q("SELECT DISTINCT json_extract(doc, '$.attempt') FROM plugin_chaos_marks")
    }
    assert kept == set(committed)
    logged = {
        r[0]
        for r in q(
            "SELECT DISTINCT json_extract(payload, '$.attempt') FROM events"
            " WHERE type = 'chaos.mark'"
        )
    }
    assert logged == set(committed)
    for table, column in (("status_history", "submission_id"), ("notifications", "submission_id")):
        orphans = q(
            f"SELECT COUNT(*) FROM {table} WHERE {column} NOT IN (SELECT id FROM submissions)"
        )
        assert orphans[0][0] == 0, table
    orphan_events = q(
        "SELECT COUNT(*) FROM events WHERE aggregate_type = 'submission'"
        " AND aggregate_id NOT IN (SELECT id FROM submissions)"
    )
    assert orphan_events[0][0] == 0
    assert q("SELECT COUNT(*) FROM submissions WHERE status = 'hijacked'")[0][0] == 0
    assert q("SELECT COUNT(*) FROM events WHERE type = 'chaos.echo'")[0][0] == 0

    # The administrator heard of every recovery decision, those of the aborted attempts
    # included: their notices were written after the rollback. (With the window of one
    # notice per minute set to 0 above: every decision has its row.)
    told = host.admin_notifications("chaos")
    assert len(told) == host.engine.recoveries.total > 300
    assert {n["error_type"] for n in told} == {"runtime_error", "security_error"}
