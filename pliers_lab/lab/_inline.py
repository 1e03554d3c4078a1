"""``%%pliers plugin NAME``: a plugin defined by a notebook cell.

The cell is Python; functions decorated with ``@hook("...")`` become handlers and the
lifecycle functions (``on_activate`` …) are bound as for a plugin folder. ``hook`` and
``Veto`` are predefined. The manifest is generated: name from the magic line, version
``0.1.0``, every ``@hook`` declared with priority 100 (``--priority HOOK=N`` changes one).
A cell may start with a JSON object, merged over the generated manifest, for anything
else (``customHooks``, ``dependencies``, ``configuration``, ``recovery``…)::

    %%pliers plugin shout --priority submission.transform=500
    {"description": "Upper-cases every answer, before the NORMAL transforms"}

    @hook("submission.transform")
    def shout(ctx):
        ...

Running the cell again replaces the plugin (its old version is unloaded first).
"""

from __future__ import annotations

import json
import linecache
import sys
import types
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from ..config import deep_merge

if TYPE_CHECKING:
    from ..engine import Engine
    from ..plugin import Plugin

__all__ = ["define_plugin", "split_header"]


def split_header(cell: str) -> tuple[dict[str, Any], str, int]:
    """``(manifest header, code, line offset of the code)`` of a cell."""
    stripped = cell.lstrip()
    if not stripped.startswith("{"):
        return {}, cell, 0
    skipped = cell[: len(cell) - len(stripped)]
    try:
        header, end = json.JSONDecoder().raw_decode(stripped)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"the cell's manifest header is not JSON: line {exc.lineno + skipped.count(chr(10))} "
            f"column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(header, dict):
        raise UsageError("the cell's manifest header must be a JSON object")
    consumed = skipped + stripped[:end]
    return header, cell[len(consumed) :], consumed.count("\n")


def _run_cell_code(name: str, code: str, offset: int) -> types.ModuleType:
    from ..engine.hook_results import Veto
    from ..plugin import hook

    filename = f"<pliers plugin {name}>"
    source = "\n" * offset + code  # line numbers match the cell
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    try:
        compiled = compile(source, filename, "exec")
    except SyntaxError as exc:
        raise UsageError(f"plugin {name!r} line {exc.lineno}: SyntaxError: {exc.msg}") from None
    module = types.ModuleType(f"pliers_inline_{name.replace('-', '_')}")
    module.__dict__.update(hook=hook, Veto=Veto)
    try:
        exec(compiled, module.__dict__)
    except Exception as exc:
        line = next(
            (
                tb.tb_lineno
                for tb in _walk(exc.__traceback__)
                if tb.tb_frame.f_code.co_filename == filename
            ),
            None,
        )
        where = f" line {line}" if line else ""
        raise UsageError(f"plugin {name!r}{where}: {type(exc).__name__}: {exc}") from None
    return module


def _walk(tb: types.TracebackType | None) -> list[types.TracebackType]:
    out = []
    while tb is not None:
        out.append(tb)
        tb = tb.tb_next
    return out


def define_plugin(
    engine: Engine,
    name: str,
    cell: str,
    *,
    version: str = "0.1.0",
    priorities: Mapping[str, int] | None = None,
    config: Mapping[str, Any] | None = None,
) -> Plugin:
    """Define (or redefine) plugin ``name`` from a cell's text on ``engine``."""
    header, code, offset = split_header(cell)
    module = _run_cell_code(name, code, offset)
    marked: list[str] = []
    for value in vars(module).values():
        if callable(value):
            marked += [h for h in getattr(value, "__pliers_hooks__", ()) if h not in marked]
    priorities = dict(priorities or {})
    unknown = sorted(set(priorities) - set(marked) - set(header.get("hooks", {})))
    if unknown:
        raise UsageError(
            f"--priority names {', '.join(unknown)}, but no @hook handler in the cell does"
        )
    generated = {
        "name": name,
        "version": version,
        "description": f"Inline plugin {name}, defined in a notebook cell",
        "author": "notebook",
        "license": "UNLICENSED",
        "engines": {
            "pliers": "^3.0.0",
            "python": f">={sys.version_info.major}.{sys.version_info.minor}",
        },
        "hooks": {h: {"priority": priorities.get(h, 100)} for h in marked},
    }
    manifest = deep_merge(generated, header)
    for hook_name, priority in priorities.items():
        manifest["hooks"].setdefault(hook_name, {})["priority"] = priority
    if not manifest["hooks"] and not manifest.get("customHooks"):
        raise UsageError(
            f"plugin {name!r}: the cell has no @hook handler; decorate a function, "
            'e.g. @hook("submission.transform")'
        )
    if name in engine:
        old = engine.plugin(name)
        if old.root is not None:
            raise UsageError(
                f"plugin {name!r} is already loaded from {old.root}; unload it before defining "
                "an inline plugin with the same name"
            )
        engine.unload(name)
    return engine.add_plugin(manifest, module, config=config)
