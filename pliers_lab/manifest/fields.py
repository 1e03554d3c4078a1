"""Field rules shared by the manifest models: names, versions, paths, and the base model.

Each rule raises a :func:`.problems.problem` with a finished sentence, so that the author
reads "must be a full semantic version such as 1.2.3 (got "1.2")" and never pydantic's text.
"""

from __future__ import annotations

import difflib
import keyword
import re
from collections.abc import Collection
from typing import Annotated, Any, ClassVar, Literal, Self

from packaging.requirements import InvalidRequirement, Requirement
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    Strict,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails

from ..catalog import CORE_HOOKS, HOOK_NAME_PATTERN, suggest_hook
from ..versions import VersionError, parse_range, parse_version
from .problems import describe, located, merge, problem

__all__ = [
    "DEFAULT_MAIN",
    "Flag",
    "Identifier",
    "MainText",
    "NonBlank",
    "Number",
    "PluginName",
    "RangeText",
    "RelativePath",
    "RequirementText",
    "StrictModel",
    "Text",
    "VersionText",
    "did_you_mean",
    "endpoint_path",
    "hook_name_errors",
    "is_plugin_name",
    "main_kind",
]

_NAME = re.compile(r"[a-z0-9-]+")
_ENDPOINT = re.compile(r"/plugins/[a-z0-9-]+/\S+")
DEFAULT_MAIN = "plugin.py"


def did_you_mean(word: object, pool: list[str]) -> str | None:
    """A ``did you mean "x"?`` hint for a near miss of one of ``pool``, else ``None``."""
    if not isinstance(word, str):
        return None
    match = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    return f'did you mean "{match[0]}"?' if match else None


def is_plugin_name(text: str) -> bool:
    """Whether ``text`` is a valid plugin name: ``[a-z0-9-]``, 1 to 214 characters."""
    return len(text) <= 214 and _NAME.fullmatch(text) is not None


def _plugin_name(value: str) -> str:
    if not value:
        raise problem("must not be empty")
    if len(value) > 214:
        raise problem(f"must be at most 214 characters (got {len(value)})")
    if not _NAME.fullmatch(value):
        hint = "scoped names (@scope/name) are not supported" if value.startswith("@") else None
        raise problem(
            f"must contain only lowercase letters, digits and hyphens (got {describe(value)})",
            hint,
        )
    return value


def _version(value: str) -> str:
    # node's parser forgives "v1.2.3", "=1.2.3" and surrounding blanks; a manifest says it plainly
    try:
        parse_version(value)
        plain = value[:1].isdigit() and value == value.strip()
    except VersionError:
        plain = False
    if not plain:
        raise problem(f"must be a full semantic version such as 1.2.3 (got {describe(value)})")
    return value


def _range(value: str) -> str:
    try:
        parse_range(value)
    except VersionError as exc:
        reason = str(exc).removeprefix(f"invalid range {value!r}: ").split(" (expected")[0]
        detail = f": {reason}" if reason != str(exc) and len(reason) <= 80 else ""
        raise problem(
            f"not a valid version range (got {describe(value)}){detail}",
            'e.g. "^1.2.0" or ">=3.11"',
        ) from None
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise problem("must not be empty")
    return value


def _identifier(value: str) -> str:
    if not value.isidentifier() or keyword.iskeyword(value):
        raise problem(f"must be a Python function name (got {describe(value)})")
    return value


def _relative_path(value: str) -> str:
    if not value or "\0" in value:
        raise problem(f"must be a relative path (got {describe(value)})")
    parts = value.replace("\\", "/").split("/")
    if value.startswith(("/", "\\", "~")) or re.match(r"[A-Za-z]:", value):
        raise problem(f"must be relative to the plugin folder (got {describe(value)})")
    depth = 0
    for part in parts:
        depth += -1 if part == ".." else 0 if part in ("", ".") else 1
        if depth < 0:
            raise problem(f"must stay inside the plugin folder (got {describe(value)})")
    return value


def main_kind(main: str) -> Literal["file", "package", "module"]:
    """How ``main`` names the plugin's code: a ``.py`` file, a package folder or a module.

    A name without a slash and without ``.py`` (``acme_plugin.core``) is a module to import;
    anything else is a path relative to the plugin folder.
    """
    if main.endswith(".py"):
        return "file"
    if "/" in main or "\\" in main:
        return "package"
    return "module"


def _main(value: str) -> str:
    kind = main_kind(value)
    if kind != "module":
        _relative_path(value)
        last = value.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
        if kind == "file" or last.isidentifier():
            return value
    elif all(p.isidentifier() and not keyword.iskeyword(p) for p in value.split(".")):
        return value
    raise problem(
        f"must be a .py file, a package folder or a dotted module name (got {describe(value)})",
        'e.g. "plugin.py", "src/my_plugin" or "my_plugin.core"',
    )


def _requirement(value: str) -> str:
    try:
        Requirement(value)
    except InvalidRequirement as exc:
        reason = (str(exc).splitlines() or ["invalid"])[0]
        raise problem(f"invalid PEP 508 requirement {describe(value)}: {reason}") from None
    return value


