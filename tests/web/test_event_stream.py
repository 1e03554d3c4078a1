"""The ``/v3/events`` websocket and dev mode, on a real server with a real client."""

from __future__ import annotations

import contextlib
import json
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import write_plugin
from web.helpers import endpoint_manifest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from pliers_lab import Engine, PluginError
from pliers_lab.web import Server

HOOK = "submission.afterSave"


@pytest.fixture
def server(start: Callable[..., Server]) -> Server:
    return start()


def ws_url(server: Server, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return server.url.replace("http://", "ws://") + "/v3/events" + (f"?{query}" if query else "")


@pytest.fixture
def stream(server: Server) -> Iterator[Callable[..., ClientConnection]]:
    """``stream(**params)``: a connected client, past its ``stream.opened`` message."""
    with contextlib.ExitStack() as stack:

        def open_(**params: str) -> ClientConnection:
            url = ws_url(server, token=server.token or "", **params)
            ws = stack.enter_context(connect(url, open_timeout=10))
            hello = json.loads(ws.recv(timeout=10))
            assert hello["type"] == "stream.opened"
            return ws

        yield open_


def until(ws: ClientConnection, kind: str, timeout: float = 10.0) -> dict[str, Any]:
    """The next event of type ``kind`` (others are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no {kind} event within {timeout} s"
        event: dict[str, Any] = json.loads(ws.recv(timeout=left))
        if event["type"] == kind:
            return event


def test_lifecycle_config_and_errors_stream_to_the_socket(
    engine: Engine, stream: Callable[..., ClientConnection]
) -> None:
    ws = stream(metricsInterval="0")

    def boom(ctx: Any) -> None:
        raise ValueError("broken on purpose")

    manifest = endpoint_manifest("streamed", [], version="1.2.0", hooks={HOOK: {"handler": "boom"}})
    engine.add_plugin(manifest, {"boom": boom})
    installed = until(ws, "plugin.installed")
    assert installed["pluginId"] == "streamed" and installed["data"]["version"] == "1.2.0"
    status = until(ws, "plugin.status.changed")
    assert {"old", "new", "reason"} <= set(status["data"])
    while status["data"]["new"] != "active":
        status = until(ws, "plugin.status.changed")

    engine.configure("streamed", {"level": 3})
    config = until(ws, "plugin.config.updated")
    assert config["data"]["changes"] == ["Added level = 3"]

    engine.fire(HOOK, {})
    error = until(ws, "plugin.error.occurred")
    assert error["data"]["errorType"] == "runtime_error" and error["data"]["hook"] == HOOK
    assert "broken on purpose" in error["data"]["message"]

    engine.unload("streamed")
    assert until(ws, "plugin.uninstalled")["pluginId"] == "streamed"


def test_filters_and_metrics(engine: Engine, stream: Callable[..., ClientConnection]) -> None:
    engine.add_plugin(endpoint_manifest("a", []), {})
    engine.add_plugin(endpoint_manifest("b", []), {})
    ws = stream(
        plugins="b", types="plugin.metrics.updated,plugin.status.changed", metricsInterval="0.2"
    )
    engine.disable("a")  # filtered out: another plugin
    engine.disable("b")
    first = json.loads(ws.recv(timeout=10))
    assert (first["type"], first["pluginId"]) == ("plugin.status.changed", "b")
    metrics = until(ws, "plugin.metrics.updated")
    assert metrics["pluginId"] == "b" and metrics["data"]["pluginId"] == "b"
    assert metrics["data"]["execution"]["count"] == 0 and "health" in metrics["data"]


def test_refusals_close_with_a_reason(server: Server) -> None:
    for params, code, words in (
        ({}, 4401, "bearer token"),
        ({"token": "forged"}, 4401, ""),
        ({"token": server.token or "", "types": "plugin.nope"}, 4400, "plugin.nope"),
        ({"token": server.token or "", "metricsInterval": "soon"}, 4400, "metricsInterval"),
    ):
        with connect(ws_url(server, **params), open_timeout=10) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == code
            assert words in closed.value.rcvd.reason


PLUGIN = """
from pliers_lab import hook

@hook("submission.afterSave")
def after(ctx):
    ctx.logger.debug("debug detail", n=1)
    ctx.logger.info("answered")
    return {VALUE}
"""


@pytest.fixture
def folder_plugin(tmp_path: Path) -> Path:
    return write_plugin(
        tmp_path, "devved", textwrap.dedent(PLUGIN.replace("{VALUE}", "1")), {HOOK: {}}
    )


def test_dev_mode_hot_reloads_and_streams_debug_logs(
    engine: Engine,
    server: Server,
    stream: Callable[..., ClientConnection],
    folder_plugin: Path,
    tmp_path: Path,
) -> None:
    engine.load(folder_plugin)
    api = httpx.Client(base_url=server.url, headers=server.headers(), timeout=10)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    refused = api.post(
        "/v3/plugins/devved/dev-mode", json={"enabled": True, "watchPaths": [str(outside)]}
    )
    assert refused.status_code == 403 and "outside the plugin's folder" in refused.text
    assert engine.reloader is None  # a refused request changes nothing

    (folder_plugin / "templates").mkdir()
    reply = api.post(
        "/v3/plugins/devved/dev-mode",
        json={"enabled": True, "debugMode": True, "watchPaths": ["templates"]},
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["hotReload"] and body["debugMode"]
    assert body["watchPaths"] == [str((folder_plugin / "templates").resolve())]
    assert body["websocketUrl"].endswith("/v3/events?plugins=devved")
    reloader = engine.reloader
    assert reloader is not None and reloader.only == {"devved"}

    ws = stream(plugins="devved", metricsInterval="0")
    engine.fire(HOOK, {})
    logs = [until(ws, "plugin.log") for _ in range(2)]
    assert [(e["data"]["level"], e["data"]["message"]) for e in logs] == [
        ("debug", "debug detail"),
        ("info", "answered"),
    ]

    (folder_plugin / "plugin.py").write_text(textwrap.dedent(PLUGIN.replace("{VALUE}", "2")))
    updated = until(ws, "plugin.updated")
    assert updated["data"] == {"old": "1.0.0", "new": "1.0.0"}
    assert engine.fire(HOOK, {}).value == [2]

    off = api.post("/v3/plugins/devved/dev-mode", json={"enabled": False})
    assert off.status_code == 200 and off.json()["enabled"] is False
    assert engine.reloader is None  # dev mode started it, and stopped it with the last plugin
    bad = api.post("/v3/plugins/devved/dev-mode", json={"enabled": "yes"})
    assert bad.status_code == 400 and "enabled" in bad.text
    api.close()


def test_an_engine_error_outside_hooks_is_streamed(
    engine: Engine, stream: Callable[..., ClientConnection]
) -> None:
    ws = stream(types="plugin.error.occurred", metricsInterval="0")
    from pliers_lab import PluginErrorType

    engine.record_error(PluginError(PluginErrorType.RUNTIME_ERROR, "from an endpoint"))
    assert until(ws, "plugin.error.occurred")["data"]["message"] == "from an endpoint"


def test_the_number_of_streams_is_capped(start: Callable[..., Server]) -> None:
    server = start(max_event_streams=1)
    url = ws_url(server, token=server.token or "", metricsInterval="0")
    with connect(url, open_timeout=10) as first:
        assert json.loads(first.recv(timeout=10))["type"] == "stream.opened"
        with connect(url, open_timeout=10) as second:
            with pytest.raises(ConnectionClosed) as closed:
                second.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429
    deadline = time.monotonic() + 5  # the first one's slot comes back once it is closed
    while True:
        with connect(url, open_timeout=10) as again:
            try:
                assert json.loads(again.recv(timeout=10))["type"] == "stream.opened"
                break
            except ConnectionClosed:
                assert time.monotonic() < deadline, "the slot never came back"
        time.sleep(0.05)
