"""The plugin-management REST API (related-facts §7) over the engine's methods.

Base ``/v3``. Every reply carries ``X-RateLimit-*`` headers (per client: general 100/min,
install 10, upload 5, marketplace search 50) and ``X-Request-Id``; every error is the
envelope of ``error_envelope.py``. Every route has a body limit (``BODY_KINDS``; 413 beyond it,
enforced while reading) and its JSON goes through ``bodies.parse_json`` (400 past the
depth limit). With ``settings.management_auth`` (default) a bearer token of
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
from starlette.routing import Route, WebSocketRoute

from ..errors import PliersError, PluginError
from ..lifecycle import PluginState
from . import _market as market
from ._allowed_folders import inside, is_file, resolved_roots
from ._auth import bearer_token, unauthorized
from ._bodies import PayloadTooLarge, declared_length, limited_receive, parse_json
from ._error_envelope import ApiError, iso, problems, refused_by_host
from ._event_stream import events_socket
from ._limits import limit_headers
from ._reports import (
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
from ._views import (
    config_view,
    dependencies,
    endpoints,
    engine_error,
    error_brief,
    manifest_changes,
    restart_required,
    startup_failure,
    status_of,
    summary,
    trust_view,
    when,
)

if TYPE_CHECKING:
    from ..plugin import Plugin
    from ._state import WebState

__all__ = ["BODY_KINDS", "management_routes", "route_limits"]

_STATUSES = ("active", "inactive", "error")
_SORTS = ("name", "version", "installed", "status")
Handler = Callable[[Request, "WebState"], Awaitable[Any]]
#: The body kinds of routes and the ``WebSettings`` field holding each one's limit.
BODY_KINDS = {
    "none": None,  # 0 bytes: the route takes no body
    "command": "max_command_bytes",
    "json": "max_json_bytes",
    "upload": "max_upload_bytes",
}
#: Bytes of the form around an uploaded bundle (fields, part headers, boundaries).
UPLOAD_OVERHEAD = 64 << 10
_DEFAULT_BUNDLE_BYTES = 64 << 20


def _state(request: Request) -> WebState:
    state: WebState = request.app.state.pliers
    return state


def _reply(status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
    return JSONResponse(body, status_code=status, headers=dict(headers))


def _multipart(request: Request) -> bool:
    return "multipart/" in request.headers.get("content-type", "")


def body_limit(state: WebState, kind: str) -> int:
    """The body limit in bytes of a route of ``kind`` (``BODY_KINDS``)."""
    if kind == "none":
        return 0
    if kind == "upload":
        if state.settings.max_upload_bytes is not None:
            return state.settings.max_upload_bytes
        market_ = state.marketplace
        bundle = market_.registry.limits.max_total_size if market_ else _DEFAULT_BUNDLE_BYTES
        return int(bundle) + UPLOAD_OVERHEAD
    limit: int = getattr(state.settings, BODY_KINDS[kind] or "")
    return limit


def endpoint(
    bucket: str = "general", *, admin: bool = True, body: str = "none"
) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wrap a handler: request id, rate limit, authentication, body limit, error envelope.

    ``body`` is the route's body kind (``BODY_KINDS``; ``"install"``: an upload when the
    request is multipart, else ``"json"``). The handler returns a body (200),
    ``(status, body)`` or a ``Response`` of its own (the Prometheus text, say); it raises
    ``ApiError``.
    """
    if body not in (*BODY_KINDS, "install"):
        raise ValueError(f"unknown body kind {body!r}")
    body_kind = body

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def run(request: Request) -> Response:
            state = _state(request)
            rid = state.dispatcher.request_id()
            now = time.time()
            kind = bucket
            if kind == "install" and _multipart(request):
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
                request = _limited(request, state, body_kind)
                answer = await handler(request, state)
            except ApiError as exc:
                return _reply(exc.status, exc.body(rid, now), [*headers, *exc.headers])
            except PliersError as exc:
                error = engine_error(exc)
                return _reply(error.status, error.body(rid, now), [*headers, *error.headers])
            if isinstance(answer, Response):
                answer.headers.update(dict(headers))
                return answer
            status, reply = answer if isinstance(answer, tuple) else (200, answer)
            return _reply(status, reply, headers)

        run.body_kind = body_kind  # type: ignore[attr-defined]
        return run

    return wrap