def hook_name_errors(
    hooks: object, *, custom: bool = False, known: Collection[str] | None = None
) -> list[InitErrorDetails]:
    """Problems with the keys of ``hooks`` (``customHooks`` when ``custom``).

    A hook name must look like ``form.validate``. A custom hook must not shadow a core
    hook; an implemented hook must be a core hook or one of ``known`` (``None``: skip that
    check, because the list of custom hooks could not be read).
    """
    errors = []
    pool = None if known is None else [*CORE_HOOKS, *known]
    for name in hooks if isinstance(hooks, dict) else ():
        if not isinstance(name, str):
            continue  # pydantic reports the key's type
        if not HOOK_NAME_PATTERN.fullmatch(name):
            message = "not a hook name: use dot-separated words such as form.validate"
            errors.append(located((name,), message, name))
        elif custom and name in CORE_HOOKS:
            errors.append(located((name,), "shadows a core hook of the same name", name))
        elif pool is not None and name not in pool:
            suggestion = suggest_hook(name, pool)
            hint = f'did you mean "{suggestion}"?' if suggestion else None
            message = (
                "unknown hook: not a core hook, not in customHooks, not declared by a loaded plugin"
            )
            errors.append(located((name,), message, name, hint))
    return errors


Text = Annotated[str, Strict()]
NonBlank = Annotated[str, Strict(), AfterValidator(_not_blank)]
PluginName = Annotated[str, Strict(), AfterValidator(_plugin_name)]
VersionText = Annotated[str, Strict(), AfterValidator(_version)]
RangeText = Annotated[str, Strict(), AfterValidator(_range)]
Identifier = Annotated[str, Strict(), AfterValidator(_identifier)]
RelativePath = Annotated[str, Strict(), AfterValidator(_relative_path)]
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Flag = Annotated[bool, Strict()]
MainText = Annotated[str, Strict(), AfterValidator(_main)]
RequirementText = Annotated[str, Strict(), AfterValidator(_requirement)]


class StrictModel(BaseModel):
    """Frozen, camelCase on the wire, and loud about keys it does not know."""

    model_config = ConfigDict(
        frozen=True, populate_by_name=True, alias_generator=to_camel, extra="ignore"
    )
    #: Hints for keys that are wrong for a known reason (not just a typo).
    _key_hints: ClassVar[dict[str, str]] = {}

    @model_validator(mode="wrap")
    @classmethod
    def _reject_unknown_keys(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        if not isinstance(data, dict):
            return handler(data)
        aliases = [f.alias or name for name, f in cls.model_fields.items()]
        known = {*aliases, *cls.model_fields}
        unknown = [
            located(
                (key,),
                "unknown field",
                data[key],
                cls._key_hints.get(key) or did_you_mean(key, aliases),
            )
            for key in data
            if key not in known
        ]
        return merge(handler, data, unknown)  # type: ignore[no-any-return]


#: What ``SharedModel`` hands out: one instance per class, value and fields set (so a
#: dump with ``exclude_unset`` still sees what each manifest wrote). Bounded: emptied when
#: full, which only costs sharing, never correctness.
_SHARED: dict[tuple[BaseModel, frozenset[str]], BaseModel] = {}
_SHARED_MAX = 4096


class SharedModel(StrictModel):
    """A small frozen model that manifests repeat value for value (the engines' ranges, a
    hook's settings): validation hands out one instance per distinct value.

    Ten thousand plugins on ``^3.0.0`` then hold one ``Engines`` between them instead of
    ten thousand, each a model and its fields set that every full garbage collection
    visits for as long as its plugin is loaded. Safe because the models are frozen and
    hold only atoms (a value that cannot be hashed is simply not shared).
    """

    @model_validator(mode="wrap")
    @classmethod
    def _one_per_value(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        made = handler(data)
        try:
            key = (made, frozenset(made.model_fields_set))
            shared = _SHARED.get(key)
        except TypeError:  # a field that cannot be hashed
            return made
        if shared is None:
            if len(_SHARED) >= _SHARED_MAX:
                _SHARED.clear()
            _SHARED[key] = shared = made
        return shared  # type: ignore[return-value]


def endpoint_path(value: str) -> str:
    """Check a plugin endpoint path: ``/plugins/<slug>/...`` with named ``:params``."""
    if not _ENDPOINT.fullmatch(value) or any(c in value for c in "?#"):
        raise problem(
            f"must look like /plugins/<slug>/<path> (got {describe(value)})",
            "the slug uses lowercase letters, digits and hyphens; no query string",
        )
    names = [seg[1:] for seg in value.split("/") if seg.startswith(":")]
    for name in names:
        if not name.isidentifier():
            raise problem(f"path parameter {describe(':' + name)} needs a name like :webhookId")
    if len(set(names)) != len(names):
        raise problem(f"repeats a path parameter (got {describe(value)})")
    return value
