"""A form's workflow: its statuses and allowed transitions (related-facts §10), compiled.

A transition is ``{"toStatus", "auto", "conditions", "requiredRoles"}`` on its source
status. ``auto`` transitions are taken by the host when a submission is processed: the
first one (in definition order) whose conditions hold. Conditions are declarative,
``{"field": "amount", "op": "lte", "value": 100}``, evaluated on the submission's answers;
plugins add their own through ``workflow.condition``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from typing import Any

from ._exceptions import TransitionError

__all__ = ["Workflow", "describe_condition"]

_MISSING = object()
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "in": lambda a, b: a in b,
    "not_in": lambda a, b: a not in b,
}


def describe_condition(cond: dict[str, Any]) -> str:
    op = cond.get("op", "eq")
    if op in ("exists", "missing"):
        return f"{cond['field']} {op}"
    return f"{cond['field']} {op} {cond.get('value')!r}"


def _holds(cond: dict[str, Any], answers: dict[str, Any]) -> bool:
    value = answers.get(cond["field"], _MISSING)
    op = cond.get("op", "eq")
    present = value is not _MISSING and value not in (None, "")
    if op == "exists":
        return present
    if op == "missing":
        return not present
    if value is _MISSING:
        return False
    try:
        return bool(_COMPARE[op](value, cond.get("value")))
    except TypeError:
        return False


class Workflow:
    """The statuses of one form version and the transitions between them."""

    def __init__(self, form: dict[str, Any]) -> None:
        self.form_id: str = form["id"]
        self.statuses: dict[str, dict[str, Any]] = {s["name"]: s for s in form["statusDefinitions"]}
        self.initial: str = next(s["name"] for s in form["statusDefinitions"] if s["isInitial"])
        self.transitions: dict[tuple[str, str], dict[str, Any]] = {}
        self.automatic_from: dict[str, tuple[dict[str, Any], ...]] = {}
        for status in form["statusDefinitions"]:
            outgoing = status["allowedTransitions"]
            for t in outgoing:
                self.transitions[(status["name"], t["toStatus"])] = t
            self.automatic_from[status["name"]] = tuple(t for t in outgoing if t["auto"])

    def targets(self, source: str) -> list[str]:
        """Where a submission in ``source`` may go."""
        return [to for (frm, to) in self.transitions if frm == source]

    def get(self, submission_id: str, source: str, target: str) -> dict[str, Any]:
        """The transition ``source -> target``, or ``TransitionError`` naming the allowed ones."""
        found = self.transitions.get((source, target))
        if found is None:
            raise TransitionError(self.form_id, submission_id, source, target, self.targets(source))
        return found

    def failing_condition(
        self, transition: dict[str, Any], answers: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The first declarative condition that does not hold (None: all hold)."""
        conditions: list[dict[str, Any]] = transition["conditions"]
        for cond in conditions:
            if not _holds(cond, answers):
                return cond
        return None

    def automatic(self, source: str, answers: dict[str, Any]) -> dict[str, Any] | None:
        """The first automatic transition from ``source`` whose conditions hold."""
        for t in self.automatic_from.get(source, ()):
            if self.failing_condition(t, answers) is None:
                return t
        return None

    @staticmethod
    def missing_roles(transition: dict[str, Any], roles: Iterable[str]) -> list[str]:
        """The required roles (any one suffices) when ``roles`` has none of them."""
        required = transition["requiredRoles"]
        if not required or set(required) & set(roles):
            return []
        return list(required)
