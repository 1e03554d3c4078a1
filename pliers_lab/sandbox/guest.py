"""What plugin code sees inside a worker: ``pliers_lab`` names, the context, ``ctx.api``.

The worker must not import the real ``pliers_lab`` (pydantic and the engine cost ~100 ms
and would need read access to the project). Plugins import ``hook``, ``HookContext``,
``Veto``… from ``pliers_lab``; this module provides a stand-in with the same behaviour for
what a handler can touch, and everything a handler does with the host goes over the wire.
"""

from __future__ import annotations

import _thread
import sys
import time
import types

TYPE_CHECKING = False  # not typing's: the worker must not pay for importing typing
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Send = Callable[[dict[str, Any]], None]

__all__ = ["GuestContext", "PluginError", "PluginErrorType", "Veto", "install_shim"]


class PluginErrorType:
    """The spec's error types, as strings (the host maps them back)."""

    LOAD_ERROR = "load_error"
    INIT_ERROR = "init_error"
    RUNTIME_ERROR = "runtime_error"
    CONFIG_ERROR = "config_error"
    DEPENDENCY_ERROR = "dependency_error"
    SECURITY_ERROR = "security_error"
    RESOURCE_ERROR = "resource_error"
    TIMEOUT_ERROR = "timeout_error"
    VALIDATION_ERROR = "validation_error"


class PluginError(Exception):
    """Raised by plugin code (or by ``ctx.api`` for a refused request)."""

    def __init__(self, type: str, message: str = "", **extra: Any) -> None:
        super().__init__(message)
        self.type = str(getattr(type, "value", type))
        self.message = message
        self.metadata = extra


