"""Issue 14 §2: hostile input gets a 4xx, never a 500 — one regression test per finding.

Each test here failed on c6d1737 (the commit the fuzzing was done against) and passes
now. They drive a real server on loopback with httpx, raw sockets and a websocket client.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from web.helpers import (
    PeakRSS,
    deep_json,
    folder_plugin,
    ok,
    recursion_token,
)
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from pliers_lab import Engine, PluginError, PluginErrorType

KIB, MIB = 1 << 10, 1 << 20

#: The body limit of every management route, as the README documents it.
MANAGEMENT_LIMITS = {
    ("GET", "/v3/plugins"): 0,
    ("POST", "/v3/plugins"): 256 * KIB,  # JSON; a multipart upload: the upload limit
    ("POST", "/v3/plugins/validate"): 64 * MIB + 64 * KIB,
    ("GET", "/v3/endpoints"): 0,
    ("GET", "/v3/metrics"): 0,
    ("GET", "/v3/marketplace/search"): 0,
    ("GET", "/v3/marketplace/plugins/{id}"): 0,
    ("GET", "/v3/plugins/{id}"): 0,
    ("PUT", "/v3/plugins/{id}"): 16 * KIB,
    ("DELETE", "/v3/plugins/{id}"): 0,
    ("GET", "/v3/plugins/{id}/update-plan"): 0,
    ("POST", "/v3/plugins/{id}/rollback"): 16 * KIB,
    ("GET", "/v3/plugins/{id}/config"): 0,
    ("PUT", "/v3/plugins/{id}/config"): 256 * KIB,
    ("POST", "/v3/plugins/{id}/config/validate"): 256 * KIB,
    ("GET", "/v3/plugins/{id}/status"): 0,
    ("POST", "/v3/plugins/{id}/start"): 16 * KIB,
    ("POST", "/v3/plugins/{id}/stop"): 16 * KIB,
    ("POST", "/v3/plugins/{id}/restart"): 16 * KIB,
    ("POST", "/v3/plugins/{id}/dev-mode"): 16 * KIB,
    ("GET", "/v3/plugins/{id}/metrics"): 0,
    ("GET", "/v3/plugins/{id}/logs"): 0,
    ("GET", "/v3/plugins/{id}/errors"): 0,
    ("GET", "/v3/plugins/{id}/behavior"): 0,
    ("GET", "/v3/plugins/{id}/anomalies"): 0,
    ("GET", "/v3/plugins/{id}/threats"): 0,
    ("POST", "/v3/plugins/{id}/quarantine"): 16 * KIB,
    ("POST", "/v3/plugins/{id}/release"): 16 * KIB,
    ("GET", "/v3/security/threats"): 0,
    ("GET", "/v3/security/actions"): 0,
    ("GET", "/v3/advisories"): 0,
    ("GET", "/v3/plugins/{id}/advisories"): 0,
    ("GET", "/v3/plugins/{id}/trust"): 0,
}
#: Management routes that parse a JSON body.
JSON_ROUTES = [
    (m, p) for (m, p), limit in MANAGEMENT_LIMITS.items() if limit and not p.endswith("validate")
] + [("POST", "/v3/plugins/{id}/config/validate")]

INLINE = [
    {"path": "/plugins/inline/items", "method": "POST", "handler": "echo"},
    {"path": "/plugins/inline/items/:id", "method": "GET", "handler": "echo"},
    {"path": "/plugins/inline/items/:id", "method": "PUT", "handler": "echo"},
    {"path": "/plugins/inline/open", "method": "GET", "handler": "echo"},
]


def echo(request: Any) -> dict[str, Any]:
    return ok({"body": request.body, "params": request.params})


@pytest.fixture
def roots(tmp_path: Path) -> Path:
    root = tmp_path / "roots"
    root.mkdir()
    return root


@pytest.fixture
def api(
    engine: Engine, roots: Path, client: Callable[..., Any], add: Callable[..., Any]
) -> Iterator[Any]:
    """A client with the admin token on a server whose plugin root is ``roots``, which
    holds plugin ``target`` 1.0.0 (loaded); plugin ``inline`` has endpoints too."""
    engine.load(folder_plugin(roots, "target"))
    add("inline", INLINE, {"echo": echo})
    many = (100_000, 60.0)
    c = client(
        plugin_roots=(roots,),
        management_limits={"general": many, "install": many, "upload": many, "search": many},
    )
    c.headers["authorization"] = f"Bearer {c.server.token}"
    yield c


def management_calls(app: Any, plugin_id: str = "target") -> list[tuple[str, str, str]]:
    """``(method, concrete path, route path)`` of every /v3 HTTP route of ``app``."""
    from starlette.routing import Route

    calls = []
    for route in app.routes:
        if isinstance(route, Route) and route.path.startswith("/v3"):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                calls.append((method, route.path.replace("{id}", plugin_id), route.path))
    return calls


def plugin_calls() -> list[tuple[str, str]]:
    return [(e["method"], e["path"].replace(":id", "7")) for e in INLINE] + [
        ("POST", "/plugins/target/echo"),
        ("GET", "/plugins/target/hi"),
    ]


def raw_exchange(url: str, head: str, body: bytes = b"", timeout: float = 5.0) -> tuple[int, Any]:
    """Send ``head`` (and ``body``) on a raw socket; the status and JSON body of the reply.
    Only the head is needed for the answer: the server must not wait for the body."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(head.encode("latin-1") + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"the server closed without answering: {data!r}"
            data += chunk
        top, _, rest = data.partition(b"\r\n\r\n")
        status = int(top.split(b" ", 2)[1])
        length = int(re.search(rb"(?i)content-length: *(\d+)", top).group(1))  # type: ignore[union-attr]
        while len(rest) < length:
            chunk = sock.recv(65536)
            assert chunk
            rest += chunk
        return status, json.loads(rest[:length]) if length else None


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def error_of(reply: httpx.Response) -> dict[str, Any]:
    body = reply.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert {"code", "message", "details", "timestamp", "requestId"} <= set(error)
    return error


