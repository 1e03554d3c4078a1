"""The REST error envelope and its codes (related-facts §7).

Every error reply of the web layer, plugin endpoints and management API alike, has the
body ``{"error": {code, message, details, timestamp, requestId}}``. An error the client
caused says what was wrong, in the message and in ``details`` (``reason``, ``limit``,
``errors`` with paths…); a failure of the server itself (``INTERNAL_ERROR``) says only
``details.errorId``, which the server log shows with the traceback. The first eight codes
are the specification's; the rest are ours, for failures the specification does not name
(routing, validation, authentication, rate limits, failing plugin endpoints).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ..errors import PluginError

__all__ = [
    "CODES",
    "ApiError",
    "envelope",
    "internal_error",
    "iso",
    "overloaded",
    "refused_by_host",
]

log = logging.getLogger("pliers_lab.web")

#: Error code → HTTP status.
CODES: dict[str, int] = {
    # the specification's (api.md)
    "PLUGIN_NOT_FOUND": 404,
    "PLUGIN_ALREADY_EXISTS": 409,
    "INVALID_PLUGIN_PACKAGE": 400,
    "DEPENDENCY_CONFLICT": 409,
    "PERMISSION_DENIED": 403,
    "PLUGIN_STARTUP_FAILED": 500,
    "CONFIGURATION_INVALID": 400,
    "MARKETPLACE_UNAVAILABLE": 503,
    # ours
    "ROUTE_NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "INVALID_REQUEST": 400,
    "VALIDATION_FAILED": 400,
    "AUTHENTICATION_REQUIRED": 401,
    "PAYLOAD_TOO_LARGE": 413,
    "INVALID_STATE": 409,
    "RATE_LIMITED": 429,
    "PLUGIN_ERROR": 500,
    "PLUGIN_BUSY": 503,
    "PLUGIN_TIMEOUT": 504,
    "INTERNAL_ERROR": 500,
}


def iso(timestamp: float) -> str:
    """Epoch seconds as ISO 8601 UTC with milliseconds (``2025-01-31T12:00:00.000Z``)."""
    text = datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


class ApiError(Exception):
    """An error reply: raise it anywhere below a route and it becomes the envelope.

    Attributes:
        code: one of ``CODES``; it decides the HTTP status.
        message: one readable sentence naming the culprit.
        details: anything JSON that helps (``{"errors": [...]}`` for validation).
        headers: extra reply headers (``Allow``, ``WWW-Authenticate``, ``Retry-After``).
    """

    def __init__(
        self,
        code: str,
        message: str,
        details: Any = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        if code not in CODES:
            raise ValueError(f"unknown error code {code!r}; known: {', '.join(CODES)}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.headers = list(headers)

    @property
    def status(self) -> int:
        return CODES[self.code]

    def body(self, request_id: str, now: float) -> dict[str, Any]:
        return envelope(self.code, self.message, self.details, request_id, now)

    def __repr__(self) -> str:
        return f"ApiError({self.code}, {self.message!r})"


def internal_error(exc: BaseException, where: str) -> ApiError:
    """A 500 for a failure of the server itself: the reply says only an error id; the
    server log (logger ``pliers_lab.web``) has that id with the traceback."""
    error_id = f"err-{os.urandom(6).hex()}"
    log.error("web: internal error %s on %s", error_id, where, exc_info=exc)
    return ApiError(
        "INTERNAL_ERROR",
        f"internal error {error_id}; the server log has the details",
        {"errorId": error_id},
    )


def overloaded(message: str, retry_after_s: float, details: Any = None) -> ApiError:
    """A 503 with ``Retry-After``: too busy now, not broken."""
    seconds = max(1, math.ceil(retry_after_s))
    return ApiError(
        "PLUGIN_BUSY",
        message,
        {**(details or {}), "retryAfter": seconds},
        [("retry-after", str(seconds))],
    )


#: ``metadata["cause"]`` of refusals that are the host's doing, not the plugin's failure.
_NOT_THE_PLUGINS = ("overload", "circuit_open")


def refused_by_host(exc: BaseException | None) -> float | None:
    """Seconds to wait (``0.0``: no advice) when ``exc`` is the host declining to run the
    call rather than the plugin failing, else None: an error the engine marks as not the
    plugin's (``counted = False``: ``HostOverload``, ``NotRun``, ``CircuitOpen``), or whose
    metadata ``cause`` names an overload (``host_overload``) or an open breaker
    (``circuit_open``), or ``host_overload: true``. Such a call is answered 503 with
    ``Retry-After`` and not counted against the plugin."""
    for _ in range(8):  # a failure the engine wrapped (an activation that met an overload)
        if not isinstance(exc, PluginError) or _declined(exc):
            break
        exc = exc.cause or exc.__cause__
    if not isinstance(exc, PluginError) or not _declined(exc):
        return None
    meta = exc.metadata or {}
    for key in ("retry_after_s", "retryAfter", "retry_after"):
        value = meta.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 3600:
            return float(value)
    return 0.0


def _declined(exc: PluginError) -> bool:
    meta = exc.metadata or {}
    cause = meta.get("cause")
    return (
        getattr(exc, "counted", True) is False
        or (isinstance(cause, str) and any(word in cause.lower() for word in _NOT_THE_PLUGINS))
        or meta.get("host_overload") is True
    )


def envelope(code: str, message: str, details: Any, request_id: str, now: float) -> dict[str, Any]:
    """The specification's error body."""
    return {
        "error": {
            "code": code,
            "message": message,
            "details": details if details is not None else {},
            "timestamp": iso(now),
            "requestId": request_id,
        }
    }


def problems(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``details`` for a list of ``{path, message, value}`` problems."""
    return {"errors": [dict(item) for item in items]}