def _limited(request: Request, state: WebState, kind: str) -> Request:
    """``request`` whose body is refused past the route's limit: at once when the declared
    ``Content-Length`` says so, else as soon as the bytes read pass it."""
    if kind == "install":
        kind = "upload" if _multipart(request) else "json"
    limit = body_limit(state, kind)
    route = f"{request.method} {request.url.path}"
    declared = declared_length(request.scope["headers"])
    if declared is not None and declared > limit:
        raise PayloadTooLarge(route, limit, None, declared)
    if limit == 0 and "transfer-encoding" in request.headers:  # a chunked body, unread
        raise PayloadTooLarge(route, limit, None, None)
    return Request(request.scope, limited_receive(request.receive, limit, route, declared))


async def _admin(request: Request, state: WebState, rid: str) -> None:
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise unauthorized(
            "the management API requires a bearer token (Authorization: Bearer <token>)"
        )
    identity = await state.auth.identify(token, rid)
    request.state.identity = identity  # who uploads a package, say
    roles = state.settings.admin_roles
    if roles and not set(roles) & set(identity.roles):
        raise ApiError(
            "PERMISSION_DENIED",
            f"the management API needs one of the roles {', '.join(roles)}; user "
            f"{identity.id!r} has {', '.join(identity.roles) or 'none'}",
        )
    resource = {"pluginId": request.path_params.get("id"), "api": "management"}
    await state.auth.authorize(identity, f"{request.method} {request.url.path}", resource, rid)


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
        raise ApiError(
            "INVALID_REQUEST", "this request needs a JSON object body", {"reason": "missing"}
        )
    body = parse_json(raw, max_depth=_state(request).settings.max_json_depth)
    if not isinstance(body, dict):
        raise ApiError(
            "INVALID_REQUEST",
            f"the body must be a JSON object, got {type(body).__name__}",
            {"reason": "not_an_object"},
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


#: Longest ``timeout`` (ms) a start, stop or restart may ask for.
MAX_ACTION_TIMEOUT_MS = 300_000


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
    deps = dependencies(state, plugin)
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
        "config": config_view(state, plugin),
        "metrics": plugin.metrics().to_dict(),
        "dependencies": {
            "status": "satisfied"
            if all(d["status"] == "satisfied" for d in required)
            else "unsatisfied",
            "items": deps,
            "dependents": state.engine.dependents(plugin.id),
        },
        "endpointList": endpoints(state, plugin),
        "trust": trust_view(plugin),
        "disabledReason": plugin.disabled_reason,
        "lastError": error_brief(plugin.last_error),
    }


@endpoint("install", body="install")
async def install_plugin(request: Request, state: WebState) -> Any:
    if "multipart/" in request.headers.get("content-type", ""):
        identity = getattr(request.state, "identity", None)
        return await market.install_upload(state, request, getattr(identity, "id", "anonymous"))
    body = await _json(request)
    source = body.get("source", "marketplace")
    if source == "marketplace":
        return await market.install(state, body)
    if source != "path":
        shown = source[:100] if isinstance(source, str) else type(source).__name__
        raise ApiError(
            "INVALID_REQUEST",
            f'source must be "marketplace" or "path", not {shown!r}',
            {"errors": [{"path": "body.source", "message": 'must be "marketplace" or "path"'}]},
        )
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
    # A folder named over HTTP is third-party code: a bundle to the engine, sandboxed
    # unless its TrustPolicy trusts it (issue 13 §1; ``pliers serve --trust-folder``).
    plugin = await _in_thread(state.engine.load, folder, config=config, origin="bundle")
    deps = dependencies(state, plugin)
    return 201, {
        "success": True,
        "pluginId": plugin.id,
        "version": plugin.version,
        "installedAt": iso(plugin.loaded_at),
        "status": status_of(plugin),
        "dependencies": [
            {"name": d["name"], "version": d["range"], "installed": d["installed"]} for d in deps
        ],
        "isolation": plugin.isolation,
        "warnings": [
            *plugin.warnings,
            *(plugin.config_source.warnings if plugin.config_source else []),
        ],
    }


