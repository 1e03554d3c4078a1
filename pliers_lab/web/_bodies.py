"""Request bodies: size limits enforced while reading, and the one JSON parser.

Every route has a body limit (``route_limits`` lists them): a declared ``Content-Length``
beyond it is refused with 413 before a byte is read, and a body without one (chunked)
is counted as it arrives and refused the moment it passes the limit, so the server
never holds more than the limit of one body. Routes that take no body have the limit 0.

Every JSON text a client sends (plugin endpoint bodies, management API bodies, the
``config`` field of an upload, the segments of a bearer token) goes through
``parse_json``: strict JSON (no ``NaN``/``Infinity``, no number out of float range, no
lone surrogate escape) nested at most ``max_depth`` arrays and objects deep. A violation
is a 400 whose ``details.reason`` says which rule was broken, never a 500: deep nesting
used to reach Python's recursion limit here or in whatever read the value next.

No web framework is needed here (plain ASGI callables).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ._error_envelope import ApiError

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "PayloadTooLarge",
    "declared_length",
    "limited_receive",
    "parse_json",
    "read_limited",
]

#: Arrays and objects nested inside each other, at most (``WebSettings.max_json_depth``).
DEFAULT_MAX_DEPTH = 64

Receive = Callable[[], Awaitable[Any]]

_SURROGATE = re.compile("[\ud800-\udfff]")


class PayloadTooLarge(ApiError):
    """413: the body of ``route`` is larger than ``limit`` bytes."""

    def __init__(self, route: str, limit: int, received: int | None, declared: int | None) -> None:
        if limit == 0:
            message = f"{route} takes no request body"
        elif declared is not None:
            message = f"the body of {route} may be at most {limit} bytes; {declared} were declared"
        else:
            message = f"the body of {route} may be at most {limit} bytes; more were sent"
        details: dict[str, Any] = {"route": route, "limit": limit}
        if declared is not None:
            details["declared"] = declared
        if received is not None:
            details["received"] = received
        super().__init__("PAYLOAD_TOO_LARGE", message, details)


def declared_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    """The ``Content-Length`` a request declares (None when it declares none)."""
    for name, value in headers:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:  # the HTTP server refuses these before we see them
                return None
    return None


def limited_receive(
    receive: Receive, limit: int, route: str, declared: int | None = None
) -> Receive:
    """``receive`` that raises ``PayloadTooLarge`` as soon as the body passes ``limit``
    bytes (at once when ``declared`` already does)."""
    size = 0

    async def checked() -> Any:
        nonlocal size
        if declared is not None and declared > limit:
            raise PayloadTooLarge(route, limit, None, declared)
        message = await receive()
        if message.get("type") == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise PayloadTooLarge(route, limit, size, declared)
        return message

    return checked


async def read_limited(
    receive: Receive, limit: int, route: str, declared: int | None = None
) -> bytes:
    """The whole body, at most ``limit`` bytes of it held (``PayloadTooLarge`` beyond)."""
    checked = limited_receive(receive, limit, route, declared)
    chunks: list[bytes] = []
    while True:
        message = await checked()
        if message.get("type") != "http.request":  # the client went away mid-body
            raise ApiError(
                "INVALID_REQUEST",
                "the client disconnected before the whole body arrived",
                {"reason": "disconnected"},
            )
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


# ---------------------------------------------------------------------- JSON
def _invalid(where: str, reason: str, message: str, **details: Any) -> ApiError:
    return ApiError(
        "INVALID_REQUEST", f"{where}: {message}", {"reason": reason, "where": where, **details}
    )


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _too_deep(where: str, max_depth: int) -> ApiError:
    return _invalid(
        where,
        "too_deep",
        f"JSON nested more than {max_depth} arrays/objects deep",
        maxDepth=max_depth,
    )


def _lone_surrogate(where: str) -> ApiError:
    return _invalid(
        where, "lone_surrogate", "a string holds a lone UTF-16 surrogate (\\ud800-\\udfff)"
    )


def _check(value: Any, max_depth: int, where: str) -> None:
    """Nesting depth and lone surrogates of a parsed value, without recursion."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and _SURROGATE.search(item):
                raise _lone_surrogate(where)
            continue
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
            for key in item:
                if not key.isascii() and _SURROGATE.search(key):
                    raise _lone_surrogate(where)
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth += 1
        if depth > max_depth:
            raise _too_deep(where, max_depth)
        stack.extend((child, depth) for child in children if isinstance(child, str | dict | list))


def parse_json(raw: bytes | str, *, max_depth: int = DEFAULT_MAX_DEPTH, where: str = "body") -> Any:
    """The JSON value of ``raw``, or a 400 ``ApiError`` saying what is wrong (module doc).

    ``where`` names the part in the message (``body``, ``config``, ``token header``).
    Bytes must be UTF-8 (RFC 8259 §8.1).
    """
    if isinstance(raw, bytes | bytearray | memoryview):
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _invalid(
                where, "invalid_utf8", f"not UTF-8 (byte {exc.start})", position=exc.start
            ) from None
    else:
        text = raw
    if not text.isascii() and _SURROGATE.search(text):
        raise _lone_surrogate(where)
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise _too_deep(where, max_depth) from None
    except json.JSONDecodeError as exc:
        raise _invalid(
            where,
            "invalid_json",
            f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
            line=exc.lineno,
            column=exc.colno,
        ) from None
    except ValueError as exc:  # NaN, Infinity, 1e999, an integer of more than 4300 digits
        raise _invalid(where, "invalid_json", f"not valid JSON: {exc}") from None
    # Fast path: a text with no more openers than the limit cannot nest deeper, and one
    # without a \u escape cannot hold a lone surrogate (checked above).
    if text.count("[") + text.count("{") > max_depth or "\\u" in text:
        _check(value, max_depth, where)
    return value
