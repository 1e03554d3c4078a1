"""``jsonschema``, imported with its slowest optional part deferred to its first use.

``jsonschema``'s format module imports ``rfc3987_syntax`` when it is installed (Jupyter
installs it, through ``jsonschema[format-nongpl]``) to check the ``iri`` formats, and that
module builds about forty Lark parsers as it imports: ~1 s of the ~1.3 s that ``import
jsonschema`` costs here. Every process that loads a plugin with a configuration schema
paid it — a notebook's first ``%pliers load``, each Dask worker of a replay — though
nothing of ours checks formats (python-jsonschema/jsonschema#1428).

``import_jsonschema`` imports ``jsonschema`` with a stand-in for ``rfc3987_syntax`` in
``sys.modules`` and removes it afterwards. The stand-in's ``is_valid_syntax`` (what
``jsonschema`` takes from it) imports the real module on its first call, so an ``iri``
check runs the real code; any other name read from it imports the real module at once.
Nothing changes when ``jsonschema`` or ``rfc3987_syntax`` is already imported.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from collections.abc import Callable
from typing import Any

__all__ = ["import_jsonschema"]

_SLOW = "rfc3987_syntax"
_lock = threading.Lock()


def import_jsonschema() -> None:
    """Import ``jsonschema`` (once per process) without building ``rfc3987_syntax``'s
    parsers; call it before ``from jsonschema import ...``."""
    if "jsonschema" in sys.modules:
        return
    with _lock:
        if "jsonschema" in sys.modules:
            return
        stand_in = None
        if _SLOW not in sys.modules and importlib.util.find_spec(_SLOW) is not None:
            stand_in = _deferred(_SLOW)
            sys.modules[_SLOW] = stand_in
        try:
            import jsonschema  # noqa: F401
        finally:
            if stand_in is not None and sys.modules.get(_SLOW) is stand_in:
                del sys.modules[_SLOW]


def _deferred(name: str) -> types.ModuleType:
    """A stand-in for module ``name`` that imports the real one when it is used."""
    module = types.ModuleType(name, f"stand-in for {name}: the real module loads on first use")
    real: list[types.ModuleType] = []

    def load() -> types.ModuleType:
        if not real:
            if sys.modules.get(name) is module:
                del sys.modules[name]
            real.append(importlib.import_module(name))
        return real[0]

    def is_valid_syntax(*args: Any, **kwargs: Any) -> Any:
        check: Callable[..., Any] = load().is_valid_syntax
        return check(*args, **kwargs)

    def __getattr__(attribute: str) -> Any:  # PEP 562: names other than the one above
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        return getattr(load(), attribute)

    module.is_valid_syntax = is_valid_syntax  # type: ignore[attr-defined]
    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    return module
