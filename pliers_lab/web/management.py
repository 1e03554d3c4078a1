"""The plugin-management REST API (related-facts §7) over the engine's methods.

Base ``/v3``. Every reply carries ``X-RateLimit-*`` headers (per client: general 100/min,
install 10, upload 5, marketplace search 50) and ``X-Request-Id``; every error is the
envelope of ``errors.py``. With ``settings.management_auth`` (default) a bearer token of
a user holding one of ``settings.admin_roles`` is needed, and ``auth.authorize`` may veto.
Engine operations that run plugin code (start, stop, configure, install) run in a worker
thread, so the server keeps answering while they work.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import EngineError, IllegalTransition, PliersError, PluginError, PluginErrorType
from ..lifecycle import PluginState
from ..manifest.problems import ManifestError
from .auth import bearer_token
from .errors import ApiError, iso, problems
from .limits import limit_headers
from .reports import (
    GRANULARITIES,
    METRIC_SETS,
    PERIODS,
    SEVERITIES,
    config_problems,
    error_groups,
    log_entries,
    metrics_report,
    parse_time,
)

if TYPE_CHECKING:
    from ..plugin import Plugin
    from .state import WebState

__all__ = ["engine_error", "management_routes", "manifest_changes", "status_of", "summary"]

#: The specification's resource limits, shown by ``/status`` (memory MB, CPU ms).
DEFAULT_LIMITS = {"memory": 128, "cpu": 1000}
_STATUSES = ("active", "inactive", "error")
_SORTS = ("name", "version", "installed", "status")
Handler = Callable[[Request, "WebState"], Awaitable[Any]]


def _state(request: Request) -> WebState:
    state: WebState = request.app.state.pliers
    return state


def _reply(status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
    return JSONResponse(body, status_code=status, headers=dict(headers))


def endpoint(
    bucket: str = "general", *, admin: bool = True
) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wrap a handler: request id, rate limit, authentication, error envelope.

    The handler returns a body (200) or ``(status, body)``; it raises ``ApiError``.
    """

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def run(request: Request) -> Response:
            state = _state(request)
            rid = state.dispatcher.request_id()
            now = time.time()
            kind = bucket
            if kind == "install" and "multipart/" in request.headers.get("content-type", ""):
                kind = "upload"
            limit, window = state.settings.management_limits[kind]
            client = request.client.host if request.client else None
            decision = state.limiter.hit(f"v3:{kind}", limit, window, client, now)
            headers = [*limit_headers(decision), ("x-request-id", rid)]
            try:
                if not decision.allowed:
                    raise ApiError(
                        "RATE_LIMITED",
                        f"the {kind} limit is {limit} requests per {window:g} s; "
                        f"retry in {decision.retry_after:.1f} s",
                        {"bucket": kind, "limit": limit, "window": window},
                    )
                if admin and state.settings.management_auth:
                    await _admin(request, state, rid)
                answer = await handler(request, state)
            except ApiError as exc:
                return _reply(exc.status, exc.body(rid, now), [*headers, *exc.headers])
            except PliersError as exc:
                error = engine_error(exc)
                return _reply(error.status, error.body(rid, now), headers)
            status, body = answer if isinstance(answer, tuple) else (200, answer)
            return _reply(status, body, headers)

        return run

    return wrap


async def _admin(request: Request, state: WebState, rid: str) -> None:
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise ApiError(
            "AUTHENTICATION_REQUIRED",
            "the management API requires a bearer token (Authorization: Bearer <token>)",
            headers=[("www-authenticate", 'Bearer realm="pliers"')],
        )
    identity = await state.auth.identify(token, rid)
    roles = state.settings.admin_roles
    if roles and not set(roles) & set(identity.roles):
        raise ApiError(
            "PERMISSION_DENIED",
            f"the management API needs one of the roles {', '.join(roles)}; user "
            f"{identity.id!r} has {', '.join(identity.roles) or 'none'}",
        )
    resource = {"pluginId": request.path_params.get("id"), "api": "management"}
    await state.auth.authorize(identity, f"{request.method} {request.url.path}", resource, rid)


def engine_error(exc: PliersError) -> ApiError:
    """The envelope code of an engine exception."""
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


