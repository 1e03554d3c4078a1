"""The records the management API answers with, built from plugins and the engine."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from ..errors import EngineError, IllegalTransition, PliersError, PluginError, PluginErrorType
from ..lifecycle import PluginState
from ..manifest.problems import ManifestError
from ._error_envelope import CODES, ApiError, internal_error, iso, overloaded, refused_by_host
from ._reports import config_problems

if TYPE_CHECKING:
    from ..plugin import Plugin
    from ._state import WebState

__all__ = [
    "config_view",
    "dependencies",
    "endpoints",
    "engine_error",
    "error_brief",
    "manifest_changes",
    "restart_required",
    "startup_failure",
    "status_of",
    "summary",
    "trust_view",
    "when",
]


log = logging.getLogger("pliers_lab.web")


def startup_failure(exc: BaseException, what: str, **details: Any) -> ApiError:
    """A 500 PLUGIN_STARTUP_FAILED for ``what`` (``"start of 'x'"``): the plugin's own
    words go to the server log (and ``engine.errors``), the reply says the error type and
    an error id to find them by (``GET /v3/plugins/{id}/errors`` shows them to an admin
    while the plugin is installed)."""
    found: BaseException | None = exc
    while found is not None and not isinstance(getattr(found, "id", None), str):
        found = found.__cause__
    error_id = getattr(found, "id", None) if found is not None else None
    if not isinstance(error_id, str):
        error_id = f"err-{os.urandom(6).hex()}"
    kind = getattr(getattr(found or exc, "type", None), "value", None)
    plugin_id = getattr(exc, "plugin_id", None)
    log.warning("web: %s failed (error id %s): %s", what, error_id, exc, exc_info=exc)
    return ApiError(
        "PLUGIN_STARTUP_FAILED",
        f"{what} failed ({kind or 'startup error'}; error id {error_id}: the server log has "
        "the details)",
        {"pluginId": plugin_id, "type": kind, "errorId": error_id, **details},
    )


def engine_error(exc: PliersError) -> ApiError:
    """The envelope code of an engine exception (a marketplace refusal carries its own).

    Refusals (4xx) say what was wrong; a 5xx never carries the exception's text, only
    its error id (``startup_failure``, ``errors.internal_error``)."""
    wait = refused_by_host(exc)
    if wait is not None and isinstance(exc, PluginError):  # the host's limits: come back later
        return overloaded(f"{exc.message}; retry later", wait or 1.0, {"cause": _cause(exc)})
    error = _engine_error(exc)
    if error.status < 500 or error.code in ("MARKETPLACE_UNAVAILABLE", "PLUGIN_TIMEOUT"):
        return error
    if error.code == "PLUGIN_STARTUP_FAILED":
        plugin_id = getattr(exc, "plugin_id", None) or (error.details or {}).get("pluginId")
        return startup_failure(exc, f"plugin {plugin_id!r}" if plugin_id else "the plugin")
    return internal_error(exc, "an engine operation")


def _cause(exc: PluginError) -> str:
    return str(exc.metadata.get("cause") or "host_overload")


def _engine_error(exc: PliersError) -> ApiError:
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code in CODES:
        message = str(getattr(exc, "message", None) or exc)
        return ApiError(code, message, getattr(exc, "details", None))
    if isinstance(exc, ManifestError):
        return ApiError(
            "INVALID_PLUGIN_PACKAGE", str(exc), {"errors": [str(p) for p in exc.problems]}
        )
    if isinstance(exc, PluginError):
        listed = exc.metadata.get("problems", [])
        details = {"pluginId": exc.plugin_id, "type": exc.type.value, "errors": listed}
        if exc.type is PluginErrorType.DEPENDENCY_ERROR:
            return ApiError("DEPENDENCY_CONFLICT", str(exc), details)
        if exc.type is PluginErrorType.CONFIG_ERROR:
            return ApiError("CONFIGURATION_INVALID", str(exc), details)
        return ApiError("PLUGIN_STARTUP_FAILED", str(exc), details)
    if isinstance(exc, KeyError):  # UnknownPluginError
        return ApiError("PLUGIN_NOT_FOUND", str(exc))
    if isinstance(exc, IllegalTransition | EngineError):
        return ApiError("INVALID_STATE", str(exc))
    return ApiError("INTERNAL_ERROR", str(exc))  # pragma: no cover - every PliersError is above


def status_of(plugin: Plugin) -> str:
    """The API's three statuses: active, error, inactive (every other state)."""
    if plugin.state is PluginState.ACTIVE:
        return "active"
    return "error" if plugin.state is PluginState.ERROR else "inactive"


