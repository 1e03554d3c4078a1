"""The engine: ``Engine``, a facade (``_core``) over collaborators that each own their
state — ``_plugin_table``, ``_hook_table``, ``_journal``, ``_dispatcher``,
``_activation``, ``_circuits``, ``_recoverer``, ``_sandbox_control``, ``_configurator``,
``_installer`` — and the machinery they share (``_dispatch``, ``_modes``, ``_breaker``,
``_cache``, ``_aio``). Public modules are those outer code builds on: ``loader``,
``runtimes``, ``hook_results``, ``attachments``. ``docs/architecture.md`` draws them.

``Engine`` is looked up on first use, so a module of the machinery can be imported by the
vocabulary at the package root without pulling the whole engine in (and without an import
cycle through ``_core``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._core import Engine

__all__ = ["Engine"]


def __getattr__(name: str) -> Any:
    if name == "Engine":
        from ._core import Engine

        return Engine
    raise AttributeError(f"module 'pliers_lab.engine' has no attribute {name!r}")
