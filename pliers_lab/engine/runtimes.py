"""Runtimes: where a plugin's code runs. ``inline`` (this process) lives here; the process
sandbox (``pliers_lab.sandbox``) registers a ``process`` runtime with the same shape.

A runtime ``prepare``s a plugin (import and bind, or start a worker) before the engine
commits to it, so a reload can check new code while the old version keeps serving.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ._cache import CodeCache
from .loader import bind_handlers, bind_named, import_plugin_code, namespace_of

if TYPE_CHECKING:
    from ..manifest import Manifest
    from ..plugin import Plugin

__all__ = ["InlineRuntime", "Prepared", "Runtime"]


@dataclass
class Prepared:
    """A plugin's code made runnable, not yet attached to the engine.

    Attributes:
        handlers: hook name → callable taking the HookContext.
        lifecycle_handlers: ``on_load`` … ``on_config_change`` → callable.
        module: the imported module (inline) or None (code runs elsewhere).
        layers: isolation layers in force, name → detail (empty inline).
        handle: whatever the runtime needs to stop it later (a worker, say).
        named: the functions ``api.endpoints`` name (handlers and middleware), by name;
            each takes the request record and returns the response record.
        sync_timeouts: False when the runtime enforces timeouts itself (a killed worker),
            so dispatch need not check durations after the fact.
        async_handlers: hook name → coroutine function ``afire`` awaits instead of the
            sync handler, for handlers that block on something (a worker's answer).
    """

    handlers: dict[str, Callable[..., Any]]
    lifecycle_handlers: dict[str, Callable[..., Any]]
    module: Any = None
    layers: dict[str, str] = field(default_factory=dict)
    handle: Any = None
    sync_timeouts: bool = True
    named: dict[str, Callable[..., Any]] = field(default_factory=dict)
    async_handlers: dict[str, Callable[..., Any]] = field(default_factory=dict)


class Runtime(Protocol):
    """What the engine needs from a place to run plugin code."""

    name: str

    def prepare(self, manifest: Manifest, root: Path | None, code: Any = None) -> Prepared:
        """Import/start the plugin's code and bind its handlers; raise PluginError."""
        ...

    def stop(self, plugin: Plugin, prepared: Prepared) -> None:
        """Release what ``prepare`` took (modules, workers)."""
        ...


class InlineRuntime:
    """Trusted code in the engine's own process: the fast path."""

    name = "inline"

    def __init__(self, code_cache: CodeCache | None = None) -> None:
        self.code_cache = code_cache if code_cache is not None else CodeCache()

    def prepare(self, manifest: Manifest, root: Path | None, code: Any = None) -> Prepared:
        source = "<inline>" if code is not None else manifest.main
        module = code if code is not None else import_plugin_code(manifest, root, self.code_cache)
        namespace = namespace_of(module)
        handlers, lifecycle = bind_handlers(manifest, namespace, source)
        named = bind_named(manifest, namespace, source)
        return Prepared(handlers, lifecycle, module=module, named=named)

    def stop(self, plugin: Plugin, prepared: Prepared) -> None:
        name = getattr(prepared.module, "__name__", "")
        if name.startswith("pliers_plugins."):
            sys.modules.pop(name, None)