def when(value: float | None) -> str | None:
    return iso(value) if value else None


def summary(plugin: Plugin) -> dict[str, Any]:
    m = plugin.manifest
    return {
        "id": plugin.id,
        "name": m.name,
        "version": plugin.version,
        "description": m.description,
        "author": m.author,
        "license": m.license,
        "categories": [str(c) for c in m.categories],
        "keywords": list(m.keywords),
        "status": status_of(plugin),
        "state": plugin.state.value,
        "isolation": plugin.isolation,
        "warnings": list(plugin.warnings),
        "health": plugin.metrics().health.status,
        "installedAt": iso(plugin.loaded_at),
        "activatedAt": when(plugin.activated_at),
        "hooks": list(m.hooks),
        "endpoints": len(m.api.endpoints),
    }


def trust_view(plugin: Plugin) -> dict[str, Any]:
    """Where the plugin's code came from and why it runs where it does (issue 13 §1)."""
    return {
        "origin": plugin.origin,
        "signer": plugin.signer,
        "trusted": plugin.trust_reason,
        "placement": plugin.placement,
    }


def dependencies(state: WebState, plugin: Plugin) -> list[dict[str, Any]]:
    from ..versions import satisfies

    out = []
    for name, wanted, scope in plugin.manifest.all_dependencies():
        dep = state.engine.plugin(name) if name in state.engine else None
        if dep is None or dep.state in (PluginState.ERROR, PluginState.UNLOADED):
            status, version = "missing", None
        else:
            version = dep.version
            status = "satisfied" if satisfies(version, wanted) else "unsatisfied"
        out.append(
            {"name": name, "range": wanted, "scope": scope, "installed": version, "status": status}
        )
    return out


def endpoints(state: WebState, plugin: Plugin) -> list[dict[str, Any]]:
    served = {r.key for r in state.router.routes(plugin.id)}
    return [
        {
            "method": e.method,
            "path": e.path,
            "handler": e.handler,
            "middleware": list(e.middleware),
            "auth": e.auth.model_dump(),
            "rateLimit": e.rate_limit.model_dump() if e.rate_limit else None,
            "validation": e.validation.model_dump(exclude_none=True) if e.validation else None,
            "served": f"{e.method} {e.path}" in served,
        }
        for e in plugin.manifest.api.endpoints
    ]


def config_view(state: WebState, plugin: Plugin) -> dict[str, Any]:
    found = state.engine.validate_config(plugin.id, plugin.config_overrides)
    source = plugin.config_source
    return {
        "schema": source.schema if source else None,
        "current": plugin.config,
        "isValid": not found,
        "errors": config_problems(found, plugin.config),
        "lastUpdated": iso(plugin.config_updated_at or plugin.loaded_at),
    }


def restart_required(plugin: Plugin) -> bool:
    """Handlers read ``ctx.config`` per call and see a change at once; a plugin that set
    itself up in ``on_activate`` and has no ``on_config_change`` may hold the old one."""
    handlers = plugin.lifecycle_handlers
    return (
        plugin.state is PluginState.ACTIVE
        and "on_activate" in handlers
        and "on_config_change" not in handlers
    )


def error_brief(error: PluginError | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {
        "id": error.id,
        "type": error.type.value,
        "message": error.message,
        "hook": error.hook,
        "timestamp": iso(error.timestamp),
    }


def manifest_changes(old: Any, new: Any) -> list[str]:
    """What an update changed: version, hooks, endpoints, permissions."""
    changes = []
    if str(old.version) != str(new.version):
        changes.append(f"version: {old.version} -> {new.version}")
    for kind, before, after in (
        ("hook", set(old.hooks), set(new.hooks)),
        (
            "endpoint",
            {f"{e.method} {e.path}" for e in old.api.endpoints},
            {f"{e.method} {e.path}" for e in new.api.endpoints},
        ),
        (
            "permission",
            {".".join(r) for r in old.permissions.as_rows()},
            {".".join(r) for r in new.permissions.as_rows()},
        ),
    ):
        changes += [f"Added {kind} {x}" for x in sorted(after - before)]
        changes += [f"Removed {kind} {x}" for x in sorted(before - after)]
    return changes
