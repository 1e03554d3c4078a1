"""The notebook laboratory: magics, widgets, rich displays and plots over the engine.

The lab holds no state of its own beyond which engine is the default one
(DESIGN.md §5); everything it shows comes from the public engine API. Importing this
package is cheap: widgets, plots and the graph import ipywidgets, matplotlib, pandas and
networkx when first used.

>>> from pliers_lab.lab import default_engine, HookSimulator   # doctest: +SKIP
>>> engine = default_engine(); engine.load_all("extensions")    # doctest: +SKIP
>>> HookSimulator(engine)                                       # doctest: +SKIP
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._default import default_engine, extensions_folder, reset_default_engine, set_default_engine

if TYPE_CHECKING:
    from ._graph import dependency_graph, draw_dependency_graph, graph_frames
    from .hostlink import Simulation, default_host, plot_pipeline, set_default_host
    from .plots import Picture, plot_durations, plot_error_rates, plot_timeline
    from .widgets import (
        ConfigEditor,
        HookSimulator,
        MarketplaceBrowser,
        MetricsDashboard,
        PluginInspector,
        TraceDebugger,
    )

__all__ = [
    "ConfigEditor",
    "HookSimulator",
    "MarketplaceBrowser",
    "MetricsDashboard",
    "Picture",
    "PluginInspector",
    "Simulation",
    "TraceDebugger",
    "default_engine",
    "default_host",
    "dependency_graph",
    "draw_dependency_graph",
    "extensions_folder",
    "graph_frames",
    "plot_durations",
    "plot_error_rates",
    "plot_pipeline",
    "plot_timeline",
    "reset_default_engine",
    "set_default_engine",
    "set_default_host",
]

_LAZY = {
    "ConfigEditor": "widgets",
    "HookSimulator": "widgets",
    "MarketplaceBrowser": "widgets",
    "MetricsDashboard": "widgets",
    "PluginInspector": "widgets",
    "TraceDebugger": "widgets",
    "Picture": "plots",
    "plot_durations": "plots",
    "plot_error_rates": "plots",
    "plot_timeline": "plots",
    "dependency_graph": "_graph",
    "draw_dependency_graph": "_graph",
    "graph_frames": "_graph",
    "Simulation": "hostlink",
    "default_host": "hostlink",
    "plot_pipeline": "hostlink",
    "set_default_host": "hostlink",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)
