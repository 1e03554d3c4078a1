"""The ``latest`` strategy: the highest versions that satisfy every range, by resolvelib.

resolvelib is pip's backtracking resolver; we only say how plugins are named, which
versions exist and what each one requires (optional dependencies do not steer the search:
they are checked afterwards and reported as warnings).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from resolvelib import AbstractProvider, BaseReporter, ResolutionImpossible, Resolver

from ..versions import satisfies
from ._model import Conflict, DependencyError, PluginSpec, Requirement
from .candidates import Catalog


class _Provider(AbstractProvider[Requirement, PluginSpec, str]):
    def __init__(self, catalog: Catalog, pins: Mapping[str, str], pliers: str, python: str):
        self.catalog, self.pins, self.pliers, self.python = catalog, pins, pliers, python

    def identify(self, requirement_or_candidate: Requirement | PluginSpec) -> str:
        return requirement_or_candidate.name

    def get_preference(
        self,
        identifier: str,
        resolutions: Any,
        candidates: Any,
        information: Any,
        backtrack_causes: Sequence[Any],
    ) -> Any:
        causes = {c.requirement.name for c in backtrack_causes}
        return (identifier not in causes, identifier)

    def _runs_here(self, spec: PluginSpec) -> bool:
        from ._resolver import _engine_conflicts

        return not _engine_conflicts(spec, self.pliers, self.python)

    def find_matches(
        self,
        identifier: str,
        requirements: Mapping[str, Iterator[Requirement]],
        incompatibilities: Mapping[str, Iterator[PluginSpec]],
    ) -> list[PluginSpec]:
        ranges = [r.range for r in requirements[identifier]]
        bad = {c.version for c in incompatibilities[identifier]}
        pin = self.pins.get(identifier)
        return [
            spec
            for spec in self.catalog.versions(identifier)
            if spec.version not in bad
            and (pin is None or spec.version == pin)
            and self._runs_here(spec)
            and all(satisfies(spec.version, r) for r in ranges)
        ]

    def is_satisfied_by(self, requirement: Requirement, candidate: PluginSpec) -> bool:
        return satisfies(candidate.version, requirement.range)

    def get_dependencies(self, candidate: PluginSpec) -> Iterable[Requirement]:
        return [r for r in candidate.requires if r.scope != "optional"]


def search(
    catalog: Catalog, roots: list[str], pins: Mapping[str, str], pliers: str, python: str
) -> dict[str, PluginSpec]:
    """The chosen version per plugin; DependencyError explains an impossible set."""
    resolver = Resolver(_Provider(catalog, pins, pliers, python), BaseReporter())
    # A pinned root asks for exactly its pin, so a pinned prerelease can be chosen
    # ("*" alone never matches a prerelease under npm's rules).
    wanted = [Requirement(name, pins.get(name, "*"), "runtime", None) for name in roots]
    try:
        result = resolver.resolve(wanted, max_rounds=max(1000, 20 * len(catalog)))
    except ResolutionImpossible as exc:
        raise DependencyError(
            "no set of versions satisfies every range (latest resolution)",
            conflicts=_explain(exc.causes, catalog),
        ) from None
    return dict(result.mapping)


def _explain(causes: Iterable[Any], catalog: Catalog) -> list[Conflict]:
    by_name: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for cause in causes:
        parent = cause.parent.name if cause.parent is not None else "(requested)"
        by_name[cause.requirement.name].append((parent, cause.requirement.range))
    conflicts = []
    for name, wants in sorted(by_name.items()):
        # The user's own "any version" request says nothing about the clash.
        specific = [w for w in wants if w != ("(requested)", "*")]
        wants = list(dict.fromkeys(specific or wants))
        known = ", ".join(s.version for s in catalog.versions(name)) or "none"
        if len(wants) >= 2:
            (p1, r1), (p2, r2) = wants[0], wants[1]
            conflicts.append(
                Conflict(
                    p1,
                    p2,
                    name,
                    r1,
                    r2,
                    "error",
                    f"no version of {name} satisfies both (known: {known})",
                )
            )
        else:
            ((p1, r1),) = wants
            conflicts.append(
                Conflict(
                    p1, None, name, r1, None, "error", f"no version of {name} fits (known: {known})"
                )
            )
    return conflicts
