"""Field types: the form engine's built-ins plus the custom types the examples use.

The form engine (related-facts §10) knows text (format plain, email, url or phone),
number, date, select, file, relationship and calculated. The example plugins also use
``phone``, ``email`` and ``creditcard`` fields, so the host registers those as custom
types. A type is a checker ``(value, field) -> problem or None``; its constraints
(``validation.min``/``max``) measure what ``measure`` returns (length, value, size).

The checks here are structural (is it an e-mail address, a card object with a plausible
number); deeper checks (country plans, Luhn, card schemes) are plugins' work.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["BUILTIN_TYPES", "FieldType", "FieldTypes"]

Checker = Callable[[Any, dict[str, Any]], "str | None"]
Measure = Callable[[Any], Any]

_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,63}$"
)
_PHONE = re.compile(r"^\+?[0-9 ()./-]+$")
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.I)
_EXPIRY = re.compile(r"^(0[1-9]|1[0-2])/\d{2}$")
_DIGITS = str.maketrans("", "", "0123456789")


@dataclass(frozen=True, slots=True)
class FieldType:
    """One field type.

    Attributes:
        name: the ``type`` a field declares.
        check: ``(value, field) -> problem message or None``.
        measure: what ``validation.min``/``max`` compare (``None``: no bounds).
        custom: False for the form engine's built-ins.
    """

    name: str
    check: Checker
    measure: Measure | None = None
    custom: bool = False


def _text(value: Any, field: dict[str, Any]) -> str | None:
    if not isinstance(value, str):
        return f"must be text, got {type(value).__name__}"
    fmt = field.get("format", "plain")
    if fmt == "email":
        return _email(value, field)
    if fmt == "phone":
        return _phone(value, field)
    if fmt == "url" and not _URL.match(value):
        return "must be an http(s) URL"
    return None


def _number(value: Any, field: dict[str, Any]) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number, got {type(value).__name__}"
    if value != value or value in (float("inf"), float("-inf")):
        return "must be a finite number"
    return None


def _date(value: Any, field: dict[str, Any]) -> str | None:
    if not isinstance(value, str):
        return f"must be a date 'YYYY-MM-DD', got {type(value).__name__}"
    try:
        _dt.date.fromisoformat(value)
    except ValueError:
        return f"must be a date 'YYYY-MM-DD', got {value!r}"
    return None


def option_values(field: dict[str, Any]) -> list[Any]:
    """A select field's option values (options are values or ``{value, label}``)."""
    return [o["value"] if isinstance(o, dict) else o for o in field.get("options", [])]


def _select(value: Any, field: dict[str, Any]) -> str | None:
    options = option_values(field)
    chosen = value if field.get("multiple") else [value]
    if field.get("multiple") and not isinstance(value, list):
        return "must be a list of options"
    wrong = [v for v in chosen if v not in options]
    if wrong:
        shown = ", ".join(map(repr, options))
        return f"{', '.join(map(repr, wrong))} is not an option (options: {shown})"
    return None


def _file(value: Any, field: dict[str, Any]) -> str | None:
    if isinstance(value, str):
        return None
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        size = value.get("size", 0)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            return "file size must be a non-negative integer"
        return None
    return "must be a file name or {name, size, contentType}"


def _relationship(value: Any, field: dict[str, Any]) -> str | None:
    ok = isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(v, str) for v in value)
    )
    return None if ok else "must be an id or a list of ids"


def _calculated(value: Any, field: dict[str, Any]) -> str | None:
    return None


def _email(value: Any, field: dict[str, Any]) -> str | None:
    if not isinstance(value, str) or not _EMAIL.match(value.strip()):
        return "must be an e-mail address"
    return None


def _phone(value: Any, field: dict[str, Any]) -> str | None:
    if not isinstance(value, str) or not _PHONE.match(value.strip()):
        return "must be a phone number (digits, spaces, '-', '.', '(', ')', leading '+')"
    digits = len(value) - len(value.translate(_DIGITS))
    if not 6 <= digits <= 15:
        return f"must have 6 to 15 digits, got {digits}"
    return None


def _creditcard(value: Any, field: dict[str, Any]) -> str | None:
    if not isinstance(value, dict) or not isinstance(value.get("number"), str):
        return "must be a card object {number, expiry}"
    digits = re.sub(r"[ -]", "", value["number"])
    if not digits.isdigit() or not 12 <= len(digits) <= 19:
        return "card number must have 12 to 19 digits"
    if not _EXPIRY.match(str(value.get("expiry", "")).strip()):
        return "card expiry must be MM/YY"
    return None


def _length(value: Any) -> int:
    return len(value)


def _size(value: Any) -> Any:
    return value.get("size", 0) if isinstance(value, dict) else None


def _same(value: Any) -> Any:
    return value


def _count(value: Any) -> Any:
    return len(value) if isinstance(value, list) else None


BUILTIN_TYPES: tuple[FieldType, ...] = (
    FieldType("text", _text, _length),
    FieldType("number", _number, _same),
    FieldType("date", _date, _same),  # ISO dates compare as strings
    FieldType("select", _select, _count),
    FieldType("file", _file, _size),
    FieldType("relationship", _relationship),
    FieldType("calculated", _calculated),
    FieldType("email", _email, _length, custom=True),
    FieldType("phone", _phone, custom=True),
    FieldType("creditcard", _creditcard, custom=True),
)


class FieldTypes:
    """The types forms may use: the built-ins, the examples' custom types, and yours."""

    def __init__(self) -> None:
        self._types: dict[str, FieldType] = {t.name: t for t in BUILTIN_TYPES}

    def register(self, name: str, check: Checker, measure: Measure | None = None) -> FieldType:
        """Add (or replace) a custom field type; forms created afterwards may use it."""
        if not re.match(r"^[a-z][a-z0-9_-]*$", name):
            raise ValueError(f"field type name {name!r}: lowercase letters, digits, '_' or '-'")
        kind = FieldType(name, check, measure, custom=True)
        self._types[name] = kind
        return kind

    def get(self, name: str) -> FieldType | None:
        return self._types.get(name)

    def names(self) -> list[str]:
        return sorted(self._types)

    def __contains__(self, name: object) -> bool:
        return name in self._types
