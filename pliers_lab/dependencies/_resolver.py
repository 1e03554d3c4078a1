"""Choosing one version per plugin, finding conflicts and a load order.

``strict`` and ``manual`` take each plugin's pinned, installed or highest compatible
version and check every range against that choice; ``latest`` hands the search to
resolvelib (pip's backtracking resolver) so an older version of one plugin can make room
for the newest of another. Every strategy ends in the same checks, so a conflict reads
the same whichever way the versions were picked.
"""

from __future__ import annotations

import functools
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..versions import VersionError, intersects, satisfies
from ._model import Conflict, DependencyError, PluginSpec, Requirement, ResolutionStrategy
from .candidates import Catalog

__all__ = ["Resolution", "resolve"]


@dataclass
class Resolution:
    """The outcome of ``resolve``.

    Attributes:
        chosen: the version picked for each plugin, by name.
        order: load order, dependencies first (ties broken by name).
        conflicts: every disagreement found (errors and warnings).
        excluded: plugins left out of ``order`` (manual strategy), with the reason.
        missing_optional: optional dependencies that are not available (not an error).
    """

    strategy: ResolutionStrategy
    chosen: dict[str, PluginSpec]
    order: list[str]
    conflicts: list[Conflict] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)
    missing_optional: list[Requirement] = field(default_factory=list)
    _graph: Any = None

    @property
    def ok(self) -> bool:
        return not any(c.severity == "error" for c in self.conflicts)

    @property
    def graph(self) -> Any:
        """A networkx DiGraph, edge dependency → dependent; node attributes ``version``,
        ``load_order`` (None if excluded), ``conflict``, ``reason``; edge attributes
        ``scope``, ``range``, ``satisfied``, ``conflict``, ``reason`` (the conflict, said)."""
        return self._graph

    def frames(self) -> tuple[Any, Any]:
        """(nodes, edges) as pandas DataFrames, for tables and drawings."""
        from ..observe.frames import frame

        g = self._graph
        nodes = frame(
            [
                (n, d.get("version"), d.get("load_order"), d.get("conflict", False))
                for n, d in g.nodes(data=True)
            ],
            ("plugin", "version", "load_order", "conflict"),
        )
        edges = frame(
            [
                (v, u, d["scope"], d["range"], d["satisfied"], d["conflict"])
                for u, v, d in g.edges(data=True)
            ],
            ("plugin", "dependency", "scope", "range", "satisfied", "conflict"),
        )
        return nodes, edges


def _python_version() -> str:
    info = sys.version_info
    return f"{info.major}.{info.minor}.{info.micro}"


