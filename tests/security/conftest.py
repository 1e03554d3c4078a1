"""Fixtures for the security monitor's tests: loopback HTTP destinations and a fetcher
plugin whose versions are written to separate folders."""

from __future__ import annotations

import http.server
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import write_plugin

HOOK = "submission.afterSave"

#: Fetches every URL in ``ctx.data["urls"]``; a refusal is returned, not raised.
FETCHER = """
from pliers_lab import PluginError, hook

@hook("submission.afterSave")
def fetch(ctx):
    out = []
    for url in ctx.data["urls"]:
        try:
            out.append(ctx.api.http.get(url)["text"])
        except PluginError as exc:
            out.append(exc.type + ": " + exc.message)
    return out
"""

#: Keeps 80 MiB more each call whose data says ``grow``.
GROWER = """
from pliers_lab import hook

KEPT = []

@hook("submission.afterSave")
def grow(ctx):
    if ctx.data.get("grow"):
        KEPT.append(b"x" * (80 << 20))  # written, so resident
    return len(KEPT)
"""


def _serve(address: str) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(f"hello from {address}".encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer((address, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{address}:{server.server_address[1]}"


@pytest.fixture
def destinations() -> Iterator[tuple[str, str]]:
    """Two loopback web servers on two hosts (127.0.0.1 and 127.0.0.2), free ports."""
    servers = [_serve("127.0.0.1"), _serve("127.0.0.2")]
    yield servers[0][1], servers[1][1]
    for server, _url in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fetcher(tmp_path: Path) -> Callable[..., Path]:
    """``fetcher(version, allowed_urls)`` → the folder of that version of ``fetcher``."""

    def make(version: str, allowed: list[str]) -> Path:
        hosts = [url.split("//", 1)[1] for url in allowed]
        return write_plugin(
            tmp_path / f"v{version}",
            "fetcher",
            textwrap.dedent(FETCHER),
            {HOOK: {}},
            version=version,
            permissions={"network": {"outbound": hosts}},
        )

    return make


@pytest.fixture
def make_grower(tmp_path: Path) -> Callable[..., Path]:
    """``make_grower()`` → a plugin that keeps 80 MiB more each call asked to grow."""

    def make() -> Path:
        return write_plugin(tmp_path / "grower", "grower", GROWER, {HOOK: {}})

    return make
