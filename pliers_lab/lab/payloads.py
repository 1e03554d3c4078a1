"""Payloads for ``%pliers fire`` and friends: inline JSON, ``@file`` or ``$variable``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError

__all__ = ["MISSING", "parse_value", "resolve_payload"]

MISSING: Any = object()
"""No payload was given."""

_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{where} is not JSON: line {exc.lineno} column {exc.colno}: {exc.msg} "
            "(a Python value from the notebook: $name; a file: @path)"
        ) from None


def resolve_payload(text: str | None, user_ns: dict[str, Any] | None) -> Any:
    """The value ``text`` stands for, or ``MISSING`` when it is empty.

    ``{...}``/``[...]``/any JSON: parsed; ``@path``: the JSON file (relative to the working
    directory); ``$name`` or ``$name.attr``: the notebook variable, not copied.
    """
    if text is None or not text.strip():
        return MISSING
    text = text.strip()
    if text.startswith("@"):
        path = Path(text[1:].strip()).expanduser()
        try:
            content = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"payload file {str(path)!r}: {exc.strerror or exc}") from None
        return _json(content, f"payload file {str(path)!r}")
    if text.startswith("$"):
        name = text[1:].strip()
        if not _VARIABLE.match(name):
            raise UsageError(f"${name}: a payload variable is a name such as $payload or $sub.data")
        head, *attrs = name.split(".")
        namespace = user_ns or {}
        if head not in namespace:
            raise UsageError(f"${head}: no variable {head!r} in the notebook")
        value = namespace[head]
        for attr in attrs:
            try:
                value = getattr(value, attr)
            except AttributeError:
                raise UsageError(
                    f"${name}: {type(value).__name__} has no attribute {attr!r}"
                ) from None
        return value
    return _json(text, "the payload")


def parse_value(text: str) -> Any:
    """A ``KEY=VALUE`` value: JSON when it parses (``5``, ``true``, ``["a"]``), else text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