# ---------------------------------------------------------------------- finding 1
def test_a_recursive_token_is_a_401_on_every_route_endpoint_and_the_event_stream(
    api: Any,
) -> None:
    """c6d1737: HTTP 500 (RecursionError in the token decoder) on each of them."""
    bad = {"authorization": f"Bearer {recursion_token()}"}
    calls = [(m, p) for m, p, _ in management_calls(api.server.app)] + plugin_calls()
    assert len(calls) > 25
    for method, path in calls:
        r = api.request(method, path, headers=bad)
        assert r.status_code == 401, (method, path, r.status_code, r.text[:300])
        error = error_of(r)
        assert error["code"] == "AUTHENTICATION_REQUIRED"
        assert error["details"]["reason"] == "malformed", error
        assert r.headers["www-authenticate"].startswith("Bearer")
    url = api.server.url.replace("http://", "ws://") + "/v3/events"
    for how in ({"url": f"{url}?token={recursion_token()}"}, {"url": url, "headers": bad}):
        try:
            with connect(how["url"], additional_headers=how.get("headers"), open_timeout=5) as ws:
                ws.recv(timeout=5)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 4401, closed
        except InvalidStatus as refused:  # c6d1737: the handshake answered 500
            raise AssertionError(f"handshake refused: {refused}") from None
        else:
            raise AssertionError("the stream opened for a malformed token")


@pytest.mark.parametrize(
    "token, reason",
    [
        ("x" * 9000, "too_long"),
        ("a.b", "malformed"),
        ("....", "malformed"),
        ("e30.e30.", "unsupported_algorithm"),
        ("eyJhbGciOiJIUzI1NiJ9.W10.c2ln", "malformed"),  # claims are a list
        ("eyJhbGciOiJIUzI1NiJ9." + b64(deep_json(9, "object")) + ".c2ln", "malformed"),
        (b64(deep_json(9, "object")) + ".e30.c2ln", "malformed"),
        (recursion_token(), "malformed"),
    ],
)
def test_malformed_credentials_are_a_structured_401(api: Any, token: str, reason: str) -> None:
    for path in ("/v3/plugins", "/plugins/inline/open"):
        r = api.get(path, headers={"authorization": f"Bearer {token}"})
        assert r.status_code == 401, r.text
        assert error_of(r)["details"]["reason"] == reason


