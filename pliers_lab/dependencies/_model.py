"""The records of dependency resolution: specs, requirements, conflicts, strategies."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal

from ..errors import PluginError, PluginErrorType

Scope = Literal["runtime", "peer", "optional"]

#: Conflicts spelled out in an error message; all of them stay in ``.conflicts``.
MAX_LISTED = 20


class ResolutionStrategy(StrEnum):
    """The spec's strategies.

    - ``strict``: take each plugin's pinned, installed or highest version; any conflict
      fails the resolution.
    - ``latest``: search (with backtracking) for the highest versions that satisfy every
      range; fail only if no such set exists.
    - ``manual``: like strict, but never fail: report the conflicts and let the user pin.
    """

    STRICT = "strict"
    LATEST = "latest"
    MANUAL = "manual"


@dataclass(frozen=True, slots=True)
class Requirement:
    """``name`` at a version in npm range ``range``, with its scope."""

    name: str
    range: str
    scope: Scope = "runtime"
    required_by: str | None = None


@dataclass(frozen=True, slots=True)
class PluginSpec:
    """What resolution needs of one plugin version (a manifest reduced to its edges)."""

    name: str
    version: str
    requires: tuple[Requirement, ...] = ()
    engines_pliers: str = "*"
    engines_python: str = "*"
    source: Any = field(default=None, compare=False, hash=False)
    #: PEP 508 requirements on Python distributions (checked against what is installed).
    python_requires: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"

    @classmethod
    def from_manifest(cls, manifest: Any) -> PluginSpec:
        """The spec of a validated ``Manifest`` (its folder kept as ``source``)."""
        return cls(
            manifest.name,
            str(manifest.version),
            tuple(
                Requirement(name, rng, scope, manifest.name)
                for name, rng, scope in manifest.all_dependencies()
            ),
            manifest.engines.pliers,
            manifest.engines.python,
            source=manifest,
            python_requires=tuple(manifest.requirements),
        )


@dataclass(frozen=True, slots=True)
class Conflict:
    """The spec's ``Conflict``: two parties disagree about one dependency.

    ``plugin1`` asks for ``dependency`` in range ``version1``; ``plugin2`` is the other
    party (another dependent with range ``version2``, or the dependency itself at version
    ``version2``, or ``pliers``/``python`` for engine checks).
    """

    plugin1: str
    plugin2: str | None
    dependency: str
    version1: str
    version2: str | None
    severity: Literal["error", "warning"]
    resolution: str | None = None

    def __str__(self) -> str:
        other = f" vs {self.plugin2} ({self.version2})" if self.plugin2 else ""
        hint = f"; {self.resolution}" if self.resolution else ""
        return (
            f"[{self.severity}] {self.plugin1} needs {self.dependency} {self.version1}{other}{hint}"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class DependencyError(PluginError):
    """Resolution failed: a cycle, or conflicts the strategy does not accept."""

    def __init__(
        self,
        message: str,
        *,
        conflicts: list[Conflict] | None = None,
        cycle: list[str] | None = None,
        plugin_id: str | None = None,
    ) -> None:
        self.conflicts = conflicts or []
        self.cycle = cycle
        shown = self.conflicts[:MAX_LISTED]
        lines = [message, *(f"  {c}" for c in shown)]
        if len(self.conflicts) > MAX_LISTED:
            lines.append(f"  … and {len(self.conflicts) - MAX_LISTED} more (see .conflicts)")
        super().__init__(
            PluginErrorType.DEPENDENCY_ERROR,
            "\n".join(lines),
            plugin_id=plugin_id,
            metadata={"conflicts": [c.to_dict() for c in self.conflicts], "cycle": cycle},
        )
