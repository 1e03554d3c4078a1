"""Form definitions: check one completely, then normalize it into the hooks' ``Form`` shape.

A definition is a dict (related-facts §10, trimmed to what the host uses)::

    {"id": "contact", "name": "Contact us",
     "fields": [{"name": "email", "type": "email", "required": True, ...}],
     "statusDefinitions": [{"name": "received", "isInitial": True, "category": "pending",
                            "allowedTransitions": [{"toStatus": "done", "auto": True}]}, ...],
     "settings": {"notifications": [{"channel": "email", "to": "{{email}}", ...}]},
     "metadata": {...}}

Every problem is reported at once with its path (``fields[2].validation.pattern``);
unknown keys are problems, not silently dropped. A form without ``statusDefinitions``
gets :data:`DEFAULT_WORKFLOW` (received → processed, automatic).
"""

from __future__ import annotations

import difflib
import json
import re
import uuid
from typing import Any

from ._fieldtypes import FieldTypes

__all__ = ["CATEGORIES", "CONDITION_OPS", "DEFAULT_WORKFLOW", "normalize_form"]

CATEGORIES = ("active", "pending", "completed", "cancelled", "error")
CONDITION_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "exists", "missing")
TEXT_FORMATS = ("plain", "email", "url", "phone")
CHANNELS = ("email", "sms")

DEFAULT_WORKFLOW: list[dict[str, Any]] = [
    {
        "name": "received",
        "category": "pending",
        "isInitial": True,
        "allowedTransitions": [{"toStatus": "processed", "auto": True}],
    },
    {"name": "processed", "category": "completed", "isFinal": True},
]

_FORM_KEYS = (
    "id",
    "name",
    "version",
    "fields",
    "statusDefinitions",
    "settings",
    "metadata",
    "tags",
)
_FIELD_KEYS = (
    "id",
    "name",
    "label",
    "type",
    "required",
    "readOnly",
    "defaultValue",
    "format",
    "validation",
    "options",
    "multiple",
    "acceptedCardTypes",
    "countryCode",
    "ui",
    "description",
    "placeholder",
)
_STATUS_KEYS = (
    "name",
    "label",
    "category",
    "isInitial",
    "isFinal",
    "allowedTransitions",
    "onEnter",
    "onExit",
)
_TRANSITION_KEYS = ("toStatus", "auto", "conditions", "requiredRoles")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_FORM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_STATUS = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


