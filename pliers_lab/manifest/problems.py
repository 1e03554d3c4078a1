"""Turning validation failures into problems a plugin author can act on.

A broken manifest is reported all at once (DESIGN.md: every error at once, each with its
path), in the author's words rather than pydantic's: ``expected an integer, got "high"``
instead of ``Input should be a valid integer``. Raw pydantic text and tracebacks never reach
the user; every pydantic error type we can meet has a sentence here.

The models raise their own checks as one custom pydantic error type (``PROBLEM_TYPE``)
whose context carries the finished sentence and an optional hint, so all problems travel
through pydantic's error machinery, with their paths, and are translated in one place.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from ..errors import PluginError, PluginErrorType

__all__ = ["ManifestError", "ManifestProblem", "describe", "format_path"]

#: The pydantic error type of every check the manifest models make themselves.
PROBLEM_TYPE = "pliers_manifest"

Segment = str | int


@dataclass(frozen=True, slots=True)
class ManifestProblem:
    """One thing wrong with a manifest: where (file and field path), what, and a hint.

    ``path`` holds JSON keys and list indices from the manifest's root, so tools can point
    at the field; ``str()`` gives the one-line form shown to authors.
    """

    file: str
    path: tuple[Segment, ...]
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        line = f"{self.file}: {format_path(self.path)}: {self.message}"
        return f"{line} (hint: {self.hint})" if self.hint else line


class ManifestError(PluginError):
    """A manifest that cannot be loaded; ``problems`` lists everything wrong with it.

    A ``LOAD_ERROR`` of the spec's taxonomy. ``plugin_id`` is the manifest's name when it
    could be read. The message has a count header and one problem per line (a single
    problem is just its line), so an author fixes the whole file in one round instead of
    one error per attempt.
    """

    def __init__(
        self, file: str, problems: Sequence[ManifestProblem], *, plugin_id: str | None = None
    ) -> None:
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        where = f" in plugin {plugin_id!r}" if plugin_id else ""
        if len(problems) == 1:  # one problem is one line, already naming file and path
            lines = [str(problems[0])]
        else:
            lines = [f"{file}: {count}{where}:", *(f"  {problem}" for problem in problems)]
        super().__init__(PluginErrorType.LOAD_ERROR, "\n".join(lines), plugin_id=plugin_id)
        self.file = file
        self.problems: list[ManifestProblem] = list(problems)

    def __str__(self) -> str:  # the header already names the plugin and the file
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:  # the constructor's arguments are not ``args``
        return (_rebuild, (self.file, self.problems, self.plugin_id))


def _rebuild(file: str, problems: list[ManifestProblem], plugin_id: str | None) -> ManifestError:
    return ManifestError(file, problems, plugin_id=plugin_id)


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def format_path(path: Sequence[Segment]) -> str:
    """``hooks."form.validate".priority`` / ``api.endpoints[0].path`` / ``<root>``."""
    out = ""
    for segment in path:
        if isinstance(segment, int):
            out += f"[{segment}]"
        else:
            text = segment if _IDENTIFIER.fullmatch(segment) else json.dumps(segment)
            out += f".{text}" if out else text
    return out or "<root>"


def describe(value: object) -> str:
    """A short JSON-flavoured rendering of a bad value, for ``got ...`` clauses."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if value.bit_length() < 64 else "a very large integer"
    if isinstance(value, float):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a value of type {type(value).__name__}"


# -- raising problems from inside the models --------------------------------------------


def problem(message: str, hint: str | None = None) -> PydanticCustomError:
    """A pydantic error carrying a finished sentence; raise it from a validator."""
    return PydanticCustomError(PROBLEM_TYPE, "{message}", {"message": message, "hint": hint})


def located(
    loc: tuple[Segment, ...], message: str, value: object, hint: str | None = None
) -> InitErrorDetails:
    """A problem at ``loc`` below the value being validated, for :func:`merge`."""
    return InitErrorDetails(type=problem(message, hint), loc=loc, input=value)


def _replayable(exc: ValidationError) -> list[InitErrorDetails]:
    out: list[InitErrorDetails] = []
    for error in exc.errors(include_url=False):
        if error["type"] == PROBLEM_TYPE:
            ctx = error.get("ctx") or {}
            error_type: Any = problem(str(ctx.get("message", "")), ctx.get("hint"))
        else:
            error_type = error["type"]
        detail = InitErrorDetails(type=error_type, loc=tuple(error["loc"]), input=error["input"])
        if "ctx" in error and error["type"] != PROBLEM_TYPE:
            detail["ctx"] = error["ctx"]
        out.append(detail)
    return out


