"""Request and response records without a server."""

from __future__ import annotations

import pytest
from web.helpers import endpoint_manifest, ok

from pliers_lab import Engine
from pliers_lab.web._messages import (
    PluginRequest,
    RequestMetadata,
    ResponseProblem,
    check_response,
    encode_body,
)


def test_response_record_rules() -> None:
    assert check_response({"status": 201, "headers": {"X-A": "1"}, "body": [1]}) == (
        201,
        {"x-a": "1"},
        [1],
    )
    assert check_response({"status": 204}) == (204, {}, None)
    for bad, words in [
        ({"items": []}, "status"),
        ({"status": "200"}, "status"),
        ({"status": 600}, "status"),
        ({"status": True}, "status"),
        ({"status": 200, "extra": 1}, "unknown keys extra"),
        ({"status": 200, "headers": {"a": 1}}, "headers"),
        ({"status": 200, "headers": {"Content-Length": "3"}}, "may not be set"),
        ({"status": 200, "headers": {"x": "a\r\nSet-Cookie: y"}}, "may not be set"),
        (None, "NoneType"),
        ("hello", "str"),
    ]:
        with pytest.raises(ResponseProblem, match=words):
            check_response(bad)


def test_body_encoding() -> None:
    headers: dict[str, str] = {}
    assert encode_body({"é": 1}, headers) == '{"é":1}'.encode()
    assert headers["content-type"] == "application/json"
    headers = {"content-type": "text/plain"}
    assert encode_body("plain", headers) == b"plain"
    headers = {}
    assert encode_body(b"\x00\x01", headers) == b"\x00\x01"
    assert headers["content-type"] == "application/octet-stream"
    assert encode_body(None, {}) == b""
    with pytest.raises(ResponseProblem, match="JSON"):
        encode_body({"x": object()}, {})
    with pytest.raises(ResponseProblem, match="JSON"):
        encode_body(float("nan"), {})


def test_request_record(engine: Engine) -> None:
    plugin = engine.add_plugin(
        endpoint_manifest("rec", [{"path": "/plugins/rec/:id", "method": "POST", "handler": "h"}]),
        {"h": lambda request: ok()},
    )
    request = PluginRequest(
        plugin,
        "/plugins/rec/:id",
        "POST",
        "/plugins/rec/7",
        [(b"Host", b"example.org:8080"), (b"X-Multi", b"a"), (b"x-multi", b"b")],
        b"q=1&q=2&empty=",
        {"id": "7"},
        {"a": 1},
        b'{"a":1}',
        RequestMetadata("req-1", 1700000000.0, "ann"),
    )
    assert request.headers == {"host": "example.org:8080", "x-multi": "a, b"}
    assert request.query == {"q": "2", "empty": ""}
    assert request.base_url == "http://example.org:8080"
    record = request.to_dict()
    assert record["pluginId"] == "rec" and record["endpoint"] == "/plugins/rec/:id"
    assert record["metadata"] == {
        "requestId": "req-1",
        "userId": "ann",
        "sessionId": None,
        "timestamp": "2023-11-14T22:13:20.000Z",
    }
    assert record["rawBody"] == "eyJhIjoxfQ=="
    assert request.config == plugin.config
    assert request.api.offers("cache") and not request.api.offers("create_submission")
