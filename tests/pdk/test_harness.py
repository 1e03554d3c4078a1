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

    from pliers_lab.host._exceptions import OperationVetoed

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


def test_fakes_of_the_hosts_database_files_network_and_logs(pliers_harness):
    db = pliers_harness.mock_database({"customers": [{"id": 1, "email": "a@b.c", "tier": "gold"}]})
    files = pliers_harness.mock_file_system({"templates/welcome.txt": "Hello {name}"})
    net = pliers_harness.mock_network({"POST https://hooks.example.com/*": {"ok": True}})
    logs = pliers_harness.mock_logger()

    @hook("submission.afterSave")
    def after(ctx):
        email = ctx.data["submission"]["data"]["email"]
        customer = ctx.api.database.find_one("customers", {"email": email})
        new_id = ctx.api.database.insert("visits", {"email": email})
        text = ctx.api.files.read("templates/welcome.txt").format(name=email)
        ctx.api.files.write(f"sent/{new_id}.txt", text)
        answer = ctx.api.http.post("https://hooks.example.com/visit", json={"email": email})
        ctx.logger.info("welcomed", tier=customer and customer["tier"])
        return {"visit": new_id, "posted": answer["ok"], "files": ctx.api.files.list("sent")}

    pliers_harness.engine.add_plugin(
        manifest("greeter", {"submission.afterSave": {}}), {"after": after}
    )
    result = pliers_harness.fire(
        "submission.afterSave", pliers_harness.submission({"email": "a@b.c"})
    )
    assert result.value == [{"visit": 1, "posted": True, "files": ["1.txt"]}]
    assert db.tables["visits"] == [{"email": "a@b.c", "id": 1}]
    assert [op for op, _table, _arg in db.calls] == ["find", "insert"]
    assert files.files["sent/1.txt"] == "Hello a@b.c"
    assert net.calls == [("POST", "https://hooks.example.com/visit", {"json": {"email": "a@b.c"}})]
    assert logs.messages("greeter", "info") == ["welcomed"]
    assert logs.entries[0].fields == {"tier": "gold"}

    with pytest.raises(PermissionError, match="outside the plugin's data folder"):
        files.read("../etc/passwd")
    with pytest.raises(LookupError, match=r"no canned response for GET https://x\.test/"):
        net.get("https://x.test/")
    assert db.find("customers", order_by="-id", limit=1)[0]["email"] == "a@b.c"


def test_expect_event_and_expect_api(pliers_harness):
    from pathlib import Path

    extensions = Path(__file__).parents[2] / "extensions"
    pliers_harness.load_plugin(extensions / "webhook")
    form = {
        "id": "contact",
        "name": "Contact",
        "fields": [{"id": "f1", "name": "email", "label": "E", "type": "email", "required": True}],
    }
    pliers_harness.setup(form)
    pliers_harness.submit_form("contact", {"email": "ada@example.com"})
    pliers_harness.expect_event("submission.created").to_have_been_published(1)
    with pytest.raises(AssertionError, match=r"no submission\.created event with payload"):
        pliers_harness.expect_event("submission.created").with_payload(formId="other")
    with pytest.raises(AssertionError, match="published 0 time"):
        pliers_harness.expect_event("form.deleted").to_have_been_published()

    with pytest.raises(Exception, match=r"call harness\.serve"):
        pliers_harness.expect_api("GET /plugins/webhook/list")
    server = pliers_harness.serve()
    status, body = pliers_harness.request("GET", "/plugins/webhook/list")
    assert status == 401 and body["error"]["code"] == "AUTHENTICATION_REQUIRED"
    pliers_harness.expect_api("GET /plugins/webhook/list").to_have_been_called(0)  # not reached
    token = server.app.state.pliers.tokens.issue("ann", roles=["integrator"])
    status, body = pliers_harness.request(
        "GET", "/plugins/webhook/list", headers={"authorization": f"Bearer {token}"}
    )
    assert status == 200, body
    expectation = pliers_harness.expect_api("GET /plugins/webhook/list")
    expectation.to_have_been_called(1).to_have_answered(200)
    with pytest.raises(AssertionError, match="answered 1 call"):
        expectation.to_have_been_called(2)
