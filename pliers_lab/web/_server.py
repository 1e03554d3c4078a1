"""The Starlette app and a uvicorn server in a background thread.

``create_app(engine, host=None)`` serves the plugins' endpoints under ``/plugins/`` and
the management API under ``/v3``; ``serve(engine)`` runs it on a free loopback port and
returns a ``Server`` (``.url``, ``.token``, ``.stop()``) — from a notebook cell, a test or
``python -m pliers_lab serve``.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

from ._auth import Authenticator, TokenIssuer
from ._bodies import declared_length, read_limited
from ._endpoint_pipeline import Dispatcher
from ._error_envelope import ApiError, internal_error
from ._limits import RateLimiter
from ._management import management_routes
from ._routing import Router
from ._services import host_services
from ._settings import WebSettings
from ._state import WebState

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["PluginEndpoints", "Server", "create_app", "serve"]

log = logging.getLogger("pliers_lab.web")


class PluginEndpoints(BaseRoute):
    """Everything under ``/plugins/``, straight to the dispatcher as raw ASGI: no
    starlette ``Request``/``Response`` objects on the hot path."""

    def __init__(self, dispatcher: Dispatcher, max_body_bytes: int) -> None:
        self.dispatcher = dispatcher
        self.max_body_bytes = max_body_bytes

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and scope["path"].startswith("/plugins/"):
            return Match.FULL, {}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.max_body_bytes

        async def read_body() -> bytes:
            # A declared length past the limit is refused before a byte is read, a chunked
            # body as soon as it passes it: never more than the limit is held.
            declared = declared_length(scope["headers"])
            return await read_limited(receive, limit, "a plugin endpoint", declared)

        client = scope.get("client")
        dispatcher = self.dispatcher
        try:
            status, headers, body = await dispatcher.handle(
                scope["method"],
                scope["path"],
                scope["headers"],
                scope["query_string"],
                read_body,
                client[0] if client else None,
                scope.get("scheme", "http"),
            )
        except Exception as exc:  # a bug of ours: answer with an error id, log, keep serving
            error = internal_error(exc, f"{scope['method']} {scope['path']}")
            status, headers, body = dispatcher.error_reply(
                error, dispatcher.request_id(), time.time()
            )
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        raw.append((b"content-length", str(len(body)).encode("ascii")))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})


def _errors(state: WebState) -> dict[Any, Any]:
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "ROUTE_NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(
            exc.status_code, "INVALID_REQUEST"
        )
        message = f"{request.method} {request.url.path}: {exc.detail}"
        error = ApiError(code, message, headers=list((exc.headers or {}).items()))
        rid = state.dispatcher.request_id()
        return JSONResponse(
            error.body(rid, time.time()),
            status_code=error.status,
            headers={**dict(error.headers), "x-request-id": rid},
        )

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        rid = state.dispatcher.request_id()
        return JSONResponse(
            exc.body(rid, time.time()),
            status_code=exc.status,
            headers={**dict(exc.headers), "x-request-id": rid},
        )

    async def gone(request: Request, exc: Exception) -> Response:
        # The client went away mid-body: nobody reads this answer, and it is no failure.
        return Response(status_code=400)

    async def crash(request: Request, exc: Exception) -> Response:
        rid = state.dispatcher.request_id()
        error = internal_error(exc, f"{request.method} {request.url.path} ({rid})")
        return JSONResponse(
            error.body(rid, time.time()), status_code=500, headers={"x-request-id": rid}
        )

    return {
        HTTPException: http_error,
        ApiError: api_error,
        ClientDisconnect: gone,
        Exception: crash,
    }


def create_app(
    engine: Engine,
    host: Any = None,
    *,
    settings: WebSettings | None = None,
    tokens: TokenIssuer | bool = True,
    marketplace: Any = None,
) -> Starlette:
    """A Starlette app serving ``engine``'s plugin endpoints and the management API.

    Args:
        engine: the plugin engine.
        host: a ``pliers_lab.host.Host``; endpoints then get ``request.api.create_submission``.
        settings: timeouts, limits, auth options (``WebSettings``).
        tokens: the development token issuer: ``True`` for one with a random secret,
            ``False`` for none (only ``auth.authenticate`` plugins vouch for tokens), or
            a ``TokenIssuer`` of yours. Reach it as ``app.state.pliers.tokens``.
        marketplace: a ``pliers_lab.market.PluginMarketplace``: ``/v3`` installs, updates
            and searches through it (without one those answer 503).
    """
    settings = settings or WebSettings()
    issuer = (
        TokenIssuer(
            ttl_s=settings.token_ttl_s,
            issuer=settings.token_issuer,
            audience=settings.token_audience,
            leeway_s=settings.token_leeway_s,
        )
        if tokens is True
        else (tokens or None)
    )
    router = Router(engine, require_permission=settings.require_api_permission)
    limiter = RateLimiter()
    dispatcher = Dispatcher(
        engine, router, limiter, None, settings, host_services(host) if host is not None else None
    )
    auth = Authenticator(engine, issuer, dispatcher.fire, max_token_bytes=settings.max_token_bytes)
    dispatcher.auth = auth
    state = WebState(engine, host, settings, router, limiter, auth, issuer, dispatcher, marketplace)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        dispatcher.close()

    app = Starlette(
        routes=[PluginEndpoints(dispatcher, settings.max_body_bytes), *management_routes()],
        exception_handlers=_errors(state),
        lifespan=lifespan,
    )
    app.state.pliers = state
    return app


class Server:
    """A uvicorn server in a daemon thread; ``str(server)`` is its URL.

    Serves any Starlette app (``create_app``'s, or another for comparison).

    Attributes:
        url: ``http://127.0.0.1:<port>``.
        app: the Starlette app (``app.state.pliers`` holds router, limiter, tokens…).
        token: a bearer token of user ``admin`` with role ``admin`` from the built-in
            issuer (``None`` when the issuer is off).
    """

    def __init__(
        self, app: Starlette, host: str = "127.0.0.1", port: int = 0, *, log_level: str = "warning"
    ) -> None:
        import uvicorn

        self.app = app
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says
        # TCP, and without it the two writes of a reply wait out delayed ACKs (~40 ms).
        self._socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        bound_port = self._socket.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{bound_port}"
        state = getattr(app.state, "pliers", None)  # any ASGI app can be served; ours has state
        extra = {"ws_max_size": state.settings.max_ws_message_bytes} if state is not None else {}
        config = uvicorn.Config(app, log_level=log_level, lifespan="on", access_log=False, **extra)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="pliers-web-server", daemon=True)
        tokens: TokenIssuer | None = state.tokens if state is not None else None
        roles = list(state.settings.admin_roles) if state is not None else []
        self.token = tokens.issue("admin", roles=roles, ttl_s=7 * 86400) if tokens else None
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._socket])
        except BaseException as exc:  # reported by start()
            self.error = exc

    def start(self, timeout: float = 10.0) -> Server:
        """Start and wait until the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the web server did not start on {self.url}: {self.error!r}")
            time.sleep(0.005)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, finish requests in flight (up to ``timeout``), close."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(timeout)
        with contextlib.suppress(OSError):
            self._socket.close()

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and self._server.started

    def headers(self) -> dict[str, str]:
        """``Authorization`` for the admin token (for the management API)."""
        return {"authorization": f"Bearer {self.token}"} if self.token else {}

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"<Server {self.url} {'running' if self.running else 'stopped'}>"


def serve(
    engine: Engine,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    pliers_host: Any = None,
    settings: WebSettings | None = None,
    tokens: TokenIssuer | bool = True,
    marketplace: Any = None,
    log_level: str = "warning",
) -> Server:
    """Serve ``engine`` in a background thread; returns the started ``Server``.

    ``port=0`` picks a free port (``server.url`` says which). ``pliers_host`` is a
    ``pliers_lab.host.Host`` to offer endpoints (``request.api.create_submission``).
    Stop with ``server.stop()`` or use it as a context manager.
    """
    app = create_app(engine, pliers_host, settings=settings, tokens=tokens, marketplace=marketplace)
    return Server(app, host, port, log_level=log_level).start()
