"""Load is not failure (issue 14 §1): 50 concurrent clients on one sandboxed endpoint get
answers or a 503 with ``Retry-After`` — never another 5xx, never a reset — and the plugin
stays enabled and answering. Figures live in benchmarks/bench_load.py; this asserts only
behaviour."""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sandbox.helpers import requires
from support import write_plugin

from pliers_lab import Engine, PluginState
from pliers_lab.web import Server, serve

pytestmark = requires("rlimits", "netns", "landlock", "capabilities", "seccomp")

CODE = """
import time

def ping(request):
    time.sleep(0.010)
    return {"status": 200, "body": {"ok": True}}
"""
ENDPOINTS = [{"method": "GET", "path": "/plugins/busy/ping", "handler": "ping"}]


@pytest.fixture
def busy(tmp_path: Path) -> Iterator[tuple[Engine, Server]]:
    engine = Engine()  # the default: the plugin runs in its own locked-down worker
    folder = write_plugin(
        tmp_path,
        "busy",
        CODE,
        {},
        permissions={"api": {"register": ["/plugins/busy/*"]}, "network": ["inbound"]},
        api={"endpoints": ENDPOINTS},
    )
    engine.load(folder)
    server = serve(engine)
    yield engine, server
    server.stop()
    engine.close()


async def hammer(url: str, clients: int, seconds: float) -> collections.Counter[str]:
    statuses: collections.Counter[str] = collections.Counter()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=30.0, limits=limits) as http:
        until = time.monotonic() + seconds

        async def one() -> None:
            while time.monotonic() < until:
                try:
                    response = await http.get("/plugins/busy/ping")
                except httpx.TransportError as exc:
                    statuses[f"transport error: {type(exc).__name__}"] += 1
                    continue
                statuses[str(response.status_code)] += 1
                if response.status_code == 503:
                    assert response.headers.get("retry-after", "").isdigit(), response.headers
                    await asyncio.sleep(0.01)

        await asyncio.gather(*(one() for _ in range(clients)))
    return statuses


def test_fifty_clients_get_answers_or_503_and_the_plugin_stays_enabled(
    busy: tuple[Engine, Server],
) -> None:
    engine, server = busy
    statuses = asyncio.run(hammer(server.url, 50, 2.0))
    assert statuses["200"] > 0, statuses
    unexpected = {code: n for code, n in statuses.items() if code not in ("200", "503")}
    assert unexpected == {}, statuses
    plugin = engine.plugin("busy")
    assert plugin.state is PluginState.ACTIVE, plugin.disabled_reason
    assert httpx.get(f"{server.url}/plugins/busy/ping", timeout=10).status_code == 200
