"""The request and response records of plugin endpoints (related-facts §5).

A handler (and each middleware) is called with one ``PluginRequest`` and returns a
response record: a mapping ``{"status": int, "headers": {str: str}, "body": ...}``
(``headers`` and ``body`` optional). A middleware returns ``None`` to pass the request
on, or a response record to answer instead of the handler.

``PluginRequest`` carries the specification's fields as attributes (``plugin_id``,
``endpoint``, ``method``, ``headers``, ``query``, ``params``, ``body``, ``metadata``)
and ``to_dict()`` gives the record with its JSON names; a process sandbox sends that.
Besides them: ``path`` (the concrete path), ``raw_body`` (the exact bytes, for
signatures), ``user`` (the ``Identity`` or ``None``), ``state`` (a dict shared by the
middleware and the handler of one request), ``base_url``, and the plugin's ``config``,
``logger`` and ``api`` (``api.create_submission`` is added when the server has a host).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, final
from urllib.parse import parse_qsl

from ._error_envelope import iso

if TYPE_CHECKING:
    from ..observe.logs import PluginLogger
    from ..plugin import Plugin
    from ._auth import Identity

__all__ = [
    "PluginRequest",
    "RequestAPI",
    "RequestMetadata",
    "ResponseProblem",
    "check_response",
    "encode_body",
    "response_record",
]

RawHeaders = list[tuple[bytes, bytes]]


@final
class RequestMetadata:
    """``metadata{requestId, userId, sessionId, timestamp}`` of a request record."""

    __slots__ = ("request_id", "session_id", "timestamp", "user_id")

    def __init__(
        self,
        request_id: str,
        timestamp: float,
        user_id: str | None = None,
        session_id: str | None = None,
    ) -> None:
        self.request_id = request_id
        self.timestamp = timestamp
        self.user_id = user_id
        self.session_id = session_id

    def to_dict(self) -> dict[str, Any]:
        return {
            "requestId": self.request_id,
            "userId": self.user_id,
            "sessionId": self.session_id,
            "timestamp": iso(self.timestamp),
        }


@final
class RequestAPI:
    """``request.api``: the plugin's ``context.api`` plus request-scoped services."""

    __slots__ = ("_base", "_extra")

    def __init__(self, base: Any, extra: Mapping[str, Any]) -> None:
        self._base = base
        self._extra = extra

    def offers(self, name: str) -> bool:
        """Whether ``api.<name>`` is available (without raising when it is not)."""
        if name in self._extra or name == "cache":
            return True
        services = getattr(self._base, "_services", None)
        return isinstance(services, Mapping) and name in services

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._extra:
            return self._extra[name]
        return getattr(self._base, name)


