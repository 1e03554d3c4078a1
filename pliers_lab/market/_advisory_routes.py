"""The registry service's reports, advisories and trust scores over HTTP (issue 19 §2):
``advisory_routes(registry, authenticate)`` returns Starlette routes the service mounts
(``advisory_route_set`` is the same as one of the service's ``ROUTE_SETS``).

Reads need no one: ``GET /advisories`` (``?plugin=a,b`` or every one),
``GET /advisories/{id}``, ``GET /trust/{name}`` and ``/trust/{name}/{version}`` (the
registry's signals; an engine adds its runtime record itself). Writes need an
authenticated user (``authenticate(request)`` gives the user id, or None): anyone signed
in may report (``POST /reports {pluginId, version?, severity, type, description,
location?, recommendation?}``); reading reports (``GET /reports?plugin=``) and deciding
them (``POST /reports/{id}/confirm``, ``/reports/{id}/dismiss``), publishing
(``POST /advisories {pluginId, affected, severity, title, ...}``) and withdrawing
(``POST /advisories/{id}/withdraw``) are for the plugin's maintainers, as in
``Advisories`` — a report may describe a hole not fixed yet. The paths stay clear of the
service's ``/plugins/...`` ones.

Replies are JSON; refusals are ``{"error": {code, message, details}}`` with a 4xx status
(a body that is not a JSON object, too large, or with a wrong field is a 400 or 413
naming the field), never a 500.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ._advisories import Advisories
from .refusals import MarketError

if TYPE_CHECKING:
    from ._registry import Registry

__all__ = ["MAX_BODY", "advisory_route_set", "advisory_routes"]

#: The largest request body these routes read.
MAX_BODY = 64 << 10
Authenticate = Callable[[Request], "str | Awaitable[str | None] | None"]
Handler = Callable[[Request], Awaitable[Any]]


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _reply(handler: Handler) -> Callable[[Request], Awaitable[JSONResponse]]:
    async def run(request: Request) -> JSONResponse:
        try:
            answer = await handler(request)
        except _Refused as exc:
            return _error(exc.status, exc.code, exc.message)
        except MarketError as exc:
            return JSONResponse({"error": exc.to_dict()}, status_code=exc.status)
        status, body = answer if isinstance(answer, tuple) else (200, answer)
        return JSONResponse(body, status_code=status)

    return run


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": {}}}, status_code=status
    )


async def _body(request: Request) -> dict[str, Any]:
    where = f"{request.method} {request.url.path}"
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise _Refused(413, "PAYLOAD_TOO_LARGE", f"{where}: the body is over {MAX_BODY} bytes")
    raw = b""
    try:
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > MAX_BODY:
                raise _Refused(
                    413, "PAYLOAD_TOO_LARGE", f"{where}: the body is over {MAX_BODY} bytes"
                )
    except RuntimeError:  # the authenticator read it already (a signed request's body)
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise _Refused(
                413, "PAYLOAD_TOO_LARGE", f"{where}: the body is over {MAX_BODY} bytes"
            ) from None
    try:
        data = json.loads(raw or b"{}")
    except (ValueError, RecursionError):
        raise _Refused(400, "INVALID_REQUEST", f"{where}: the body is not JSON") from None
    if not isinstance(data, dict):
        raise _Refused(400, "INVALID_REQUEST", f"{where}: the body must be a JSON object")
    return data


def _field(body: dict[str, Any], name: str, *, required: bool = True) -> Any:
    value = body.get(name)
    if value is None and required:
        raise _Refused(400, "VALIDATION_FAILED", f"body.{name} is required")
    if value is not None and not isinstance(value, str):
        raise _Refused(400, "VALIDATION_FAILED", f"body.{name} must be a string")
    return value


def _int(text: str, what: str) -> int:
    if not text.isdigit() or len(text) > 18:
        raise _Refused(400, "VALIDATION_FAILED", f"{what} must be a number, not {text[:40]!r}")
    return int(text)


def advisory_routes(
    registry: Registry, authenticate: Authenticate | None = None, *, prefix: str = ""
) -> list[Route]:
    """The routes (module docstring) over ``registry``, under ``prefix``. Without
    ``authenticate`` every write is refused (401)."""
    advisories = Advisories(registry)

    async def user_of(request: Request) -> str:
        found = authenticate(request) if authenticate is not None else None
        if found is not None and not isinstance(found, str):
            found = await found
        if not found:
            raise _Refused(
                401, "AUTHENTICATION_REQUIRED",
                f"{request.method} {request.url.path} needs a signed-in registry user",
            )  # fmt: skip
        return found

    async def list_all(request: Request) -> Any:
        wanted = request.query_params.get("plugin")
        if wanted is None:
            found = await run_in_threadpool(advisories.advisories)
        else:
            names = [n for n in wanted.split(",") if n][:500]
            found = [a for n in names for a in await run_in_threadpool(advisories.advisories, n)]
        return {"advisories": [a.to_dict() for a in found]}

    async def one(request: Request) -> Any:
        return (await run_in_threadpool(advisories.get, request.path_params["id"])).to_dict()

    async def trust(request: Request) -> Any:
        from ._trust_score import trust_score

        name, version = request.path_params["name"], request.path_params.get("version")
        return (await run_in_threadpool(trust_score, registry, name, version)).to_dict()

    async def report(request: Request) -> Any:
        user = await user_of(request)
        body = await _body(request)
        version = _field(body, "version", required=False)
        issue = {k: body.get(k) for k in ("severity", "type", "description", "location",
                                          "recommendation")}  # fmt: skip
        name = _field(body, "pluginId")
        found = await run_in_threadpool(
            lambda: advisories.report(name, issue, version=version, reporter=user)
        )
        return 201, found.to_dict()

    async def reports(request: Request) -> Any:
        user = await user_of(request)
        name = request.query_params.get("plugin")
        if not name:
            raise _Refused(400, "VALIDATION_FAILED", "query.plugin is required (whose reports)")
        status = request.query_params.get("status")
        await run_in_threadpool(advisories.require_maintainer, name, user, "read reports on")
        found = await run_in_threadpool(lambda: advisories.reports(name, status=status))
        return {"pluginId": name, "reports": [r.to_dict() for r in found]}

    async def confirm(request: Request) -> Any:
        user = await user_of(request)
        body = await _body(request)
        report_id = _int(request.path_params["id"], "the report id")
        fields = {
            "affected": _field(body, "affected"),
            "fixed_version": _field(body, "fixedVersion", required=False),
            "severity": _field(body, "severity", required=False),
            "title": _field(body, "title", required=False),
            "description": _field(body, "description", required=False),
        }
        found = await run_in_threadpool(lambda: advisories.confirm(report_id, user=user, **fields))
        return 201, found.to_dict()

    async def dismiss(request: Request) -> Any:
        user = await user_of(request)
        body = await _body(request)
        report_id = _int(request.path_params["id"], "the report id")
        reason = _field(body, "reason")
        found = await run_in_threadpool(
            lambda: advisories.dismiss(report_id, user=user, reason=reason)
        )
        return found.to_dict()

    async def publish(request: Request) -> Any:
        user = await user_of(request)
        body = await _body(request)
        name = _field(body, "pluginId")
        fields = {
            "affected": _field(body, "affected"),
            "severity": _field(body, "severity"),
            "title": _field(body, "title"),
            "description": _field(body, "description", required=False) or "",
            "fixed_version": _field(body, "fixedVersion", required=False),
        }
        found = await run_in_threadpool(lambda: advisories.publish(name, user=user, **fields))
        return 201, found.to_dict()

    async def withdraw(request: Request) -> Any:
        user = await user_of(request)
        advisory_id = request.path_params["id"]
        found = await run_in_threadpool(lambda: advisories.withdraw(advisory_id, user=user))
        return found.to_dict()

    p = prefix.rstrip("/")
    return [
        Route(f"{p}/advisories", _reply(list_all), methods=["GET"]),
        Route(f"{p}/advisories", _reply(publish), methods=["POST"]),
        Route(f"{p}/advisories/{{id}}", _reply(one), methods=["GET"]),
        Route(f"{p}/advisories/{{id}}/withdraw", _reply(withdraw), methods=["POST"]),
        Route(f"{p}/reports", _reply(report), methods=["POST"]),
        Route(f"{p}/reports", _reply(reports), methods=["GET"]),
        Route(f"{p}/reports/{{id}}/confirm", _reply(confirm), methods=["POST"]),
        Route(f"{p}/reports/{{id}}/dismiss", _reply(dismiss), methods=["POST"]),
        Route(f"{p}/trust/{{name}}", _reply(trust), methods=["GET"]),
        Route(f"{p}/trust/{{name}}/{{version}}", _reply(trust), methods=["GET"]),
    ]


def advisory_route_set(service: Any) -> list[Route]:
    """The routes as a route set of the registry service (``service.ROUTE_SETS``): its
    registry, its signed-request authentication, under ``/v1``."""
    return advisory_routes(service.registry, service.authenticate, prefix="/v1")
