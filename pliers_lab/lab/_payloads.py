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

    ``{...}``/``[...]``/any JSON: parsed (quotes around it are dropped); ``{expression}``:
    the value of a Python expression in the notebook; ``@path``: the JSON file (relative
    to the working directory); ``$name`` or ``$name.attr``: the notebook variable, not
    copied.
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
    text = _unquote(text)
    if text[:1] in "{[":
        return _literal(text, user_ns or {})
    return _json(text, "the payload")


def _unquote(text: str) -> str:
    """``'{"a": 1}'`` → ``{"a": 1}``: a payload quoted as in a shell keeps its quotes out."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"" and text[1] in "{[":
        return text[1:-1].strip()
    return text


def _literal(text: str, user_ns: dict[str, Any]) -> Any:
    """A payload typed in the line: JSON first; else ``{expression}``, the value of a Python
    expression (IPython's own ``{}`` expansion is off for this magic, so the object itself
    arrives, not its text); else a Python literal such as ``{'a': x}``. When none of them
    parses, the JSON error says where the text broke."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        broken = exc
    candidates = [text[1:-1]] if text.startswith("{") and text.endswith("}") else []
    for source in (*candidates, text):
        try:
            code = compile(source.strip(), "<payload>", "eval")
        except SyntaxError:
            continue
        try:
            return eval(code, user_ns)  # the notebook's own expression, in its namespace
        except Exception as exc:
            raise UsageError(
                f"the payload {{{source.strip()}}} failed: {type(exc).__name__}: {exc}"
            ) from None
    raise UsageError(
        f"the payload is not JSON: line {broken.lineno} column {broken.colno}: {broken.msg} "
        "(a Python value from the notebook: $name or {expression}; a file: @path)"
    ) from None


def parse_value(text: str) -> Any:
    """A ``KEY=VALUE`` value: JSON when it parses (``5``, ``true``, ``["a"]``), else text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
