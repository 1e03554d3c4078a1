"""The management API's security routes (issue 19 §3), over ``engine.security``.

``GET /v3/plugins/{id}/behavior`` (baselines per version), ``.../anomalies``,
``.../threats``; ``POST /v3/plugins/{id}/quarantine`` (``{"reason": …, "threat": id?}``:
the threat's evidence is recorded with it) and ``POST .../release``; ``GET
/v3/security/threats`` (every plugin) and ``GET /v3/security/actions`` (quarantines and
releases, ``?pluginId=``). Same envelope, limits and authentication as the rest of /v3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.routing import Route

from ._error_envelope import ApiError, problems
from ._management import _in_thread, _json, _plugin, endpoint

if TYPE_CHECKING:
    from ._state import WebState

__all__ = ["security_routes"]

#: Longest quarantine or release reason kept (characters).
MAX_REASON = 500


def _monitor(state: WebState) -> Any:
    """The engine's monitor; with a marketplace, the server's advisory watch (issue 19
    §2) is its advisory source unless one was set."""
    monitor = state.engine.security
    if monitor.advisories is None and (state.advisories or state.marketplace) is not None:
        from ._advisory_api import _watch

        source = _watch(state).source  # a local Advisories, or a registry service client

        def affecting(plugin_id: str, version: str) -> list[Any]:
            return [a for a in source.advisories(plugin_id) if a.affects(version)]

        monitor.advisories = affecting
    return monitor


def _reason(body: dict[str, Any], required: bool, default: str) -> str:
    raw = body.get("reason")
    if raw is None and not required:
        return default
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_REASON:
        message = f"must be a non-empty string of at most {MAX_REASON} characters"
        raise ApiError(
            "VALIDATION_FAILED",
            f"body.reason: {message}",
            problems([{"path": "body.reason", "message": message, "value": None}]),
        )
    return raw.strip()


@endpoint()
async def behavior(request: Request, state: WebState) -> Any:
    plugin = _plugin(state, request.path_params["id"])
    analysis = await _in_thread(_monitor(state).analyze_behavior, plugin.id)
    return analysis.to_dict()


@endpoint()
async def anomalies(request: Request, state: WebState) -> Any:
    plugin = _plugin(state, request.path_params["id"])
    found = await _in_thread(_monitor(state).detect_anomalies, plugin.id)
    return {"pluginId": plugin.id, "anomalies": [a.to_dict() for a in found]}


@endpoint()
async def threats(request: Request, state: WebState) -> Any:
    plugin = _plugin(state, request.path_params["id"])
    found = await _in_thread(_monitor(state).detect_threats, plugin.id)
    return {"pluginId": plugin.id, "threats": [t.to_dict() for t in found]}


@endpoint()
async def all_threats(request: Request, state: WebState) -> Any:
    found = await _in_thread(_monitor(state).check)
    return {"threats": [t.to_dict() for t in found]}


@endpoint()
async def actions(request: Request, state: WebState) -> Any:
    plugin_id = request.query_params.get("pluginId")
    if plugin_id is not None:
        _plugin(state, plugin_id)
    return {"actions": state.engine.security_actions(plugin_id)}


@endpoint(body="command")
async def quarantine(request: Request, state: WebState) -> Any:
    plugin = _plugin(state, request.path_params["id"])
    body = await _json(request)
    reason = _reason(body, True, "")
    evidence: list[dict[str, Any]] = []
    threat_id = body.get("threat")
    if threat_id is not None:
        found = await _in_thread(_monitor(state).detect_threats, plugin.id)
        match = [t for t in found if t.id == threat_id]
        if not isinstance(threat_id, str) or not match:
            known = ", ".join(t.id for t in found) or "none"
            message = f"no current threat {threat_id!r} against {plugin.id!r} (current: {known})"
            raise ApiError(
                "VALIDATION_FAILED",
                f"body.threat: {message}",
                problems([{"path": "body.threat", "message": message, "value": None}]),
            )
        evidence = [{"source": "threat", **match[0].to_dict()}]
    who = getattr(getattr(request.state, "identity", None), "id", None)
    source = f"api:{who}" if who else "api"
    await _in_thread(
        _monitor(state).quarantine, plugin.id, reason, evidence=evidence, source=source
    )
    current = state.engine.plugin(plugin.id)
    return {
        "pluginId": plugin.id,
        "quarantined": state.engine.quarantined(plugin.id),
        "status": current.state.value,
        "source": source,
    }


@endpoint(body="command")
async def release(request: Request, state: WebState) -> Any:
    plugin = _plugin(state, request.path_params["id"])
    body = await _json(request, optional=True)
    reason = _reason(body, False, "released via the management API")
    if state.engine.quarantined(plugin.id) is None:
        raise ApiError(
            "INVALID_STATE",
            f"plugin {plugin.id!r} is not quarantined; nothing to release",
            {"pluginId": plugin.id},
        )
    who = getattr(getattr(request.state, "identity", None), "id", None)
    source = f"api:{who}" if who else "api"
    await _in_thread(_monitor(state).release, plugin.id, source=source, reason=reason)
    return {
        "pluginId": plugin.id,
        "quarantined": None,
        "status": state.engine.plugin(plugin.id).state.value,
        "source": source,
    }


def security_routes(base: str = "/v3/plugins") -> list[Route]:
    """The security routes, for ``management_routes``."""
    return [
        Route(base + "/{id}/behavior", behavior, methods=["GET"]),
        Route(base + "/{id}/anomalies", anomalies, methods=["GET"]),
        Route(base + "/{id}/threats", threats, methods=["GET"]),
        Route(base + "/{id}/quarantine", quarantine, methods=["POST"]),
        Route(base + "/{id}/release", release, methods=["POST"]),
        Route("/v3/security/threats", all_threats, methods=["GET"]),
        Route("/v3/security/actions", actions, methods=["GET"]),
    ]
