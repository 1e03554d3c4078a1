"""sys.exit() in an endpoint's code is that plugin's error: answered like any other
failure of its handler, recorded, and the server keeps serving. KeyboardInterrupt and a
real cancellation of the request still reach whoever runs the server."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from web.helpers import ok

from pliers_lab import Engine, PluginErrorType

ECHO = [{"path": "/plugins/echo/x", "method": "GET", "handler": "h"}]


def quitter_functions() -> dict[str, Any]:
    def broken(request: Any) -> Any:
        raise ValueError("bad input")

    def sync_exit(request: Any) -> Any:
        sys.exit(3)

    async def async_exit(request: Any) -> Any:
        sys.exit(4)

    def returns_coroutine(request: Any) -> Coroutine[Any, Any, Any]:
        async def later() -> Any:
            sys.exit(5)

        return later()

    def guard(request: Any) -> Any:
        sys.exit(6)

    async def async_guard(request: Any) -> Any:
        sys.exit(7)

    async def cancels_itself(request: Any) -> Any:
        raise asyncio.CancelledError("not a real cancellation")

    def fine(request: Any) -> Any:
        return ok({"reached": True})

    async def fine_async(request: Any) -> Any:
        return ok({"reached": True})

    return {
        "broken": broken,
        "sync_exit": sync_exit,
        "async_exit": async_exit,
        "returns_coroutine": returns_coroutine,
        "guard": guard,
        "async_guard": async_guard,
        "cancels_itself": cancels_itself,
        "fine": fine,
        "fine_async": fine_async,
    }


def endpoint(name: str, handler: str, middleware: list[str] | None = None) -> dict[str, Any]:
    found = {"path": f"/plugins/quitter/{name}", "method": "GET", "handler": handler}
    return {**found, "middleware": middleware} if middleware else found


QUITTER = [
    endpoint("value-error", "broken"),
    endpoint("sync", "sync_exit"),
    endpoint("async", "async_exit"),
    endpoint("coroutine", "returns_coroutine"),
    endpoint("guarded", "fine", ["guard"]),  # every function sync: one thread hop
    endpoint("guarded-async", "fine", ["async_guard"]),
    endpoint("guarded-mixed", "fine_async", ["guard"]),  # a sync middleware, async handler
    endpoint("own-cancel", "cancels_itself"),
]


def test_sys_exit_in_endpoint_code_is_answered_like_a_raising_handler(
    engine: Engine, add: Callable[..., Any], client: Callable[..., Any]
) -> None:
    add("quitter", QUITTER, quitter_functions())
    add("echo", ECHO, {"h": lambda request: ok({"still": "serving"})})
    c = client()
    baseline = c.get("/plugins/quitter/value-error")
    assert baseline.status_code == 500
    expected = baseline.json()["error"]
    assert expected["code"] == "PLUGIN_ERROR"
    assert expected["details"]["errorType"] == "runtime_error"
    cases = [
        ("sync", "sync_exit", "called sys.exit(3)"),
        ("async", "async_exit", "called sys.exit(4)"),
        ("coroutine", "returns_coroutine", "called sys.exit(5)"),
        ("guarded", "guard", "called sys.exit(6)"),
        ("guarded-async", "async_guard", "called sys.exit(7)"),
        ("guarded-mixed", "guard", "called sys.exit(6)"),
        ("own-cancel", "cancels_itself", "raised CancelledError: not a real cancellation"),
    ]
    for name, step, said in cases:
        r = c.get(f"/plugins/quitter/{name}")
        assert r.status_code == baseline.status_code, (name, r.text)
        assert r.headers["content-type"] == baseline.headers["content-type"]
        error = r.json()["error"]
        assert error.keys() == expected.keys()
        assert error["code"] == expected["code"]
        assert error["details"]["errorType"] == expected["details"]["errorType"]
        assert error["details"]["step"] == step
        key = f"GET /plugins/quitter/{name}"
        # the reply names the failure and its error id; the plugin's words are recorded
        error_id = error["details"]["errorId"]
        assert error["message"] == (
            f"plugin 'quitter' failed on {key} (runtime_error in {step}; error id {error_id})"
        )
        recorded = {e.id: e for e in engine.errors.for_plugin("quitter")}
        assert recorded[error_id].message == f"{step} {said}"
        # the server keeps serving, this plugin and the others
        assert c.get("/plugins/echo/x").json() == {"still": "serving"}
        assert c.server._thread.is_alive()
    recorded = engine.errors.for_plugin("quitter")
    assert [e.type for e in recorded] == [PluginErrorType.RUNTIME_ERROR] * (len(cases) + 1)
    exits = recorded[1:-1]
    assert all(isinstance(e.cause, SystemExit) for e in exits)
    assert [e.cause.code for e in exits if isinstance(e.cause, SystemExit)] == [3, 4, 5, 6, 7, 6]
    assert recorded[1].message == "sync_exit called sys.exit(3)"
    assert recorded[1].hook == "GET /plugins/quitter/sync"
    assert engine.metrics("quitter").execution.errorCount == len(cases) + 1


async def _no_body() -> bytes:
    return b""


def _dispatcher(client: Callable[..., Any]) -> Any:
    return client().server.app.state.pliers.dispatcher


def test_keyboard_interrupt_in_endpoint_code_still_propagates(
    engine: Engine, add: Callable[..., Any], client: Callable[..., Any]
) -> None:
    async def interrupted(request: Any) -> Any:
        raise KeyboardInterrupt

    def sync_interrupted(request: Any) -> Any:
        raise KeyboardInterrupt

    def returns_interrupting(request: Any) -> Any:
        return interrupted(request)

    add(
        "ctrlc",
        [
            {"path": "/plugins/ctrlc/async", "method": "GET", "handler": "interrupted"},
            {"path": "/plugins/ctrlc/sync", "method": "GET", "handler": "sync_interrupted"},
            {"path": "/plugins/ctrlc/coroutine", "method": "GET", "handler": "returns"},
            {
                "path": "/plugins/ctrlc/mixed",
                "method": "GET",
                "handler": "interrupted",
                "middleware": ["sync_interrupted"],
            },
        ],
        {
            "interrupted": interrupted,
            "sync_interrupted": sync_interrupted,
            "returns": returns_interrupting,
        },
    )
    dispatcher = _dispatcher(client)
    for name in ("async", "sync", "coroutine", "mixed"):
        # the server's own dispatcher, on a loop of this test: a KeyboardInterrupt on the
        # server's loop would end it, which is what it is for
        with pytest.raises(KeyboardInterrupt):
            asyncio.run(dispatcher.handle("GET", f"/plugins/ctrlc/{name}", [], b"", _no_body, None))
    assert engine.errors.for_plugin("ctrlc") == []


def test_a_real_cancellation_of_the_request_still_propagates(
    engine: Engine, add: Callable[..., Any], client: Callable[..., Any]
) -> None:
    started = threading.Event()

    async def slow(request: Any) -> Any:
        started.set()
        await asyncio.sleep(30)

    def returns_slow(request: Any) -> Any:
        return slow(request)

    add(
        "slow",
        [
            {"path": "/plugins/slow/async", "method": "GET", "handler": "slow"},
            {"path": "/plugins/slow/coroutine", "method": "GET", "handler": "returns_slow"},
        ],
        {"slow": slow, "returns_slow": returns_slow},
    )
    dispatcher = _dispatcher(client)

    async def cancel_while_running(path: str) -> None:
        started.clear()
        task = asyncio.create_task(dispatcher.handle("GET", path, [], b"", _no_body, None))
        while not started.is_set():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    for path in ("/plugins/slow/async", "/plugins/slow/coroutine"):
        asyncio.run(cancel_while_running(path))
    assert engine.errors.for_plugin("slow") == []
    assert dispatcher.inflight["slow"] == 0