@functools.cache
def _installed(distribution: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _requirement_conflicts(spec: PluginSpec) -> list[Conflict]:
    """PEP 508 requirements of ``spec`` that the installed distributions do not meet."""
    from packaging.requirements import Requirement as Pep508
    from packaging.utils import canonicalize_name

    out = []
    for text in spec.python_requires:
        req = Pep508(text)
        if req.marker is not None and not req.marker.evaluate():
            continue
        have = _installed(canonicalize_name(req.name))
        if have is None or (req.specifier and not req.specifier.contains(have, prereleases=True)):
            hint = f"install {text}" if have is None else f"installed {req.name} is {have}"
            out.append(
                Conflict(
                    spec.name,
                    req.name,
                    f"requirement {req.name}",
                    str(req.specifier) or "*",
                    have,
                    "error",
                    hint,
                )
            )
    return out


def _engine_conflicts(spec: PluginSpec, pliers_version: str, python_version: str) -> list[Conflict]:
    out = _requirement_conflicts(spec)
    for engine, rng, actual in (
        ("pliers", spec.engines_pliers, pliers_version),
        ("python", spec.engines_python, python_version),
    ):
        if not satisfies(actual, rng, include_prerelease=True):
            out.append(
                Conflict(
                    spec.name,
                    engine,
                    f"engines.{engine}",
                    rng,
                    actual,
                    "error",
                    f"{spec.key} does not run on {engine} {actual}",
                )
            )
    return out


def _reachable(catalog: Catalog, roots: Iterable[str]) -> list[str]:
    """Names reachable from ``roots`` through non-optional requirements, in BFS order."""
    seen: dict[str, None] = {}
    queue = list(roots)
    while queue:
        name = queue.pop(0)
        if name in seen:
            continue
        seen[name] = None
        for spec in catalog.versions(name)[:1] or ():
            queue.extend(r.name for r in spec.requires if r.scope != "optional")
    return list(seen)


def _pick(
    catalog: Catalog,
    roots: list[str],
    pins: Mapping[str, str],
    installed: Mapping[str, str],
    pliers_version: str,
    python_version: str,
) -> tuple[dict[str, PluginSpec], list[Conflict]]:
    """Pinned, else installed, else the highest engine-compatible version of each plugin."""
    chosen: dict[str, PluginSpec] = {}
    conflicts: list[Conflict] = []
    queue = list(roots)
    while queue:
        name = queue.pop(0)
        if name in chosen or name not in catalog:
            continue
        wanted = pins.get(name) or installed.get(name)
        spec = catalog.get(name, wanted) if wanted else None
        if wanted and spec is None:
            conflicts.append(
                Conflict(
                    name,
                    None,
                    name,
                    f"={wanted}",
                    None,
                    "error",
                    f"version {wanted} of {name} is not available",
                )
            )
        if spec is None:
            versions = catalog.versions(name)
            spec = next(
                (s for s in versions if not _engine_conflicts(s, pliers_version, python_version)),
                versions[0],
            )
        chosen[name] = spec
        conflicts.extend(_engine_conflicts(spec, pliers_version, python_version))
        queue.extend(r.name for r in spec.requires if r.scope != "optional" or r.name in catalog)
    return chosen, conflicts


def _check(
    chosen: Mapping[str, PluginSpec], catalog: Catalog
) -> tuple[list[Conflict], list[Requirement]]:
    """Every requirement of every chosen plugin against what was chosen."""
    conflicts: list[Conflict] = []
    missing_optional: list[Requirement] = []
    dependents: dict[str, list[Requirement]] = defaultdict(list)
    for spec in chosen.values():
        for req in spec.requires:
            dependents[req.name].append(req)
    for dep_name, reqs in sorted(dependents.items()):
        target = chosen.get(dep_name)
        if target is None:
            for req in reqs:
                if req.scope == "optional":
                    missing_optional.append(req)
                    continue
                known = ", ".join(s.version for s in catalog.versions(dep_name)) or "none"
                conflicts.append(
                    Conflict(
                        req.required_by or "?",
                        None,
                        dep_name,
                        req.range,
                        None,
                        "error",
                        f"{dep_name} is not available (versions known: {known})",
                    )
                )
            continue
        failing = [r for r in reqs if not satisfies(target.version, r.range)]
        passing = [r for r in reqs if r not in failing]
        for req in failing:
            rival = next((p for p in passing if not intersects(p.range, req.range)), None)
            if rival is not None:
                conflicts.append(
                    Conflict(
                        req.required_by or "?",
                        rival.required_by,
                        dep_name,
                        req.range,
                        rival.range,
                        "error",
                        f"no version of {dep_name} satisfies both {req.range} and {rival.range}",
                    )
                )
            else:
                better = [
                    s.version for s in catalog.versions(dep_name) if satisfies(s.version, req.range)
                ]
                hint = (
                    f"version {better[0]} would satisfy it"
                    if better
                    else f"no available version of {dep_name} satisfies {req.range}"
                )
                conflicts.append(
                    Conflict(
                        req.required_by or "?",
                        dep_name,
                        dep_name,
                        req.range,
                        target.version,
                        "warning" if req.scope == "optional" else "error",
                        hint,
                    )
                )
    return conflicts, missing_optional


def _graph(chosen: Mapping[str, PluginSpec], conflicts: list[Conflict]) -> Any:
    import networkx as nx  # ~0.15 s: only when plugins are resolved

    bad_edges = {(c.plugin1, c.dependency): str(c) for c in conflicts}
    bad_nodes = {c.plugin1: str(c) for c in conflicts if c.severity == "error"}
    g = nx.DiGraph()
    for name, spec in chosen.items():
        g.add_node(
            name,
            version=spec.version,
            load_order=None,
            conflict=name in bad_nodes,
            reason=bad_nodes.get(name),
        )
    for name, spec in chosen.items():
        for req in spec.requires:
            if req.name not in chosen:
                continue
            g.add_edge(
                req.name,
                name,
                scope=req.scope,
                range=req.range,
                satisfied=satisfies(chosen[req.name].version, req.range),
                conflict=(name, req.name) in bad_edges,
                reason=bad_edges.get((name, req.name)),
            )
    return g


def _order(g: Any, excluded: set[str]) -> list[str]:
    import networkx as nx

    try:
        order = list(nx.lexicographical_topological_sort(g))
    except nx.NetworkXUnfeasible:
        cycle = [u for u, _v in nx.find_cycle(g)]
        cycle.append(cycle[0])
        # Edges point dependency → dependent; say it the way people read it.
        path = " -> ".join(reversed(cycle))
        raise DependencyError(f"dependency cycle: {path}", cycle=list(reversed(cycle))) from None
    order = [n for n in order if n not in excluded]
    for position, name in enumerate(order):
        g.nodes[name]["load_order"] = position
    return order


def _latest(
    catalog: Catalog,
    roots: list[str],
    pins: Mapping[str, str],
    pliers_version: str,
    python_version: str,
) -> dict[str, PluginSpec]:
    from ._latest import search

    return search(catalog, roots, pins, pliers_version, python_version)


def _excluded(g: Any, conflicts: list[Conflict]) -> dict[str, str]:
    """Plugins with an error conflict, and everything that depends on them."""
    import networkx as nx

    out: dict[str, str] = {}
    for c in conflicts:
        if c.severity == "error" and c.plugin1 in g:
            out.setdefault(c.plugin1, str(c))
    for name in list(out):
        for dependent in nx.descendants(g, name):
            out.setdefault(dependent, f"depends on {name}, which is excluded")
    return out


def resolve(
    catalog: Catalog,
    roots: Iterable[str] | None = None,
    *,
    strategy: ResolutionStrategy | str = ResolutionStrategy.STRICT,
    pins: Mapping[str, str] | None = None,
    installed: Mapping[str, str] | None = None,
    pliers_version: str | None = None,
    python_version: str | None = None,
) -> Resolution:
    """Pick versions for ``roots`` (default: every plugin in ``catalog``) and order them.

    Raises ``DependencyError`` for a cycle, for any conflict under ``strict``, and when no
    set of versions works under ``latest``; ``manual`` reports and excludes instead.
    """
    from ..engine.loader import API_VERSION

    strategy = ResolutionStrategy(strategy)
    names = list(roots) if roots is not None else catalog.names()
    pins, installed = dict(pins or {}), dict(installed or {})
    pv, py = pliers_version or API_VERSION, python_version or _python_version()
    unknown = [n for n in names if n not in catalog]
    try:
        if strategy is ResolutionStrategy.LATEST:
            chosen = _latest(catalog, [n for n in names if n in catalog], pins, pv, py)
            engine_conflicts: list[Conflict] = []
        else:
            chosen, engine_conflicts = _pick(catalog, names, pins, installed, pv, py)
        conflicts, missing_optional = _check(chosen, catalog)
        g = _graph(chosen, conflicts)
    except VersionError as exc:
        raise DependencyError(f"malformed version range: {exc}") from None
    for c in engine_conflicts:
        if c.plugin1 in g:
            g.nodes[c.plugin1].update(conflict=True, reason=str(c))
    conflicts = engine_conflicts + conflicts
    conflicts += [
        Conflict(n, None, n, "*", None, "error", f"{n} is not in the catalog") for n in unknown
    ]
    excluded = _excluded(g, conflicts) if strategy is ResolutionStrategy.MANUAL else {}
    order = _order(g, set(excluded))
    resolution = Resolution(strategy, chosen, order, conflicts, excluded, missing_optional, g)
    if strategy is not ResolutionStrategy.MANUAL and conflicts:
        errors = [c for c in conflicts if c.severity == "error"]
        if strategy is ResolutionStrategy.STRICT or errors:
            raise DependencyError(
                f"{len(conflicts)} dependency conflict{'s' if len(conflicts) > 1 else ''} "
                f"({strategy.value} resolution)",
                conflicts=conflicts,
            )
    return resolution
