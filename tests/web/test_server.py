"""The app factory, the background server and ``python -m pliers_lab serve``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from web.helpers import endpoint_manifest, ok

from pliers_lab import Engine
from pliers_lab.web import create_app, serve

ROOT = Path(__file__).parents[2]


def test_serve_binds_a_free_loopback_port_and_stops_cleanly(engine: Engine) -> None:
    engine.add_plugin(
        endpoint_manifest("p", [{"path": "/plugins/p/x", "method": "GET", "handler": "h"}]),
        {"h": lambda request: ok({"x": 1})},
    )
    with serve(engine) as server:
        assert server.url.startswith("http://127.0.0.1:") and str(server) == server.url
        assert server.running and repr(server).endswith("running>")
        with httpx.Client(base_url=server.url) as c:
            assert c.get("/plugins/p/x").json() == {"x": 1}
            health = c.get("/healthz").json()
            assert health == {"status": "ok", "plugins": 1, "active": 1, "endpoints": 1}
    assert not server.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/healthz", timeout=1.0)


def test_two_servers_on_one_engine(engine: Engine) -> None:
    with serve(engine) as a, serve(engine) as b:
        assert a.url != b.url
        assert (
            httpx.get(a.url + "/healthz").status_code
            == httpx.get(b.url + "/healthz").status_code
            == 200
        )


def test_create_app_exposes_its_parts(engine: Engine) -> None:
    app = create_app(engine, tokens=False)
    state = app.state.pliers
    assert state.engine is engine and state.tokens is None and state.host is None
    assert state.settings.management_auth is True


def test_unexpected_failures_in_the_web_layer_answer_500(engine: Engine) -> None:
    with serve(engine) as server, httpx.Client(base_url=server.url) as c:
        state = server.app.state.pliers

        def broken(method: str, path: str) -> None:
            raise RuntimeError("router bug")

        state.router.match = broken
        r = c.get("/plugins/any/thing")
        assert r.status_code == 500 and r.json()["error"]["code"] == "INTERNAL_ERROR"
        assert c.get("/healthz").status_code == 200


def test_importing_pliers_lab_does_not_import_the_web_layer() -> None:
    heavy = "('pliers_lab.web', 'starlette', 'uvicorn', 'jwt', 'multipart', 'websockets')"
    code = (
        "import json, sys, pliers_lab; print(json.dumps(sorted(m for m in sys.modules"
        f" if m.startswith({heavy}))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(out.stdout) == []
    # the framework-free parts of the web package load no framework, nor PyJWT
    code = (
        "import json, sys, pliers_lab.web, pliers_lab.web._bodies, pliers_lab.web._allowed_folders;"
        " print(json.dumps(sorted(m for m in sys.modules"
        " if m.startswith(('starlette', 'uvicorn', 'jwt')))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(out.stdout) == []


def test_the_serve_command(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pliers_lab",
            "serve",
            "--port",
            "0",
            "--isolation",
            "inline",
            "--extensions",
            str(ROOT / "extensions"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        assert lines[0].startswith("pliers-lab web: http://127.0.0.1:"), lines
        url = lines[0].split()[2]
        token = lines[2].split()[-1]
        assert "webhook" in lines[0]
        headers = {"authorization": f"Bearer {token}"}
        listing = httpx.get(
            url + "/v3/plugins", params={"limit": 100}, headers=headers, timeout=10
        ).json()
        assert "webhook" in [p["id"] for p in listing["plugins"]]
        assert httpx.get(url + "/plugins/webhook/list", timeout=10).status_code == 401
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            assert proc.wait(timeout=20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