@final
class PluginRequest:
    """What an endpoint's middleware and handler receive (see the module docstring)."""

    __slots__ = (
        "_extra",
        "_headers",
        "_query",
        "_query_string",
        "_raw_headers",
        "body",
        "client",
        "endpoint",
        "metadata",
        "method",
        "params",
        "path",
        "plugin",
        "plugin_id",
        "raw_body",
        "scheme",
        "state",
        "user",
    )

    def __init__(
        self,
        plugin: Plugin,
        endpoint: str,
        method: str,
        path: str,
        raw_headers: RawHeaders,
        query_string: bytes,
        params: dict[str, Any],
        body: Any,
        raw_body: bytes,
        metadata: RequestMetadata,
        *,
        user: Identity | None = None,
        client: str | None = None,
        scheme: str = "http",
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.plugin = plugin
        self.plugin_id = plugin.id
        self.endpoint = endpoint
        self.method = method
        self.path = path
        self._raw_headers = raw_headers
        self._headers: dict[str, str] | None = None
        self._query_string = query_string
        self._query: dict[str, Any] | None = None
        self.params = params
        self.body = body
        self.raw_body = raw_body
        self.metadata = metadata
        self.user = user
        self.client = client
        self.scheme = scheme
        self.state: dict[str, Any] = {}
        self._extra = extra or {}

    @property
    def headers(self) -> dict[str, str]:
        """Lower-case names; repeated headers joined with ``", "`` (built on first use)."""
        if self._headers is None:
            headers: dict[str, str] = {}
            for raw_name, raw_value in self._raw_headers:
                name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
                headers[name] = f"{headers[name]}, {value}" if name in headers else value
            self._headers = headers
        return self._headers

    @headers.setter
    def headers(self, value: dict[str, str]) -> None:
        self._headers = value

    @property
    def query(self) -> dict[str, Any]:
        """Query parameters (the last of repeated names wins), converted by the schema."""
        if self._query is None:
            self._query = dict(
                parse_qsl(self._query_string.decode("latin-1"), keep_blank_values=True)
            )
        return self._query

    @query.setter
    def query(self, value: dict[str, Any]) -> None:
        self._query = value

    @property
    def base_url(self) -> str:
        """``scheme://host`` as the client addressed the server (from ``Host``)."""
        return f"{self.scheme}://{self.headers.get('host', 'localhost')}"

    @property
    def config(self) -> dict[str, Any]:
        return self.plugin.config

    @property
    def logger(self) -> PluginLogger:
        return self.plugin.logger.bind(f"{self.method} {self.endpoint}", self.metadata.request_id)

    @property
    def api(self) -> RequestAPI:
        return RequestAPI(self.plugin.api, self._extra)

    def to_dict(self) -> dict[str, Any]:
        """The specification's request record (plus ``path`` and base64 ``rawBody``)."""
        return {
            "pluginId": self.plugin_id,
            "endpoint": self.endpoint,
            "method": self.method,
            "path": self.path,
            "headers": dict(self.headers),
            "query": dict(self.query),
            "params": dict(self.params),
            "body": self.body,
            "rawBody": base64.b64encode(self.raw_body).decode("ascii"),
            "metadata": self.metadata.to_dict(),
            "user": self.user.to_dict() if self.user else None,
        }

    def __repr__(self) -> str:
        return f"<PluginRequest {self.method} {self.path} {self.metadata.request_id}>"


class ResponseProblem(ValueError):
    """A handler's answer is not a response record (the message says why)."""


_KEYS = frozenset({"status", "headers", "body"})
_FORBIDDEN = frozenset({"content-length", "transfer-encoding", "connection"})


def check_response(value: Any) -> tuple[int, dict[str, str], Any]:
    """``(status, headers, body)`` of a response record, or ``ResponseProblem``."""
    if not isinstance(value, Mapping):
        raise ResponseProblem(
            f"returned {type(value).__name__} {value!r:.80}, not a response record "
            '{"status": int, "headers": {...}, "body": ...}'
        )
    extra = set(value) - _KEYS
    if extra:
        raise ResponseProblem(
            f"response record has unknown keys {', '.join(sorted(map(str, extra)))} "
            "(allowed: status, headers, body)"
        )
    status = value.get("status")
    if type(status) is not int or not 100 <= status <= 599:
        raise ResponseProblem(f"response status must be an int from 100 to 599, got {status!r:.40}")
    headers = value.get("headers") or {}
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise ResponseProblem(f"response headers must map str to str, got {headers!r:.80}")
    bad = [
        k
        for k in headers
        if k.lower() in _FORBIDDEN or "\n" in k + headers[k] or "\r" in k + headers[k]
    ]
    if bad:
        raise ResponseProblem(f"response headers {', '.join(bad)} may not be set by a plugin")
    return status, {k.lower(): v for k, v in headers.items()}, value.get("body")


_dumps: Callable[[Any], str] = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":")
).encode


def encode_body(body: Any, headers: dict[str, str]) -> bytes:
    """The bytes of ``body``: bytes as given, text as given when the plugin set a
    non-JSON content type, anything else as JSON (``ResponseProblem`` if it is not JSON).
    Sets ``content-type`` in ``headers`` when the plugin did not."""
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray):
        headers.setdefault("content-type", "application/octet-stream")
        return bytes(body)
    kind = headers.get("content-type", "")
    if isinstance(body, str) and kind and "json" not in kind:
        return body.encode("utf-8")
    try:
        data = _dumps(body).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ResponseProblem(f"response body is not JSON data: {exc}") from None
    headers.setdefault("content-type", "application/json")
    return data


def response_record(
    status: int,
    headers: Mapping[str, str],
    body: Any,
    *,
    plugin_id: str,
    endpoint: str,
    request_id: str,
    duration_ms: float,
    timestamp: float,
) -> dict[str, Any]:
    """The specification's response record."""
    return {
        "status": status,
        "headers": dict(headers),
        "body": body,
        "duration": duration_ms,
        "pluginId": plugin_id,
        "endpoint": endpoint,
        "metadata": {"requestId": request_id, "timestamp": iso(timestamp), "cached": False},
    }
