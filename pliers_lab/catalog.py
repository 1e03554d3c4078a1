"""The hook catalog: every core hook of the spec, its result mode and what it is for.

Result modes are data (DESIGN.md §3): dispatch looks the mode up here once, when a plugin
registers, and never branches on a hook's name.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from enum import IntEnum, StrEnum

__all__ = [
    "CORE_HOOKS",
    "HOOK_NAME_PATTERN",
    "HookPriority",
    "HookSpec",
    "ResultMode",
    "suggest_hook",
]


class HookPriority(IntEnum):
    """Named priorities of the spec; a higher number runs earlier."""

    CRITICAL = 1000
    HIGH = 500
    NORMAL = 100
    LOW = 50
    CLEANUP = 10


class ResultMode(StrEnum):
    """How the answers of the plugins on one hook combine into the hook's value.

    - ``collect``: every answer that is not ``None``, in execution order (a list).
    - ``validate``: answers are ``{valid, errors, warnings}`` (or a bool); merged, each
      error and warning tagged with its plugin; valid only if every plugin says so.
    - ``waterfall``: each plugin receives the previous plugin's output as ``ctx.data`` and
      returns the new data (``None`` keeps it unchanged); the value is the last output.
    - ``veto``: any plugin may refuse (``False``, ``Veto(reason)`` or
      ``{"allow": False, "reason": ...}``); the first refusal stops the chain.
    - ``first``: the first answer that is not ``None`` wins and stops the chain.
    """

    COLLECT = "collect"
    VALIDATE = "validate"
    WATERFALL = "waterfall"
    VETO = "veto"
    FIRST = "first"


@dataclass(frozen=True, slots=True)
class HookSpec:
    """One hook: its name, how results combine, and a one-line purpose."""

    name: str
    mode: ResultMode
    description: str
    custom: bool = False
    declared_by: str | None = None


C, V, W, X, F = (
    ResultMode.COLLECT,
    ResultMode.VALIDATE,
    ResultMode.WATERFALL,
    ResultMode.VETO,
    ResultMode.FIRST,
)

_CORE: list[tuple[str, ResultMode, str]] = [
    # Form lifecycle
    ("form.validate", V, "Validate a form definition before it is saved"),
    ("form.beforeCreate", X, "Before a form is created; a plugin may refuse"),
    ("form.afterCreate", C, "After a form was created"),
    ("form.beforeUpdate", X, "Before a form is updated; a plugin may refuse"),
    ("form.afterUpdate", C, "After a form was updated"),
    ("form.beforeDelete", X, "Before a form is deleted; a plugin may refuse"),
    ("form.afterDelete", C, "After a form was deleted"),
    # Form rendering and display
    ("form.render", W, "Customise how a form renders"),
    ("form.field.render", W, "Customise how one field renders"),
    ("form.validation.custom", V, "Add custom validation rules to a submission"),
    # Submission lifecycle
    ("submission.beforeValidate", V, "Check a submission before core validation"),
    ("submission.afterValidate", C, "After a submission was validated"),
    ("submission.beforeSave", X, "Before a submission is saved; a plugin may refuse"),
    ("submission.afterSave", C, "After a submission was saved"),
    ("submission.beforeProcess", X, "Before workflow processing; a plugin may refuse"),
    ("submission.afterProcess", C, "After workflow processing"),
    # Data transformation
    ("submission.transform", W, "Transform submission data"),
    ("submission.enrich", W, "Enrich submission data with more fields"),
    ("submission.sanitize", W, "Sanitise submission input"),
    # Workflow
    ("workflow.beforeTransition", X, "Before a status transition; a plugin may refuse"),
    ("workflow.afterTransition", C, "After a status transition"),
    ("workflow.condition", X, "Custom transition condition; any plugin may block it"),
    ("workflow.action", C, "Custom workflow actions run on a transition"),
    # Notification and communication
    ("notification.send", C, "Send notifications"),
    ("email.template", W, "Customise an e-mail template"),
    ("sms.send", F, "Send an SMS; the first gateway that sends it answers"),
    # System integration
    ("integration.sync", C, "Sync with external systems"),
    ("api.request", W, "Intercept (and rewrite) an API request"),
    ("api.response", W, "Modify an API response"),
    ("auth.authorize", X, "Custom authorisation; any plugin may deny"),
    ("auth.authenticate", F, "Custom authentication; the first plugin that knows the user answers"),
    # Data export and import
    ("export.format", F, "Custom export format; the plugin that knows the format answers"),
    ("import.validate", V, "Validate import data"),
    ("import.transform", W, "Transform import data"),
]

CORE_HOOKS: dict[str, HookSpec] = {name: HookSpec(name, mode, doc) for name, mode, doc in _CORE}

#: Hook names (core and custom): dot-separated segments of letters, digits, ``_`` or ``-``.
HOOK_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z][A-Za-z0-9_-]*)+$")


def suggest_hook(name: str, known: list[str] | None = None) -> str | None:
    """The closest known hook name, for "did you mean" hints."""
    pool = known if known is not None else list(CORE_HOOKS)
    matches = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    return matches[0] if matches else None
