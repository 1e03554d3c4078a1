"""Issue 14 §2: a fuzzer over a real server on loopback finds no 5xx on any route.

Hypothesis drives every route of the app (the /v3 management API, plugin endpoints, the
/v3/events websocket) with random and hostile methods, paths, query strings, headers,
bearer tokens and bodies, as a client would send them. It asserts, for each request:

- no 5xx, except a 503 with ``Retry-After`` (the concurrency cap), and no ``INTERNAL_ERROR``
  in the server log;
- no connection reset or broken reply (httpx raises nothing; the websocket opens or is
  closed with a 44xx code, never refused with an HTTP 5xx);
- every error is the envelope ``{"error": {code, message, details, ...}}``;

and over the whole run, that the server's resident memory grew less than ``RSS_BOUND``:
the server (``fuzz_server.py``) runs in a process of its own, so that the fuzzer's own
memory (Hypothesis keeps ~15 MB per 1,000 examples) is not counted. The app has no
OpenAPI schema, so the routes are read from the app itself (schemathesis would need one).
The budget is fixed (``EXAMPLES``, derandomized): CI runs the same requests every time.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web.fuzz_server import INLINE
from web.helpers import PeakRSS, deep_json
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

#: Examples per run (each one request, a few of them websockets): ~30 s on 2 cores.
EXAMPLES = 2000
#: What the server's resident set may grow by over the run (it holds at most one body
#: of at most its route's limit per request in flight; 3 MB bodies are sent).
RSS_BOUND = 64 << 20

# ---------------------------------------------------------------------- strategies
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=15,
)
HOSTILE_STRINGS = st.sampled_from(
    [
        "",
        "/",
        "/etc",
        "/etc/passwd",
        "../../../../etc",
        "..",
        "a\x00b",
        "~root",
        "x" * 5000,
        "1.0.0",
        "v2.0.0",
        "1.0.0/../../x",
        "9.9.9",
        "\ud800",
        "%00",
        "${jndi:ldap://x}",
        "<script>",
        "true",
        "target",
        "inline",
        "path",
        "marketplace",
    ]
)
VALUES = JSON | HOSTILE_STRINGS | st.sampled_from([10**400, -1, 0, 1e308, 2**63, [], {}, True])
KEYS = st.sampled_from(
    [
        "source",
        "path",
        "version",
        "config",
        "pluginId",
        "enabled",
        "hotReload",
        "debugMode",
        "watchPaths",
        "timeout",
        "graceful",
        "reason",
        "preserveConfig",
        "acceptPermissions",
        "name",
        "n",
    ]
)
STRUCTURED = st.dictionaries(KEYS, VALUES | st.lists(HOSTILE_STRINGS, max_size=3), max_size=5)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes | None, str | None]:
    """``(body bytes, content type)``: random, structured, hostile, or none."""
    kind = draw(
        st.sampled_from(
            [
                "none",
                "json",
                "structured",
                "structured",
                "deep",
                "big",
                "bytes",
                "text",
                "weird",
                "form",
                "multipart",
            ]
        )
    )
    ctype = draw(
        st.sampled_from(
            [
                "application/json",
                "application/json",
                None,
                "text/plain",
                "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=xyz",
                "multipart/form-data",
                "application/vnd.api+json; charset=utf-8",
                "application/octet-stream",
                "garbage/ \x7f",
            ]
        )
    )
    if kind == "none":
        return None, ctype
    if kind == "json":
        return json.dumps(draw(JSON)).encode(), ctype
    if kind == "structured":
        text = json.dumps(draw(STRUCTURED), ensure_ascii=draw(st.booleans()))
        return text.encode("utf-8", "surrogatepass"), ctype
    if kind == "deep":
        depth = draw(st.sampled_from([63, 64, 65, 200, 1000, 5000, 20_000]))
        return deep_json(depth, draw(st.sampled_from(["array", "object"]))), ctype
    if kind == "big":
        size = draw(
            st.sampled_from(
                [
                    16 << 10,
                    (16 << 10) + 1,
                    256 << 10,
                    (256 << 10) + 1,
                    1 << 20,
                    (1 << 20) + 1,
                    3 << 20,
                ]
            )
        )
        return b'{"pad": "' + b"x" * size + b'"}', ctype
    if kind == "bytes":
        return draw(st.binary(max_size=200)), ctype
    if kind == "text":
        return draw(st.text(max_size=200)).encode("utf-8", "surrogatepass"), ctype
    if kind == "form":
        fields = draw(st.integers(0, 3000))
        return "&".join(f"f{i}=v" for i in range(fields)).encode(), ctype
    if kind == "multipart":
        part = draw(st.binary(max_size=300))
        return (
            b'--xyz\r\nContent-Disposition: form-data; name="package"; filename="p.zip"\r\n'
            b"Content-Type: application/zip\r\n\r\n" + part + b"\r\n--xyz\r\n"
            b'Content-Disposition: form-data; name="config"\r\n\r\n'
            + deep_json(draw(st.sampled_from([1, 70, 3000])), "object")
            + b"\r\n--xyz--\r\n"
        ), "multipart/form-data; boundary=xyz"
    weird = draw(
        st.sampled_from(
            [
                b"NaN",
                b'{"a": Infinity}',
                b"1e999",
                b"9" * 5000,
                b'"\\ud800"',
                b'{"a": "\xff"}',
                b"\xef\xbb\xbf{}",
                b"{" * 10,
                b"[1,]",
                b'{"a":1,"a":2}',
                b"\x00" * 50,
            ]
        )
    )
    return weird, ctype


def escaped(text: str) -> str:
    """``text`` percent-encoded as a client may send it (lone surrogates too)."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def query_string(query: dict[str, str]) -> str:
    return "&".join(f"{escaped(k)}={escaped(v)}" for k, v in query.items())