class Veto:
    """Returned by a veto hook's handler to refuse, with a reason (crosses as a dict)."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"Veto({self.reason!r})"


def hook(name: str) -> Callable[[Any], Any]:
    """Mark a function as the handler for hook ``name`` (same contract as the engine's)."""
    if not isinstance(name, str) or "." not in name:
        raise ValueError(f"@hook({name!r}): not a hook name (expected e.g. 'form.validate')")

    def mark(fn: Any) -> Any:
        marked = getattr(fn, "__pliers_hooks__", ())
        if name not in marked:
            fn.__pliers_hooks__ = (*marked, name)
        return fn

    return mark


class Logger:
    """``ctx.logger`` / ``plugin.logger``: entries travel to the host's log store."""

    __slots__ = ("_hook", "_send")

    def __init__(self, send: Send, hook: str | None = None) -> None:
        self._send = send
        self._hook = hook

    def _log(self, level: str, message: Any, fields: dict[str, Any]) -> None:
        clean = {
            str(k): v if isinstance(v, str | int | float | bool | None) else repr(v)
            for k, v in fields.items()
        }
        self._send({"t": "log", "level": level, "msg": str(message)[:10_000], "fields": clean})

    def debug(self, message: Any, **fields: Any) -> None:
        self._log("debug", message, fields)

    def info(self, message: Any, **fields: Any) -> None:
        self._log("info", message, fields)

    def warning(self, message: Any, **fields: Any) -> None:
        self._log("warning", message, fields)

    warn = warning

    def error(self, message: Any, **fields: Any) -> None:
        self._log("error", message, fields)

    def bind(self, hook: str | None = None, execution_id: str | None = None) -> Logger:
        return self


#: The outputs written to since the worker last reset them (``Output.write`` adds one on its
#: first write, the worker resets and flushes those around each call): a call that prints
#: nothing costs no walk over the outputs.
TOUCHED: list[Output] = []


class Output:
    """``sys.stdout``/``sys.stderr`` in the worker: lines become capped log entries."""

    def __init__(self, send: Send, level: str, cap: int) -> None:
        self._send = send
        self._level = level
        self._cap = cap
        self._used = 0
        self._line = ""

    def reset(self) -> None:
        self._used = 0

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if self._used >= self._cap:
            return len(text)
        if not self._used:
            TOUCHED.append(self)
        chunk = text[: self._cap - self._used]
        self._used += len(chunk)
        self._line += chunk
        if "\n" in self._line or len(self._line) > 4096 or self._used >= self._cap:
            line, self._line = self._line, ""
            if self._used >= self._cap:
                line += f"\n[output truncated at {self._cap} characters]"
            self._send({"t": "log", "level": self._level, "msg": line.rstrip("\n"), "fields": {}})
        return len(text)

    def flush(self) -> None:
        if self._line:
            line, self._line = self._line, ""
            self._send({"t": "log", "level": self._level, "msg": line, "fields": {}})

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise OSError("the worker's output is not a file")


class LocalCache:
    """``ctx.api.cache`` in a worker: kept in the worker (a round trip would cost more)."""

    def __init__(self, max_entries: int = 1000) -> None:
        self._data: dict[str, tuple[float | None, Any]] = {}
        self._max = max_entries

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        if len(self._data) >= self._max and key not in self._data:
            self._data.pop(next(iter(self._data)))
        self._data[key] = (time.monotonic() + ttl if ttl else None, value)

    def get(self, key: str, default: Any = None) -> Any:
        entry = self._data.get(key)
        if entry is None or (entry[0] is not None and entry[0] < time.monotonic()):
            self._data.pop(key, None)
            return default
        return entry[1]

    def invalidate(self, pattern: str = "*") -> int:
        from fnmatch import fnmatchcase

        gone = [k for k in self._data if fnmatchcase(k, pattern)]
        for k in gone:
            del self._data[k]
        return len(gone)

    def __len__(self) -> int:
        return len(self._data)


class _Service:
    """``ctx.api.<service>``: every method call is a request to the host."""

    __slots__ = ("_call", "_name")

    def __init__(self, name: str, call: Callable[..., Any]) -> None:
        self._name = name
        self._call = call

    def __getattr__(self, op: str) -> Callable[..., Any]:
        if op.startswith("_"):
            raise AttributeError(op)
        name, call = self._name, self._call

        def request(*args: Any, **kwargs: Any) -> Any:
            return call(name, op, list(args), kwargs)

        request.__name__ = op
        return request

    def __repr__(self) -> str:
        return f"<host service {self._name} (over the wire)>"


class Events(_Service):
    """``ctx.api.events``: publishing is a request; a subscription's handler stays here.

    ``subscribe`` keeps the handler in ``handlers`` under a number and asks the host to
    subscribe that number; the host then sends each matching event as an ``event`` frame,
    which the worker runs like a call.
    """

    __slots__ = ("_handlers", "_numbers", "_seq")

    def __init__(self, call: Callable[..., Any], handlers: dict[int, Any]) -> None:
        super().__init__("events", call)
        self._handlers = handlers
        self._numbers: dict[str, int] = {}
        self._seq = 0

    def subscribe(self, pattern: str, handler: Any, *, priority: int = 100) -> str:
        """Receive events whose type matches ``pattern``; returns the subscription id."""
        if not callable(handler):
            raise TypeError(f"an event handler must be callable, got {type(handler).__name__}")
        self._seq += 1
        number = self._seq
        self._handlers[number] = handler
        try:
            sub_id = self._call(
                "events", "subscribe", [pattern], {"priority": priority, "callback": number}
            )
        except BaseException:
            del self._handlers[number]
            raise
        self._numbers[str(sub_id)] = number
        return str(sub_id)

    on = subscribe

    def unsubscribe(self, subscription_id: str) -> bool:
        done = bool(self._call("events", "unsubscribe", [subscription_id], {}))
        number = self._numbers.pop(str(subscription_id), None)
        if number is not None:
            self._handlers.pop(number, None)
        return done


class Api:
    """``ctx.api``: host services by name; ``cache`` and event handlers stay in the worker."""

    def __init__(
        self, call: Callable[..., Any], cache: LocalCache, handlers: dict[int, Any] | None = None
    ) -> None:
        self._request = call
        self.cache = cache
        self.events = Events(call, {} if handlers is None else handlers)

    def __getattr__(self, name: str) -> _Service:
        if name.startswith("_"):
            raise AttributeError(name)
        return _Service(name, self._request)


class PluginView:
    """What lifecycle handlers receive as ``plugin``: id, version, config, logger."""

    def __init__(self, info: dict[str, Any], logger: Logger, api: Api) -> None:
        self.id: str = info["name"]
        self.version = info["version"]
        self.key = f"{self.id}@{self.version}"
        self.config: dict[str, Any] = {}
        self.logger = logger
        self.api = api
        self.data_dir = info.get("data_dir")
        self.state = "active"


class GuestContext:
    """The worker's ``HookContext``: the same attributes a handler uses inline.

    Built for every call, so it stores the frame's parts and answers the rest from them
    when asked (most handlers read ``data`` and little else).
    """

    __slots__ = ("_meta", "_plugin", "_state", "data", "event", "hook")

    def __init__(self, msg: dict[str, Any], plugin: PluginView) -> None:
        self.hook: str = msg["hook"]
        self.data = msg.get("data")
        self.event = msg.get("event")
        self._state: dict[str, Any] | None = msg.get("state")
        self._meta: dict[str, Any] = msg.get("meta") or {}
        self._plugin = plugin

    @property
    def state(self) -> dict[str, Any]:
        """State shared by the handlers of this execution (the host's, both ways)."""
        state = self._state
        if state is None:
            state = self._state = {}
        return state

    @property
    def config(self) -> dict[str, Any]:
        return self._plugin.config

    @property
    def logger(self) -> Logger:
        return self._plugin.logger

    @property
    def api(self) -> Api:
        return self._plugin.api

    @property
    def plugin_id(self) -> str:
        return self._plugin.id

    @property
    def execution_id(self) -> str | None:
        return self._meta.get("executionId")

    @property
    def timestamp(self) -> float | None:
        return self._meta.get("timestamp")

    @property
    def user_id(self) -> str | None:
        return self._meta.get("userId")

    @property
    def session_id(self) -> str | None:
        return self._meta.get("sessionId")

    @property
    def request_id(self) -> str | None:
        return self._meta.get("requestId")

    @property
    def trace_id(self) -> str | None:
        return self._meta.get("traceId")

    @property
    def metadata(self) -> types.SimpleNamespace:
        """Execution id, start time, user, session, request and trace ids."""
        meta = self._meta
        return types.SimpleNamespace(
            execution_id=self.execution_id,
            timestamp=self.timestamp,
            user_id=self.user_id,
            session_id=self.session_id,
            request_id=self.request_id,
            trace_id=self.trace_id,
            to_dict=lambda: dict(meta),
        )

    @property
    def plugin(self) -> PluginView:
        return self._plugin

    def __repr__(self) -> str:
        return f"<HookContext {self.hook} {self.execution_id} plugin={self.plugin_id!r} (worker)>"


class RequestApi:
    """``request.api`` in a worker: ``ctx.api`` plus the request-scoped services the host
    offers for this call (``create_submission``...), called by name over the wire."""

    __slots__ = ("_base", "_call", "_offers", "_services")

    def __init__(
        self, base: Api, call: Callable[..., Any], services: list[str], offers: list[str]
    ) -> None:
        self._base = base
        self._call = call
        self._services = frozenset(services)
        self._offers = frozenset(offers)

    def offers(self, name: str) -> bool:
        """Whether ``api.<name>`` is available (without raising when it is not)."""
        return name in self._offers

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._services:
            call = self._call

            def service(*args: Any, **kwargs: Any) -> Any:
                return call("request", name, list(args), kwargs)

            service.__name__ = name
            return service
        return getattr(self._base, name)


class GuestRequest:
    """What an endpoint's middleware and handler receive in a worker (the host's
    ``PluginRequest``, rebuilt from its request record)."""

    __slots__ = (
        "api",
        "body",
        "client",
        "config",
        "endpoint",
        "headers",
        "logger",
        "metadata",
        "method",
        "params",
        "path",
        "plugin",
        "plugin_id",
        "query",
        "raw_body",
        "scheme",
        "state",
        "user",
    )

    def __init__(
        self,
        record: dict[str, Any],
        state: dict[str, Any],
        plugin: PluginView,
        services: list[str] | None = None,
        offers: list[str] | None = None,
    ) -> None:
        import binascii

        meta = record.get("metadata") or {}
        user = record.get("user")
        self.plugin = plugin
        self.plugin_id = plugin.id
        self.config = plugin.config
        self.logger = plugin.logger
        self.api = RequestApi(plugin.api, plugin.api._request, services or [], offers or [])
        self.endpoint = record.get("endpoint")
        self.method = record.get("method")
        self.path = record.get("path")
        self.headers: dict[str, str] = record.get("headers") or {}
        self.query: dict[str, Any] = record.get("query") or {}
        self.params: dict[str, Any] = record.get("params") or {}
        self.raw_body = binascii.a2b_base64(record.get("rawBody") or "")
        self.body = self.raw_body if record.get("bodyIsRaw") else record.get("body")
        self.metadata = types.SimpleNamespace(
            request_id=meta.get("requestId"),
            user_id=meta.get("userId"),
            session_id=meta.get("sessionId"),
            timestamp=meta.get("timestamp"),
        )
        self.user = types.SimpleNamespace(**user) if isinstance(user, dict) else None
        self.state = state
        self.scheme = record.get("scheme") or "http"
        self.client = record.get("client")

    @property
    def base_url(self) -> str:
        """``scheme://host`` as the client addressed the server (from ``Host``)."""
        return f"{self.scheme}://{self.headers.get('host', 'localhost')}"

    def __repr__(self) -> str:
        return f"<PluginRequest {self.method} {self.path} (worker)>"


BYTES_KEY = "$bytes"


def response_out(value: Any) -> Any:
    """A response record whose ``body`` is bytes crosses as ``{"$bytes": base64}``."""
    if isinstance(value, dict) and isinstance(value.get("body"), bytes | bytearray):
        import binascii

        encoded = binascii.b2a_base64(bytes(value["body"]), newline=False).decode("ascii")
        return {**value, "body": {BYTES_KEY: encoded}}
    return value


def install_shim() -> types.ModuleType:
    """Register the stand-in ``pliers_lab`` module plugins import from."""
    shim = types.ModuleType("pliers_lab", "pliers_lab as seen from inside a sandbox worker")
    for name, value in {
        "hook": hook,
        "HookContext": GuestContext,
        "Plugin": PluginView,
        "Veto": Veto,
        "PluginError": PluginError,
        "PluginErrorType": PluginErrorType,
        "__version__": "0.1.0",
    }.items():
        setattr(shim, name, value)
    sys.modules["pliers_lab"] = shim
    return shim


def wire_lock() -> Any:
    """A lock without importing ``threading`` (frames from several threads must not mix)."""
    return _thread.allocate_lock()