class _Problems(list[dict[str, Any]]):
    def add(self, path: str, message: str) -> None:
        self.append({"path": path, "message": message})

    def unknown_keys(self, path: str, value: dict[str, Any], known: tuple[str, ...]) -> None:
        for key in value:
            if key not in known:
                hint = difflib.get_close_matches(str(key), known, n=1)
                extra = f" (did you mean {hint[0]!r}?)" if hint else ""
                self.add(f"{path}{'.' if path else ''}{key}", f"unknown key{extra}")


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def normalize_form(
    definition: Any, types: FieldTypes, *, version: int = 1
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The normalized form and the problems found (an empty list means it is valid)."""
    problems = _Problems()
    if not isinstance(definition, dict):
        problems.add("", f"a form definition is a dict, got {type(definition).__name__}")
        return {}, problems
    problems.unknown_keys("", definition, _FORM_KEYS)
    form_id = definition.get("id") or uuid.uuid4().hex[:12]
    if not isinstance(form_id, str) or not _FORM_ID.match(form_id):
        problems.add(
            "id", "must be 1-64 letters, digits, '_' or '-', starting with a letter or digit"
        )
    name = definition.get("name")
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 100:
        problems.add("name", "must be text of 1 to 100 characters")
    fields = _fields(definition.get("fields"), types, problems)
    names = {f["name"] for f in fields}
    statuses = _statuses(definition.get("statusDefinitions"), names, problems)
    settings = _settings(definition.get("settings", {}), statuses, problems)
    metadata = definition.get("metadata", {})
    if not isinstance(metadata, dict):
        problems.add("metadata", "must be a dict")
        metadata = {}
    form = {
        "id": form_id,
        "name": name.strip() if isinstance(name, str) else name,
        "version": version,
        "fields": fields,
        "statusDefinitions": statuses,
        "settings": settings,
        "metadata": metadata,
    }
    if "tags" in definition:
        form["tags"] = definition["tags"]
    if not problems:
        try:
            json.dumps(form, allow_nan=False)
        except (TypeError, ValueError) as exc:
            problems.add("", f"must be JSON data: {exc}")
    return form, problems


def _fields(raw: Any, types: FieldTypes, problems: _Problems) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        problems.add("fields", "must be a non-empty list of fields")
        return []
    out, seen = [], set()
    for i, field in enumerate(raw):
        path = f"fields[{i}]"
        if not isinstance(field, dict):
            problems.add(path, f"a field is a dict, got {type(field).__name__}")
            continue
        problems.unknown_keys(path, field, _FIELD_KEYS)
        name = field.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            problems.add(f"{path}.name", "must be an identifier (letters, digits, '_')")
        elif name in seen:
            problems.add(f"{path}.name", f"duplicate field name {name!r}")
        seen.add(name)
        kind = field.get("type")
        if kind not in types:
            hint = difflib.get_close_matches(str(kind), types.names(), n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            problems.add(
                f"{path}.type",
                f"unknown field type {kind!r}{extra}; known: {', '.join(types.names())}",
            )
        for flag in ("required", "readOnly", "multiple"):
            if flag in field and not _is_bool(field[flag]):
                problems.add(f"{path}.{flag}", "must be true or false")
        if kind == "text" and field.get("format", "plain") not in TEXT_FORMATS:
            problems.add(f"{path}.format", f"must be one of {', '.join(TEXT_FORMATS)}")
        if kind == "select":
            options = field.get("options")
            if not isinstance(options, list) or not options:
                problems.add(f"{path}.options", "a select field needs a non-empty list of options")
        _field_validation(field.get("validation"), f"{path}.validation", problems)
        out.append(
            {
                "id": field.get("id", name),
                "label": field.get("label", name),
                **field,
                "required": bool(field.get("required", False)),
            }
        )
    return out


def _field_validation(rules: Any, path: str, problems: _Problems) -> None:
    if rules is None:
        return
    if not isinstance(rules, dict):
        problems.add(path, "must be a dict with min, max, pattern or custom")
        return
    problems.unknown_keys(path, rules, ("min", "max", "pattern", "custom"))
    for bound in ("min", "max"):
        value = rules.get(bound)
        if value is not None and (_is_bool(value) or not isinstance(value, int | float | str)):
            problems.add(f"{path}.{bound}", "must be a number (or an ISO date for date fields)")
    pattern = rules.get("pattern")
    if pattern is not None:
        try:
            re.compile(pattern)
        except (re.error, TypeError) as exc:
            problems.add(f"{path}.pattern", f"not a regular expression: {exc}")
    custom = rules.get("custom")
    if custom is not None and not (
        isinstance(custom, list) and all(isinstance(c, str) for c in custom)
    ):
        problems.add(f"{path}.custom", "must be a list of validator ids")


def _statuses(raw: Any, fields: set[str], problems: _Problems) -> list[dict[str, Any]]:
    if raw is None:
        raw = DEFAULT_WORKFLOW
    if not isinstance(raw, list) or not raw:
        problems.add("statusDefinitions", "must be a non-empty list of statuses")
        return []
    names = [s.get("name") for s in raw if isinstance(s, dict)]
    out = []
    for i, status in enumerate(raw):
        path = f"statusDefinitions[{i}]"
        if not isinstance(status, dict):
            problems.add(path, "a status is a dict")
            continue
        problems.unknown_keys(path, status, _STATUS_KEYS)
        name = status.get("name")
        if not isinstance(name, str) or not _STATUS.match(name):
            problems.add(f"{path}.name", "must be lowercase letters, digits, '_' or '-'")
        elif names.count(name) > 1:
            problems.add(f"{path}.name", f"duplicate status {name!r}")
        category = status.get("category", "active")
        if category not in CATEGORIES:
            problems.add(f"{path}.category", f"must be one of {', '.join(CATEGORIES)}")
        transitions = []
        for j, t in enumerate(status.get("allowedTransitions", [])):
            transitions.append(
                _transition(t, f"{path}.allowedTransitions[{j}]", names, fields, problems)
            )
        out.append(
            {
                **status,
                "label": status.get("label", name),
                "category": category,
                "isInitial": bool(status.get("isInitial", False)),
                "isFinal": bool(status.get("isFinal", False)),
                "allowedTransitions": transitions,
            }
        )
    initial = [s["name"] for s in out if s["isInitial"]]
    if len(initial) != 1:
        problems.add(
            "statusDefinitions", f"exactly one status must be isInitial, found {len(initial)}"
        )
    for i, status in enumerate(out):
        if status["isFinal"] and status["allowedTransitions"]:
            problems.add(f"statusDefinitions[{i}]", "a final status cannot have transitions")
    return out


def _transition(
    raw: Any, path: str, statuses: list[Any], fields: set[str], problems: _Problems
) -> dict[str, Any]:
    if not isinstance(raw, dict):
        problems.add(path, "a transition is a dict with toStatus")
        return {}
    problems.unknown_keys(path, raw, _TRANSITION_KEYS)
    if raw.get("toStatus") not in statuses:
        problems.add(f"{path}.toStatus", f"{raw.get('toStatus')!r} is not a status of this form")
    roles = raw.get("requiredRoles", [])
    if not (isinstance(roles, list) and all(isinstance(r, str) for r in roles)):
        problems.add(f"{path}.requiredRoles", "must be a list of role names")
    conditions = raw.get("conditions", [])
    if not isinstance(conditions, list):
        problems.add(f"{path}.conditions", "must be a list of {field, op, value}")
        conditions = []
    for k, cond in enumerate(conditions):
        where = f"{path}.conditions[{k}]"
        if not isinstance(cond, dict):
            problems.add(where, "a condition is {field, op, value}")
            continue
        if cond.get("field") not in fields:
            problems.add(f"{where}.field", f"{cond.get('field')!r} is not a field of this form")
        if cond.get("op", "eq") not in CONDITION_OPS:
            problems.add(f"{where}.op", f"must be one of {', '.join(CONDITION_OPS)}")
    if "auto" in raw and not _is_bool(raw["auto"]):
        problems.add(f"{path}.auto", "must be true or false")
    return {"auto": False, "conditions": [], "requiredRoles": [], **raw}


def _settings(raw: Any, statuses: list[dict[str, Any]], problems: _Problems) -> dict[str, Any]:
    if not isinstance(raw, dict):
        problems.add("settings", "must be a dict")
        return {}
    triggers = {"submit", *(f"status:{s.get('name')}" for s in statuses)}
    notes = raw.get("notifications", [])
    if not isinstance(notes, list):
        problems.add("settings.notifications", "must be a list")
        return raw
    for i, note in enumerate(notes):
        path = f"settings.notifications[{i}]"
        if not isinstance(note, dict):
            problems.add(path, "a notification is a dict")
            continue
        problems.unknown_keys(path, note, ("channel", "to", "subject", "body", "on"))
        if note.get("channel") not in CHANNELS:
            problems.add(f"{path}.channel", f"must be one of {', '.join(CHANNELS)}")
        for key in ("to", "body"):
            if not isinstance(note.get(key), str) or not note.get(key):
                problems.add(f"{path}.{key}", "must be non-empty text")
        if note.get("on", "submit") not in triggers:
            problems.add(f"{path}.on", f"must be one of {', '.join(sorted(triggers))}")
    return raw
