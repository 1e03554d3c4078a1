"""Rendering a form: a view model built by the host, reshaped by plugins, and plain HTML.

Each field's view goes through ``form.field.render`` (data ``{"form", "field", "view"}``),
then the whole form's through ``form.render`` (data ``{"form", "view"}``); both are
waterfalls, so a plugin returns the data with a changed ``view``. A view::

    {"formId", "title", "version", "fields": [FieldView], "submit": {"label": "Submit"}}
    FieldView = {"name", "label", "widget", "required", "hidden", "attrs": {...},
                 "options": [...]}      # options for select fields only
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from ._fieldtypes import option_values

if TYPE_CHECKING:
    from ._run import Run

__all__ = ["field_view", "render", "to_html"]

_WIDGETS = {
    "text": "text",
    "number": "number",
    "date": "date",
    "select": "select",
    "file": "file",
    "relationship": "lookup",
    "calculated": "output",
    "email": "email",
    "phone": "tel",
    "creditcard": "card",
}
_TEXT_FORMATS = {"email": "email", "url": "url", "phone": "tel"}


def field_view(field: dict[str, Any]) -> dict[str, Any]:
    """The host's default view of one field."""
    ui = field.get("ui") or {}
    widget = ui.get("widget") or _WIDGETS.get(field["type"], "text")
    if field["type"] == "text":
        widget = ui.get("widget") or _TEXT_FORMATS.get(field.get("format", "plain"), "text")
    attrs = {
        k: v for k, v in (field.get("validation") or {}).items() if k in ("min", "max", "pattern")
    }
    if field.get("placeholder"):
        attrs["placeholder"] = field["placeholder"]
    view: dict[str, Any] = {
        "name": field["name"],
        "label": field.get("label", field["name"]),
        "widget": widget,
        "required": field["required"],
        "hidden": bool(ui.get("hidden")),
        "attrs": attrs,
    }
    if field["type"] == "select":
        view["options"] = option_values(field)
    return view


def _view_ok(key: str) -> Any:
    def check(data: Any) -> str | None:
        if not isinstance(data, dict) or not isinstance(data.get(key), dict):
            return f"the data must keep a '{key}' dict"
        return None

    return check


def render(run: Run, form: dict[str, Any]) -> dict[str, Any]:
    """Fire ``form.field.render`` per field and ``form.render``; returns the final view."""
    fields = []
    check_field = _view_ok("view")
    for field in form["fields"]:
        data = run.waterfall(
            "form.field.render",
            {"form": form, "field": field, "view": field_view(field)},
            check_field,
        )
        fields.append(data["view"])
    view = {
        "formId": form["id"],
        "title": form["name"],
        "version": form["version"],
        "fields": fields,
        "submit": {"label": "Submit"},
    }
    out = run.waterfall("form.render", {"form": form, "view": view}, _view_ok("view"))
    result: dict[str, Any] = out["view"]
    return result


def to_html(view: dict[str, Any]) -> str:
    """A plain HTML form for a view (what a notebook shows)."""
    esc = html.escape
    rows = [
        f'<form data-form="{esc(str(view.get("formId", "")))}">',
        f"<h3>{esc(str(view.get('title', '')))}</h3>",
    ]
    for f in view.get("fields", []):
        if f.get("hidden"):
            rows.append(f'<input type="hidden" name="{esc(f["name"])}">')
            continue
        star = " *" if f.get("required") else ""
        label = f'<label for="{esc(f["name"])}">{esc(str(f.get("label", f["name"])))}{star}</label>'
        attrs = "".join(
            f' {esc(str(k))}="{esc(str(v))}"' for k, v in (f.get("attrs") or {}).items()
        )
        if f.get("widget") == "select":
            options = "".join(f"<option>{esc(str(o))}</option>" for o in f.get("options", []))
            control = f'<select name="{esc(f["name"])}"{attrs}>{options}</select>'
        else:
            control = (
                f'<input type="{esc(str(f.get("widget", "text")))}" name="{esc(f["name"])}"{attrs}>'
            )
        rows.append(f"<div>{label} {control}</div>")
    rows.append(
        f'<button type="submit">{esc(str(view.get("submit", {}).get("label", "Submit")))}'
        "</button></form>"
    )
    return "\n".join(rows)
