"""Serving one plugin endpoint request: the pipeline from a matched route to a reply.

Order of work for ``POST /plugins/webhook/receive/abc``::

    match (404 / 405) → rate limit (429) → identify the bearer token (401)
    → auth.required / roles / permissions (401 / 403) → auth.authorize hook (403)
    → read and parse the body (413 / 400) → api.request hook → validate params,
    query, body (400) → middleware…, handler (500 / 504 / 503) → check the response
    record (500) → api.response hook → reply

Hooks around plugin endpoints (the specification's ``api.request`` and ``api.response``,
both *waterfall*):

- ``api.request`` gets the request record (``PluginRequest.to_dict()``: pluginId,
  endpoint, method, path, headers, query, params, body, base64 rawBody, metadata, user)
  after authentication and before validation; from its final value the ``headers``,
  ``query`` and ``body`` replace the request's, so a plugin can normalise input that is
  then validated. Other keys are ignored (the route is already chosen).
- ``api.response`` gets the response record (status, headers, body, duration, pluginId,
  endpoint, metadata{requestId, timestamp, cached}) after the handler; ``status``,
  ``headers`` and ``body`` of its final value are sent (checked like a handler's reply;
  an invalid rewrite is dropped and logged).
Both fire only when some plugin implements them, for plugin endpoints only (not for the
management API), in a worker thread, so a slow hook does not stall the server.

A failing endpoint never takes the server down: an exception (``sys.exit()`` included;
not a Ctrl-C, nor the cancellation of the request, which propagate) becomes a 500 and a
RUNTIME_ERROR, a reply that is not a response record a 500 and a VALIDATION_ERROR, a
call past ``handler_timeout_s`` a 504 and a TIMEOUT_ERROR. Each error is recorded with
``engine.record_error``: the plugin is ``plugin_id``, the context's ``hook`` names the
endpoint (``"POST /plugins/webhook/receive/:webhookId"``), the execution id is the
request id, and ``metadata`` holds the endpoint, path, step (the function that failed)
and request id. Every call also counts in the plugin's metrics.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import parse_qsl

from ..engine._dispatch import _cancelled_from_outside
from ..errors import PluginError, PluginErrorType, must_propagate, raised_text
from ._auth import Authenticator, Identity, bearer_token, unauthorized
from ._bodies import DEFAULT_MAX_DEPTH, parse_json
from ._error_envelope import ApiError, overloaded, problems, refused_by_host
from ._limits import RateLimiter, limit_headers
from ._messages import (
    PluginRequest,
    RequestMetadata,
    ResponseProblem,
    check_response,
    encode_body,
    response_record,
)
from ._routing import Match, Route, Router
from ._threads import DaemonPool

if TYPE_CHECKING:
    from ..engine import Engine
    from ..engine.hook_results import HookResult
    from ..plugin import Plugin
    from ._settings import WebSettings

__all__ = ["Dispatcher", "EndpointCall", "Reply"]

log = logging.getLogger("pliers_lab.web")

#: ``(status, headers, body)`` as sent.
Reply = tuple[int, list[tuple[str, str]], bytes]
#: Request-scoped services for ``request.api`` (``create_submission`` with a host).
Services = Callable[["Plugin", "RequestMetadata"], Mapping[str, Any]]


class EndpointCall(NamedTuple):
    """One served endpoint call, as kept for the metrics timelines."""

    timestamp: float
    plugin_id: str
    endpoint: str
    status: int
    duration_ms: float
    request_id: str
    user_id: str | None
    error_id: str | None


class _Failed(Exception):
    """Plugin code failed; carries what to record and which reply to give."""

    def __init__(
        self,
        kind: PluginErrorType,
        code: str,
        step: str,
        message: str,
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(message)
        self.kind, self.code, self.step, self.cause = kind, code, step, cause


def _failure(step: str, exc: BaseException) -> _Failed:
    """A plugin function failed: a ``PluginError`` keeps its type (a sandboxed function's
    security, resource or timeout error), anything else is a RUNTIME_ERROR."""
    if isinstance(exc, PluginError):
        code = "PLUGIN_TIMEOUT" if exc.type is PluginErrorType.TIMEOUT_ERROR else "PLUGIN_ERROR"
        return _Failed(exc.type, code, step, f"{step} failed: {exc.message}", exc)
    return _Failed(
        PluginErrorType.RUNTIME_ERROR, "PLUGIN_ERROR", step, f"{step} {raised_text(exc)}", exc
    )


def _contained(exc: BaseException) -> bool:
    """True when plugin code's ``exc`` is that plugin's failure: everything but a
    Ctrl-C and the cancellation of the task serving the request (a server stopping, a
    timeout), which must reach whoever asked. ``sys.exit()`` in a handler must not stop
    the server, nor a ``CancelledError`` the handler raised on its own."""
    return not (must_propagate(exc) or _cancelled_from_outside(exc))


def _run_sync(
    chain: tuple[tuple[str, Callable[..., Any]], ...], request: PluginRequest
) -> tuple[Any, str]:
    """Middleware, then the handler, in one worker thread: ``(answer, step)``."""
    last = len(chain) - 1
    for i, (name, fn) in enumerate(chain):
        try:
            value = fn(request)
        except BaseException as exc:  # sys.exit() in a plugin must not stop the server
            if must_propagate(exc):  # a worker thread: no task to be cancelled here
                raise
            raise _failure(name, exc) from exc
        if value is not None or i == last:
            return value, name
    raise AssertionError("unreachable: the chain ends with the handler")  # pragma: no cover


def _header(raw: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in raw:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def parse_body(
    raw: bytes,
    content_type: str | None,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_fields: int = 1000,
) -> Any:
    """JSON (``application/json``, ``*+json``, or untyped text that parses), form fields
    (``application/x-www-form-urlencoded``) or text; ``None`` for no or binary bodies.
    JSON goes through ``bodies.parse_json`` (400 past ``max_depth``), a form may have at
    most ``max_fields`` fields."""
    if not raw:
        return None
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == "application/json" or kind.endswith("+json"):
        return parse_json(raw, max_depth=max_depth)
    if kind == "application/x-www-form-urlencoded":
        try:
            fields = parse_qsl(
                raw.decode("latin-1"), keep_blank_values=True, max_num_fields=max_fields
            )
        except ValueError:
            raise ApiError(
                "INVALID_REQUEST",
                f"body: a form may have at most {max_fields} fields",
                {"reason": "too_many_fields", "where": "body", "limit": max_fields},
            ) from None
        return dict(fields)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not kind:
        stripped = text.lstrip()
        if not stripped or stripped[0] not in '[{"-0123456789tfn':
            return text
        try:
            return parse_json(text, max_depth=max_depth)
        except ApiError as exc:
            if exc.details.get("reason") == "invalid_json":
                return text  # untyped text that is not JSON stays text
            raise
    return text if kind.startswith("text/") else None


class Dispatcher:
    """Runs plugin endpoints for the server (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        router: Router,
        limiter: RateLimiter,
        auth: Authenticator | None,
        settings: WebSettings,
        services: Services | None = None,
    ) -> None:
        self.engine = engine
        self.router = router
        self.limiter = limiter
        self.auth = auth
        self.settings = settings
        self.services = services
        self.timeout = (
            settings.handler_timeout_s
            if settings.handler_timeout_s is not None
            else engine.default_timeout_ms / 1000.0
        )
        self.pool = DaemonPool(settings.worker_threads)
        self.calls: deque[EndpointCall] = deque(maxlen=settings.access_log_size)
        self.inflight: dict[str, int] = {}
        self._inflight_lock = threading.Lock()
        self._tag = os.urandom(3).hex()
        self._seq = itertools.count(1)

    def request_id(self) -> str:
        """A request id unique to this server: ``req-<tag>-<n>``."""
        return f"req-{self._tag}-{next(self._seq)}"

    async def in_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in the plugin thread pool."""
        return await asyncio.wrap_future(self.pool.submit(fn, *args))

    async def fire(
        self, hook: str, data: Any, user_id: str | None, request_id: str | None
    ) -> HookResult:
        """Fire ``hook`` off the event loop (sync handlers may block; async ones run on
        the engine's loop thread)."""

        def go() -> HookResult:
            return self.engine.fire(hook, data, user_id=user_id, request_id=request_id)

        try:
            result: HookResult = await asyncio.wait_for(self.in_thread(go), self.timeout)
        except TimeoutError:
            raise ApiError(
                "PLUGIN_TIMEOUT",
                f"the {hook} hook did not answer within {self.timeout:g} s",
                {"hook": hook, "timeout": self.timeout},
            ) from None
        return result

    def close(self) -> None:
        self.pool.shutdown()

    # ------------------------------------------------------------------ the pipeline
    async def handle(
        self,
        method: str,
        path: str,
        raw_headers: list[tuple[bytes, bytes]],
        query_string: bytes,
        read_body: Callable[[], Awaitable[bytes]],
        client: str | None,
        scheme: str = "http",
    ) -> Reply:
        """The reply to one request under ``/plugins/``."""
        now = time.time()
        rid = self.request_id()
        kind, route, found = self.router.match(method, path)
        if kind is not Match.FULL:
            if kind is Match.PARTIAL:
                allowed = ", ".join(found)
                error = ApiError(
                    "METHOD_NOT_ALLOWED",
                    f"{method} is not allowed on {path} (allowed: {allowed})",
                    {"allowed": found},
                    [("allow", allowed)],
                )
            else:
                error = ApiError("ROUTE_NOT_FOUND", f"no plugin endpoint serves {method} {path}")
            return self.error_reply(error, rid, now)
        extra: list[tuple[str, str]] = []
        try:
            if route.rate_limit is not None:
                limit = route.rate_limit
                decision = self.limiter.hit(route.key, limit.requests, limit.window, client, now)
                extra = limit_headers(decision)
                if not decision.allowed:
                    raise ApiError(
                        "RATE_LIMITED",
                        f"{route.key} allows {limit.requests} requests per {limit.window:g} s; "
                        f"retry in {decision.retry_after:.1f} s",
                        {"limit": limit.requests, "window": limit.window},
                    )
            return await self._serve(
                route,
                found,
                method,
                path,
                raw_headers,
                query_string,
                read_body,
                client,
                scheme,
                rid,
                now,
                extra,
            )
        except ApiError as exc:
            return self.error_reply(exc, rid, now, extra)

    async def _serve(
        self,
        route: Route,
        params: dict[str, Any],
        method: str,
        path: str,
        raw_headers: list[tuple[bytes, bytes]],
        query_string: bytes,
        read_body: Callable[[], Awaitable[bytes]],
        client: str | None,
        scheme: str,
        rid: str,
        now: float,
        extra: list[tuple[str, str]],
    ) -> Reply:
        identity: Identity | None = None
        token = bearer_token(_header(raw_headers, b"authorization"))
        auth = self.auth
        if token is not None:
            if auth is None:
                raise unauthorized("this server accepts no bearer tokens", "unknown")
            identity = await auth.identify(token, rid)
        rules = route.auth
        if rules.required or rules.roles or rules.permissions:
            Authenticator.check(identity, rules, route.key)
        if auth is not None:
            resource = {"pluginId": route.plugin_id, "endpoint": route.key, "params": params}
            await auth.authorize(identity, f"{method} {path}", resource, rid)
        raw = await read_body()
        body = parse_body(
            raw,
            _header(raw_headers, b"content-type"),
            max_depth=self.settings.max_json_depth,
            max_fields=self.settings.max_form_fields,
        )
        plugin = route.plugin
        meta = RequestMetadata(
            rid, now, identity.id if identity else None, _header(raw_headers, b"x-session-id")
        )
        services = self.services(plugin, meta) if self.services is not None else None
        request = PluginRequest(
            plugin,
            route.path,
            method,
            path,
            raw_headers,
            query_string,
            params,
            body,
            raw,
            meta,
            user=identity,
            client=client,
            scheme=scheme,
            extra=services,
        )
        if self.engine.handlers("api.request"):
            await self._rewrite_request(request)
        if route.validator is not None:
            found, request.params, request.query = route.validator.validate(
                request.params, request.query, request.body
            )
            if found:
                raise ApiError(
                    "VALIDATION_FAILED",
                    f"{method} {path}: {len(found)} validation error{'s' if len(found) > 1 else ''}"
                    f" ({found[0]['path']}: {found[0]['message']})",
                    problems(found),
                )
        return await self._call(route, request, extra)

    async def _call(
        self, route: Route, request: PluginRequest, extra: list[tuple[str, str]]
    ) -> Reply:
        plugin_id = route.plugin_id
        with self._inflight_lock:
            running = self.inflight.get(plugin_id, 0)
            if running >= self.settings.max_concurrency:
                raise overloaded(
                    f"plugin {plugin_id!r} already runs {running} endpoint calls "
                    f"(limit {self.settings.max_concurrency}); retry later",
                    self.settings.retry_after_s,
                    {"pluginId": plugin_id, "limit": self.settings.max_concurrency},
                )
            self.inflight[plugin_id] = running + 1
        stats = route.plugin.stats
        start = time.perf_counter()
        try:
            value, step = await self._run_chain(route, request)
            status, headers, body = check_response(value)
            payload = encode_body(body, headers)
        except _Failed as failed:
            wait = refused_by_host(failed.cause)
            if wait is not None:  # the host's limit, not the plugin's failure
                raise self._overloaded(route, request, failed, wait) from None
            self._count(
                stats,
                time.perf_counter() - start,
                failed=True,
                timeout=failed.kind is PluginErrorType.TIMEOUT_ERROR,
            )
            raise self._failed(route, request, failed) from None
        except ResponseProblem as exc:
            self._count(stats, time.perf_counter() - start, failed=True)
            wrong = _Failed(PluginErrorType.VALIDATION_ERROR, "PLUGIN_ERROR", step, str(exc))
            raise self._failed(route, request, wrong) from None
        duration = time.perf_counter() - start
        self._count(stats, duration, failed=False)
        if self.engine.handlers("api.response"):
            status, headers, body, payload = await self._rewrite_response(
                route, request, status, headers, body, payload, duration
            )
        self.calls.append(
            EndpointCall(
                request.metadata.timestamp,
                plugin_id,
                route.key,
                status,
                duration * 1000.0,
                request.metadata.request_id,
                request.metadata.user_id,
                None,
            )
        )
        headers.setdefault("x-request-id", request.metadata.request_id)
        return status, [*extra, *headers.items()], payload

    async def _run_chain(self, route: Route, request: PluginRequest) -> tuple[Any, str]:
        plugin_id = route.plugin_id
        if route.all_sync:
            future: Future[tuple[Any, str]] = self.pool.submit(_run_sync, route.chain, request)
            # The slot is given back when the thread ends, not when we stop waiting.
            future.add_done_callback(lambda _: self._release(plugin_id))
            try:
                # asyncio.timeout, not wait_for: no extra task and loop turns per request.
                async with asyncio.timeout(self.timeout):
                    value, step = await asyncio.wrap_future(future)
            except TimeoutError:
                raise self._timeout(route) from None
            if inspect.isawaitable(value):  # a sync function that returned a coroutine
                try:
                    async with asyncio.timeout(self.timeout):
                        value = await value
                except TimeoutError:
                    raise self._timeout(route) from None
                except BaseException as exc:  # sys.exit() would stop the server's loop
                    if not _contained(exc):
                        raise
                    raise _failure(step, exc) from exc
            return value, step
        try:
            async with asyncio.timeout(self.timeout):
                return await self._run_mixed(route, request)
        except TimeoutError:
            raise self._timeout(route) from None
        finally:
            self._release(plugin_id)

    async def _run_mixed(self, route: Route, request: PluginRequest) -> tuple[Any, str]:
        last = len(route.chain) - 1
        for i, (name, fn) in enumerate(route.chain):
            try:
                if inspect.iscoroutinefunction(fn):
                    value = await fn(request)
                else:
                    value = await self.in_thread(fn, request)
                    if inspect.isawaitable(value):
                        value = await value
            except BaseException as exc:  # sys.exit() would stop the server's loop
                if not _contained(exc):
                    raise
                raise _failure(name, exc) from exc
            if value is not None or i == last:
                return value, name
        raise AssertionError("unreachable")  # pragma: no cover

    def _timeout(self, route: Route) -> _Failed:
        return _Failed(
            PluginErrorType.TIMEOUT_ERROR,
            "PLUGIN_TIMEOUT",
            route.endpoint.handler,
            f"no answer within {self.timeout:g} s",
        )

    def _release(self, plugin_id: str) -> None:
        with self._inflight_lock:
            self.inflight[plugin_id] = max(0, self.inflight.get(plugin_id, 1) - 1)

    @staticmethod
    def _count(stats: Any, seconds: float, *, failed: bool, timeout: bool = False) -> None:
        stats.add_call(seconds)
        if failed:
            stats.failed(timeout)

    def _overloaded(
        self, route: Route, request: PluginRequest, failed: _Failed, wait: float
    ) -> ApiError:
        meta = request.metadata
        self.calls.append(
            EndpointCall(
                meta.timestamp,
                route.plugin_id,
                route.key,
                503,
                0.0,
                meta.request_id,
                meta.user_id,
                None,
            )
        )
        cause = str(getattr(failed.cause, "metadata", {}).get("cause") or "host_overload")
        if "overload" in cause:
            why = "the host is overloaded"
        elif "circuit" in cause:
            why = "its circuit breaker is open"
        else:
            why = f"the host did not run it: {cause}"
        return overloaded(
            f"plugin {route.plugin_id!r} could not run {route.key} now ({why}); retry later",
            wait or self.settings.retry_after_s,
            {"pluginId": route.plugin_id, "endpoint": route.key, "cause": cause},
        )

    def _failed(self, route: Route, request: PluginRequest, failed: _Failed) -> ApiError:
        rid = request.metadata.request_id
        error = PluginError(
            failed.kind,
            str(failed),
            plugin_id=route.plugin_id,
            hook=route.key,
            execution_id=rid,
            cause=failed.cause,
            metadata={
                "endpoint": route.key,
                "path": request.path,
                "step": failed.step,
                "requestId": rid,
                # what the sandbox asked for (quarantine after a violation), if anything
                **{
                    k: v
                    for k, v in getattr(failed.cause, "metadata", {}).items()
                    if k == "sandbox_action"
                },
            },
        )
        self.engine.record_error(error)
        status = 504 if failed.code == "PLUGIN_TIMEOUT" else 500
        self.calls.append(
            EndpointCall(
                request.metadata.timestamp,
                route.plugin_id,
                route.key,
                status,
                0.0,
                rid,
                request.metadata.user_id,
                error.id,
            )
        )
        # The plugin's own words stay in engine.errors (and the server log): a public
        # caller learns which plugin failed how, and the error id to ask about.
        log.warning(
            "web: plugin %r failed on %s (%s, error id %s, request %s): %s",
            route.plugin_id,
            route.key,
            failed.kind.value,
            error.id,
            rid,
            failed,
        )
        if self.settings.expose_plugin_errors:
            said = f": {failed}"
        else:
            said = f" ({failed.kind.value} in {failed.step}; error id {error.id})"
        return ApiError(
            failed.code,
            f"plugin {route.plugin_id!r} failed on {route.key}{said}",
            {
                "pluginId": route.plugin_id,
                "endpoint": route.key,
                "step": failed.step,
                "errorType": failed.kind.value,
                "errorId": error.id,
            },
        )

    # ------------------------------------------------------------------ hooks
    async def _rewrite_request(self, request: PluginRequest) -> None:
        meta = request.metadata
        value = (
            await self.fire("api.request", request.to_dict(), meta.user_id, meta.request_id)
        ).value
        if not isinstance(value, Mapping):
            return
        headers, query = value.get("headers"), value.get("query")
        if isinstance(headers, Mapping):
            request.headers = {str(k).lower(): str(v) for k, v in headers.items()}
        if isinstance(query, Mapping):
            request.query = {str(k): v for k, v in query.items()}
        if "body" in value:
            request.body = value["body"]

    async def _rewrite_response(
        self,
        route: Route,
        request: PluginRequest,
        status: int,
        headers: dict[str, str],
        body: Any,
        payload: bytes,
        duration: float,
    ) -> tuple[int, dict[str, str], Any, bytes]:
        meta = request.metadata
        record = response_record(
            status,
            headers,
            body,
            plugin_id=route.plugin_id,
            endpoint=route.path,
            request_id=meta.request_id,
            duration_ms=duration * 1000.0,
            timestamp=time.time(),
        )
        value = (await self.fire("api.response", record, meta.user_id, meta.request_id)).value
        if value is record or not isinstance(value, Mapping):
            return status, headers, body, payload
        try:
            wanted = {k: value[k] for k in ("status", "headers", "body") if k in value}
            new_status, new_headers, new_body = check_response(wanted)
            new_payload = encode_body(new_body, new_headers)
        except ResponseProblem as exc:
            route.plugin.logger.warning(f"api.response rewrite of {route.key} dropped: {exc}")
            return status, headers, body, payload
        return new_status, new_headers, new_body, new_payload

    # ------------------------------------------------------------------ replies
    @staticmethod
    def error_reply(
        error: ApiError, request_id: str, now: float, extra: list[tuple[str, str]] | None = None
    ) -> Reply:
        body = json.dumps(error.body(request_id, now), separators=(",", ":"), default=str)
        headers = [
            *(extra or ()),
            *error.headers,
            ("content-type", "application/json"),
            ("x-request-id", request_id),
        ]
        return error.status, headers, body.encode("utf-8")
