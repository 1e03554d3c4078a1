"""audit-log through the real engine: collected entries on every after-hook."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pliers_lab import Engine, PluginError, PluginErrorType, PluginState

PLUGIN_DIR = Path(__file__).parents[1]
PLUGIN = "audit-log"

FORM: dict[str, Any] = {
    "id": "f-9",
    "name": "Job application",
    "version": 4,
    "metadata": {},
    "fields": [
        {"id": "a", "name": "name", "label": "Name", "type": "text", "required": True},
        {"id": "b", "name": "password", "label": "Password", "type": "text", "required": True},
    ],
}
SUBMISSION: dict[str, Any] = {
    "id": "s-1",
    "formId": "f-9",
    "status": "submitted",
    "metadata": {},
    "data": {
        "name": "Ann",
        "Password": "hunter2",
        "payment": {"cardNumber": "4111111111111111", "holder": "Ann"},
    },
}
TRANSITION = {"from": "submitted", "to": "approved", "by": "reviewer-3"}

HOOKS: dict[str, tuple[dict[str, Any], str]] = {
    "form.afterCreate": ({"form": FORM}, "form:f-9"),
    "form.afterUpdate": ({"form": FORM}, "form:f-9"),
    "form.afterDelete": ({"form": FORM}, "form:f-9"),
    "submission.afterSave": ({"form": FORM, "submission": SUBMISSION}, "submission:s-1"),
    "submission.afterProcess": ({"form": FORM, "submission": SUBMISSION}, "submission:s-1"),
    "workflow.afterTransition": (
        {"form": FORM, "submission": SUBMISSION, "transition": TRANSITION},
        "submission:s-1",
    ),
}


@pytest.fixture
def engine() -> Iterator[Engine]:
    with Engine() as engine:
        engine.load(PLUGIN_DIR)
        yield engine


def only_entry(engine: Engine, hook: str, data: dict[str, Any], **who: Any) -> dict[str, Any]:
    result = engine.fire(hook, data, **who)
    assert result.ok, result.summary()
    [entry] = result.value
    assert isinstance(entry, dict)
    return entry


def test_manifest_loads_and_plugin_is_active(engine: Engine) -> None:
    manifest = json.loads((PLUGIN_DIR / "manifest.json").read_text())
    assert set(manifest["hooks"]) == set(HOOKS)
    assert {config["priority"] for config in manifest["hooks"].values()} == {10}
    assert engine.plugin(PLUGIN).state is PluginState.ACTIVE
    for bad in ({"maxEntries": 0}, {"redactFields": "password"}, {"includeData": 1}):
        with pytest.raises(PluginError) as info:
            engine.configure(PLUGIN, bad)
        assert info.value.type is PluginErrorType.CONFIG_ERROR


@pytest.mark.parametrize("hook", list(HOOKS))
def test_every_after_hook_is_audited(engine: Engine, hook: str) -> None:
    data, target = HOOKS[hook]
    before = time.time()
    result = engine.fire(hook, data, user_id="u-7", session_id="sess-1")
    [entry] = result.value
    assert entry["action"] == hook
    assert entry["target"] == target
    assert entry["actor"] == "u-7"
    assert entry["executionId"] == result.execution_id
    assert before - 1 <= entry["at"] <= time.time() + 1
    assert "data" not in entry


def test_actor_falls_back_to_transition_author_then_anonymous(engine: Engine) -> None:
    data, _ = HOOKS["workflow.afterTransition"]
    entry = only_entry(engine, "workflow.afterTransition", data)
    assert entry["actor"] == "reviewer-3"
    assert entry["transition"] == {"from": "submitted", "to": "approved"}
    assert (
        only_entry(engine, "submission.afterSave", HOOKS["submission.afterSave"][0])["actor"]
        == "anonymous"
    )


def test_data_is_included_and_redacted_when_configured(engine: Engine) -> None:
    engine.configure(PLUGIN, {"includeData": True})
    entry = only_entry(engine, "submission.afterSave", HOOKS["submission.afterSave"][0])
    assert entry["data"] == {
        "name": "Ann",
        "Password": "***",
        "payment": {"cardNumber": "***", "holder": "Ann"},
    }
    assert SUBMISSION["data"]["Password"] == "hunter2"  # the hook's data is untouched

    engine.configure(PLUGIN, {"includeData": True, "redactFields": ["holder"]})
    entry = only_entry(engine, "submission.afterSave", HOOKS["submission.afterSave"][0])
    assert entry["data"]["Password"] == "hunter2"
    assert entry["data"]["payment"] == {"cardNumber": "4111111111111111", "holder": "***"}


def test_form_entries_carry_a_summary_of_the_form(engine: Engine) -> None:
    engine.configure(PLUGIN, {"includeData": True})
    entry = only_entry(engine, "form.afterUpdate", {"form": FORM}, user_id="admin")
    assert entry["data"] == {
        "name": "Job application",
        "version": 4,
        "fields": ["name", "password"],
    }


def test_audit_runs_after_normal_priority_plugins(engine: Engine, tmp_path: Path) -> None:
    probe = tmp_path / "notifier"
    probe.mkdir()
    (probe / "manifest.json").write_text(
        json.dumps(
            {
                "name": "notifier",
                "version": "1.0.0",
                "description": "Test probe on afterSave",
                "author": "tests",
                "license": "MIT",
                "main": "plugin.py",
                "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
                "hooks": {"submission.afterSave": {"priority": 100, "async": False}},
            }
        )
    )
    (probe / "plugin.py").write_text(
        "from pliers_lab import HookContext, hook\n\n"
        "@hook('submission.afterSave')\n"
        "def notify(ctx: HookContext) -> str:\n"
        "    return 'notified ' + ctx.data['submission']['id']\n"
    )
    engine.load(probe)
    result = engine.fire("submission.afterSave", HOOKS["submission.afterSave"][0])
    assert [o.plugin_id for o in result.outcomes] == ["notifier", PLUGIN]
    assert result.value[0] == "notified s-1"
    assert result.value[1]["target"] == "submission:s-1"


def test_recent_entries_are_kept_in_a_bounded_trail(engine: Engine) -> None:
    engine.unload(PLUGIN)
    engine.trust(PLUGIN)  # reads the module's trail, so it runs inline
    engine.load(PLUGIN_DIR)
    module = engine.plugin(PLUGIN).module
    assert module is not None
    data = HOOKS["submission.afterSave"][0]
    ids = [engine.fire("submission.afterSave", data).execution_id for _ in range(3)]
    assert [entry["executionId"] for entry in module.trail()] == ids

    engine.configure(PLUGIN, {"maxEntries": 2})  # shrinking keeps the newest entries
    assert [entry["executionId"] for entry in module.trail()] == ids[1:]
    ids.append(engine.fire("form.afterDelete", {"form": FORM}).execution_id)
    assert [entry["executionId"] for entry in module.trail()] == ids[2:]

    engine.unload(PLUGIN)
    assert module.trail() == []
