"""Result modes: how each plugin's answer folds into the hook's value.

A fold takes the accumulator, one plugin's answer and the context, and returns the new
accumulator and whether the chain stops. A wrong-shaped answer raises ``ShapeError``,
which dispatch turns into that plugin's VALIDATION_ERROR; the accumulator is untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..catalog import ResultMode
from ..context import HookContext
from .hook_results import Verdict, Veto

__all__ = ["FOLDS", "ShapeError", "initial"]


class ShapeError(Exception):
    """A handler returned a value of the wrong shape for its hook's result mode."""


Fold = Callable[[Any, Any, HookContext], tuple[Any, bool]]


def _type_name(value: Any) -> str:
    return type(value).__name__


def _collect(acc: list[Any], value: Any, ctx: HookContext) -> tuple[Any, bool]:
    if value is not None:
        acc.append(value)
    return acc, False


def _issue(item: Any, plugin: str, kind: str) -> dict[str, Any]:
    if isinstance(item, str):
        return {"field": None, "code": kind, "message": item, "plugin": plugin}
    if isinstance(item, Mapping) and isinstance(item.get("message"), str):
        return {
            "field": item.get("field"),
            "code": item.get("code", kind),
            **item,
            "plugin": plugin,
        }
    raise ShapeError(
        f"each {kind} must be a string or a dict with a 'message', got {_type_name(item)}"
    )


_VALIDATE_KEYS = frozenset({"valid", "errors", "warnings"})


def _validate(acc: dict[str, Any], value: Any, ctx: HookContext) -> tuple[Any, bool]:
    if value is None or value is True:
        return acc, False
    plugin = ctx.plugin_id
    if value is False:
        acc["valid"] = False
        acc["errors"].append(
            {"field": None, "code": "invalid", "message": f"rejected by {plugin}", "plugin": plugin}
        )
        return acc, False
    if type(value) is not dict and not isinstance(value, Mapping):  # the ABC check is slow
        raise ShapeError(
            "expected {valid, errors, warnings}, a bool or None, got " + _type_name(value)
        )
    if not _VALIDATE_KEYS.issuperset(value):
        unknown = set(value) - _VALIDATE_KEYS
        raise ShapeError(f"unexpected keys {sorted(unknown)} (expected valid, errors, warnings)")
    errors, warnings = value.get("errors", []), value.get("warnings", [])
    if not isinstance(errors, list) or not isinstance(warnings, list):
        raise ShapeError("'errors' and 'warnings' must be lists")
    valid = value.get("valid", not errors)
    if not isinstance(valid, bool):
        raise ShapeError(f"'valid' must be a bool, got {_type_name(valid)}")
    new_errors = [_issue(e, plugin, "error") for e in errors] if errors else errors
    if warnings:
        acc["warnings"].extend([_issue(w, plugin, "warning") for w in warnings])
    if new_errors:
        acc["errors"].extend(new_errors)
    acc["valid"] = acc["valid"] and valid and not new_errors
    return acc, False


def _waterfall(acc: Any, value: Any, ctx: HookContext) -> tuple[Any, bool]:
    if value is None:
        return acc, False
    if type(value) is not dict and not isinstance(value, Mapping):  # the ABC check is slow
        raise ShapeError(
            f"expected the new data (a dict) or None to keep it, got {_type_name(value)}"
        )
    ctx.data = value
    return value, False


def _veto(acc: Verdict, value: Any, ctx: HookContext) -> tuple[Any, bool]:
    if value is None or value is True:
        return acc, False
    if value is False:
        return Verdict(False, f"refused by {ctx.plugin_id}", ctx.plugin_id), True
    if isinstance(value, Veto):
        return Verdict(False, value.reason, ctx.plugin_id), True
    if isinstance(value, Mapping) and isinstance(value.get("allow"), bool):
        if value["allow"]:
            return acc, False
        reason = value.get("reason") or f"refused by {ctx.plugin_id}"
        return Verdict(False, str(reason), ctx.plugin_id), True
    raise ShapeError(
        "expected None/True to allow, or False, Veto(reason) or {'allow': False, 'reason': ...}"
        f" to refuse, got {_type_name(value)}"
    )


def _first(acc: Any, value: Any, ctx: HookContext) -> tuple[Any, bool]:
    if value is None:
        return acc, False
    return value, True


FOLDS: dict[ResultMode, Fold] = {
    ResultMode.COLLECT: _collect,
    ResultMode.VALIDATE: _validate,
    ResultMode.WATERFALL: _waterfall,
    ResultMode.VETO: _veto,
    ResultMode.FIRST: _first,
}

_ALLOWED = Verdict(True)
_COLLECT = ResultMode.COLLECT


def initial(mode: ResultMode, data: Any) -> Any:
    """The accumulator before any plugin ran."""
    if mode is _COLLECT:
        return []
    if mode is ResultMode.VALIDATE:
        return {"valid": True, "errors": [], "warnings": []}
    if mode is ResultMode.WATERFALL:
        return data
    if mode is ResultMode.VETO:
        return _ALLOWED
    return None
