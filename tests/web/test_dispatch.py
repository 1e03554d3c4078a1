"""Plugin endpoints through a real uvicorn server on loopback, driven by httpx."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from web.helpers import endpoint_manifest, ok

from pliers_lab import Engine, HookContext, PluginErrorType, Veto, hook

ECHO = [
    {"path": "/plugins/echo/items/:id", "method": "GET", "handler": "get_item"},
    {
        "path": "/plugins/echo/items",
        "method": "POST",
        "handler": "create",
        "validation": {
            "body": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}},
            }
        },
    },
    {
        "path": "/plugins/echo/search",
        "method": "GET",
        "handler": "search",
        "validation": {
            "query": {
                "type": "object",
                "properties": {"limit": {"type": "integer", "maximum": 50, "default": 10}},
            }
        },
    },
]


def echo_functions() -> dict[str, Any]:
    def get_item(request: Any) -> dict[str, Any]:
        return ok(
            {"id": request.params["id"], "q": request.query, "user": request.metadata.user_id}
        )

    def create(request: Any) -> dict[str, Any]:
        return {
            "status": 201,
            "headers": {"Location": f"/items/{request.body['name']}"},
            "body": {"created": request.body},
        }

    def search(request: Any) -> dict[str, Any]:
        return ok({"limit": request.query["limit"]})

    return {"get_item": get_item, "create": create, "search": search}


def test_params_query_and_body_reach_the_handler(
    add: Callable[..., Any], client: Callable[..., Any]
) -> None:
    add("echo", ECHO, echo_functions())
    c = client()
    r = c.get("/plugins/echo/items/42", params={"a": "1"})
    assert r.status_code == 200 and r.json() == {"id": "42", "q": {"a": "1"}, "user": None}
    assert r.headers["x-request-id"].startswith("req-")
    r = c.post("/plugins/echo/items", json={"name": "pen"})
    assert r.status_code == 201 and r.headers["location"] == "/items/pen"
    assert c.get("/plugins/echo/search", params={"limit": "7"}).json() == {"limit": 7}
    assert c.get("/plugins/echo/search").json() == {"limit": 10}


def test_not_found_and_method_not_allowed(
    add: Callable[..., Any], client: Callable[..., Any]
) -> None:
    add("echo", ECHO, echo_functions())
    c = client()
    r = c.get("/plugins/echo/nothing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "ROUTE_NOT_FOUND"
    r = c.delete("/plugins/echo/items/1")
    assert r.status_code == 405 and r.headers["allow"] == "GET"
    error = r.json()["error"]
    assert error["code"] == "METHOD_NOT_ALLOWED" and set(error) == {
        "code",
        "message",
        "details",
        "timestamp",
        "requestId",
    }
    assert error["requestId"] == r.headers["x-request-id"]


def test_validation_errors_are_listed_with_paths(
    add: Callable[..., Any], client: Callable[..., Any]
) -> None:
    add("echo", ECHO, echo_functions())
    c = client()
    r = c.post("/plugins/echo/items", json={"name": 3})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "VALIDATION_FAILED"
    assert error["details"]["errors"] == [
        {"path": "body.name", "message": "3 is not of type 'string'", "value": 3}
    ]
    r = c.get("/plugins/echo/search", params={"limit": "99"})
    assert r.json()["error"]["details"]["errors"][0]["path"] == "query.limit"
    r = c.post(
        "/plugins/echo/items", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_REQUEST"


def test_rate_limit_headers_and_429(add: Callable[..., Any], client: Callable[..., Any]) -> None:
    add(
        "lim",
        [
            {
                "path": "/plugins/lim/x",
                "method": "GET",
                "handler": "h",
                "rateLimit": {"requests": 3, "window": 60},
            }
        ],
        {"h": lambda request: ok({})},
    )
    c = client()
    answers = [c.get("/plugins/lim/x") for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert [r.headers["x-ratelimit-remaining"] for r in answers] == ["2", "1", "0", "0"]
    last = answers[-1]
    assert last.headers["x-ratelimit-limit"] == "3"
    assert int(last.headers["x-ratelimit-reset"]) >= int(time.time())
    assert int(last.headers["retry-after"]) >= 1
    assert last.json()["error"]["code"] == "RATE_LIMITED"


def test_a_raising_plugin_gives_500_and_others_keep_answering(
    engine: Engine, add: Callable[..., Any], client: Callable[..., Any]
) -> None:
    def boom(request: Any) -> Any:
        raise ZeroDivisionError("nope")

    add(
        "crashy",
        [
            {"path": "/plugins/crashy/boom", "method": "GET", "handler": "boom"},
            {"path": "/plugins/crashy/garbage", "method": "GET", "handler": "garbage"},
            {"path": "/plugins/crashy/exit", "method": "GET", "handler": "leave"},
        ],
        {"boom": boom, "garbage": lambda request: {"items": [1]}, "leave": lambda request: exit(3)},
    )
    add("echo", ECHO, echo_functions())
    c = client()
    r = c.get("/plugins/crashy/boom")
    assert r.status_code == 500
    error = r.json()["error"]
    assert error["code"] == "PLUGIN_ERROR" and error["details"]["errorType"] == "runtime_error"
    assert c.get("/plugins/echo/items/1").status_code == 200
    r = c.get("/plugins/crashy/garbage")
    assert r.status_code == 500 and r.json()["error"]["details"]["errorType"] == "validation_error"
    assert c.get("/plugins/crashy/exit").status_code == 500  # sys.exit in a plugin
    assert c.get("/plugins/echo/items/2").status_code == 200
    recorded = engine.errors.for_plugin("crashy")
    assert [e.type for e in recorded] == [
        PluginErrorType.RUNTIME_ERROR,
        PluginErrorType.VALIDATION_ERROR,
        PluginErrorType.RUNTIME_ERROR,
    ]
    first = recorded[0]
    assert first.hook == "GET /plugins/crashy/boom"
    assert first.execution_id == error["requestId"]
    assert first.metadata["step"] == "boom" and isinstance(first.cause, ZeroDivisionError)
    assert engine.metrics("crashy").execution.errorCount == 3
    assert engine.metrics("echo").execution.count == 2


def test_a_hanging_plugin_gives_504_and_a_timeout_error(
    engine: Engine, add: Callable[..., Any], client: Callable[..., Any]
) -> None:
    release = threading.Event()

    async def stuck_async(request: Any) -> Any:
        await asyncio.sleep(30)

    add(
        "hang",
        [
            {"path": "/plugins/hang/sync", "method": "GET", "handler": "stuck"},
            {"path": "/plugins/hang/async", "method": "GET", "handler": "stuck_async"},
        ],
        {"stuck": lambda request: release.wait(10), "stuck_async": stuck_async},
    )
    add("echo", ECHO, echo_functions())
    c = client(handler_timeout_s=0.2)
    try:
        for path in ("/plugins/hang/sync", "/plugins/hang/async"):
            r = c.get(path)
            assert r.status_code == 504 and r.json()["error"]["code"] == "PLUGIN_TIMEOUT"
        assert c.get("/plugins/echo/items/1").status_code == 200
        assert [e.type for e in engine.errors.for_plugin("hang")] == [
            PluginErrorType.TIMEOUT_ERROR
        ] * 2
    finally:
        release.set()


def test_a_plugin_that_keeps_hanging_is_shut_out_not_the_server(
    add: Callable[..., Any], client: Callable[..., Any]
) -> None:
    release = threading.Event()
    add(
        "hang",
        [{"path": "/plugins/hang/x", "method": "GET", "handler": "stuck"}],
        {"stuck": lambda request: ok({"waited": release.wait(10)})},
    )
    add("echo", ECHO, echo_functions())
    c = client(handler_timeout_s=0.1, max_concurrency=2)
    try:
        assert [c.get("/plugins/hang/x").status_code for _ in range(3)] == [504, 504, 503]
        assert c.get("/plugins/echo/items/1").status_code == 200
    finally:
        release.set()
    deadline = time.monotonic() + 5
    while c.server.app.state.pliers.dispatcher.inflight["hang"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert c.get("/plugins/hang/x").status_code == 200  # slots came back with the threads


def test_middleware_runs_first_and_may_answer(
    add: Callable[..., Any], client: Callable[..., Any]
) -> None:
    def need_key(request: Any) -> Any:
        if request.headers.get("x-key") != "s3cret":
            return {"status": 403, "body": {"denied": True}}
        request.state["checked"] = True
        return None

    async def handler(request: Any) -> Any:
        return ok({"checked": request.state.get("checked")})

    add(
        "mw",
        [
            {
                "path": "/plugins/mw/x",
                "method": "GET",
                "handler": "handler",
                "middleware": ["need_key"],
            }
        ],
        {"need_key": need_key, "handler": handler},
    )
    c = client()
    assert c.get("/plugins/mw/x").json() == {"denied": True}
    assert c.get("/plugins/mw/x", headers={"x-key": "s3cret"}).json() == {"checked": True}


def test_disable_and_enable_remove_and_add_routes(
    engine: Engine, add: Callable[..., Any], client: Callable[..., Any]
) -> None:
    add("echo", ECHO, echo_functions())
    c = client()
    assert c.get("/plugins/echo/items/1").status_code == 200
    engine.disable("echo")
    assert c.get("/plugins/echo/items/1").status_code == 404
    engine.enable("echo")
    assert c.get("/plugins/echo/items/1").status_code == 200
    engine.unload("echo")
    assert c.get("/plugins/echo/items/1").status_code == 404
    add("echo", ECHO[:1], echo_functions())
    assert c.get("/plugins/echo/items/1").status_code == 200
    assert c.post("/plugins/echo/items", json={"name": "x"}).status_code == 404


def test_api_request_and_api_response_hooks_wrap_endpoints(
    engine: Engine, add: Callable[..., Any], client: Callable[..., Any]
) -> None:
    seen: list[dict[str, Any]] = []

    def rewrite_request(ctx: HookContext) -> dict[str, Any]:
        seen.append(ctx.data)
        return {**ctx.data, "body": {"name": str(ctx.data["body"]["name"]).upper()}}

    def rewrite_response(ctx: HookContext) -> dict[str, Any]:
        return {**ctx.data, "headers": {**ctx.data["headers"], "x-wrapped": ctx.data["pluginId"]}}

    engine.add_plugin(
        endpoint_manifest("wrapper", [], hooks={"api.request": {}, "api.response": {}}),
        {
            "request": hook("api.request")(rewrite_request),
            "response": hook("api.response")(rewrite_response),
        },
    )
    add("echo", ECHO, echo_functions())
    c = client()
    r = c.post("/plugins/echo/items", json={"name": "pen"})
    assert r.json() == {"created": {"name": "PEN"}}
    assert r.headers["x-wrapped"] == "echo"
    assert seen[0]["endpoint"] == "/plugins/echo/items" and seen[0]["method"] == "POST"


def test_auth_hooks_and_vetoes(
    engine: Engine, add: Callable[..., Any], client: Callable[..., Any]
) -> None:
    @hook("auth.authenticate")
    def who(ctx: HookContext) -> Any:
        token = ctx.data["credentials"]["token"]
        return {"id": "bob", "roles": ["staff"]} if token == "bob-token" else None

    @hook("auth.authorize")
    def gate(ctx: HookContext) -> Any:
        return (
            Veto("bob may not read item 13")
            if ctx.data["resource"]["params"].get("id") == "13"
            else None
        )

    engine.add_plugin(
        endpoint_manifest("gatekeeper", [], hooks={"auth.authenticate": {}, "auth.authorize": {}}),
        {"who": who, "gate": gate},
    )
    add("echo", [{**ECHO[0], "auth": {"required": True}}], echo_functions())
    c = client()
    r = c.get("/plugins/echo/items/1")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    bob = {"authorization": "Bearer bob-token"}
    assert c.get("/plugins/echo/items/1", headers=bob).json()["user"] == "bob"
    r = c.get("/plugins/echo/items/13", headers=bob)
    assert r.status_code == 403 and "gatekeeper" in r.json()["error"]["message"]
    r = c.get("/plugins/echo/items/1", headers={"authorization": "Bearer nobody"})
    assert r.status_code == 401 and "gatekeeper" in r.json()["error"]["message"]
