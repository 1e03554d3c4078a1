"""The sample forms and generator, and the example plugins of ``extensions/``, unchanged,
through the host's whole pipeline."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest

from pliers_lab import Engine
from pliers_lab.host import Host, OperationVetoed, SubmissionInvalid
from pliers_lab.host.sample_forms import CONTACT, SAMPLE_FORMS, install, synthetic

EXPECTED = {
    "submission.beforeValidate": ["advanced-validation"],
    "submission.sanitize": ["submission-sanitizer"],
    "submission.transform": ["submission-sanitizer", "data-transform-chain"],
    "submission.enrich": ["data-transform-chain", "crm-integration"],
    "submission.beforeSave": ["submission-guard"],
    "submission.afterSave": ["crm-integration", "audit-log"],
    "workflow.afterTransition": ["audit-log"],
    "submission.afterProcess": ["audit-log"],
}


@pytest.fixture
def ext_host(extensions_engine: Engine) -> Iterator[Host]:
    h = Host.in_memory(extensions_engine)
    install(h)
    yield h
    h.close()


def test_the_generator_is_deterministic_and_its_answers_are_valid(host: Host) -> None:
    assert install(host) == list(SAMPLE_FORMS)
    assert install(host) == list(SAMPLE_FORMS)  # idempotent
    for form_id in SAMPLE_FORMS:
        assert list(synthetic(form_id, 5, seed=3)) == list(synthetic(form_id, 5, seed=3))
        assert list(synthetic(form_id, 5, seed=3)) != list(synthetic(form_id, 5, seed=4))
        for answers in synthetic(form_id, 20, seed=1):
            host.submit(form_id, answers)
    assert host.counts()["submissions"] == 60
    with pytest.raises(KeyError, match="no generator for form 'nope'"):
        next(synthetic("nope", 1))


def test_invalid_answers_can_be_mixed_in(host: Host) -> None:
    install(host, ["contact"])
    outcomes = []
    for answers in synthetic("contact", 40, seed=5, invalid_rate=0.5):
        try:
            host.submit("contact", answers)
            outcomes.append("ok")
        except SubmissionInvalid:
            outcomes.append("invalid")
    assert 5 < outcomes.count("invalid") < 35


def test_every_example_plugin_works_through_the_host(ext_host: Host) -> None:
    loaded = {p.id: (p.isolation, p.state.value) for p in ext_host.engine.plugins}
    for name in (
        "advanced-validation",
        "audit-log",
        "crm-integration",
        "csv-export",
        "data-transform-chain",
        "submission-guard",
        "submission-sanitizer",
    ):
        assert loaded[name] == ("inline", "active")
    for form_id in SAMPLE_FORMS:
        for answers in synthetic(form_id, 30, seed=11):
            result = ext_host.submit(form_id, answers)
            ran = {s.name: s.plugins for s in result.trace if s.result is not None}
            for hook_name, plugins in EXPECTED.items():
                assert ran.get(hook_name) == plugins, (form_id, hook_name)
            assert all(
                o.status == "ok"
                for s in result.trace
                if s.result is not None
                for o in s.result.outcomes
            )
            saved = ext_host.get_submission(result.value["id"])
            assert saved["metadata"]["enrichment"]["fieldCount"] >= 4
            audit = result.trace.step("submission.afterSave").result.value  # type: ignore[union-attr]
            assert (
                audit[0]["action"] == "submission.afterSave"
                and audit[0]["target"] == f"submission:{saved['id']}"
            )
    assert ext_host.counts()["submissions"] == 90


def test_the_transform_chain_and_the_sanitizer_change_what_is_saved(ext_host: Host) -> None:
    result = ext_host.submit(
        "contact",
        {
            "name": "  Grace   Hopper ",
            "email": "Grace@ACME.com",
            "phone": "(212) 555-0142",
            "topic": "sales",
            "message": "<script>alert(1)</script>Please <b>call</b> me   back",
        },
    )
    saved = ext_host.get_submission(result.value["id"])
    assert saved["data"]["name"] == "Grace Hopper"
    assert saved["data"]["email"] == "grace@acme.com"
    assert saved["data"]["phone"] == "+12125550142"
    assert saved["data"]["company"] == "Acme Corporation"
    assert saved["data"]["message"] == "Please call me back"
    assert [s["status"] for s in saved["metadata"]["transformLog"]] == ["applied", "applied"]
    assert saved["metadata"]["enrichment"]["emailDomain"] == "acme.com"


def test_the_guard_refuses_spam(ext_host: Host) -> None:
    good = {
        "name": "Ada",
        "email": "ada@example.org",
        "topic": "other",
        "message": "Hello there, friend.",
    }
    before = ext_host.counts()
    with pytest.raises(
        OperationVetoed,
        match=r"plugin 'submission-guard' at submission.beforeSave: "
        r"honeypot field 'website' was filled",
    ):
        ext_host.submit("contact", {**good, "website": "http://spam.example"})
    with pytest.raises(OperationVetoed, match=r"e-mail domain 'mailinator.com' is blocked"):
        ext_host.submit("contact", {**good, "email": "bot@mailinator.com"})
    assert ext_host.counts() == before
    for _ in range(5):
        ext_host.submit("contact", good, session_id="s-busy")
    with pytest.raises(OperationVetoed, match="session 's-busy' sent more than 5 submissions"):
        ext_host.submit("contact", good, session_id="s-busy")


def test_advanced_validation_refuses_bad_cards_and_phones(ext_host: Host) -> None:
    claim = next(synthetic("expense-claim", 1, seed=1))
    with pytest.raises(SubmissionInvalid) as caught:
        ext_host.submit(
            "expense-claim", {**claim, "card": {"number": "4111 1111 1111 1112", "expiry": "12/30"}}
        )
    [error] = caught.value.errors
    assert (error["field"], error["code"], error["plugin"]) == (
        "card",
        "card_checksum",
        "advanced-validation",
    )
    assert "card ending in 1112 is not a valid card number" in str(caught.value)


def test_form_hooks_of_the_examples(ext_host: Host) -> None:
    locked = {**copy.deepcopy(CONTACT), "id": "locked", "metadata": {"locked": True}}
    created = ext_host.create_form(locked)
    assert created.trace.step("form.afterCreate").result.value[0]["target"] == "form:locked"  # type: ignore[union-attr]
    warnings = created.trace.step("form.validate").result.value["warnings"]  # type: ignore[union-attr]
    assert warnings == []
    with pytest.raises(
        OperationVetoed, match=r"form 'locked' .Contact us. is locked; unlock it before deleting it"
    ):
        ext_host.delete_form("locked")
    assert "locked" in ext_host.forms.ids()


def test_exports_through_csv_export(ext_host: Host) -> None:
    for answers in synthetic("contact", 3, seed=2):
        ext_host.submit("contact", answers)
    csv = ext_host.export("contact", "csv").value
    assert (
        csv["contentType"] == "text/csv; charset=utf-8"
        and csv["filename"] == "contact-us-submissions.csv"
    )
    assert csv["body"].splitlines()[0] == "id,name,email,phone,company,topic,message,website,status"
    assert len(csv["body"].splitlines()) == 4
    assert ext_host.export("contact", "jsonl").value["body"].count("\n") == 3
    assert ext_host.export("contact", "json").value["contentType"] == "application/json"
