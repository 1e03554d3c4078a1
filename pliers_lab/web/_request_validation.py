"""Request validation against an endpoint's ``validation{params, query, body}`` schemas.

Schemas are checked and compiled once, when the route registers (``jsonschema`` is
imported then, only if some endpoint declares a schema). Path parameters and query values
arrive as strings; where a schema property asks for ``integer``, ``number`` or
``boolean``, the string is converted first (as ajv's ``coerceTypes`` does for Express
apps), and a value that does not convert stays a string so the schema reports it. Query
properties with a ``default`` get it when absent. The handler then sees the converted
values. Every violation is listed with its path (``query.limit``, ``body.items[2].id``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..config import import_jsonschema
from ..manifest.models import EndpointValidation

__all__ = ["Problem", "RequestValidator", "SchemaProblem", "coerce"]

Problem = dict[str, Any]
_PARTS = ("params", "query", "body")
_REQUIRED = re.compile(r"^'(.+)' is a required property$")


class SchemaProblem(ValueError):
    """An endpoint's request schema is not a valid JSON Schema."""


def _types(schema: Any) -> tuple[str, ...]:
    kind = schema.get("type") if isinstance(schema, Mapping) else None
    if isinstance(kind, str):
        return (kind,)
    if isinstance(kind, list):
        return tuple(k for k in kind if isinstance(k, str))
    return ()


def _convert(text: str, kinds: tuple[str, ...]) -> Any:
    if "string" in kinds:
        return text
    for kind in kinds:
        if kind == "integer":
            try:
                return int(text, 10)
            except ValueError:
                continue
        if kind == "number":
            try:
                value = float(text)
            except ValueError:
                continue
            return int(value) if value.is_integer() and "." not in text else value
        if kind == "boolean" and text in ("true", "false"):
            return text == "true"
        if kind == "null" and text in ("", "null"):
            return None
    return text


def coerce(
    schema: Mapping[str, Any], values: Mapping[str, str], *, defaults: bool
) -> dict[str, Any]:
    """``values`` (strings) converted to the types ``schema``'s properties declare."""
    props = schema.get("properties")
    props = props if isinstance(props, Mapping) else {}
    out: dict[str, Any] = {}
    for name, text in values.items():
        kinds = _types(props.get(name))
        out[name] = _convert(text, kinds) if kinds and isinstance(text, str) else text
    if defaults:
        for name, prop in props.items():
            if name not in out and isinstance(prop, Mapping) and "default" in prop:
                out[name] = prop["default"]
    return out


def _path(part: str, parts: Any) -> str:
    text = part
    for p in parts:
        text += f"[{p}]" if isinstance(p, int) else f".{p}"
    return text


class RequestValidator:
    """The compiled schemas of one endpoint; ``SchemaProblem`` if one is invalid."""

    __slots__ = ("_validators", "schemas")

    def __init__(self, validation: EndpointValidation) -> None:
        import_jsonschema()
        from jsonschema import exceptions, validators

        self.schemas: dict[str, Mapping[str, Any]] = {}
        self._validators: dict[str, Any] = {}
        for part in _PARTS:
            schema = getattr(validation, part)
            if schema is None:
                continue
            cls = validators.validator_for(schema, default=validators.Draft202012Validator)
            try:
                cls.check_schema(schema)
            except exceptions.SchemaError as exc:
                where = _path(f"validation.{part}", exc.absolute_path)
                raise SchemaProblem(f"invalid JSON Schema at {where}: {exc.message}") from None
            self.schemas[part] = schema
            self._validators[part] = cls(schema, format_checker=cls.FORMAT_CHECKER)

    def validate(
        self, params: Mapping[str, str], query: Mapping[str, str], body: Any
    ) -> tuple[list[Problem], dict[str, Any], dict[str, Any]]:
        """``(problems, params, query)``: every violation, and the converted values."""
        problems: list[Problem] = []
        out_params: dict[str, Any] = dict(params)
        out_query: dict[str, Any] = dict(query)
        for part, validator in self._validators.items():
            value: Any = body
            if part == "params":
                value = out_params = coerce(self.schemas[part], params, defaults=False)
            elif part == "query":
                value = out_query = coerce(self.schemas[part], query, defaults=True)
            errors = sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.path)))
            problems.extend(_problem(part, error) for error in errors)
        return problems, out_params, out_query


def _problem(part: str, error: Any) -> Problem:
    parts = list(error.absolute_path)
    if error.validator == "required":  # name the missing property, not its parent
        missing = _REQUIRED.match(error.message)
        if missing:
            return {"path": _path(part, [*parts, missing.group(1)]), "message": error.message}
    value = error.instance
    shown = value if value is None or isinstance(value, str | int | float | bool) else None
    return {"path": _path(part, parts), "message": error.message, "value": shown}
