"""Plugin permissions: both spellings of the spec, one normalized shape.

The manifest example lists bare verbs (``"database": ["read"]``); the spec's
``PluginPermissions`` maps each verb to the resources it covers
(``"database": {"read": ["submissions"], "write": ["plugin_*"]}``,
``"network": {"outbound": ["api.example.com:443"], "inbound": true}``). Both are accepted
and normalized to ``{verb: (resource pattern, ...)}`` per category:

- a bare verb, or a verb mapped to ``true``, grants ``("*",)``: every resource inside the
  plugin's scope (the sandbox policy still decides what that scope is);
- a verb mapped to ``false`` or to an empty list grants nothing and is left out;
- resource patterns are fnmatch-style (``plugin_*``, ``*.example.com:443``).

So ``["read"]``, ``{"read": true}`` and ``{"read": ["*"]}`` are the same permission.

``network.inbound`` is what lets a plugin declare ``api.endpoints``: ``true`` for all of
them, or patterns of their paths (``/plugins/webhook/*``); a manifest whose endpoints it
does not cover is refused (``Manifest``), and the web layer checks it again.
"""

from __future__ import annotations

import difflib
from fnmatch import fnmatchcase
from typing import Any

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import InitErrorDetails

from .fields import StrictModel
from .problems import describe, fail, located

__all__ = ["VERBS", "Permissions"]

#: The verbs of each permission category.
VERBS: dict[str, tuple[str, ...]] = {
    "database": ("read", "write", "execute"),
    "network": ("outbound", "inbound"),
    "filesystem": ("read", "write"),
    "events": ("subscribe", "publish"),
    "api": ("register", "call"),
}

Grants = dict[str, tuple[str, ...]]


def _bad_verb(loc: tuple[str | int, ...], verb: object, verbs: tuple[str, ...]) -> InitErrorDetails:
    match = difflib.get_close_matches(verb, verbs, n=1, cutoff=0.7) if isinstance(verb, str) else []
    return located(
        loc,
        f"must be one of: {', '.join(verbs)} (got {describe(verb)})",
        verb,
        f'did you mean "{match[0]}"?' if match else None,
    )


def _resources(verb: str, value: object, errors: list[InitErrorDetails]) -> tuple[str, ...]:
    if value is True:
        return ("*",)
    if value is False:
        return ()
    if not isinstance(value, list | tuple):
        errors.append(
            located(
                (verb,),
                (f"expected a list of resource patterns or true/false, got {describe(value)}"),
                value,
            )
        )
        return ()
    good = []
    for i, item in enumerate(value):
        if isinstance(item, str) and item:
            good.append(item)
        else:
            errors.append(
                located(
                    (verb, i),
                    (f"expected a resource pattern (a non-empty string), got {describe(item)}"),
                    item,
                )
            )
    return tuple(dict.fromkeys(good))


def normalize(value: Any, verbs: tuple[str, ...]) -> Grants:
    """One category in either form → ``{verb: patterns}``, verbs in canonical order."""
    errors: list[InitErrorDetails] = []
    grants: Grants = {}
    if isinstance(value, list | tuple):
        for i, verb in enumerate(value):
            if isinstance(verb, str) and verb in verbs:
                grants[verb] = ("*",)
            else:
                errors.append(_bad_verb((i,), verb, verbs))
    elif isinstance(value, dict):
        for verb, resources in value.items():
            if isinstance(verb, str) and verb in verbs:
                grants[verb] = _resources(verb, resources, errors)
            else:
                errors.append(_bad_verb((verb,), verb, verbs))
    else:
        errors.append(
            located(
                (),
                (
                    "expected a list of verbs or an object mapping verbs to resources, "
                    f"got {describe(value)}"
                ),
                value,
            )
        )
    fail(errors)
    return {verb: grants[verb] for verb in verbs if grants.get(verb)}


class Permissions(StrictModel):
    """What a plugin may touch, per category: ``{verb: (resource pattern, ...)}``.

    See the module docstring for the two accepted input forms. Unknown categories and verbs
    are problems, not ignored.
    """

    database: Grants = Field(default_factory=dict)
    network: Grants = Field(default_factory=dict)
    filesystem: Grants = Field(default_factory=dict)
    events: Grants = Field(default_factory=dict)
    api: Grants = Field(default_factory=dict)

    @field_validator(*VERBS, mode="before")
    @classmethod
    def _normalize(cls, value: Any, info: ValidationInfo) -> Grants:
        return normalize(value, VERBS[str(info.field_name)])

    def allows(self, category: str, verb: str, resource: str = "*") -> bool:
        """Whether ``verb`` on ``resource`` is granted (fnmatch against the patterns).

        Raises ``ValueError`` for a category or verb that does not exist: a typo in a
        permission check must not read as "denied" forever.
        """
        if category not in VERBS or verb not in VERBS[category]:
            raise ValueError(f"no permission {category}.{verb}; known: {_known()}")
        grants: Grants = getattr(self, category)
        return any(fnmatchcase(resource, pattern) for pattern in grants.get(verb, ()))

    def as_rows(self) -> list[tuple[str, str, str]]:
        """``(category, verb, resource pattern)`` rows, for tables and DataFrames."""
        return [
            (category, verb, pattern)
            for category in VERBS
            for verb, patterns in getattr(self, category).items()
            for pattern in patterns
        ]


def _known() -> str:
    return ", ".join(f"{c}.{v}" for c, verbs in VERBS.items() for v in verbs)
