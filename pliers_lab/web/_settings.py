"""``WebSettings``: the options of the web layer, in one typed record (STYLE.md habit 2)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ._limits import MANAGEMENT_LIMITS

__all__ = ["WebSettings"]


@dataclass(frozen=True)
class WebSettings:
    """How the server runs plugin endpoints and the management API."""

    handler_timeout_s: float | None = None
    """Wall-clock limit of one endpoint call (middleware and handler together); past it
    the reply is a 504 and a TIMEOUT_ERROR is recorded. ``None``: the engine's
    ``default_timeout_ms``."""
    max_body_bytes: int = 1 << 20
    """Largest body of a plugin endpoint request; larger ones are refused with 413 before
    any plugin code runs (a declared ``Content-Length`` before reading, a chunked body
    as soon as it passes the limit)."""
    max_json_bytes: int = 256 << 10
    """Largest JSON body of the management API routes that take configuration:
    ``POST /v3/plugins`` (a path or marketplace install), ``PUT /v3/plugins/{id}/config``
    and ``POST /v3/plugins/{id}/config/validate``."""
    max_command_bytes: int = 16 << 10
    """Largest JSON body of the other management API routes that take one:
    ``PUT /v3/plugins/{id}`` (update), ``POST /v3/plugins/{id}/start|stop|restart`` and
    ``POST /v3/plugins/{id}/dev-mode``. Routes that take no body (every ``GET`` and
    ``DELETE``) refuse any with 413."""
    max_upload_bytes: int | None = None
    """Largest ``multipart/form-data`` upload (``POST /v3/plugins``,
    ``POST /v3/plugins/validate``). ``None``: the marketplace's bundle limit
    (``Limits.max_total_size``, 64 MiB by default) plus 64 KiB for the form around it."""
    max_json_depth: int = 64
    """Arrays and objects nested in each other in any JSON a client sends (endpoint and
    management bodies, an upload's ``config`` field, token segments); deeper is a 400."""
    max_form_fields: int = 1000
    """Fields of an ``application/x-www-form-urlencoded`` endpoint body; more is a 400."""
    max_ws_message_bytes: int = 16 << 10
    """Largest websocket message a client may send on ``/v3/events`` (the stream is
    one-way; the server closes a connection that sends more with code 1009)."""
    max_concurrency: int = 10
    """Endpoint calls one plugin may have running at once (the specification's
    ``concurrency`` default); more are refused with 503. A call that timed out but whose
    thread still runs keeps its slot until it ends, so a plugin that hangs is shut out
    instead of exhausting the server's threads."""
    worker_threads: int = 32
    """Threads that run synchronous plugin code (handlers, middleware, hooks)."""
    max_event_streams: int = 50
    """``/v3/events`` websockets open at once; more are closed with code 4429."""
    require_api_permission: bool = True
    """Serve an endpoint only if the manifest grants ``permissions.api.register`` on it."""
    management_auth: bool = True
    """The ``/v3`` API needs a bearer token whose user has one of ``admin_roles``."""
    admin_roles: tuple[str, ...] = ("admin",)
    management_limits: Mapping[str, tuple[int, float]] = field(
        default_factory=lambda: dict(MANAGEMENT_LIMITS)
    )
    """Per-client ``(requests, window seconds)`` of the buckets general, install,
    upload and search."""
    plugin_roots: tuple[Path, ...] = ()
    """Folders ``POST /v3/plugins`` with ``{"source": "path"}`` may load plugins from
    (empty: such installs are refused). What is installed that way, or uploaded, is a
    bundle to the engine: it runs sandboxed unless the engine's ``TrustPolicy`` trusts
    it (``pliers serve --trust ID`` / ``--trust-folder DIR``); listing a folder here
    only allows installing from it."""
    access_log_size: int = 10_000
    """Endpoint calls kept for ``/v3/plugins/{id}/metrics`` timelines."""
    retry_after_s: int = 1
    """``Retry-After`` of a 503 (the concurrency cap, or the engine reporting the host
    overloaded) when the engine suggests no other delay."""
    expose_plugin_errors: bool = False
    """Put a failing plugin's own error text in its endpoint's 500 reply. Off: the reply
    names the plugin, endpoint, step, error type and ``errorId`` (the text is in
    ``engine.errors`` and ``GET /v3/plugins/{id}/errors``). For development (the PDK
    harness turns it on), never for a server others call."""
    token_issuer: str = "pliers-lab"
    """``iss`` of the built-in issuer's tokens (``create_app(tokens=True)``), required
    when verifying."""
    token_audience: str | None = "pliers-lab"
    """``aud`` of the built-in issuer's tokens, required when verifying (``None``: no
    ``aud`` is issued and one is not checked)."""
    token_leeway_s: float = 30.0
    """Clock skew allowed when checking ``exp``, ``nbf`` and ``iat``."""
    token_ttl_s: float = 3600.0
    """Lifetime of the built-in issuer's tokens (``Server.token`` lives 7 days)."""
    max_token_bytes: int = 8192
    """Longer bearer tokens are refused with 401 before any plugin or the issuer sees
    them."""
