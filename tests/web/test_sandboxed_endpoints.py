"""Endpoints of sandboxed plugins, served for real: the functions run in the worker."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import write_plugin

from pliers_lab import Engine
from pliers_lab.sandbox import ProcessRuntime, SandboxPolicy
from pliers_lab.web import WebSettings, serve

CODE = """
import os

def stamp(request):
    request.state["seen_by"] = "stamp"  # middleware: passes on (returns None)

def echo(request):
    return {
        "status": 201,
        "body": {
            "id": request.params.get("id"),
            "q": request.query.get("q"),
            "body": request.body,
            "state": request.state,
            "method": request.method,
            "requestId": request.metadata.request_id,
            "pid": os.getpid(),
        },
    }

def raw(request):
    return {
        "status": 200,
        "headers": {"content-type": "application/octet-stream"},
        "body": bytes(reversed(request.raw_body)),
    }

def peek(request):
    with open("/etc/passwd") as f:
        return {"status": 200, "body": f.read()}
"""

ENDPOINTS = [
    {
        "method": "POST",
        "path": "/plugins/boxed/echo/:id",
        "handler": "echo",
        "middleware": ["stamp"],
    },
    {"method": "POST", "path": "/plugins/boxed/raw", "handler": "raw"},
    {"method": "GET", "path": "/plugins/boxed/peek", "handler": "peek"},
]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[httpx.Client, ProcessRuntime, Engine]]:
    runtime = ProcessRuntime(SandboxPolicy(data_root=tmp_path / "data"))
    engine = Engine(default_isolation="process")
    engine.register_runtime(runtime)
    folder = write_plugin(
        tmp_path,
        "boxed",
        textwrap.dedent(CODE),
        {},
        api={"endpoints": ENDPOINTS},
        permissions={"api": ["register"], "network": ["inbound"]},
    )
    plugin = engine.load(folder)
    assert plugin.isolation == "process"
    server = serve(engine, settings=WebSettings())
    client = httpx.Client(base_url=server.url, timeout=10.0)
    try:
        yield client, runtime, engine
    finally:
        client.close()
        server.stop()
        engine.close()
        runtime.close()


def test_endpoint_runs_in_the_worker_with_its_middleware(
    served: tuple[httpx.Client, ProcessRuntime, Engine],
) -> None:
    client, runtime, _ = served
    reply = client.post("/plugins/boxed/echo/42?q=hi", json={"n": 1})
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert body["id"] == "42" and body["q"] == "hi" and body["body"] == {"n": 1}
    assert body["state"] == {"seen_by": "stamp"}  # the middleware's state reached the handler
    assert body["method"] == "POST" and body["requestId"] == reply.headers["x-request-id"]
    assert body["pid"] == runtime.usage("boxed")["pid"] != os.getpid()


def test_bytes_cross_both_ways(served: tuple[httpx.Client, ProcessRuntime, Engine]) -> None:
    client, _, _ = served
    payload = bytes(range(256))
    reply = client.post(
        "/plugins/boxed/raw", content=payload, headers={"content-type": "application/octet-stream"}
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/octet-stream"
    assert reply.content == bytes(reversed(payload))


def test_a_blocked_endpoint_quarantines_its_plugin_and_the_server_keeps_serving(
    served: tuple[httpx.Client, ProcessRuntime, Engine],
) -> None:
    client, _, engine = served
    reply = client.get("/plugins/boxed/peek")
    assert reply.status_code == 500
    assert "root:" not in reply.text  # the kernel refused the read
    details = reply.json()["error"]["details"]
    assert details["errorType"] == "security_error" and details["step"] == "peek"
    # the caller learns the error id; the refusal's words are the operator's to read
    assert "/etc/passwd" not in reply.text
    (recorded,) = [e for e in engine.errors.for_plugin("boxed") if e.id == details["errorId"]]
    assert "/etc/passwd" in recorded.message
    # As after a hook's violation: quarantined, its routes withdrawn, the server alive.
    assert engine.quarantined("boxed") is not None
    assert client.post("/plugins/boxed/raw", content=b"ab").status_code == 404
    engine.release("boxed")
    again = client.post("/plugins/boxed/raw", content=b"ab")
    assert again.status_code == 200 and again.content == b"ba"


SUBMITTER = """
def submit(request):
    offered = {name: request.api.offers(name) for name in ("create_submission", "nothing")}
    saved = request.api.create_submission("contact", request.body, {"channel": "web"})
    return {
        "status": 201,
        "body": {"offered": offered, "id": saved["id"], "base": request.base_url},
    }
"""


def test_request_scoped_services_cross_the_wire(tmp_path: Path) -> None:
    """``request.api.create_submission`` (offered by a host) runs in the host, called by
    name from the worker while the request is open; ``offers`` answers in the worker."""
    import copy

    from pliers_lab.host import Host
    from pliers_lab.host.sample_forms import CONTACT

    runtime = ProcessRuntime(SandboxPolicy(data_root=tmp_path / "data"))
    engine = Engine(default_isolation="process")
    engine.register_runtime(runtime)
    host = Host(engine, db_path=":memory:")
    host.create_form(copy.deepcopy(CONTACT))
    endpoint = {"method": "POST", "path": "/plugins/submitter/submit", "handler": "submit"}
    engine.load(
        write_plugin(
            tmp_path,
            "submitter",
            textwrap.dedent(SUBMITTER),
            {},
            api={"endpoints": [endpoint]},
            permissions={
                "api": ["register"],
                "network": ["inbound"],
                "database": {"write": ["submissions"]},
            },
        )
    )
    server = serve(engine, pliers_host=host, settings=WebSettings())
    try:
        with httpx.Client(base_url=server.url, timeout=10.0) as client:
            data = {"name": "Ann Lee", "email": "ann@example.com", "topic": "sales"}
            data["message"] = "Hello there, a question about pricing."
            reply = client.post("/plugins/submitter/submit", json=data)
            assert reply.status_code == 201, reply.text
            body = reply.json()
            assert body["offered"] == {"create_submission": True, "nothing": False}
            assert body["base"] == server.url
            saved = host.submissions.get(body["id"])
            assert saved["data"]["email"] == "ann@example.com"
            assert saved["metadata"]["source"] == "plugin:submitter"
            assert saved["metadata"]["channel"] == "web"
    finally:
        server.stop()
        engine.close()
        runtime.close()
