"""The engine: ``Engine`` (``core``) and its machinery, private modules one job each.

``Engine`` is looked up on first use, so a module of the machinery (``_breaker``,
``hook_results``...) can be imported by the vocabulary at the package root without pulling
the whole engine in (and without an import cycle through ``core``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core import Engine

__all__ = ["Engine"]


def __getattr__(name: str) -> Any:
    if name == "Engine":
        from .core import Engine

        return Engine
    raise AttributeError(f"module 'pliers_lab.engine' has no attribute {name!r}")
