"""The marketplace's exceptions, one per refusal, each carrying the REST error code.

The web layer maps ``code`` and ``status`` straight into its error envelope
(related-facts §7: ``error{code, message, details}``), so a refusal reads the same from
Python, a notebook and HTTP. Every message names what was refused and where (the plugin,
the version, the bundle entry, the conflicting plugins).
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import PliersError

__all__ = [
    "AlreadyExistsError",
    "BundleError",
    "DependencyConflictError",
    "MarketError",
    "NotFoundError",
    "PermissionsNotAcceptedError",
    "RegistryAccessError",
    "RegistryUnavailableError",
    "SignatureError",
    "StartupError",
    "UnsafePluginError",
]


class MarketError(PliersError):
    """Base of every marketplace refusal.

    Attributes:
        code: the REST error code (``PLUGIN_NOT_FOUND``, ``DEPENDENCY_CONFLICT``, ...).
        status: the HTTP status that code maps to.
        plugin_id: the plugin concerned, when there is one.
        details: machine-readable particulars (conflicts, issues, permissions, ...).
    """

    code: ClassVar[str] = "INVALID_PLUGIN_PACKAGE"
    status: ClassVar[int] = 400

    def __init__(
        self,
        message: str,
        *,
        plugin_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.plugin_id = plugin_id
        self.details: dict[str, Any] = details or {}

    def to_dict(self) -> dict[str, Any]:
        """The body of the REST error envelope (without timestamp and request id)."""
        return {"code": self.code, "message": self.message, "details": self.details}


class BundleError(MarketError):
    """A bundle that cannot be trusted to unpack: corrupt, hostile or inconsistent.

    ``bundle`` is the file and ``entry`` the offending member, when one is to blame.
    """

    def __init__(
        self,
        bundle: str,
        message: str,
        *,
        entry: str | None = None,
        plugin_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        where = f"{bundle}: entry {entry!r}: " if entry is not None else f"{bundle}: "
        super().__init__(
            where + message,
            plugin_id=plugin_id,
            details={"bundle": bundle, "entry": entry, **(details or {})},
        )
        self.bundle = bundle
        self.entry = entry


class SignatureError(MarketError):
    """A signature that is missing, untrusted, made by another key, or not for this bundle."""


class UnsafePluginError(MarketError):
    """The security scan found too much; ``details["scan"]`` holds the whole report."""


class NotFoundError(MarketError, KeyError):
    """No such plugin, version or tag (in the registry or the store)."""

    code = "PLUGIN_NOT_FOUND"
    status = 404

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class AlreadyExistsError(MarketError):
    """The version is already published, or the plugin already installed."""

    code = "PLUGIN_ALREADY_EXISTS"
    status = 409


class DependencyConflictError(MarketError):
    """Dependencies cannot be satisfied, or other plugins depend on the one to remove."""

    code = "DEPENDENCY_CONFLICT"
    status = 409


class PermissionsNotAcceptedError(MarketError):
    """An update asks for permissions the user has not accepted (``details["added"]``)."""

    code = "PERMISSION_DENIED"
    status = 403


class RegistryAccessError(MarketError):
    """The registry user may not do this to the plugin (not a maintainer, not the owner)."""

    code = "PERMISSION_DENIED"
    status = 403


class StartupError(MarketError):
    """The installed plugin failed to load in the engine; the install was undone."""

    code = "PLUGIN_STARTUP_FAILED"
    status = 500


class RegistryUnavailableError(MarketError):
    """A registry service that cannot be reached, or that answers with something that is
    not its API (issue 19 §1); the message names the URL and what was being done."""

    code = "MARKETPLACE_UNAVAILABLE"
    status = 503
