"""``api.http``'s per-request ``timeout`` (``sandbox/_outbound.py``): at most the policy's
``http_timeout_s`` (a larger one is clamped to it), validated, and a server slower than it
is a TIMEOUT_ERROR naming the request. A real HTTP server on loopback that answers late;
directly on ``Outbound``, then over the wire from a sandboxed plugin."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sandbox.helpers import MakePlugin

from pliers_lab import Engine, PluginError, PluginErrorType
from pliers_lab.sandbox import ProcessRuntime, SandboxPolicy
from pliers_lab.sandbox._outbound import Outbound


class Slow:
    """Answers ``GET /?delay=S`` after S seconds; counts the requests it got."""

    def __init__(self) -> None:
        self.requests = 0
        slow = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                slow.requests += 1
                delay = float(self.path.partition("delay=")[2] or 0)
                time.sleep(delay)
                try:
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(b"late answer")
                except OSError:  # the caller gave up and left
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def slow() -> Iterator[Slow]:
    server = Slow()
    yield server
    server.server.shutdown()
    server.server.server_close()


def _outbound(slow: Slow, cap_s: float) -> Outbound:
    return Outbound([("127.0.0.1", slow.port)], (), timeout_s=cap_s)


def test_a_server_slower_than_the_requests_timeout_is_a_timeout_error(slow: Slow) -> None:
    out = _outbound(slow, cap_s=5.0)
    start = time.monotonic()
    with pytest.raises(PluginError) as info:
        out.request("GET", slow.url + "?delay=2", timeout=0.3)
    elapsed = time.monotonic() - start
    assert info.value.type is PluginErrorType.TIMEOUT_ERROR
    message = info.value.message
    assert f"GET {slow.url}?delay=2 timed out" in message and "timeout=0.3" in message
    assert 0.3 <= elapsed < 1.5  # the request's 0.3 s, not the host's 5 s nor the server's 2 s
    # a timeout the server answers within: the answer
    answer = out.request("GET", slow.url + "?delay=0.1", timeout=3)
    assert answer["status"] == 200 and answer["text"] == "late answer"


def test_a_timeout_over_the_policys_cap_is_clamped_to_it(slow: Slow) -> None:
    out = _outbound(slow, cap_s=0.3)
    start = time.monotonic()
    with pytest.raises(PluginError) as info:
        out.request("GET", slow.url + "?delay=2", timeout=60)
    assert time.monotonic() - start < 1.5  # the cap's 0.3 s, not the 60 asked
    assert info.value.type is PluginErrorType.TIMEOUT_ERROR
    assert "timeout=60 clamped to the host's cap" in info.value.message
    assert "SandboxPolicy.http_timeout_s = 0.3 s" in info.value.message
    # no timeout: the cap is the default
    assert out.timeout_for("GET", slow.url, None)[0] == 0.3


@pytest.mark.parametrize("bad", [0, -1, "5", True, float("nan"), float("inf"), [1]])
def test_a_timeout_that_is_not_a_positive_number_is_refused_naming_it(slow: Slow, bad: Any) -> None:
    out = _outbound(slow, cap_s=5.0)
    with pytest.raises(PluginError) as info:
        out.request("GET", slow.url, timeout=bad)
    assert info.value.type is PluginErrorType.VALIDATION_ERROR
    assert f"GET {slow.url}: timeout must be a number of seconds > 0, got {bad!r}" in (
        info.value.message
    )
    assert slow.requests == 0  # refused before any request
    assert out.moved() == (0, 0, 0)


PLUGIN = """
from pliers_lab import PluginError, hook

@hook("submission.afterSave")
def fetch(ctx):
    try:
        return ctx.api.http.get(ctx.data["url"], timeout=ctx.data["timeout"])["text"]
    except PluginError as exc:
        return exc.type + ": " + exc.message
"""


def test_a_sandboxed_plugin_passes_its_timeout_over_the_wire(
    tmp_path: Path, make_plugin: MakePlugin, slow: Slow
) -> None:
    runtime = ProcessRuntime(
        SandboxPolicy(data_root=tmp_path / "data", network_deny=(), http_timeout_s=5.0)
    )
    grant = {"network": {"outbound": [f"127.0.0.1:{slow.port}"]}}
    with Engine(default_isolation="process") as engine:
        engine.register_runtime(runtime)
        engine.load(make_plugin("fetcher", PLUGIN, permissions=grant))

        def fetch(delay: float, timeout: Any) -> Any:
            data = {"url": f"{slow.url}?delay={delay}", "timeout": timeout}
            return engine.fire("submission.afterSave", data).outcome("fetcher").value

        start = time.monotonic()
        late = fetch(2, 0.3)
        assert time.monotonic() - start < 1.8
        assert late.startswith("timeout_error: api.http GET ") and "timeout=0.3" in late
        assert fetch(0, 2) == "late answer"
        refused = fetch(0, "soon")
        assert refused.startswith("validation_error: ") and "timeout must be" in refused
        assert engine.plugin("fetcher").state.value == "active"  # not a security violation
    runtime.close()
