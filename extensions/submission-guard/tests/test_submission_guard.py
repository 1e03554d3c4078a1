"""submission-guard through the real engine: vetoes with specific reasons."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pliers_lab import Engine, PluginError, PluginErrorType, PluginState

PLUGIN_DIR = Path(__file__).parents[1]
PLUGIN = "submission-guard"

FORM = {
    "id": "newsletter",
    "name": "Newsletter",
    "version": 1,
    "metadata": {},
    "fields": [
        {"id": "e", "name": "email", "label": "E-mail", "type": "email", "required": True},
        {"id": "w", "name": "website", "label": "Website", "type": "text", "required": False},
    ],
}


@pytest.fixture
def engine() -> Iterator[Engine]:
    with Engine() as engine:
        engine.load(PLUGIN_DIR)
        yield engine


def save(engine: Engine, answers: dict[str, Any], session: str | None = None) -> Any:
    submission = {
        "id": "s-1",
        "formId": "newsletter",
        "data": answers,
        "metadata": {},
        "status": "new",
    }
    result = engine.fire(
        "submission.beforeSave", {"form": FORM, "submission": submission}, session_id=session
    )
    assert result.ok, result.summary()
    return result.value


def test_manifest_loads_and_plugin_is_active(engine: Engine) -> None:
    manifest = json.loads((PLUGIN_DIR / "manifest.json").read_text())
    assert {h: c["priority"] for h, c in manifest["hooks"].items()} == {
        "submission.beforeSave": 500,
        "form.beforeDelete": 500,
    }
    assert engine.plugin(PLUGIN).state is PluginState.ACTIVE
    for bad in (
        {"maxPerSessionPerMinute": 0},
        {"blockedDomains": ["not a domain"]},
        {"honeypotField": ""},
    ):
        with pytest.raises(PluginError) as info:
            engine.configure(PLUGIN, bad)
        assert info.value.type is PluginErrorType.CONFIG_ERROR


def test_ordinary_submission_is_allowed(engine: Engine) -> None:
    verdict = save(engine, {"email": "ann@acme.com", "website": ""})
    assert verdict.allowed is True and verdict.reason is None


def test_filled_honeypot_is_refused(engine: Engine) -> None:
    verdict = save(engine, {"email": "ann@acme.com", "website": "http://spam.example"})
    assert verdict.allowed is False
    assert verdict.reason == "honeypot field 'website' was filled"
    assert verdict.plugin == PLUGIN
    assert save(engine, {"email": "ann@acme.com", "website": "   "}).allowed is True


def test_honeypot_field_is_configurable(engine: Engine) -> None:
    engine.configure(PLUGIN, {"honeypotField": "fax"})
    assert save(engine, {"email": "ann@acme.com", "website": "acme.com"}).allowed is True
    assert save(engine, {"fax": "555"}).reason == "honeypot field 'fax' was filled"


@pytest.mark.parametrize(
    ("address", "domain"),
    [
        ("bot@mailinator.com", "mailinator.com"),
        ("  Bot@MAILINATOR.COM ", "mailinator.com"),
        ("x@eu.guerrillamail.com", "guerrillamail.com"),
    ],
)
def test_blocked_email_domains_are_refused(engine: Engine, address: str, domain: str) -> None:
    verdict = save(engine, {"email": address})
    assert verdict.allowed is False
    assert verdict.reason == f"e-mail domain {domain!r} is blocked (field 'email')"


def test_similar_but_unblocked_domains_pass(engine: Engine) -> None:
    assert save(engine, {"email": "ann@notmailinator.com"}).allowed is True
    engine.configure(PLUGIN, {"blockedDomains": ["acme.com"]})
    assert save(engine, {"email": "ann@mailinator.com"}).allowed is True
    assert save(engine, {"backup": "ann@acme.com"}).reason == (
        "e-mail domain 'acme.com' is blocked (field 'backup')"
    )


def test_rate_limit_per_session(engine: Engine) -> None:
    for _ in range(5):
        assert save(engine, {"email": "ann@acme.com"}, session="sess-a").allowed is True
    verdict = save(engine, {"email": "ann@acme.com"}, session="sess-a")
    assert verdict.allowed is False
    assert verdict.reason == "session 'sess-a' sent more than 5 submissions in the last minute"
    assert save(engine, {"email": "bob@acme.com"}, session="sess-b").allowed is True
    # without a session id there is nothing to count
    assert all(save(engine, {"email": "c@acme.com"}).allowed for _ in range(10))


def test_rate_limit_is_configurable(engine: Engine) -> None:
    engine.configure(PLUGIN, {"maxPerSessionPerMinute": 2})
    results = [save(engine, {"email": "ann@acme.com"}, session="s").allowed for _ in range(4)]
    assert results == [True, True, False, False]


def test_a_refusal_stops_lower_priority_plugins(engine: Engine, tmp_path: Path) -> None:
    probe = tmp_path / "store-quota"
    probe.mkdir()
    (probe / "manifest.json").write_text(
        json.dumps(
            {
                "name": "store-quota",
                "version": "1.0.0",
                "description": "Test probe on beforeSave",
                "author": "tests",
                "license": "MIT",
                "main": "plugin.py",
                "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
                "hooks": {"submission.beforeSave": {"priority": 100, "async": False}},
            }
        )
    )
    (probe / "plugin.py").write_text(
        "from pliers_lab import HookContext, hook\n\n"
        "@hook('submission.beforeSave')\n"
        "def allow(ctx: HookContext) -> None:\n"
        "    return None\n"
    )
    engine.load(probe)
    submission = {
        "id": "s-2",
        "formId": "newsletter",
        "data": {"website": "x"},
        "metadata": {},
        "status": "new",
    }
    result = engine.fire("submission.beforeSave", {"form": FORM, "submission": submission})
    assert result.value.allowed is False and result.value.plugin == PLUGIN
    assert result.outcomes[0].plugin_id == PLUGIN
    assert [o.status for o in result.outcomes if o.plugin_id == "store-quota"] in ([], ["skipped"])


def test_locked_forms_cannot_be_deleted(engine: Engine) -> None:
    locked = {**FORM, "metadata": {"locked": True}}
    verdict = engine.fire("form.beforeDelete", {"form": locked}).value
    assert verdict.allowed is False
    assert verdict.reason == (
        "form 'newsletter' (Newsletter) is locked; unlock it before deleting it"
    )
    for metadata in ({}, {"locked": False}, {"locked": "no"}):
        form = {**FORM, "metadata": metadata}
        assert engine.fire("form.beforeDelete", {"form": form}).value.allowed is True


def load_module() -> ModuleType:
    """The plugin module on its own, to drive the sliding window with a fake clock."""
    spec = importlib.util.spec_from_file_location(
        "submission_guard_plugin", PLUGIN_DIR / "plugin.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rate_limit_window_slides() -> None:
    guard = load_module()
    assert [guard._over_limit("s", t, 2) for t in (0.0, 10.0, 20.0)] == [False, False, True]
    assert guard._over_limit("s", 60.5, 2) is False  # the submission at 0.0 left the window
    assert guard._over_limit("s", 65.0, 2) is True
    assert guard._over_limit("s", 130.0, 2) is False