@pytest.fixture
def fuzzed(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The server of ``fuzz_server.py`` in its own process: its URL, pid, tokens, and
    ``command(line)`` to talk to it."""
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("fuzz_server.py")), str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout
    hello = json.loads(stdout.readline() or "null")
    assert hello, "the fuzz server did not start"

    def command(line: str) -> str:
        stdin.write(line + "\n")
        stdin.flush()
        return stdout.readline().strip()

    try:
        yield {**hello, "command": command}
    finally:
        with contextlib.suppress(OSError):
            stdin.write("quit\n")
            stdin.flush()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        stdin.close()
        stdout.close()


def test_no_route_answers_5xx_to_hostile_requests(fuzzed: dict[str, Any]) -> None:
    from starlette.routing import Route

    from pliers_lab.web._management import management_routes

    tokens: dict[str, str | None] = fuzzed["tokens"]
    admin = tokens["admin"]
    token_choices = list(tokens.values())
    routes: list[tuple[str, str]] = [("GET", "/healthz"), ("GET", "/nowhere")]
    for route in management_routes():
        if isinstance(route, Route):
            routes += [(m, route.path) for m in sorted((route.methods or set()) - {"HEAD"})]
    routes += [(e["method"], e["path"]) for e in INLINE]
    routes += [("POST", "/plugins/target/echo"), ("GET", "/plugins/target/hi")]
    query_names = [
        "limit",
        "offset",
        "status",
        "sort",
        "order",
        "force",
        "removeData",
        "merge",
        "period",
        "granularity",
        "metrics",
        "level",
        "from",
        "to",
        "search",
        "q",
        "severity",
        "resolved",
        "verified",
        "tags",
        "pluginId",
        "category",
        "plugins",
        "types",
        "metricsInterval",
        "token",
    ]
    ids = st.sampled_from(["target", "inline", "nope", "..", "%2e%2e", "a" * 300]) | st.text(
        min_size=1, max_size=20
    ).map(escaped)
    url = fuzzed["url"]
    client = httpx.Client(base_url=url, timeout=30.0)
    ws_base = url.replace("http://", "ws://") + "/v3/events"
    seen: dict[int, int] = {}
    failures: list[str] = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def one_request(data: st.DataObject) -> None:
        draw = data.draw
        # mostly the admin's token, so that requests get past authentication
        token = admin if draw(st.integers(0, 9)) < 6 else draw(st.sampled_from(token_choices))
        query = draw(
            st.dictionaries(
                st.sampled_from(query_names),
                HOSTILE_STRINGS | st.text(max_size=20) | st.integers().map(str),
                max_size=4,
            )
        )
        if draw(st.integers(0, 9)) == 0:  # the event stream
            params = dict(query)
            if token is not None and draw(st.booleans()):
                params["token"] = token
            headers = (
                {"authorization": f"Bearer {token}"} if token and "token" not in params else None
            )
            url = f"{ws_base}?{query_string(params)}"
            try:
                with connect(url, additional_headers=headers, open_timeout=10) as ws:
                    first = json.loads(ws.recv(timeout=10))
                    assert first["type"] == "stream.opened", first
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else None
                assert code is not None and 4400 <= code < 4500, closed
            except InvalidStatus as refused:
                status = refused.response.status_code
                assert status < 500, refused
            return
        method, template = draw(st.sampled_from(routes))
        if draw(st.integers(0, 19)) == 0:
            method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]))
        path = template.replace("{id}", draw(ids)).replace(":id", draw(ids))
        body, ctype = draw(bodies())
        headers: dict[str, str] = {}
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        if ctype is not None:
            headers["content-type"] = ctype
        if draw(st.booleans()):
            printable = st.characters(min_codepoint=32, max_codepoint=126)
            session = draw(st.text(alphabet=printable, max_size=40)).strip()
            if session:  # a header value may not start or end with blanks (h11)
                headers["x-session-id"] = session
        chunked = body is not None and draw(st.booleans())
        content: Any = (
            iter([body[i : i + 65536] for i in range(0, len(body), 65536)])
            if chunked and body
            else body
        )
        try:
            target = f"{path}?{query_string(query)}" if query else path
            r = client.request(method, target, headers=headers, content=content)
        except httpx.HTTPError as exc:
            failures.append(f"{method} {path}: {type(exc).__name__}: {exc}")
            raise AssertionError(f"{method} {path}: the connection broke: {exc!r}") from exc
        seen[r.status_code] = seen.get(r.status_code, 0) + 1
        where = f"{method} {path} {query} {ctype} {len(body or b'')}B"
        if r.status_code >= 500:
            assert r.status_code == 503 and "retry-after" in r.headers, (where, r.text[:300])
        if r.status_code >= 400 and path.startswith(("/v3", "/plugins", "/healthz")):
            error = r.json()["error"]
            assert {"code", "message", "details", "requestId"} <= set(error), (where, error)
        assert fuzzed["command"]("restore") == "ok"

    for method, template in routes:  # warm up: lazy imports and caches are not growth
        path = template.replace("{id}", "target").replace(":id", "1")
        client.request(method, path, headers={"authorization": f"Bearer {admin}"}, content=b"{}")
        assert fuzzed["command"]("restore") == "ok"
    with PeakRSS(fuzzed["pid"]) as peak:
        one_request()
    client.close()
    assert json.loads(fuzzed["command"]("internal")) == []  # no internal error was logged
    assert failures == []
    assert sum(seen.values()) > EXAMPLES * 3 // 4, seen
    assert any(400 <= s < 500 for s in seen) and any(s < 300 for s in seen), seen
    assert peak.growth < RSS_BOUND, (peak.growth >> 20, "MiB")
