"""The lab's ipywidgets: hook simulator, plugin inspector, config editor, metrics dashboard,
marketplace browser, trace debugger.

Each is an ``ipywidgets.VBox`` whose parts are attributes (``sim.fire_button``,
``sim.payload``…), so code and tests drive them exactly as a user would: set values,
``click()``, read what they show. ipywidgets is imported when a widget is first asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._config_editor import ConfigEditor
    from ._dashboard import MetricsDashboard
    from ._inspector import PluginInspector
    from ._market_browser import MarketplaceBrowser
    from ._simulator import HookSimulator
    from .trace_debugger import TraceDebugger

__all__ = [
    "ConfigEditor",
    "HookSimulator",
    "MarketplaceBrowser",
    "MetricsDashboard",
    "PluginInspector",
    "TraceDebugger",
]

_WHERE = {
    "ConfigEditor": "_config_editor",
    "HookSimulator": "_simulator",
    "MetricsDashboard": "_dashboard",
    "MarketplaceBrowser": "_market_browser",
    "PluginInspector": "_inspector",
    "TraceDebugger": "trace_debugger",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    try:
        return getattr(import_module(f"{__name__}.{module}"), name)
    except ModuleNotFoundError as exc:
        if exc.name not in ("ipywidgets", "pandas", "matplotlib", "jsonschema"):
            raise
        raise ImportError(
            f"{name} needs {exc.name}: pip install 'pliers-lab[lab]'", name=exc.name
        ) from exc