def _allowed_folder(state: WebState, raw: Any) -> Path:
    if not isinstance(raw, str) or not raw:
        raise ApiError("INVALID_REQUEST", 'source "path" needs "path": a plugin folder')
    folder = inside(raw, resolved_roots(state.settings.plugin_roots), "body.path")
    if not is_file(folder / "manifest.json"):
        raise ApiError("INVALID_PLUGIN_PACKAGE", f"{folder} has no manifest.json")
    return folder


def _version(raw: Any) -> str | None:
    """The ``version`` of an update: None, or a valid semantic version (normalised)."""
    if raw is None:
        return None
    from ..versions import valid

    found = valid(raw) if isinstance(raw, str) and len(raw) <= 256 else None
    if found is None:
        shown = raw[:100] if isinstance(raw, str) else None
        message = "must be a semantic version such as 1.2.3"
        raise ApiError(
            "VALIDATION_FAILED",
            f"body.version: {message}",
            problems([{"path": "body.version", "message": message, "value": shown}]),
        )
    return found


@endpoint(body="command")
async def update_plugin(request: Request, state: WebState) -> Any:
    plugin = _plugin(state, request.path_params["id"])
    body = await _json(request, optional=True)
    if market.manages(state, plugin.id):
        wanted = body.get("version")
        if wanted is not None and (not isinstance(wanted, str) or not 0 < len(wanted) <= 256):
            message = "must be a version, tag or range (a string)"
            raise ApiError(
                "VALIDATION_FAILED",
                f"body.version: {message}",
                problems([{"path": "body.version", "message": message, "value": None}]),
            )
        return await market.update(state, plugin.id, body)
    preserve = _flag(body.get("preserveConfig"), "preserveConfig", True)
    version = _version(body.get("version"))
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
            # Another version is the folder named after it beside the plugin's, which
            # must lie in the plugin roots like any code the API loads (issue 14 §2).
            roots = resolved_roots(state.settings.plugin_roots)
            sibling = inside(str(folder.parent / version), roots, "body.version")
            if not is_file(sibling / "manifest.json"):
                raise market.unavailable(
                    f"version {version} of {plugin.id!r} (not in the plugin's folder)"
                )
            found = (await _in_thread(load_manifest, sibling)).version
            if str(found) != version:
                raise ApiError(
                    "INVALID_PLUGIN_PACKAGE",
                    f"{sibling} holds version {found} of {plugin.id!r}, not {version}",
                    {"folder": str(sibling), "version": str(found)},
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


@endpoint()
async def update_plan(request: Request, state: WebState) -> Any:
    """An update's plan (the permission diff first) for a plugin the marketplace installed."""
    plugin_id = _managed(state, request.path_params["id"], "planning an update of")
    wanted = request.query_params.get("version")
    if wanted is not None and not 0 < len(wanted) <= 256:
        message = "must be a version, tag or range"
        raise ApiError(
            "VALIDATION_FAILED",
            f"version: {message}",
            problems([{"path": "query.version", "message": message, "value": None}]),
        )
    return await market.plan(state, plugin_id, wanted)


@endpoint(body="command")
async def rollback_plugin(request: Request, state: WebState) -> Any:
    """Back to the version active before the last update (marketplace installs)."""
    await _json(request, optional=True)  # read as every command's: its limits apply
    plugin_id = _managed(state, request.path_params["id"], "rolling back")
    return await market.rollback(state, plugin_id)


def _managed(state: WebState, plugin_id: str, what: str) -> str:
    if not market.manages(state, plugin_id):
        if state.marketplace is None:
            raise market.unavailable(what.capitalize() + " a plugin")
        raise ApiError(
            "PLUGIN_NOT_FOUND",
            f"{what} {plugin_id[:100]!r}: the marketplace did not install it",
            {"pluginId": plugin_id[:100]},
        )
    return plugin_id


@endpoint()
async def uninstall_plugin(request: Request, state: WebState) -> Any:
    plugin = _plugin(state, request.path_params["id"])
    force = _flag(request.query_params.get("force"), "force", False)
    remove_data = _flag(request.query_params.get("removeData"), "removeData", False)
    if market.manages(state, plugin.id):
        return await market.uninstall(state, plugin.id, remove_data=remove_data, force=force)
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
    return {"pluginId": plugin.id, **config_view(state, plugin)}


@endpoint(body="json")
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
        "restartRequired": restart_required(plugin),
        "changes": list(plugin.config_changes),
        "config": plugin.config,
        "lastUpdated": when(plugin.config_updated_at),
    }