# ---------------------------------------------------------------------- finding 2
def test_deeply_nested_json_is_a_400_on_every_route_that_reads_json(api: Any) -> None:
    """c6d1737: 500 (RecursionError) on seven management routes and the endpoints."""
    json_type = {"content-type": "application/json"}
    calls = [(m, p.replace("{id}", "target")) for m, p in JSON_ROUTES] + [
        ("POST", "/plugins/inline/items"),
        ("PUT", "/plugins/inline/items/7"),
        ("POST", "/plugins/target/echo"),
    ]
    for depth in (1000, 5000, 8000):  # 8000: 16,000 bytes, under every route's limit
        for method, path in calls:
            for headers in (json_type, {}):  # typed, and untyped text that parses
                r = api.request(method, path, content=deep_json(depth), headers=headers)
                assert r.status_code == 400, (method, path, r.status_code, r.text[:200])
                error = error_of(r)
                assert error["details"]["reason"] == "too_deep", (method, path, error)
                assert error["details"]["maxDepth"] == 64
    assert api.get("/plugins/target/hi").status_code == 200


def test_the_depth_limit_is_64_and_strict_json_is_required(api: Any) -> None:
    validate = "/v3/plugins/target/config/validate"
    assert api.post(validate, content=deep_json(63, "object")).status_code == 200
    r = api.post(validate, content=deep_json(65, "object"))
    assert r.status_code == 400 and error_of(r)["details"]["reason"] == "too_deep"
    items = "/plugins/inline/items"
    typed = {"content-type": "application/json"}
    assert api.post(items, content=deep_json(64), headers=typed).status_code == 200
    r = api.post(items, content=deep_json(65), headers=typed)
    assert r.status_code == 400
    for text, reason in (
        (b'{"x": NaN}', "invalid_json"),
        (b'{"x": 1e999}', "invalid_json"),
        (b'{"x": "\\ud800"}', "lone_surrogate"),
        (b'{"x": "\xff"}', "invalid_utf8"),
        (b'{"x": ' + b"9" * 5000 + b"}", "invalid_json"),
    ):
        for path in (validate, items):
            r = api.post(path, content=text, headers=typed)
            assert r.status_code == 400, (path, text[:20], r.text)
            assert error_of(r)["details"]["reason"] == reason


# ---------------------------------------------------------------------- finding 3
def test_a_50_mb_update_is_refused_while_reading_and_memory_stays_flat(
    api: Any, engine: Engine
) -> None:
    """c6d1737: ``PUT /v3/plugins/{id}`` took a 50 MB JSON body with 200 (and 50 MB bodies
    took the server to 590 MB RSS)."""
    size = 50 * MIB
    head, block, tail = b'{"preserveConfig": true, "pad": "', b"x" * (256 * KIB), b'"}'

    def chunks() -> Iterator[bytes]:  # streamed by the client: it holds one block at a time
        yield head
        for _ in range(size // len(block)):
            yield block
        yield tail

    declared = {"content-length": str(len(head) + size + len(tail))}
    loaded_at = engine.plugin("target").loaded_at
    with PeakRSS() as peak:
        r = api.put("/v3/plugins/target", content=chunks(), headers=declared)
    assert r.status_code == 413, r.text[:300]
    error = error_of(r)
    assert error["code"] == "PAYLOAD_TOO_LARGE"
    assert error["details"]["limit"] == 16 * KIB and error["details"]["declared"] > size

    with PeakRSS() as streamed:
        r = api.put("/v3/plugins/target", content=chunks())
    assert r.status_code == 413, r.text[:300]
    assert error_of(r)["details"]["received"] > 16 * KIB
    assert engine.plugin("target").loaded_at == loaded_at  # not reloaded
    # this process holds client and server: the 50 MB bodies were never held whole
    assert peak.growth < 20 * MIB, peak.growth
    assert streamed.growth < 20 * MIB, streamed.growth
    assert api.get("/plugins/target/hi").status_code == 200  # and the connection is fine


def test_every_route_has_its_documented_body_limit(api: Any, engine: Engine) -> None:
    """Declared past the limit: 413 from the head alone (the body is never awaited);
    chunked past it: 413 as soon as the limit is crossed. A body at the limit passes."""
    token = api.server.token
    routes = {(m, route) for m, _, route in management_calls(api.server.app)}
    assert routes == set(MANAGEMENT_LIMITS), routes ^ set(MANAGEMENT_LIMITS)
    host = urlsplit(api.server.url).netloc
    for (method, route), limit in MANAGEMENT_LIMITS.items():
        path = route.replace("{id}", "target")
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {limit + 1}\r\n\r\n"
        )
        status, body = raw_exchange(api.server.url, head)
        assert status == 413, (method, route, status, body)
        assert body["error"]["details"]["limit"] == limit, (method, route, body)
        if limit > 1 * MIB:
            continue
        r = api.request(method, path, content=iter([b" " * (limit + 1)]))  # chunked
        assert r.status_code == 413, (method, route, r.status_code, r.text[:200])
        if limit:
            at_limit = b"{}" + b" " * (limit - 2)
            r = api.request(method, path, content=at_limit)
            assert r.status_code != 413, (method, route, r.text[:200])
            if path.endswith(("/stop", "/restart")):
                engine.enable("target")
    head = f"GET /healthz HTTP/1.1\r\nHost: {host}\r\nContent-Length: 1\r\n\r\n"
    status, body = raw_exchange(api.server.url, head)
    assert status == 413 and body["error"]["details"]["limit"] == 0
    # plugin endpoints: WebSettings.max_body_bytes (1 MiB)
    head = (
        f"POST /plugins/target/echo HTTP/1.1\r\nHost: {host}\r\nContent-Length: {MIB + 1}\r\n\r\n"
    )
    status, body = raw_exchange(api.server.url, head)
    assert status == 413 and body["error"]["details"]["limit"] == MIB


