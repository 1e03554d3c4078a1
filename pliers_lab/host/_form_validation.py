"""Core validation of a submission's answers against its form.

Rules are compiled once per form version (patterns compiled, types looked up), so the
check per submission is a flat loop. Every problem is reported, not just the first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ._fieldtypes import FieldType, FieldTypes

__all__ = ["FieldRule", "FormRules", "issue"]

_EMPTY: tuple[Any, ...] = (None, "", [], {})
_UNITS = {"text": " characters", "email": " characters", "select": " choices", "file": " bytes"}


def issue(field: str | None, code: str, message: str) -> dict[str, Any]:
    """A validation problem, in the shape validate hooks use."""
    return {"field": field, "code": code, "message": message}


@dataclass(frozen=True, slots=True)
class FieldRule:
    """What one field demands of its answer."""

    name: str
    label: str
    field: dict[str, Any]
    kind: FieldType
    required: bool
    minimum: Any
    maximum: Any
    pattern: re.Pattern[str] | None


class FormRules:
    """The compiled checks of one form version."""

    def __init__(self, form: dict[str, Any], types: FieldTypes) -> None:
        rules = []
        for field in form["fields"]:
            kind = types.get(field["type"])
            if kind is None:  # the definition check refuses these; be safe anyway
                raise ValueError(f"field {field['name']!r}: unknown type {field['type']!r}")
            validation = field.get("validation") or {}
            pattern = validation.get("pattern")
            rules.append(
                FieldRule(
                    field["name"],
                    field.get("label") or field["name"],
                    field,
                    kind,
                    bool(field.get("required")),
                    validation.get("min"),
                    validation.get("max"),
                    re.compile(pattern) if isinstance(pattern, str) else None,
                )
            )
        self.rules = tuple(rules)
        self.names = frozenset(r.name for r in rules)
        # The hot loop reads plain tuples: (name, check, field, bounded, rule).
        self._flat = tuple(
            (r.name, r.kind.check, r.field, r.minimum is not None or r.maximum is not None, r)
            for r in rules
        )

    def check(self, answers: dict[str, Any]) -> list[dict[str, Any]]:
        """Every problem of ``answers``: required, type, min/max, pattern, options."""
        problems: list[dict[str, Any]] = []
        for name, check, field, bounded, rule in self._flat:
            value = answers.get(name)
            if value in _EMPTY:
                if rule.required:
                    problems.append(issue(name, "required", f"{rule.label!r} is required"))
                continue
            problem = check(value, field)
            if problem is not None:
                problems.append(issue(name, "type", f"{rule.label!r} {problem}"))
                continue
            if bounded:
                self._bounds(rule, value, problems)
            if (
                rule.pattern is not None
                and isinstance(value, str)
                and not rule.pattern.fullmatch(value)
            ):
                problems.append(
                    issue(
                        rule.name,
                        "pattern",
                        f"{rule.label!r} does not match {rule.pattern.pattern!r}",
                    )
                )
        return problems

    @staticmethod
    def _bounds(rule: FieldRule, value: Any, problems: list[dict[str, Any]]) -> None:
        measure = rule.kind.measure
        size = measure(value) if measure is not None else None
        if size is None:
            return
        unit = _UNITS.get(rule.kind.name, "")
        try:
            if rule.minimum is not None and size < rule.minimum:
                problems.append(
                    issue(rule.name, "min", f"{rule.label!r} must be at least {rule.minimum}{unit}")
                )
            elif rule.maximum is not None and size > rule.maximum:
                problems.append(
                    issue(rule.name, "max", f"{rule.label!r} must be at most {rule.maximum}{unit}")
                )
        except TypeError:
            problems.append(
                issue(rule.name, "type", f"{rule.label!r} cannot be compared with its bounds")
            )
