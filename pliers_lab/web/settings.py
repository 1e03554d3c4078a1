"""``WebSettings``: the options of the web layer, in one typed record (STYLE.md habit 2)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .limits import MANAGEMENT_LIMITS

__all__ = ["WebSettings"]


@dataclass(frozen=True)
class WebSettings:
    """How the server runs plugin endpoints and the management API."""

    handler_timeout_s: float | None = None
    """Wall-clock limit of one endpoint call (middleware and handler together); past it
    the reply is a 504 and a TIMEOUT_ERROR is recorded. ``None``: the engine's
    ``default_timeout_ms``."""
    max_body_bytes: int = 1 << 20
    """Larger request bodies are refused with 413 before any plugin code runs."""
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