# ---------------------------------------------------------------------- finding 4
EVIL = """
import pathlib
pathlib.Path(__file__).with_name("LOADED").write_text("yes")
VERSION = "6.6.6"

def echo(request):
    return {"status": 200, "body": "evil"}

def hi(request):
    return {"status": 200, "body": {"version": VERSION}}
"""


def test_an_update_loads_code_from_inside_the_plugin_roots_only(
    api: Any, engine: Engine, roots: Path, tmp_path: Path
) -> None:
    """c6d1737: ``{"version": "/some/absolute/path"}`` loaded that folder's code."""
    outside = folder_plugin(tmp_path / "elsewhere", "target", "6.6.6", EVIL)
    marker = outside / "LOADED"
    for version in (
        str(outside),
        f"../elsewhere/{outside.name}",
        f"../../elsewhere/{outside.name}",
        "/etc",
        "1.0.0/../../elsewhere/target",
        "",
        7,
        ["1.0.0"],
        "x" * 10_000,
    ):
        r = api.put("/v3/plugins/target", json={"version": version})
        assert r.status_code == 400, (version, r.status_code, r.text[:300])
        error = error_of(r)
        assert error["code"] == "VALIDATION_FAILED"
        assert error["details"]["errors"][0]["path"] == "body.version"
        assert not marker.exists()
    # a version folder beside the plugin that links out of the roots: refused, 403
    (roots / "6.6.6").symlink_to(outside, target_is_directory=True)
    r = api.put("/v3/plugins/target", json={"version": "6.6.6"})
    assert r.status_code == 403, r.text
    error = error_of(r)
    assert error["code"] == "PERMISSION_DENIED" and error["details"]["field"] == "body.version"
    assert not marker.exists() and engine.plugin("target").version == "1.0.0"
    assert api.get("/plugins/target/hi").json() == {"version": "1.0.0"}
    # a version folder in the roots that holds another version: refused
    folder_plugin(tmp_path / "stage", "target", "3.0.0").rename(roots / "2.0.0")
    r = api.put("/v3/plugins/target", json={"version": "2.0.0"})
    assert r.status_code == 400 and error_of(r)["code"] == "INVALID_PLUGIN_PACKAGE", r.text
    # the legitimate case still works: the version's folder beside the plugin, in the roots
    folder_plugin(tmp_path / "stage", "target", "1.1.0").rename(roots / "1.1.0")
    r = api.put("/v3/plugins/target", json={"version": "v1.1.0"})
    assert r.status_code == 200, r.text
    assert api.get("/plugins/target/hi").json() == {"version": "1.1.0"}


def test_paths_that_cannot_be_resolved_are_a_400_not_a_500(api: Any, roots: Path) -> None:
    """c6d1737: a NUL byte or an over-long name in a path gave 500."""
    for path in (f"{roots}/a\x00b", str(roots / ("a" * 300)), str(roots / ("a/" * 3000))):
        r = api.post("/v3/plugins", json={"source": "path", "path": path})
        assert r.status_code == 400, (path[:40], r.status_code, r.text[:300])
        r = api.post(
            "/v3/plugins/target/dev-mode",
            json={"enabled": True, "hotReload": False, "watchPaths": [path]},
        )
        assert r.status_code == 400, (path[:40], r.status_code, r.text[:300])
    r = api.post("/v3/plugins", json={"source": "path", "path": "/etc"})
    assert r.status_code == 403 and error_of(r)["details"]["roots"] == [str(roots.resolve())]


