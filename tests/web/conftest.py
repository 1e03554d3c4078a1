"""Fixtures for the web layer: plugins with endpoints, a real server on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from web.helpers import endpoint_manifest

from pliers_lab import Engine, Plugin
from pliers_lab.web import Server, WebSettings, serve


@pytest.fixture
def add(engine: Engine) -> Callable[..., Plugin]:
    """``add(name, endpoints, functions, **manifest)``: an inline plugin with endpoints."""

    def make(
        name: str, endpoints: list[dict[str, Any]], functions: dict[str, Any], **extra: Any
    ) -> Plugin:
        return engine.add_plugin(endpoint_manifest(name, endpoints, **extra), functions)

    return make


@pytest.fixture
def start(engine: Engine) -> Iterator[Callable[..., Server]]:
    """``start(**settings)``: serve ``engine`` on a random loopback port (stopped after)."""
    servers: list[Server] = []

    def run(host: Any = None, **settings: Any) -> Server:
        server = serve(engine, pliers_host=host, settings=WebSettings(**settings))
        servers.append(server)
        return server

    yield run
    for server in servers:
        server.stop()


@pytest.fixture
def client(start: Callable[..., Server]) -> Iterator[Callable[..., Any]]:
    """``client(**settings)``: an httpx client on a started server (``.server`` on it)."""
    clients: list[Any] = []

    def make(**settings: Any) -> Any:
        server = start(**settings)
        c = httpx.Client(base_url=server.url, timeout=10.0)
        c.server = server
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def engine() -> Iterator[Engine]:
    """Inline plugins: the web tests are about HTTP, not about isolation."""
    eng = Engine(default_isolation="inline")
    yield eng
    eng.close()
