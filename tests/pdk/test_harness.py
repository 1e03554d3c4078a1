"""The test harness and the pytest fixtures plugin authors get."""

import pytest
from support import manifest

from pliers_lab import hook


def test_the_fixtures_are_registered_and_independent(pliers_engine, pliers_harness):
    assert pliers_harness.engine is pliers_engine and pliers_engine.plugins == []


def test_fake_services_answer_and_record_calls(pliers_harness):
    crm = pliers_harness.mock_external_service("crm", {"GET /contacts?email=a@b.c": {"id": 7}})

    @hook("submission.enrich")
    def enrich(ctx):
        found = ctx.api.crm.get("/contacts?email=" + ctx.data["submission"]["data"]["email"])
        return {**ctx.data, "crmContact": found}

    pliers_harness.engine.add_plugin(
        manifest("crm-enrich", {"submission.enrich": {}}), {"enrich": enrich}
    )
    result = pliers_harness.fire("submission.enrich", pliers_harness.submission({"email": "a@b.c"}))
    assert result.value["crmContact"] == {"id": 7}
    assert crm.calls == [("GET", "/contacts?email=a@b.c", None)]
    failing = pliers_harness.fire(
        "submission.enrich", pliers_harness.submission({"email": "x@y.z"})
    )
    assert (
        "no canned answer for GET /contacts?email=x@y.z"
        in failing.outcome("crm-enrich").error.message
    )


def test_hook_expectations_read_what_really_ran(pliers_harness):
    pliers_harness.engine.add_plugin(
        manifest("echo", {"workflow.action": {}}),
        {"a": hook("workflow.action")(lambda ctx: "done")},
    )
    pliers_harness.fire("workflow.action", {})
    pliers_harness.expect_hook("workflow.action").to_have_run(1).to_have_called("echo").to_return(
        ["done"]
    )
    with pytest.raises(AssertionError, match=r"expected form\.validate to run; it never did"):
        pliers_harness.expect_hook("form.validate").to_have_run()
    with pytest.raises(AssertionError, match="returned \\['done'\\], expected \\[\\]"):
        pliers_harness.expect_hook("workflow.action").to_return([])


def test_host_verbs_push_submissions_through_the_pipeline(pliers_harness):
    from pathlib import Path

    from pliers_lab.host.errors import OperationVetoed

    extensions = Path(__file__).parents[2] / "extensions"
    pliers_harness.load_plugin(extensions / "submission-guard")
    form = {
        "id": "contact",
        "name": "Contact",
        "fields": [
            {"id": "f1", "name": "email", "label": "E-mail", "type": "email", "required": True},
            {"id": "f2", "name": "website", "label": "Website", "type": "text", "required": False},
        ],
    }
    pliers_harness.setup(form)
    saved = pliers_harness.submit_form("contact", {"email": "ada@example.com", "website": ""})
    assert pliers_harness.get_submission(saved.value["id"])["data"]["email"] == "ada@example.com"
    with pytest.raises(OperationVetoed, match="honeypot"):
        pliers_harness.submit_form("contact", {"email": "bot@example.com", "website": "x"})
    guarded = pliers_harness.wait_for_hooks("submission.beforeSave")
    assert [r.value.allowed for r in guarded] == [True, False]
    assert pliers_harness.get_tasks() == []