@endpoint(body="json")
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
    limits = state.engine.limits(plugin.id)
    errors = state.engine.errors.for_plugin(plugin.id)
    hour_ago = time.time() - 3600
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
        "resources": _with_limits(m.resources, limits),
        "limits": limits,
        "limitsExceeded": m.limitsExceeded,
        "inFlight": state.dispatcher.inflight.get(plugin.id, 0),
        "disabledReason": plugin.disabled_reason,
        "isolation": plugin.isolation,
        "warnings": list(plugin.warnings),
    }


def _with_limits(resources: dict[str, Any], limits: dict[str, Any]) -> dict[str, Any]:
    """The status's ``resources``: the spec's ``memory``/``cpu`` pairs (now, limit) over
    the measured figures and the limits applied, then every figure (None: not measured,
    the reason in ``notMeasured``). A limit is None where none applies (``limits`` says
    why: inline, or no cgroup on this host)."""
    memory_limit = limits.get("memoryBytes")
    return {
        "memory": {
            "current": (resources.get("memoryUsage") or {}).get("current"),
            "limit": memory_limit / (1 << 20) if memory_limit is not None else None,
            "unit": "MiB",
        },
        "cpu": {
            "current": (resources.get("cpuUsage") or {}).get("current"),
            "currentUnit": "% of one CPU",
            "limit": limits.get("cpuMsPerCall"),
            "limitUnit": "ms of CPU per call",
        },
        **resources,
    }


@endpoint()
async def prometheus_metrics(request: Request, state: WebState) -> Any:
    """Every plugin's figures in Prometheus' text format (``_prometheus``)."""
    from ._prometheus import exposition

    body, content_type = await _in_thread(exposition, state.engine, request.headers.get("accept"))
    return Response(body, headers={"content-type": content_type})


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
            or not 0 < timeout_ms <= MAX_ACTION_TIMEOUT_MS
        ):
            message = f"must be a number of milliseconds from 1 to {MAX_ACTION_TIMEOUT_MS}"
            raise ApiError(
                "VALIDATION_FAILED",
                f"body.timeout: {message}",
                problems([{"path": "body.timeout", "message": message, "value": None}]),
            )
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
            if refused_by_host(exc) is not None:
                raise engine_error(exc) from None
            status = engine.plugin(plugin.id).state.value if plugin.id in engine else None
            raise startup_failure(exc, f"{action} of {plugin.id!r}", status=status) from None
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


