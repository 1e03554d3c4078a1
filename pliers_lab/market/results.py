"""What marketplace operations return: the spec's result records, each with ``to_dict()``
in the REST shape (camelCase), so the web layer serialises them without knowing them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..manifest import Permissions

__all__ = [
    "InstallResult",
    "PermissionDiff",
    "UninstallResult",
    "UpdatePlan",
    "UpdateResult",
    "ValidationReport",
    "diff_permissions",
]

Row = tuple[str, str, str]


@dataclass(frozen=True)
class PermissionDiff:
    """What a new version may do that the old one could not (``added``), and the reverse.

    Rows are ``(category, verb, resource pattern)`` as ``Permissions.as_rows()`` gives
    them, so ``network outbound api.example.com:443`` is one row.
    """

    added: tuple[Row, ...] = ()
    removed: tuple[Row, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed)

    @staticmethod
    def text(rows: tuple[Row, ...]) -> str:
        return ", ".join(f"{c}.{v}" + ("" if r == "*" else f"[{r}]") for c, v, r in rows)

    def to_dict(self) -> dict[str, Any]:
        def rows(items: tuple[Row, ...]) -> list[dict[str, str]]:
            return [{"category": c, "verb": v, "resource": r} for c, v, r in items]

        return {"added": rows(self.added), "removed": rows(self.removed)}


def diff_permissions(old: Permissions | None, new: Permissions) -> PermissionDiff:
    """Compare two manifests' permissions row by row (DESIGN.md §5).

    A wildcard row covers narrower rows of the same verb: going from ``read: ["*"]`` to
    ``read: ["submissions"]`` adds nothing.
    """
    from fnmatch import fnmatchcase

    before = set(old.as_rows()) if old is not None else set()
    after = set(new.as_rows())

    def covered(row: Row, rows: set[Row]) -> bool:
        return any(c == row[0] and v == row[1] and fnmatchcase(row[2], r) for c, v, r in rows)

    added = tuple(sorted(r for r in after - before if not covered(r, before)))
    removed = tuple(sorted(r for r in before - after if not covered(r, after)))
    return PermissionDiff(added, removed)


@dataclass(frozen=True)
class InstallResult:
    """The spec's ``InstallResult``.

    ``dependencies`` lists every plugin the install needed, each
    ``{name, version, installed}`` where ``installed`` is true when this call installed
    it and false when it was already there. ``security`` holds each new version's scan
    score; ``signatures`` each one's verification.
    """

    success: bool
    plugin_id: str
    version: str | None
    installed_at: str | None = None
    dependencies: tuple[dict[str, Any], ...] = ()
    conflicts: tuple[dict[str, Any], ...] = ()
    warnings: tuple[str, ...] = ()
    error: str | None = None
    path: str | None = None
    security: dict[str, int] = field(default_factory=dict)
    signatures: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "pluginId": self.plugin_id,
            "version": self.version,
            "installedAt": self.installed_at,
            "dependencies": list(self.dependencies),
            "conflicts": list(self.conflicts),
            "warnings": list(self.warnings),
            "error": self.error,
            "path": self.path,
            "security": dict(self.security),
            "signatures": dict(self.signatures),
        }


@dataclass(frozen=True)
class UpdateResult:
    """The spec's ``UpdateResult`` (REST ``PUT /plugins/{id}``: old and new versions and
    a changes list), with the permission diff between the two manifests."""

    success: bool
    plugin_id: str
    from_version: str
    to_version: str
    updated: bool = True
    updated_at: str | None = None
    permissions: PermissionDiff = PermissionDiff()
    changes: tuple[str, ...] = ()
    dependencies: tuple[dict[str, Any], ...] = ()
    warnings: tuple[str, ...] = ()
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "pluginId": self.plugin_id,
            "oldVersion": self.from_version,
            "newVersion": self.to_version,
            "updated": self.updated,
            "updatedAt": self.updated_at,
            "permissions": self.permissions.to_dict(),
            "changes": list(self.changes),
            "dependencies": list(self.dependencies),
            "warnings": list(self.warnings),
            "error": self.error,
        }


@dataclass(frozen=True)
class UpdatePlan:
    """What ``update`` would do, worked out without changing anything, so that a user
    sees the permission diff (and the release notes) before accepting the update.

    ``dependencies`` are the plugins the update would install too, each
    ``{name, version}``. ``to_version == from_version`` when there is nothing to do.
    """

    plugin_id: str
    from_version: str
    to_version: str
    permissions: PermissionDiff = PermissionDiff()
    changes: tuple[str, ...] = ()
    dependencies: tuple[dict[str, Any], ...] = ()

    @property
    def needed(self) -> bool:
        """Whether the update would switch versions at all."""
        return self.to_version != self.from_version

    @property
    def needs_consent(self) -> bool:
        """Whether ``update`` needs ``accept_permissions=True`` for this plan."""
        return bool(self.permissions.added)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pluginId": self.plugin_id,
            "oldVersion": self.from_version,
            "newVersion": self.to_version,
            "needed": self.needed,
            "needsConsent": self.needs_consent,
            "permissions": self.permissions.to_dict(),
            "changes": list(self.changes),
            "dependencies": list(self.dependencies),
        }


@dataclass(frozen=True)
class UninstallResult:
    """The spec's ``UninstallResult`` (REST ``DELETE /plugins/{id}``: ``affectedPlugins``)."""

    success: bool
    plugin_id: str
    version: str
    removed: tuple[str, ...] = ()
    affected_plugins: tuple[str, ...] = ()
    data_removed: bool = False
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "pluginId": self.plugin_id,
            "version": self.version,
            "removed": list(self.removed),
            "affectedPlugins": list(self.affected_plugins),
            "dataRemoved": self.data_removed,
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class ValidationReport:
    """The REST ``POST /plugins/validate`` answer for one bundle.

    ``valid`` needs a sound package, a valid manifest, a safe scan, dependencies that
    resolve and a signature that is not invalid (forged, tampered, malformed). Unsigned
    bundles and unknown keys stay valid (a package is often validated before it is
    signed); ``warnings`` says so, and what it means for where the plugin runs.
    """

    valid: bool
    package: dict[str, Any]
    manifest: dict[str, Any]
    security: dict[str, Any]
    dependencies: dict[str, Any]
    signature: dict[str, Any]
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "package": self.package,
            "manifest": self.manifest,
            "security": self.security,
            "dependencies": self.dependencies,
            "signature": self.signature,
            "warnings": list(self.warnings),
        }
