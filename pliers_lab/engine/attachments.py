"""Tools that attach to an engine from outside the core, found by name: the debugger.

The core says what it hands out — ``PluginDebugger``, the specification's debugging
interface — and where an implementation is found: the ``pliers_lab.attachments``
entry-point group (pliers-lab's own distribution names ``debugger =
pliers_lab.debug:Debugger`` there), or a factory a host registers with ``attach``. So
``engine.debugger`` works while the core never imports the debugger's package.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import EngineError

if TYPE_CHECKING:
    from ..observe.logs import LogEntry
    from ._core import Engine
    from .hook_results import HookResult

__all__ = ["GROUP", "PluginDebugger", "attach", "factory"]

GROUP = "pliers_lab.attachments"
"""The entry-point group where tools for ``Engine`` are found by name."""

_attached: dict[str, Callable[[Engine], Any]] = {}


class PluginDebugger(Protocol):
    """The spec's PluginDebugger, as ``engine.debugger`` offers it."""

    traces: dict[str, Any]
    """Recorded traces by id."""

    def breakpoint(self, plugin_id: str, location: Any) -> Any: ...
    def trace(self, plugin_id: str, *, max_frames: int = ...) -> AbstractContextManager[Any]: ...
    def step(self, trace_id: str) -> Any: ...
    def profile(self, plugin_id: str) -> AbstractContextManager[Any]: ...
    def get_logs(
        self, plugin_id: str, level: str | None = ..., search: str | None = ...
    ) -> list[LogEntry]: ...
    def watch_logs(
        self, plugin_id: str, callback: Callable[[LogEntry], None]
    ) -> Callable[[], None]: ...
    def get_metrics(self, plugin_id: str) -> Any: ...
    def errors(self, plugin_id: str | None = ...) -> list[Any]: ...
    def errors_frame(self, plugin_id: str | None = ...) -> Any: ...
    def analyze_error(self, error_id: str) -> Any: ...
    def replay(self, execution_id: str) -> tuple[HookResult, list[str]]: ...


def attach(name: str, make: Callable[[Engine], Any]) -> None:
    """Use ``make(engine)`` for the tool ``name`` of every engine made from now on
    (before the entry point of that name)."""
    _attached[name] = make


def factory(name: str) -> Callable[[Engine], Any]:
    """How to make the tool ``name``: attached here, else the installed entry point."""
    if name in _attached:
        return _attached[name]
    from importlib.metadata import entry_points

    for point in entry_points(group=GROUP, name=name):
        made: Callable[[Engine], Any] = point.load()
        return made
    raise EngineError(
        f"no {name!r} tool is installed for the engine: the entry-point group {GROUP!r} "
        f"names none (reinstall pliers-lab, or pliers_lab.engine.attachments.attach"
        f"({name!r}, factory))"
    )