@endpoint(body="command")
async def dev_mode(request: Request, state: WebState) -> Any:
    from . import _devmode as devmode

    plugin = _plugin(state, request.path_params["id"])
    body = await _json(request)
    mode = await _in_thread(devmode.set_dev_mode, state, plugin, body)
    return devmode.describe(request, plugin.id, mode)


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


@endpoint("install", body="upload")
async def validate_package(request: Request, state: WebState) -> Any:
    return await market.validate_upload(state, request)


@endpoint("search")
async def marketplace_search(request: Request, state: WebState) -> Any:
    return await market.search(state, request.query_params)


@endpoint()
async def marketplace_plugin(request: Request, state: WebState) -> Any:
    return await market.listing(state, request.path_params["id"])


async def health(request: Request) -> Response:
    """``GET /healthz``: liveness, no authentication, no body."""
    state = _state(request)
    try:
        _limited(request, state, "none")
    except ApiError as exc:
        rid = state.dispatcher.request_id()
        return _reply(exc.status, exc.body(rid, time.time()), [("x-request-id", rid)])
    plugins = state.engine.plugins
    return JSONResponse(
        {
            "status": "ok",
            "plugins": len(plugins),
            "active": sum(p.state is PluginState.ACTIVE for p in plugins),
            "endpoints": len(state.router.table),
        }
    )


def route_limits(state: WebState) -> list[tuple[str, str, int]]:
    """``(method, path, body limit in bytes)`` of every management route (for the docs
    and the tests); an install's limit is its JSON one (uploads: ``POST .../validate``)."""
    out = []
    for route in management_routes():
        if not isinstance(route, Route):
            continue
        kind = getattr(route.endpoint, "body_kind", "none")
        kind = "json" if kind == "install" else kind
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                out.append((method, route.path, body_limit(state, kind)))
    return out


def management_routes() -> list[Route | WebSocketRoute]:
    """The ``/v3`` routes (the ``/v3/events`` websocket too) and ``/healthz``."""
    from ._advisory_api import advisory_routes  # it builds on this module's ``endpoint``
    from ._security_routes import security_routes  # it builds on this module's helpers

    base = "/v3/plugins"
    return [
        Route("/healthz", health, methods=["GET"]),
        Route(base, list_plugins, methods=["GET"]),
        Route(base, install_plugin, methods=["POST"]),
        Route(base + "/validate", validate_package, methods=["POST"]),
        Route("/v3/endpoints", served_endpoints, methods=["GET"]),
        Route("/v3/metrics", prometheus_metrics, methods=["GET"]),
        Route("/v3/marketplace/search", marketplace_search, methods=["GET"]),
        Route("/v3/marketplace/plugins/{id}", marketplace_plugin, methods=["GET"]),
        Route(base + "/{id}", plugin_details, methods=["GET"]),
        Route(base + "/{id}", update_plugin, methods=["PUT"]),
        Route(base + "/{id}", uninstall_plugin, methods=["DELETE"]),
        Route(base + "/{id}/update-plan", update_plan, methods=["GET"]),
        Route(base + "/{id}/rollback", rollback_plugin, methods=["POST"]),
        Route(base + "/{id}/config", get_config, methods=["GET"]),
        Route(base + "/{id}/config", put_config, methods=["PUT"]),
        Route(base + "/{id}/config/validate", validate_config, methods=["POST"]),
        Route(base + "/{id}/status", plugin_status, methods=["GET"]),
        *(
            Route(f"{base}/{{id}}/{a}", endpoint(body="command")(_action(a)), methods=["POST"])
            for a in ("start", "stop", "restart")
        ),
        Route(base + "/{id}/dev-mode", dev_mode, methods=["POST"]),
        WebSocketRoute("/v3/events", events_socket),
        Route(base + "/{id}/metrics", plugin_metrics, methods=["GET"]),
        Route(base + "/{id}/logs", plugin_logs, methods=["GET"]),
        Route(base + "/{id}/errors", plugin_errors, methods=["GET"]),
        *security_routes(base),
        *advisory_routes(),
    ]
