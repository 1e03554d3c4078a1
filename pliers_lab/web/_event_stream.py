"""``/v3/events``: the engine's activity feed over a websocket (spec REST API, WebSocket).

Connect with the management API's bearer token (``Authorization`` header, or ``?token=``
for browsers, which cannot set headers on a websocket). Query parameters narrow the
stream: ``plugins=a,b`` (default every plugin), ``types=plugin.error.occurred,...``
(default every type of ``observe.activity.EVENT_TYPES``) and ``metricsInterval`` (seconds
between ``plugin.metrics.updated`` events, default 10, 0 for none).

The first message is ``{"type": "stream.opened", "data": {...}}`` with the filters in
force: the subscription is live from then on. Each event is ``{type, pluginId, data,
timestamp}``. A client that reads slower than events come loses the excess, never the
server's memory: the queue holds ``QUEUE_SIZE`` events and a ``stream.lagged`` message says
how many were dropped. Refusals close the socket with a 44xx code whose reason says why
(4400 bad parameters, 4401 no or bad token, 4403 role missing, 4429 too many streams
open: ``WebSettings.max_event_streams``), right after the handshake.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from ..observe.activity import EVENT_TYPES
from ._auth import bearer_token
from ._error_envelope import ApiError

if TYPE_CHECKING:
    from starlette.websockets import WebSocket

    from ._state import WebState

__all__ = ["QUEUE_SIZE", "events_socket"]

QUEUE_SIZE = 1000
_METRICS_DEFAULT_S = 10.0


class _Refused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def _listed(raw: str | None) -> tuple[str, ...]:
    return tuple(x.strip() for x in (raw or "").split(",") if x.strip())


def _filters(websocket: WebSocket) -> tuple[tuple[str, ...], tuple[str, ...], float]:
    params = websocket.query_params
    plugins = _listed(params.get("plugins"))
    types = _listed(params.get("types"))
    unknown = [t for t in types if t not in EVENT_TYPES]
    if unknown:
        raise _Refused(4400, f"unknown event types {', '.join(unknown)} (see EVENT_TYPES)")
    raw = params.get("metricsInterval")
    try:
        interval = float(raw) if raw is not None else _METRICS_DEFAULT_S
    except ValueError:
        raise _Refused(4400, f"metricsInterval must be seconds, got {raw!r}") from None
    if interval and not 0.1 <= interval <= 3600:
        raise _Refused(4400, f"metricsInterval must be 0 or 0.1 to 3600 seconds, got {raw}")
    return plugins, types, interval


async def _authenticate(websocket: WebSocket, state: WebState) -> None:
    if not state.settings.management_auth:
        return
    token = bearer_token(websocket.headers.get("authorization")) or websocket.query_params.get(
        "token"
    )
    if not token:
        raise _Refused(4401, "the event stream needs the management API's bearer token")
    rid = state.dispatcher.request_id()
    try:
        identity = await state.auth.identify(token, rid)
    except ApiError as exc:
        raise _Refused(4401, exc.message[:120]) from None
    roles = state.settings.admin_roles
    if roles and not set(roles) & set(identity.roles):
        raise _Refused(4403, f"the event stream needs one of the roles {', '.join(roles)}")


async def events_socket(websocket: WebSocket) -> None:
    """Stream activity events until the client goes (module docstring)."""
    state: WebState = websocket.app.state.pliers
    try:
        plugins, types, interval = _filters(websocket)
        await _authenticate(websocket, state)
        if state.event_streams >= state.settings.max_event_streams:
            raise _Refused(
                4429,
                f"{state.event_streams} event streams are open, the most this server "
                "allows (WebSettings.max_event_streams)",
            )
    except _Refused as refused:
        # Accepted first: a socket closed during the handshake reaches the client as a
        # bare HTTP 403, without the code and reason that say what was wrong.
        await websocket.accept()
        # A close frame carries at most 123 bytes of reason.
        reason = refused.reason.encode()[:123].decode(errors="ignore")
        await websocket.close(code=refused.code, reason=reason)
        return
    await websocket.accept()
    state.event_streams += 1
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
    dropped = 0

    def offer(event: dict[str, Any]) -> None:  # on the loop
        nonlocal dropped
        if queue.full():
            dropped += 1
        else:
            queue.put_nowait(event)

    def listener(event: dict[str, Any]) -> None:  # on whichever thread made the change
        if (not plugins or event["pluginId"] in plugins) and (not types or event["type"] in types):
            loop.call_soon_threadsafe(offer, event)

    engine = state.engine
    stops = [engine.activity.subscribe(listener)]
    if not types or "plugin.log" in types:
        stops.append(engine.logs.subscribe(lambda entry: _log_event(state, entry, listener)))
    closed = asyncio.Event()
    reader = asyncio.create_task(_until_closed(websocket, closed, queue))
    try:
        opened = {"plugins": list(plugins), "types": list(types or EVENT_TYPES)}
        await websocket.send_json(
            {"type": "stream.opened", "data": opened | {"metricsInterval": interval}}
        )
        while not closed.is_set():
            try:
                event = await asyncio.wait_for(queue.get(), interval or None)
            except TimeoutError:
                for message in _metrics(state, plugins):
                    await websocket.send_json(message)
                continue
            if event is _CLOSED:
                break
            if dropped:
                await websocket.send_json({"type": "stream.lagged", "data": {"dropped": dropped}})
                dropped = 0
            await websocket.send_json(event)
    except (Exception, asyncio.CancelledError):
        # The client went away mid-send, or the server is stopping: nothing to tell.
        pass
    finally:
        state.event_streams -= 1
        for stop in stops:
            stop()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


_CLOSED: dict[str, Any] = {"type": "stream.closed"}


async def _until_closed(
    websocket: WebSocket, closed: asyncio.Event, queue: asyncio.Queue[dict[str, Any]]
) -> None:
    try:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass  # the stream is one-way: what a client sends is ignored
    finally:
        closed.set()
        if queue.full():  # wake the sender, whatever it waits for
            queue.get_nowait()
        queue.put_nowait(_CLOSED)


def _log_event(state: WebState, entry: Any, listener: Any) -> None:
    """Log entries of plugins in dev mode, as ``plugin.log`` events (debug ones only with
    ``debugMode``)."""
    mode = state.dev_modes.get(entry.plugin_id)
    if mode is None or (entry.level == "debug" and not mode.debug_mode):
        return
    listener(
        {
            "type": "plugin.log",
            "pluginId": entry.plugin_id,
            "data": {
                "level": entry.level,
                "message": entry.message,
                "hook": entry.hook,
                "executionId": entry.execution_id,
                "fields": dict(entry.fields or {}),
            },
            "timestamp": entry.timestamp,
        }
    )


def _metrics(state: WebState, plugins: tuple[str, ...]) -> list[dict[str, Any]]:
    import time

    engine = state.engine
    out = []
    for plugin in list(engine.plugins):
        if plugins and plugin.id not in plugins:
            continue
        try:
            metrics = engine.metrics(plugin.id).to_dict()
        except Exception:  # unloaded meanwhile
            continue
        out.append(
            {
                "type": "plugin.metrics.updated",
                "pluginId": plugin.id,
                "data": metrics,
                "timestamp": time.time(),
            }
        )
    return out
