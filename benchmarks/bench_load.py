"""Plugin endpoints under load: 1, 10, 50 and 200 concurrent clients, inline and sandboxed.

The server runs in its own process (``python -c SERVER``): uvicorn, ``create_app`` with
the default ``WebSettings``, an engine with two plugins whose endpoint handler sleeps
10 ms — one inline (trusted, in the server's process), one sandboxed (its own locked-down
worker, the engine's default placement). The clients are this process's asyncio tasks,
each on its own keep-alive HTTP/1.1 connection, sending ``GET`` as fast as answers come
for a fixed time per level. A connection the server resets is counted (``reset``) and
reopened.

Printed per endpoint and level: requests/s, p50 and p99 latency, and the count of each
status code. Load is not failure: under load the server may answer 503 (its concurrency
cap, with ``Retry-After``) but never another 5xx, and the plugin stays enabled — the
RESULT lines check both at 50 clients, then that each plugin is still ``active`` and
answers one more request.

Run: ``python benchmarks/bench_load.py [seconds per level]`` (default 4).
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _timing import result_line

LEVELS = (1, 10, 50, 200)
PLUGIN = """
import time

def ping(request):
    time.sleep(0.010)
    return {"status": 200, "body": {"ok": True}}
"""


def manifest(name: str) -> dict[str, object]:
    return {
        "name": name,
        "version": "1.0.0",
        "description": f"load benchmark plugin ({name})",
        "author": "bench <bench@example.com>",
        "license": "MIT",
        "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
        "permissions": {"api": {"register": [f"/plugins/{name}/*"]}, "network": {"inbound": True}},
        "api": {"endpoints": [{"path": f"/plugins/{name}/ping", "method": "GET",
                               "handler": "ping"}]},
    }  # fmt: skip


SERVER = """
import json, sys
from pathlib import Path
from pliers_lab import Engine
from pliers_lab.web import serve

root = Path(sys.argv[1])
engine = Engine()
engine.load(root / "inline-load", isolation="inline")  # the host's choice: in this process
engine.load(root / "boxed-load")                       # the default: a locked-down worker
server = serve(engine, "127.0.0.1", 0, log_level="error")
print(json.dumps({"url": server.url, "token": server.token,
                  "isolation": {p.id: p.isolation for p in engine.plugins}}), flush=True)
sys.stdin.read()  # until the benchmark closes our stdin
server.stop()
engine.close()
"""


class Level:
    """What one level of load got: latencies of answered requests, statuses, resets."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: collections.Counter[str] = collections.Counter()
        self.seconds = 0.0


async def one_client(host: str, port: int, path: str, until: float, level: Level) -> None:
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    reader = writer = None
    while time.monotonic() < until:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            assert reader is not None
            start = time.perf_counter()
            writer.write(request)
            status_line = await reader.readline()
            if not status_line:
                raise ConnectionResetError("closed by the server")
            length, close = 0, False
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                elif name.lower() == "connection" and "close" in value.lower():
                    close = True
            await reader.readexactly(length)
            level.latencies.append(time.perf_counter() - start)
            level.statuses[status_line.split()[1].decode()] += 1
            if close:
                writer.close()
                writer = None
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            level.statuses["reset"] += 1
            if writer is not None:
                writer.close()
            writer = None
    if writer is not None:
        writer.close()


async def drive(url: str, path: str, clients: int, seconds: float) -> Level:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    level = Level()
    start = time.monotonic()
    until = start + seconds
    await asyncio.gather(*(one_client(host, int(port), path, until, level) for _ in range(clients)))
    level.seconds = time.monotonic() - start
    return level


def status_of(url: str, token: str, plugin: str) -> tuple[str, int]:
    """The plugin's state from the management API, and one more endpoint answer's status."""
    import httpx

    headers = {"authorization": f"Bearer {token}"}
    details = httpx.get(f"{url}/v3/plugins/{plugin}", headers=headers, timeout=10)
    state = details.json().get("status", "?") if details.status_code == 200 else "?"
    answer = httpx.get(f"{url}/plugins/{plugin}/ping", timeout=10)
    return str(state), answer.status_code


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 4.0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in ("inline-load", "boxed-load"):
            (root / name).mkdir()
            (root / name / "manifest.json").write_text(json.dumps(manifest(name)))
            (root / name / "plugin.py").write_text(PLUGIN)
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(root)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PLIERS_LAB_DATA": str(root / "data")},
        )
        assert server.stdout is not None and server.stdin is not None
        info = json.loads(server.stdout.readline())
        url, token = info["url"], info["token"]
        print(f"server {url}: {info['isolation']}; handler sleeps 10 ms; {seconds:g} s per level")
        print(f"{'endpoint':<16} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  statuses")
        at_50: dict[str, Level] = {}
        try:
            for plugin in ("inline-load", "boxed-load"):
                for clients in LEVELS:
                    level = asyncio.run(drive(url, f"/plugins/{plugin}/ping", clients, seconds))
                    lat = sorted(level.latencies) or [float("nan")]
                    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
                    shown = ", ".join(f"{k}: {v}" for k, v in sorted(level.statuses.items()))
                    print(
                        f"{plugin:<16} {clients:>7} {len(level.latencies) / level.seconds:>8.0f} "
                        f"{statistics.median(lat) * 1000:>8.1f} {p99 * 1000:>8.1f}  {shown}"
                    )
                    if clients == 50:
                        at_50[plugin] = level
            after = {plugin: status_of(url, token, plugin) for plugin in at_50}
        finally:
            server.stdin.close()
            server.wait(timeout=30)
        for plugin, level in at_50.items():
            bad = sum(
                n for code, n in level.statuses.items()
                if code == "reset" or (code.startswith("5") and code != "503")
            )  # fmt: skip
            state, answer = after[plugin]
            print(f"after the run: {plugin} is {state}, one more request answers {answer}")
            name = plugin.replace("-", "_")
            print(result_line(f"{name}_50_clients", "non_503_5xx_or_resets", bad, "<=", 0))
            ok = state == "active" and answer == 200
            print(result_line(f"{name}_after_load", "still_active_and_answering", ok, ">=", 1))


if __name__ == "__main__":
    main()
