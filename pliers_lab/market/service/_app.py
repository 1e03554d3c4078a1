"""The registry service's machinery: the app factory, what routes share (``RegistryService``),
the error envelope, body reading with caps, and signed-request authentication."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from .._signed_requests import (
    AuthProblem,
    NonceCache,
    SignedRequest,
    parse_authorization,
    verify_identity,
    verify_signature,
)
from ..refusals import MarketError, SignatureError

if TYPE_CHECKING:
    from .._registry import Registry

__all__ = [
    "MAX_JSON",
    "ROUTE_SETS",
    "RegistryService",
    "RouteSet",
    "ServiceError",
    "guarded",
    "registry_app",
    "route_table",
]

log = logging.getLogger("pliers_lab.registry")

#: The largest JSON body a route reads.
MAX_JSON = 64 << 10
#: Uploads may exceed the bundle limits' uncompressed total by this much (zip headers).
UPLOAD_SLACK = 1 << 20
_CHUNK = 1 << 16


class ServiceError(Exception):
    """A refusal of the service: ``status``, ``code`` and a sentence naming the culprit."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers or {}


def error_reply(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The envelope every refusal has: ``{"error": {code, message, details, timestamp}}``."""
    body = {
        "error": {
            "code": code,
            "message": message,
            "details": details or {},
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    }
    return JSONResponse(body, status_code=status, headers=headers)


def _market_reply(exc: MarketError) -> JSONResponse:
    """A marketplace refusal with its status; a refused signature is a 403 here (the
    request was authenticated, the bundle is not acceptable)."""
    status, code = exc.status, exc.code
    if isinstance(exc, SignatureError):
        status, code = 403, "PERMISSION_DENIED"
    elif status >= 500:  # a refusal, never the server failing: the bundle is to blame
        status = 400
    details = {**exc.details, "refusal": type(exc).__name__}
    if exc.plugin_id is not None:
        details.setdefault("pluginId", exc.plugin_id)
    return error_reply(status, code, exc.message, _jsonable(details))


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


Handler = Callable[[Request], Awaitable[Any]]


def guarded(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a route handler: its return value (a ``Response``, a JSON body, or
    ``(status, body)``) is sent; every refusal becomes the error envelope with its 4xx
    status; anything else is a 500 naming only an error id (the log has the traceback)."""

    async def run(request: Request) -> Response:
        try:
            answer = await handler(request)
        except ServiceError as exc:
            return error_reply(exc.status, exc.code, exc.message, exc.details, exc.headers)
        except MarketError as exc:
            return _market_reply(exc)
        except ClientDisconnect:
            return Response(status_code=499)
        except Exception:
            error_id = secrets.token_hex(6)
            log.exception(
                "registry service: %s %s failed (%s)", request.method, request.url.path, error_id
            )
            return error_reply(
                500, "INTERNAL_ERROR", "the registry failed; its log names this error id",
                {"errorId": error_id},
            )  # fmt: skip
        if isinstance(answer, Response):
            return answer
        status, body = answer if isinstance(answer, tuple) else (200, answer)
        return JSONResponse(body, status_code=status)

    run.__name__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run


class RegistryService:
    """What every route of one service shares.

    Attributes:
        registry: the ``Registry`` served.
        max_upload: the largest bundle upload read (bytes).
        nonces: signed requests already seen (replays are refused).
    """

    def __init__(self, registry: Registry, *, max_upload: int | None = None) -> None:
        self.registry = registry
        self.max_upload = max_upload or registry.limits.max_total_size + UPLOAD_SLACK
        self.nonces = NonceCache()

    def reader(self, pliers_version: str | None = None) -> Any:
        """A ``PluginMarketplace`` over the registry with no store: the read surface
        (details, versions, categories, featured, popular, updates) exactly as an engine's
        marketplace computes it."""
        from .._marketplace import PluginMarketplace

        return PluginMarketplace(self.registry, _NoStore(), pliers_version=pliers_version)  # type: ignore[arg-type]

    # ---------------------------------------------------------------- bodies
    async def json_body(self, request: Request, limit: int = MAX_JSON) -> Any:
        """The request's JSON body (at most ``limit`` bytes); 4xx naming what is wrong."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise ServiceError(
                415, "UNSUPPORTED_MEDIA_TYPE",
                f"send a JSON body with Content-Type: application/json (got {kind or 'none'!r})",
            )  # fmt: skip
        raw = await self.body(request, limit)
        try:
            return json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ServiceError(
                400, "INVALID_REQUEST", f"the body is not UTF-8 (byte {exc.start})"
            ) from None
        except json.JSONDecodeError as exc:
            raise ServiceError(
                400, "INVALID_REQUEST",
                f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            ) from None  # fmt: skip
        except RecursionError:
            raise ServiceError(
                400, "INVALID_REQUEST", "malformed JSON: nested too deeply"
            ) from None

    async def body(self, request: Request, limit: int) -> bytes:
        """The whole body, refused with 413 beyond ``limit`` bytes (before reading it when
        ``Content-Length`` says so)."""
        cached = getattr(request, "_body", None)  # read before (Starlette keeps it there)
        if cached is not None:
            if len(cached) > limit:
                raise _too_large(limit)
            return bytes(cached)
        _declared(request, limit)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
        data = b"".join(chunks)
        request._body = data  # so that request.body() and the next reader get it too
        return data

    async def upload(self, request: Request) -> tuple[Path, str]:
        """The body written to a temporary file (removed by the caller) and its SHA-256."""
        _declared(request, self.max_upload)
        digest = hashlib.sha256()
        handle, name = tempfile.mkstemp(prefix="pliers-publish-", suffix=".zip")
        size = 0
        try:
            with os.fdopen(handle, "wb") as out:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > self.max_upload:
                        raise _too_large(self.max_upload)
                    digest.update(chunk)
                    out.write(chunk)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        return Path(name), digest.hexdigest()

    # ------------------------------------------------------------------ auth
    def signed_by(self, request: Request) -> tuple[SignedRequest, Any]:
        """The signed request's fields and the key registered under its key id, checked
        as far as can be before the body is read (clock, key, owner): 401/403."""
        try:
            signed = parse_authorization(request.headers.get("authorization"))
            key = self.registry.keys().get(signed.key_id)
            owner = self.registry.key_owner(signed.key_id) if key is not None else None
            verify_identity(signed, key=key, key_owner=owner)
        except AuthProblem as exc:
            raise _auth_error(exc) from None
        return signed, key

    def user_of(self, request: Request, signed: tuple[SignedRequest, Any], body_sha256: str) -> str:
        """The user a signed request comes from, its signature checked over the body."""
        fields, key = signed
        try:
            return verify_signature(
                fields,
                method=request.method,
                path=request.url.path,
                query=request.scope.get("query_string", b"").decode("latin-1"),
                body_sha256=body_sha256,
                key=key,
                nonces=self.nonces,
            )
        except AuthProblem as exc:
            raise _auth_error(exc) from None

    async def require_user(self, request: Request) -> str:
        """The registered publisher who signed this request (its body read and checked);
        401/403 otherwise."""
        signed = await run_in_threadpool(self.signed_by, request)
        body = await self.body(request, MAX_JSON)
        return await run_in_threadpool(
            self.user_of, request, signed, hashlib.sha256(body).hexdigest()
        )

    async def authenticate(self, request: Request) -> str | None:
        """``require_user`` for routes that answer refusals themselves: the user, or None
        (the body stays readable with ``await request.body()``)."""
        try:
            return await self.require_user(request)
        except ServiceError:
            return None


class _NoStore:
    """The store of the service's reader: nothing is installed on a registry."""

    def installed(self) -> dict[str, Any]:
        return {}


def _declared(request: Request, limit: int) -> None:
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise ServiceError(400, "INVALID_REQUEST", "Content-Length must be a number")
        if int(length) > limit:
            raise _too_large(limit)


def _too_large(limit: int) -> ServiceError:
    return ServiceError(
        413, "PAYLOAD_TOO_LARGE", f"the body is larger than this route takes ({limit} bytes)",
        {"limit": limit},
    )  # fmt: skip


def _auth_error(exc: AuthProblem) -> ServiceError:
    from .._signed_requests import SCHEME

    if exc.status == 403:
        return ServiceError(403, "PERMISSION_DENIED", str(exc))
    return ServiceError(
        401, "AUTHENTICATION_REQUIRED", str(exc), headers={"WWW-Authenticate": SCHEME}
    )


RouteSet = Callable[[RegistryService], Iterable[BaseRoute]]


def _core(service: RegistryService) -> Iterable[BaseRoute]:
    from ._endpoints import core_routes

    return core_routes(service)


def _advisories(service: RegistryService) -> Iterable[BaseRoute]:
    """Reports, advisories and trust scores (issue 19 §2: ``market/_advisory_routes``)."""
    from .._advisory_routes import advisory_route_set

    return advisory_route_set(service)


#: The route sets every service serves, in this order: each is a function of the
#: ``RegistryService`` returning Starlette routes. Add a set here (or pass
#: ``route_sets=[*ROUTE_SETS, mine]`` to ``registry_app``) to serve more from the same
#: registry: the routes get ``service.registry``, ``service.json_body``,
#: ``service.require_user`` / ``authenticate`` and ``guarded``.
ROUTE_SETS: list[RouteSet] = [_core, _advisories]


def route_table(
    service: RegistryService, route_sets: Sequence[RouteSet] | None = None
) -> list[BaseRoute]:
    """Every route of the service: each route set's, in order."""
    return [
        route
        for make in (ROUTE_SETS if route_sets is None else route_sets)
        for route in make(service)
    ]


def registry_app(
    registry: Registry | str | os.PathLike[str],
    *,
    route_sets: Sequence[RouteSet] | None = None,
    extra_routes: Iterable[BaseRoute] = (),
    max_upload: int | None = None,
) -> Starlette:
    """A Starlette app serving ``registry`` over HTTP (the endpoints are listed in
    ``pliers_lab.market.service``): mount it in a deployment, or run it with ``pliers
    registry serve``. ``registry`` is a ``Registry`` or its folder (created if needed).

    Args:
        route_sets: the route sets to serve (default ``ROUTE_SETS``).
        extra_routes: more routes, after those.
        max_upload: the largest bundle upload, in bytes (default: the registry's bundle
            limit plus 1 MiB of zip headers).
    """
    from .._registry import Registry

    if not isinstance(registry, Registry):
        registry = Registry(registry)
    service = RegistryService(registry, max_upload=max_upload)
    routes = [*route_table(service, route_sets), *extra_routes]

    async def not_routed(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            return error_reply(
                405, "METHOD_NOT_ALLOWED",
                f"{request.method} is not allowed on {request.url.path}",
                headers=dict(exc.headers or {}),
            )  # fmt: skip
        if exc.status_code == 404:
            return error_reply(
                404, "ROUTE_NOT_FOUND", f"no route {request.url.path} (the API is under /v1)"
            )
        return error_reply(exc.status_code, "INVALID_REQUEST", str(exc.detail))

    app = Starlette(routes=routes, exception_handlers={HTTPException: not_routed})
    app.state.registry_service = service
    return app
