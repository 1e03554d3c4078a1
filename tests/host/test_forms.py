"""Form operations: create, update, delete, render; their hooks, rows, events and errors."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from host.helpers import SIMPLE_FORM, PluginFactory, recorder

from pliers_lab import Veto
from pliers_lab.host import FormDefinitionError, Host, HostError, OperationVetoed, UnknownFormError
from pliers_lab.host._render import to_html

FORM_HOOKS = [
    "form.validate",
    "form.beforeCreate",
    "form.afterCreate",
    "form.beforeUpdate",
    "form.afterUpdate",
    "form.beforeDelete",
    "form.afterDelete",
]


def test_create_fires_validate_before_and_after_and_writes_rows(
    host: Host, add_plugin: PluginFactory
) -> None:
    seen = recorder(add_plugin, FORM_HOOKS)
    result = host.create_form(copy.deepcopy(SIMPLE_FORM), user_id="u-1")
    form = result.value
    assert [name for name, _ in seen] == ["form.validate", "form.beforeCreate", "form.afterCreate"]
    assert seen[1][1] == {"form": form}
    assert set(form) >= {
        "id",
        "name",
        "version",
        "fields",
        "metadata",
        "statusDefinitions",
        "settings",
    }
    assert host.get_form("simple") == form
    counts = host.counts()
    assert (
        counts["forms"],
        counts["form_fields"],
        counts["workflow_statuses"],
        counts["workflow_transitions"],
    ) == (1, 3, 2, 1)
    [event] = host.events(type="form.created")
    assert event["payload"]["formId"] == "simple" and event["payload"]["createdBy"] == "u-1"
    assert result.trace.names == [
        "check definition",
        "form.validate",
        "form.beforeCreate",
        "save",
        "form.afterCreate",
        "event form.created",
        "commit",
    ]


def test_a_broken_definition_never_reaches_plugins(host: Host, add_plugin: PluginFactory) -> None:
    seen = recorder(add_plugin, FORM_HOOKS)
    before = host.counts()
    with pytest.raises(FormDefinitionError) as caught:
        host.create_form({"id": "x", "name": "X", "fields": [{"name": "a", "type": "nope"}]})
    assert "fields[0].type: unknown field type 'nope'" in str(caught.value)
    assert seen == []
    assert host.counts() == before
    assert caught.value.trace is not None and caught.value.trace.status == "aborted"


def test_plugin_problems_from_form_validate_refuse_the_form(
    host: Host, add_plugin: PluginFactory
) -> None:
    add_plugin(
        "naming",
        {
            "form.validate": lambda ctx: {
                "valid": False,
                "errors": [
                    {"field": "name", "code": "style", "message": "field names must be camelCase"}
                ],
            }
        },
    )
    before = host.counts()
    with pytest.raises(
        FormDefinitionError, match=r"name: field names must be camelCase \[naming\]"
    ):
        host.create_form(copy.deepcopy(SIMPLE_FORM))
    assert host.counts() == before


def test_a_veto_before_create_names_plugin_hook_and_reason(
    host: Host, add_plugin: PluginFactory
) -> None:
    add_plugin(
        "freeze", {"form.beforeCreate": lambda ctx: Veto("form changes are frozen until Monday")}
    )
    before = host.counts()
    with pytest.raises(OperationVetoed) as caught:
        host.create_form(copy.deepcopy(SIMPLE_FORM))
    error = caught.value
    assert (error.plugin_id, error.hook, error.reason) == (
        "freeze",
        "form.beforeCreate",
        "form changes are frozen until Monday",
    )
    assert (
        str(error) == "create form refused by plugin 'freeze' at form.beforeCreate: "
        "form changes are frozen until Monday"
    )
    assert host.counts() == before


def test_duplicate_ids_are_refused(host: Host, simple: dict[str, Any]) -> None:
    with pytest.raises(FormDefinitionError, match="a form with this id exists"):
        host.create_form(copy.deepcopy(SIMPLE_FORM))


def test_update_bumps_the_version_and_shows_plugins_the_previous_form(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    seen = recorder(add_plugin, FORM_HOOKS)
    changed = copy.deepcopy(SIMPLE_FORM)
    changed["fields"].append({"name": "city", "type": "text"})
    form = host.update_form("simple", changed).value
    assert form["version"] == 2
    assert [n for n, _ in seen] == ["form.validate", "form.beforeUpdate", "form.afterUpdate"]
    assert seen[1][1]["previous"]["version"] == 1 and seen[1][1]["form"] is form
    assert host.counts()["form_fields"] == 4
    [event] = host.events(type="form.updated")
    assert event["payload"] == {
        "formId": "simple",
        "previousVersion": 1,
        "newVersion": 2,
        "changes": ["fields"],
        "updatedBy": None,
    }
    with pytest.raises(
        FormDefinitionError, match="stale: the form is at version 2, the update was made from 1"
    ):
        host.update_form("simple", {**changed, "version": 1})
    with pytest.raises(FormDefinitionError, match="cannot change a form's id"):
        host.update_form("simple", {**changed, "id": "other"})


def test_a_failed_update_leaves_form_and_cache_unchanged(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    add_plugin(
        "nope", {"form.afterUpdate": lambda ctx: None, "form.beforeUpdate": lambda ctx: Veto("no")}
    )
    with pytest.raises(OperationVetoed):
        host.update_form("simple", {**copy.deepcopy(SIMPLE_FORM), "name": "Renamed"})
    assert host.get_form("simple")["name"] == "Simple"
    assert host.get_form("simple")["version"] == 1


def test_delete_a_form_with_submissions_needs_purge(host: Host, simple: dict[str, Any]) -> None:
    host.submit("simple", {"name": "Ada", "email": "ada@example.org"})
    with pytest.raises(HostError, match=r"has 1 submission.*purge=True"):
        host.delete_form("simple")
    assert host.counts()["forms"] == 1
    host.delete_form("simple", purge=True)
    counts = host.counts()
    assert (
        counts["forms"],
        counts["form_fields"],
        counts["submissions"],
        counts["status_history"],
    ) == (0, 0, 0, 0)
    with pytest.raises(UnknownFormError, match="unknown form 'simple'"):
        host.get_form("simple")
    assert host.events(type="form.deleted")[0]["payload"]["purgedSubmissions"] == 1


def test_unknown_forms_are_named(host: Host, simple: dict[str, Any]) -> None:
    before = host.counts()
    for call in (
        lambda: host.update_form("ghost", {}),
        lambda: host.delete_form("ghost"),
        lambda: host.render_form("ghost"),
    ):
        with pytest.raises(UnknownFormError, match=r"unknown form 'ghost' \(forms: simple\)"):
            call()
    assert host.counts() == before


def test_render_runs_field_and_form_render_waterfalls(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    def star(ctx: Any) -> dict[str, Any]:
        view = {**ctx.data["view"], "label": ctx.data["view"]["label"].upper()}
        return {**ctx.data, "view": view}

    def title(ctx: Any) -> dict[str, Any]:
        return {**ctx.data, "view": {**ctx.data["view"], "submit": {"label": "Send"}}}

    add_plugin("shouty", {"form.field.render": star, "form.render": title})
    result = host.render_form("simple")
    view = result.value
    assert [f["label"] for f in view["fields"]] == ["NAME", "EMAIL", "AGE"]
    assert view["fields"][1]["widget"] == "email" and view["fields"][0]["attrs"] == {
        "min": 2,
        "max": 20,
    }
    assert view["submit"] == {"label": "Send"}
    assert result.trace.names.count("form.field.render") == 3
    html = to_html(view)
    assert '<label for="email">EMAIL *</label>' in html and "Send</button>" in html


def test_a_render_plugin_breaking_the_view_is_named(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    add_plugin("breaker", {"form.render": lambda ctx: {"html": "<p>"}})
    with pytest.raises(
        HostError,
        match=r"form.render \(plugin 'breaker'\): malformed payload at ctx.data: "
        r"the data must keep a 'view' dict",
    ):
        host.render_form("simple")