# ---------------------------------------------------------------------- parameters
def _bad(name: str, message: str, value: Any) -> ApiError:
    return ApiError(
        "VALIDATION_FAILED",
        f"query.{name}: {message}",
        problems([{"path": f"query.{name}", "message": message, "value": value}]),
    )


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise _bad(name, "must be an integer", text) from None
    if not low <= value <= high:
        raise _bad(name, f"must be from {low} to {high}", value)
    return value


def _choice(
    request: Request, name: str, choices: tuple[str, ...], default: str | None
) -> str | None:
    text = request.query_params.get(name)
    if text is None:
        return default
    if text not in choices:
        raise _bad(name, f"must be one of {', '.join(choices)}", text)
    return text


def _flag(value: Any, name: str, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    raise _bad(name, "must be true or false", value)


async def _json(request: Request, *, optional: bool = False) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        if optional:
            return {}
        raise ApiError("INVALID_REQUEST", "this request needs a JSON object body")
    try:
        import json

        body = json.loads(raw)
    except ValueError as exc:
        raise ApiError("INVALID_REQUEST", f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(
            "INVALID_REQUEST", f"the body must be a JSON object, got {type(body).__name__}"
        )
    return body


def _plugin(state: WebState, plugin_id: str) -> Plugin:
    if plugin_id not in state.engine:
        known = ", ".join(sorted(p.id for p in state.engine.plugins)) or "none"
        raise ApiError(
            "PLUGIN_NOT_FOUND",
            f"no plugin {plugin_id!r} (loaded: {known})",
            {"pluginId": plugin_id},
        )
    return state.engine.plugin(plugin_id)


async def _in_thread(
    fn: Callable[..., Any], *args: Any, timeout: float | None = None, **kw: Any
) -> Any:
    try:
        return await asyncio.wait_for(asyncio.to_thread(fn, *args, **kw), timeout)
    except TimeoutError:
        raise ApiError(
            "PLUGIN_TIMEOUT",
            f"the operation did not finish within {timeout:g} s; it goes on in the background",
        ) from None


# ---------------------------------------------------------------------- records
def status_of(plugin: Plugin) -> str:
    """The API's three statuses: active, error, inactive (every other state)."""
    if plugin.state is PluginState.ACTIVE:
        return "active"
    return "error" if plugin.state is PluginState.ERROR else "inactive"


def _when(value: float | None) -> str | None:
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
        "health": plugin.metrics().health.status,
        "installedAt": iso(plugin.loaded_at),
        "activatedAt": _when(plugin.activated_at),
        "hooks": list(m.hooks),
        "endpoints": len(m.api.endpoints),
    }


def _dependencies(state: WebState, plugin: Plugin) -> list[dict[str, Any]]:
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


def _endpoints(state: WebState, plugin: Plugin) -> list[dict[str, Any]]:
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


def _config(state: WebState, plugin: Plugin) -> dict[str, Any]:
    found = state.engine.validate_config(plugin.id, plugin.config_overrides)
    source = plugin.config_source
    return {
        "schema": source.schema if source else None,
        "current": plugin.config,
        "isValid": not found,
        "errors": config_problems(found, plugin.config),
        "lastUpdated": iso(plugin.config_updated_at or plugin.loaded_at),
    }


def _restart_required(plugin: Plugin) -> bool:
    """Handlers read ``ctx.config`` per call and see a change at once; a plugin that set
    itself up in ``on_activate`` and has no ``on_config_change`` may hold the old one."""
    handlers = plugin.lifecycle_handlers
    return (
        plugin.state is PluginState.ACTIVE
        and "on_activate" in handlers
        and "on_config_change" not in handlers
    )


# ---------------------------------------------------------------------- plugins
@endpoint()
async def list_plugins(request: Request, state: WebState) -> Any:
    status = _choice(request, "status", _STATUSES, None)
    category = request.query_params.get("category")
    search = (request.query_params.get("search") or "").lower()
    limit = _int(request, "limit", 20, 1, 100)
    offset = _int(request, "offset", 0, 0, 1_000_000)
    sort = _choice(request, "sort", _SORTS, "name") or "name"
    order = _choice(request, "order", ("asc", "desc"), "asc")
    found = [
        p
        for p in state.engine.plugins
        if (status is None or status_of(p) == status)
        and (category is None or category in {str(c) for c in p.manifest.categories})
        and (
            not search
            or search in p.id
            or search in p.manifest.description.lower()
            or any(search in k.lower() for k in p.manifest.keywords)
        )
    ]
    if sort == "version":
        from ..versions import compare

        found.sort(
            key=functools.cmp_to_key(
                lambda a, b: compare(a.version, b.version) or (a.id > b.id) - (a.id < b.id)
            )
        )
    else:
        keys: dict[str, Callable[[Plugin], Any]] = {
            "name": lambda p: p.id,
            "installed": lambda p: (p.loaded_at, p.id),
            "status": lambda p: (status_of(p), p.id),
        }
        found.sort(key=keys[sort])
    if order == "desc":
        found.reverse()
    page = found[offset : offset + limit]
    return {
        "plugins": [summary(p) for p in page],
        "pagination": {
            "total": len(found),
            "limit": limit,
            "offset": offset,
            "hasMore": offset + len(page) < len(found),
        },
    }


@endpoint()
async def plugin_details(request: Request, state: WebState) -> Any:
    plugin = _plugin(state, request.path_params["id"])
    m = plugin.manifest
    deps = _dependencies(state, plugin)
    required = [d for d in deps if d["scope"] != "optional"]
    return {
        **summary(plugin),
        "manifest": {
            "main": m.main,
            "engines": m.engines.model_dump(),
            "permissions": {
                c: {v: list(r) for v, r in getattr(m.permissions, c).items()}
                for c in ("database", "network", "filesystem", "events", "api")
            },
            "hooks": {
                name: cfg.model_dump(by_alias=True, exclude_none=True)
                for name, cfg in m.hooks.items()
            },
        },
        "config": _config(state, plugin),
        "metrics": plugin.metrics().to_dict(),
        "dependencies": {
            "status": "satisfied"
            if all(d["status"] == "satisfied" for d in required)
            else "unsatisfied",
            "items": deps,
            "dependents": state.engine.dependents(plugin.id),
        },
        "endpointList": _endpoints(state, plugin),
        "disabledReason": plugin.disabled_reason,
        "lastError": _error_brief(plugin.last_error),
    }


def _error_brief(error: PluginError | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {
        "id": error.id,
        "type": error.type.value,
        "message": error.message,
        "hook": error.hook,
        "timestamp": iso(error.timestamp),
    }


def _market_unavailable(what: str) -> ApiError:
    return ApiError(
        "MARKETPLACE_UNAVAILABLE",
        f"{what} needs the marketplace client (pliers_lab.market), which this server does "
        'not offer yet; install from a local folder with {"source": "path"}',
    )


@endpoint("install")
async def install_plugin(request: Request, state: WebState) -> Any:
    if "multipart/" in request.headers.get("content-type", ""):
        raise _market_unavailable("installing an uploaded package")
    body = await _json(request)
    source = body.get("source", "marketplace")
    if source != "path":
        raise _market_unavailable(f"installing from source {source!r}")
    folder = _allowed_folder(state, body.get("path"))
    config = body.get("config")
    if config is not None and not isinstance(config, dict):
        raise ApiError("INVALID_REQUEST", "config must be a JSON object")
    from ..manifest import load_manifest

    manifest = await _in_thread(load_manifest, folder)
    existing = manifest.name in state.engine and state.engine.plugin(manifest.name)
    if existing and existing.state not in (PluginState.ERROR, PluginState.UNLOADED):
        raise ApiError(
            "PLUGIN_ALREADY_EXISTS",
            f"plugin {manifest.name!r} is already installed ({existing.key}, "
            f"{existing.state.value}); update it with PUT /v3/plugins/{manifest.name}",
            {"pluginId": manifest.name, "version": existing.version},
        )
    plugin = await _in_thread(state.engine.load, folder, config=config)
    deps = _dependencies(state, plugin)
    return 201, {
        "success": True,
        "pluginId": plugin.id,
        "version": plugin.version,
        "installedAt": iso(plugin.loaded_at),
        "status": status_of(plugin),
        "dependencies": [
            {"name": d["name"], "version": d["range"], "installed": d["installed"]} for d in deps
        ],
        "warnings": list(plugin.config_source.warnings) if plugin.config_source else [],
    }


def _allowed_folder(state: WebState, raw: Any) -> Path:
    if not isinstance(raw, str) or not raw:
        raise ApiError("INVALID_REQUEST", 'source "path" needs "path": a plugin folder')
    folder = Path(raw).expanduser().resolve()
    roots = [Path(r).expanduser().resolve() for r in state.settings.plugin_roots]
    if not any(folder.is_relative_to(root) for root in roots):
        allowed = ", ".join(map(str, roots)) or "none (WebSettings.plugin_roots is empty)"
        raise ApiError("PERMISSION_DENIED", f"{folder} is outside the plugin roots ({allowed})")
    if not (folder / "manifest.json").is_file():
        raise ApiError("INVALID_PLUGIN_PACKAGE", f"{folder} has no manifest.json")
    return folder


@endpoint()
async def update_plugin(request: Request, state: WebState) -> Any:
    plugin = _plugin(state, request.path_params["id"])
    body = await _json(request, optional=True)
    preserve = _flag(body.get("preserveConfig"), "preserveConfig", True)
    version = body.get("version")
    if plugin.root is None:
        raise ApiError(
            "INVALID_STATE",
            f"plugin {plugin.id!r} was defined inline; it has no folder to update from",
        )
    folder = plugin.root
    if version is not None and version != plugin.version:
        from ..manifest import load_manifest

        on_disk = (await _in_thread(load_manifest, folder)).version
        if str(on_disk) != version:
            sibling = folder.parent / str(version)
            if not (sibling / "manifest.json").is_file():
                raise _market_unavailable(
                    f"version {version} of {plugin.id!r} (not in the local store)"
                )
            folder = sibling
    old = plugin.manifest
    dependents = state.engine.dependents(plugin.id)
    new = await _in_thread(state.engine.reload, plugin.id, folder)
    if not preserve:
        await _in_thread(state.engine.configure, plugin.id, {})
    return {
        "pluginId": plugin.id,
        "previousVersion": str(old.version),
        "currentVersion": new.version,
        "status": status_of(new),
        "changes": manifest_changes(old, new.manifest),
        "configPreserved": preserve,
        "dependents": dependents,
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


@endpoint()
async def uninstall_plugin(request: Request, state: WebState) -> Any:
    plugin = _plugin(state, request.path_params["id"])
    force = _flag(request.query_params.get("force"), "force", False)
    remove_data = _flag(request.query_params.get("removeData"), "removeData", False)
    dependents = state.engine.dependents(plugin.id)
    if dependents and not force:
        raise ApiError(
            "DEPENDENCY_CONFLICT",
            f"{', '.join(sorted(dependents))} depend on {plugin.id!r}; uninstall them "
            "first or pass force=true to uninstall them too",
            {"dependents": sorted(dependents)},
        )
    gone = await _in_thread(state.engine.unload, plugin.id, cascade=force)
    return {
        "pluginId": plugin.id,
        "uninstalled": True,
        "affectedPlugins": [p for p in gone if p != plugin.id],
        "dataRemoved": False,
        "warnings": [
            "removeData: plugin data lives in the host store, which this API does not clear"
        ]
        if remove_data
        else [],
    }


# ---------------------------------------------------------------------- configuration
@endpoint()
async def get_config(request: Request, state: WebState) -> Any:
    plugin = _plugin(state, request.path_params["id"])
    return {"pluginId": plugin.id, **_config(state, plugin)}


@endpoint()
async def put_config(request: Request, state: WebState) -> Any:
    plugin = _plugin(state, request.path_params["id"])
    body = await _json(request)
    merge = _flag(request.query_params.get("merge"), "merge", False)
    found = state.engine.validate_config(plugin.id, body, merge=merge)
    if found:
        details = problems(config_problems(found, body))
        raise ApiError(
            "CONFIGURATION_INVALID",
            f"configuration of {plugin.id!r} is invalid ({found[0]})",
            details,
        )
    await _in_thread(state.engine.configure, plugin.id, body, merge=merge)
    return {
        "pluginId": plugin.id,
        "isValid": True,
        "restartRequired": _restart_required(plugin),
        "changes": list(plugin.config_changes),
        "config": plugin.config,
        "lastUpdated": _when(plugin.config_updated_at),
    }


@endpoint()
async def validate_config(request: Request, state: WebState) -> Any:
    plugin = _plugin(state, request.path_params["id"])
    body = await _json(request)
    merge = _flag(request.query_params.get("merge"), "merge", False)
    found = state.engine.validate_config(plugin.id, body, merge=merge)
    return {"pluginId": plugin.id, "valid": not found, "errors": config_problems(found, body)}


# ---------------------------------------------------------------------- state
@endpoint()
async def plugin_status(request: Request, state: WebState) -> Any:
    plugin = _plugin(state, request.path_params["id"])
    m = plugin.metrics()
    errors = state.engine.errors.for_plugin(plugin.id)
    hour_ago = time.time() - 3600
    memory = m.resources.get("memoryUsage", {})
    cpu = m.resources.get("cpuUsage", {})
    return {
        "pluginId": plugin.id,
        "status": status_of(plugin),
        "state": plugin.state.value,
        "health": m.health.status,
        "uptime": m.health.uptime,
        "lastCheck": iso(m.health.lastCheck),
        "restarts": m.health.restarts,
        "errors": {
            "recent": sum(1 for e in errors if e.timestamp >= hour_ago),
            "total": len(errors),
        },
        "resources": {
            "memory": {"current": memory.get("current", 0.0), "limit": DEFAULT_LIMITS["memory"]},
            "cpu": {"current": cpu.get("current", 0.0), "limit": DEFAULT_LIMITS["cpu"]},
        },
        "inFlight": state.dispatcher.inflight.get(plugin.id, 0),
        "disabledReason": plugin.disabled_reason,
    }


def _action(action: str) -> Handler:
    async def act(request: Request, state: WebState) -> Any:
        plugin = _plugin(state, request.path_params["id"])
        body = await _json(request, optional=True)
        reason = str(body.get("reason") or f"{action} via the management API")
        graceful = _flag(body.get("graceful"), "graceful", True)
        timeout_ms = body.get("timeout", 30_000)
        if (
            not isinstance(timeout_ms, int | float)
            or isinstance(timeout_ms, bool)
            or timeout_ms <= 0
        ):
            raise ApiError("INVALID_REQUEST", "timeout must be a positive number of milliseconds")
        previous = plugin.state.value
        started = time.perf_counter()
        engine = state.engine
        if action in ("stop", "restart") and graceful:  # let endpoint calls in flight finish
            deadline = started + timeout_ms / 1000.0
            while state.dispatcher.inflight.get(plugin.id, 0) and time.perf_counter() < deadline:
                await asyncio.sleep(0.01)
        try:
            if action == "start":
                await _in_thread(engine.enable, plugin.id, timeout=timeout_ms / 1000.0)
            elif action == "stop":
                await _in_thread(engine.disable, plugin.id, reason, timeout=timeout_ms / 1000.0)
            else:
                await _in_thread(engine.restart, plugin.id, reason, timeout=timeout_ms / 1000.0)
        except PluginError as exc:
            raise ApiError(
                "PLUGIN_STARTUP_FAILED",
                f"{action} of {plugin.id!r} failed: {exc}",
                {
                    "pluginId": plugin.id,
                    "type": exc.type.value,
                    "status": engine.plugin(plugin.id).state.value,
                },
            ) from None
        current = engine.plugin(plugin.id)
        return {
            "pluginId": plugin.id,
            "action": action,
            "previousStatus": previous,
            "currentStatus": current.state.value,
            "reason": reason,
            "duration": (time.perf_counter() - started) * 1000.0,
        }

    act.__name__ = f"{action}_plugin"
    return act


# ---------------------------------------------------------------------- observations
@endpoint()
async def plugin_metrics(request: Request, state: WebState) -> Any:
    plugin = _plugin(state, request.path_params["id"])
    period = _choice(request, "period", tuple(PERIODS), "24h") or "24h"
    granularity = _choice(request, "granularity", (*GRANULARITIES, "auto"), "auto") or "auto"
    metrics = _choice(request, "metrics", METRIC_SETS, "all") or "all"
    report = await _in_thread(
        metrics_report,
        state.engine,
        plugin,
        list(state.dispatcher.calls),
        period=period,
        granularity=granularity,
        metrics=metrics,
        now=time.time(),
    )
    calls = [c for c in state.dispatcher.calls if c.plugin_id == plugin.id]
    endpoints: dict[str, dict[str, Any]] = {}
    for c in calls:
        row = endpoints.setdefault(
            c.endpoint, {"endpoint": c.endpoint, "count": 0, "errorCount": 0, "statuses": {}}
        )
        row["count"] += 1
        row["errorCount"] += c.error_id is not None
        row["statuses"][str(c.status)] = row["statuses"].get(str(c.status), 0) + 1
    report["endpoints"] = list(endpoints.values())
    return report


@endpoint()
async def plugin_logs(request: Request, state: WebState) -> Any:
    plugin = _plugin(state, request.path_params["id"])
    level = _choice(request, "level", ("debug", "info", "warn", "warning", "error"), None)
    since = request.query_params.get("from")
    until = request.query_params.get("to")
    limit = _int(request, "limit", 100, 1, 1000)
    entries, total = log_entries(
        state.engine,
        plugin.id,
        level=level,
        since=parse_time(since, "from") if since else None,
        until=parse_time(until, "to") if until else None,
        search=request.query_params.get("search"),
        limit=limit,
    )
    return {"pluginId": plugin.id, "logs": entries, "total": total, "limit": limit}


@endpoint()
async def plugin_errors(request: Request, state: WebState) -> Any:
    plugin = _plugin(state, request.path_params["id"])
    severity = _choice(request, "severity", SEVERITIES, None)
    resolved_text = _choice(request, "resolved", ("true", "false"), None)
    limit = _int(request, "limit", 50, 1, 500)
    return error_groups(
        state.engine,
        plugin,
        severity=severity,
        resolved=None if resolved_text is None else resolved_text == "true",
        limit=limit,
    )


@endpoint()
async def served_endpoints(request: Request, state: WebState) -> Any:
    """Every endpoint served now (the specification's ``APIRegistry.getEndpoints``)."""
    plugin_id = request.query_params.get("pluginId")
    return {
        "endpoints": [
            {
                "pluginId": r.plugin_id,
                "method": r.method,
                "path": r.path,
                "auth": r.auth.model_dump(),
                "rateLimit": r.rate_limit.model_dump() if r.rate_limit else None,
            }
            for r in state.router.routes(plugin_id)
        ],
        "problems": [
            {"pluginId": e.plugin_id, "type": e.type.value, "message": e.message}
            for e in state.router.problems
        ],
    }


@endpoint("search")
async def marketplace_search(request: Request, state: WebState) -> Any:
    raise _market_unavailable("marketplace search")


@endpoint()
async def marketplace_plugin(request: Request, state: WebState) -> Any:
    raise _market_unavailable("marketplace listings")


async def health(request: Request) -> Response:
    """``GET /healthz``: liveness, no authentication."""
    state = _state(request)
    plugins = state.engine.plugins
    return JSONResponse(
        {
            "status": "ok",
            "plugins": len(plugins),
            "active": sum(p.state is PluginState.ACTIVE for p in plugins),
            "endpoints": len(state.router.table),
        }
    )


def management_routes() -> list[Route]:
    """The ``/v3`` routes and ``/healthz``."""
    base = "/v3/plugins"
    return [
        Route("/healthz", health, methods=["GET"]),
        Route(base, list_plugins, methods=["GET"]),
        Route(base, install_plugin, methods=["POST"]),
        Route("/v3/endpoints", served_endpoints, methods=["GET"]),
        Route("/v3/marketplace/search", marketplace_search, methods=["GET"]),
        Route("/v3/marketplace/plugins/{id}", marketplace_plugin, methods=["GET"]),
        Route(base + "/{id}", plugin_details, methods=["GET"]),
        Route(base + "/{id}", update_plugin, methods=["PUT"]),
        Route(base + "/{id}", uninstall_plugin, methods=["DELETE"]),
        Route(base + "/{id}/config", get_config, methods=["GET"]),
        Route(base + "/{id}/config", put_config, methods=["PUT"]),
        Route(base + "/{id}/config/validate", validate_config, methods=["POST"]),
        Route(base + "/{id}/status", plugin_status, methods=["GET"]),
        *(
            Route(f"{base}/{{id}}/{a}", endpoint()(_action(a)), methods=["POST"])
            for a in ("start", "stop", "restart")
        ),
        Route(base + "/{id}/metrics", plugin_metrics, methods=["GET"]),
        Route(base + "/{id}/logs", plugin_logs, methods=["GET"]),
        Route(base + "/{id}/errors", plugin_errors, methods=["GET"]),
    ]