def merge(handler: Callable[[Any], Any], value: Any, extra: list[InitErrorDetails]) -> Any:
    """Run pydantic's own validation and report its errors together with ``extra``.

    Wrap validators use this so that one pass reports both the type errors and our own
    checks, instead of stopping at whichever fails first.
    """
    try:
        result = handler(value)
    except ValidationError as exc:
        raise ValidationError.from_exception_data("Manifest", _replayable(exc) + extra) from None
    if extra:
        raise ValidationError.from_exception_data("Manifest", extra)
    return result


def fail(errors: list[InitErrorDetails]) -> None:
    """Raise ``errors`` (if any) as one validation failure."""
    if errors:
        raise ValidationError.from_exception_data("Manifest", errors)


# -- translating pydantic's errors -----------------------------------------------------


def _choices(ctx: dict[str, Any]) -> str:
    return ", ".join(re.findall(r"'([^']*)'", str(ctx.get("expected", ""))))


def _length(value: object) -> int:
    return len(value) if isinstance(value, str | list | tuple | dict) else 0


def _bound(ctx: dict[str, Any], key: str) -> object:
    bound = ctx.get(key)
    return int(bound) if isinstance(bound, float) and bound.is_integer() else bound


def _plural(n: object, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


_Sentence = Callable[[dict[str, Any], Any, str], str]

_EXPECTED: dict[str, str] = {
    "string_type": "a string",
    "string_sub_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "mapping_type": "an object",
    "list_type": "a list",
    "tuple_type": "a list",
    "iterable_type": "a list",
    "set_type": "a list",
    "none_required": "null",
}

_SENTENCES: dict[str, _Sentence] = {
    "missing": lambda ctx, value, got: "missing required field",
    "extra_forbidden": lambda ctx, value, got: "unknown field",
    "string_too_short": lambda ctx, value, got: (
        "must not be empty"
        if ctx.get("min_length") == 1
        else f"must be at least {_plural(ctx.get('min_length'), 'character')} "
        f"(got {_length(value)})"
    ),
    "string_too_long": lambda ctx, value, got: (
        f"must be at most {_plural(ctx.get('max_length'), 'character')} (got {_length(value)})"
    ),
    "too_short": lambda ctx, value, got: (
        f"must have at least {_plural(ctx.get('min_length'), 'item')} (got {_length(value)})"
    ),
    "too_long": lambda ctx, value, got: (
        f"must have at most {_plural(ctx.get('max_length'), 'item')} (got {_length(value)})"
    ),
    "greater_than": lambda ctx, value, got: f"must be greater than {_bound(ctx, 'gt')} (got {got})",
    "greater_than_equal": lambda ctx, value, got: (
        f"must be at least {_bound(ctx, 'ge')} (got {got})"
    ),
    "less_than": lambda ctx, value, got: f"must be less than {_bound(ctx, 'lt')} (got {got})",
    "less_than_equal": lambda ctx, value, got: f"must be at most {_bound(ctx, 'le')} (got {got})",
    "finite_number": lambda ctx, value, got: f"must be a finite number (got {got})",
    "literal_error": lambda ctx, value, got: f"must be one of: {_choices(ctx)} (got {got})",
    "enum": lambda ctx, value, got: f"must be one of: {_choices(ctx)} (got {got})",
    "string_pattern_mismatch": lambda ctx, value, got: (
        f"must match the pattern {ctx.get('pattern')} (got {got})"
    ),
    "value_error": lambda ctx, value, got: str(ctx.get("error", "invalid value")),
    "assertion_error": lambda ctx, value, got: str(ctx.get("error", "invalid value")),
}


def _sentence(error_type: str, ctx: dict[str, Any], value: object) -> str:
    got = describe(value)
    if error_type in _EXPECTED:
        return f"expected {_EXPECTED[error_type]}, got {got}"
    if error_type in _SENTENCES:
        return _SENTENCES[error_type](ctx, value, got)
    return f"invalid value (got {got})"


def translate(exc: ValidationError, file: str) -> list[ManifestProblem]:
    """Every error of ``exc`` as a :class:`ManifestProblem` of ``file``, in pydantic's order.

    Dict-key errors (``[key]`` in pydantic's location) are reported at the key itself.
    """
    problems: list[ManifestProblem] = []
    for error in exc.errors(include_url=False):
        path = tuple(seg for seg in error["loc"] if seg != "[key]")
        ctx: dict[str, Any] = dict(error.get("ctx") or {})
        if error["type"] == PROBLEM_TYPE:
            message, hint = str(ctx.get("message", "")), ctx.get("hint")
        else:
            message, hint = _sentence(error["type"], ctx, error["input"]), None
        problems.append(ManifestProblem(file, path, message, hint))
    return _unique(problems)


def _unique(problems: Iterable[ManifestProblem]) -> list[ManifestProblem]:
    return list(dict.fromkeys(problems))
