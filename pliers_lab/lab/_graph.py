"""The plugin dependency graph: built as a ``networkx.DiGraph``, tabled, and drawn.

The graph's shape is the dependency resolver's (``pliers_lab.dependencies``): nodes are
plugin ids carrying ``version``, ``state``, ``load_order`` and ``conflict``; edges point
from a dependency to its dependent and carry ``scope``, ``range`` and ``conflict``
(``conflict`` is a bool or a reason). ``dependency_graph`` asks the engine for it
(``engine.dependency_graph()``) and otherwise builds it from the loaded plugins'
manifests with ``build_graph``, which also shows missing dependencies as nodes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ._displays import STATE_COLOURS
from .plots import Picture, new_figure

if TYPE_CHECKING:
    import networkx as nx

    from ..engine import Engine
    from ..plugin import Plugin

__all__ = ["build_graph", "dependency_graph", "draw_dependency_graph", "graph_frames"]

_STYLES = {"runtime": "solid", "peer": "dashed", "optional": "dotted"}


def build_graph(plugins: Iterable[Plugin]) -> nx.DiGraph:
    """The dependency graph of ``plugins`` from their manifests.

    A dependency that is not loaded becomes a node in state ``missing``; a required one
    (runtime or peer) is a conflict, and so is a loaded version outside the range.
    """
    import networkx as nx

    from ..versions import satisfies

    plugins = list(plugins)
    by_id = {p.id: p for p in plugins}
    graph = nx.DiGraph()
    for order, plugin in enumerate(plugins):
        graph.add_node(
            plugin.id, version=plugin.version, state=plugin.state.value, load_order=order
        )
    for plugin in plugins:
        for name, rng, scope in plugin.manifest.all_dependencies():
            dep = by_id.get(name)
            conflict = None
            if dep is None:
                graph.add_node(name, version=None, state="missing", load_order=None)
                if scope != "optional":
                    conflict = f"{scope} dependency {name} {rng} is not loaded"
            elif not satisfies(dep.version, rng):
                conflict = f"{name} {dep.version} does not satisfy {rng}"
            graph.add_edge(name, plugin.id, scope=scope, range=rng, conflict=conflict)
            if conflict:
                graph.nodes[plugin.id]["conflict"] = conflict
    return graph


def dependency_graph(engine: Engine) -> nx.DiGraph:
    """The engine's dependency graph (the resolver's when the engine offers one)."""
    method = getattr(engine, "dependency_graph", None)
    if callable(method):
        graph: nx.DiGraph = method()
        return graph
    return build_graph(engine.plugins)


def _reason(data: Mapping[str, Any]) -> str | None:
    """The conflict in words: the resolver keeps it in ``reason`` (``conflict`` is then a
    bool), ``build_graph`` in ``conflict`` itself. Either way the whole sentence."""
    for value in (data.get("reason"), data.get("conflict")):
        if isinstance(value, str) and value:
            return value
    return None


def graph_frames(graph: nx.DiGraph) -> tuple[Any, Any]:
    """``(nodes, edges)`` DataFrames of a dependency graph; one edge row per
    (plugin, dependency) pair, ``conflict`` a bool and ``reason`` when one is known."""
    from ..observe.frames import frame

    nodes = frame(
        [
            (
                n,
                d.get("version"),
                d.get("state"),
                d.get("load_order"),
                bool(d.get("conflict")),
                _reason(d),
            )
            for n, d in graph.nodes(data=True)
        ],
        ("plugin_id", "version", "state", "load_order", "conflict", "reason"),
    )
    edges = frame(
        [
            (
                v,
                u,
                d.get("scope"),
                d.get("range"),
                bool(d.get("conflict")),
                _reason(d),
            )
            for u, v, d in graph.edges(data=True)
        ],
        ("plugin_id", "depends_on", "scope", "range", "conflict", "reason"),
    )
    return nodes, edges


def _layout(graph: nx.DiGraph) -> dict[Any, Any]:
    """Dependencies left of their dependents, one column per generation (cycles: a circle)."""
    import networkx as nx

    if not nx.is_directed_acyclic_graph(graph):
        return dict(nx.circular_layout(graph))
    layers = {}
    for depth, generation in enumerate(nx.topological_generations(graph)):
        for node in sorted(generation, key=str):
            layers[node] = depth
    nx.set_node_attributes(graph, layers, "_layer")
    try:
        return dict(nx.multipartite_layout(graph, subset_key="_layer"))
    finally:
        for data in graph.nodes.values():
            data.pop("_layer", None)


def draw_dependency_graph(
    source: Engine | nx.DiGraph, title: str = "Plugin dependencies"
) -> Picture:
    """Draw the graph: state as colour, conflicts in red, load order as ``#n``.

    Edges point from a dependency to the plugin that needs it; solid = runtime,
    dashed = peer, dotted = optional. Returns a ``Picture`` whose ``frame`` is the nodes
    table, with ``edges``, ``conflicts`` (the resolver's records, when it gave any) and
    ``graph`` (the DiGraph) alongside.
    """
    import networkx as nx

    graph = source if isinstance(source, nx.DiGraph) else dependency_graph(source)
    nodes, edges = graph_frames(graph)
    from ..observe.frames import require_pandas

    conflicts = require_pandas().DataFrame(list(graph.graph.get("conflicts", [])))
    columns = 1 + (
        max(nx.dag_longest_path_length(graph), 0)
        if graph.number_of_nodes() and nx.is_directed_acyclic_graph(graph)
        else 2
    )
    figure, ax = new_figure(max(5.0, 2.6 * columns), max(2.5, 0.9 * graph.number_of_nodes()))
    picture = Picture(figure, nodes, title, edges=edges, graph=graph, conflicts=conflicts)
    if not graph.number_of_nodes():
        ax.text(0.5, 0.5, "no plugins loaded", ha="center", va="center", color="#777")
        ax.set_axis_off()
        return picture
    pos = _layout(graph)
    data = graph.nodes(data=True)
    colours = [STATE_COLOURS.get(str(d.get("state")), "#0277bd") for _, d in data]
    # A pale fill in the state's colour keeps the black labels readable; the border is
    # the state's colour too, or a thick red one for a conflict.
    nx.draw_networkx_nodes(graph, pos, ax=ax, node_size=2200, node_color=colours, alpha=0.3)
    nx.draw_networkx_nodes(
        graph,
        pos,
        ax=ax,
        node_size=2200,
        node_color="none",
        edgecolors=[
            "#c62828" if d.get("conflict") else c for (_, d), c in zip(data, colours, strict=True)
        ],
        linewidths=[3.5 if d.get("conflict") else 1.5 for _, d in data],
    )
    labels = {}
    for n, d in data:
        order = d.get("load_order")
        version = f"v{d['version']}" if d.get("version") else "not loaded"
        labels[n] = f"{n}\n{version}" + (f"\n#{order}" if order is not None else "")
    nx.draw_networkx_labels(graph, pos, labels, ax=ax, font_size=7)
    for u, v, d in graph.edges(data=True):
        nx.draw_networkx_edges(
            graph,
            pos,
            edgelist=[(u, v)],
            ax=ax,
            node_size=2200,
            arrows=True,
            arrowsize=14,
            style=_STYLES.get(str(d.get("scope")), "solid"),
            edge_color="#c62828" if d.get("conflict") else "#555",
            width=2.0 if d.get("conflict") else 1.0,
        )
    nx.draw_networkx_edge_labels(
        graph,
        pos,
        ax=ax,
        font_size=7,
        edge_labels={
            (u, v): ("✗ " if d.get("conflict") else "") + str(d.get("range", ""))
            for u, v, d in graph.edges(data=True)
        },
    )
    from matplotlib.patches import Patch

    states = list(dict.fromkeys(str(d.get("state")) for _, d in data))
    handles = [Patch(color=STATE_COLOURS.get(s, "#0277bd"), label=s) for s in states]
    if any(d.get("conflict") for _, _, d in graph.edges(data=True)):
        handles.append(Patch(facecolor="white", edgecolor="#c62828", linewidth=2, label="conflict"))
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(f"{title} (arrow: needed by; #n: load order)", fontsize=9)
    ax.margins(0.2)
    ax.set_axis_off()
    return picture