# ---------------------------------------------------------------------- finding 5
def test_internal_errors_say_only_an_error_id_that_the_log_has(
    api: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """c6d1737: a 500 said ``internal error: RuntimeError: <the exception's text>``."""
    state = api.server.app.state.pliers

    def broken(*args: Any) -> Any:
        raise RuntimeError("secret-db-password")

    state.router.match = broken
    state.router.routes = broken
    with caplog.at_level(logging.ERROR, logger="pliers_lab.web"):
        for path in ("/plugins/inline/open", "/v3/endpoints"):
            r = api.get(path)
            assert r.status_code == 500
            assert "secret" not in r.text and "RuntimeError" not in r.text, r.text
            error = error_of(r)
            assert error["code"] == "INTERNAL_ERROR"
            error_id = error["details"]["errorId"]
            assert re.fullmatch(r"err-[0-9a-f]{12}", error_id)
            assert error_id in error["message"]
            (logged,) = [rec for rec in caplog.records if error_id in rec.getMessage()]
            assert logged.exc_info is not None and "secret" in str(logged.exc_info[1])


def test_a_failing_plugin_s_words_stay_on_the_server(
    engine: Engine, add: Callable[..., Any], client: Callable[..., Any]
) -> None:
    """c6d1737: a failing endpoint's 500 carried the plugin's exception text."""

    def leaky(request: Any) -> Any:
        raise ValueError("connect to db://admin:hunter2@10.0.0.5 failed")

    def on_activate(plugin: Any) -> None:
        if plugin.config.get("broken"):
            raise RuntimeError("hunter2 is not the password")

    add(
        "leaky",
        [{"path": "/plugins/leaky/x", "method": "GET", "handler": "leaky"}],
        {"leaky": leaky, "on_activate": on_activate},
    )
    c = client()
    r = c.get("/plugins/leaky/x")
    assert r.status_code == 500 and "hunter2" not in r.text
    error = error_of(r)
    assert error["code"] == "PLUGIN_ERROR"
    assert error["details"]["errorType"] == "runtime_error"
    recorded = {e.id: e for e in engine.errors.for_plugin("leaky")}
    assert "hunter2" in recorded[error["details"]["errorId"]].message
    engine.disable("leaky")
    engine.configure("leaky", {"broken": True})
    admin = {"authorization": f"Bearer {c.server.token}"}
    r = c.post("/v3/plugins/leaky/start", headers=admin, json={})
    assert r.status_code == 500 and "hunter2" not in r.text, r.text
    error = error_of(r)
    assert error["code"] == "PLUGIN_STARTUP_FAILED" and error["details"]["errorId"]


# ---------------------------------------------------------------------- finding 6
def test_an_overloaded_endpoint_answers_503_with_retry_after(
    engine: Engine, add: Callable[..., Any], client: Callable[..., Any]
) -> None:
    """c6d1737: the concurrency cap's 503 had no Retry-After, and a host overload the
    engine reported (RESOURCE_ERROR, cause host_overload) was a 500 counted against the
    plugin."""
    release = threading.Event()
    entered = threading.Event()

    def slow(request: Any) -> Any:
        entered.set()
        release.wait(10)
        return ok("done")

    def overloaded(request: Any) -> Any:
        raise PluginError(
            PluginErrorType.RESOURCE_ERROR,
            "no worker free within the hook's timeout",
            plugin_id="busy",
            metadata={"cause": "host_overload", "retry_after_s": 3},
        )

    add(
        "busy",
        [
            {"path": "/plugins/busy/slow", "method": "GET", "handler": "slow"},
            {"path": "/plugins/busy/full", "method": "GET", "handler": "overloaded"},
        ],
        {"slow": slow, "overloaded": overloaded},
    )
    c = client(max_concurrency=1)
    first: list[httpx.Response] = []
    waiter = threading.Thread(target=lambda: first.append(c.get("/plugins/busy/slow")))
    waiter.start()
    assert entered.wait(10)
    r = c.get("/plugins/busy/slow")
    release.set()
    waiter.join(10)
    assert first[0].status_code == 200
    assert r.status_code == 503 and r.headers["retry-after"] == "1", r.headers
    assert error_of(r)["details"]["retryAfter"] == 1
    for _ in range(10):
        r = c.get("/plugins/busy/full")
        assert r.status_code == 503 and r.headers["retry-after"] == "3", r.text
        error = error_of(r)
        assert error["code"] == "PLUGIN_BUSY" and error["details"]["cause"] == "host_overload"
    # load, not failure: the plugin is not blamed, stays enabled and answers
    assert engine.errors.for_plugin("busy") == []
    assert engine.plugin("busy").state.value == "active"
    assert engine.metrics("busy").execution.errorCount == 0
    assert c.get("/plugins/busy/slow").status_code == 200


def test_the_limits_are_settings(
    engine: Engine, add: Callable[..., Any], client: Callable[..., Any]
) -> None:
    add("inline", INLINE, {"echo": echo})
    c = client(max_body_bytes=100, max_json_depth=3, max_form_fields=2)
    typed = {"content-type": "application/json"}
    assert c.post("/plugins/inline/items", content=b"[[[]]]", headers=typed).status_code == 200
    r = c.post("/plugins/inline/items", content=b"[[[[]]]]", headers=typed)
    assert r.status_code == 400 and error_of(r)["details"]["maxDepth"] == 3
    assert c.post("/plugins/inline/items", content=b"x" * 101).status_code == 413
    form = {"content-type": "application/x-www-form-urlencoded"}
    assert c.post("/plugins/inline/items", content=b"a=1&b=2", headers=form).status_code == 200
    r = c.post("/plugins/inline/items", content=b"a=1&b=2&c=3", headers=form)
    assert r.status_code == 400 and error_of(r)["details"]["reason"] == "too_many_fields"


def test_the_event_stream_takes_small_client_messages_only(api: Any) -> None:
    """The stream is one-way: a client message over 16 KiB closes it with 1009 (c6d1737:
    up to 16 MiB were read and dropped)."""
    url = api.server.url.replace("http://", "ws://") + f"/v3/events?token={api.server.token}"
    with connect(url, open_timeout=5) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "stream.opened"
        ws.send("x" * 1000)  # small ones are ignored
        ws.send("x" * (64 * KIB))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def test_calls_the_host_declined_to_run_are_503_not_the_plugins_failure(
    engine: Engine, add: Callable[..., Any], client: Callable[..., Any]
) -> None:
    """The engine's own refusals (``counted = False``: a host overload, a call not run
    because the workers stopped, an open breaker) reach an endpoint as 503s."""
    from pliers_lab.errors import CircuitOpen, HostOverload, NotRun

    refusals = {
        "overload": HostOverload("no worker within the budget", plugin_id="host"),
        "stopped": NotRun("workers stopped", plugin_id="host", metadata={"cause": "stopped"}),
        "breaker": CircuitOpen("breaker open", plugin_id="host", retry_after_s=7.2),
    }

    def refuse(request: Any) -> Any:
        raise refusals[request.params["why"]]

    add(
        "host",
        [{"path": "/plugins/host/:why", "method": "GET", "handler": "refuse"}],
        {"refuse": refuse},
    )
    c = client()
    for why, wait in (("overload", "1"), ("stopped", "1"), ("breaker", "8")):
        r = c.get(f"/plugins/host/{why}")
        assert r.status_code == 503 and r.headers["retry-after"] == wait, (why, r.text)
        assert error_of(r)["code"] == "PLUGIN_BUSY"
    assert engine.errors.for_plugin("host") == []
    assert engine.metrics("host").execution.errorCount == 0
    # the management API too: a start that met the host's overload is a 503
    engine.disable("host")
    engine.plugin("host").lifecycle_handlers["on_activate"] = lambda plugin: refuse(
        type("R", (), {"params": {"why": "overload"}})()
    )
    admin = {"authorization": f"Bearer {c.server.token}"}
    r = c.post("/v3/plugins/host/start", headers=admin, json={})
    assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text
    assert error_of(r)["details"]["cause"] == "host_overload"


def test_the_route_limits_table_is_the_documented_one(api: Any) -> None:
    from pliers_lab.web._management import route_limits

    state = api.server.app.state.pliers
    table = {(m, p): limit for m, p, limit in route_limits(state) if p.startswith("/v3")}
    assert table == MANAGEMENT_LIMITS
    assert ("GET", "/healthz", 0) in route_limits(state)
    docs = (Path(__file__).parents[2] / "docs" / "web.md").read_text()
    for words in ("| 1 MiB |", "| 256 KiB |", "| 16 KiB |", "64 MiB + 64 KiB", "| 0 ("):
        assert words in docs
