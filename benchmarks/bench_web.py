"""Plugin endpoint latency: our router and dispatcher against a bare Starlette route.

Both apps run on uvicorn (h11, asyncio) on loopback in this process, and answer the same
JSON. Ours: ``create_app(engine)`` with an inline plugin endpoint (match, request record,
response record check, metrics, access log). Peer: a Starlette ``Route`` returning a
``JSONResponse``. Each pair is measured with a sync handler (both hop to a worker thread)
and an async one (both answer on the event loop). The client is ``http.client`` over one
keep-alive connection per server, so its own overhead is small. The cases take turns in
rounds of 100 requests; every request is timed, and the ratio compares median latencies
(the medians shrug off the scheduling hiccups of a shared 2-core machine).
Run: ``python benchmarks/bench_web.py``

Prints a table, then one ``RESULT <name> <metric> <value> target <op> <target> PASS|FAIL``
line per target (DESIGN.md §4).
"""

from __future__ import annotations

import http.client
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _timing import result_line
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pliers_lab import Engine
from pliers_lab.web import Server, create_app

BODY = {"ok": True, "items": [1, 2, 3], "name": "pliers"}
ROUNDS, PER_ROUND, WARMUP = 20, 100, 300
TARGET = 1.3


def plugin_ping(request: Any) -> dict[str, Any]:
    return {"status": 200, "body": BODY}


async def plugin_aping(request: Any) -> dict[str, Any]:
    return {"status": 200, "body": BODY}


def bare_ping(request: Request) -> JSONResponse:
    return JSONResponse(BODY)


async def bare_aping(request: Request) -> JSONResponse:
    return JSONResponse(BODY)


MANIFEST = {
    "name": "bench",
    "version": "1.0.0",
    "description": "web benchmark plugin",
    "author": "bench",
    "license": "MIT",
    "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
    "permissions": {"api": ["register"], "network": {"inbound": True}},
    "api": {
        "endpoints": [
            {"path": "/plugins/bench/ping", "method": "GET", "handler": "plugin_ping"},
            {"path": "/plugins/bench/aping", "method": "GET", "handler": "plugin_aping"},
        ]
    },
}


def getter(url: str, path: str) -> Any:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)

    def get() -> bytes:
        conn.request("GET", path)
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise SystemExit(f"{path}: HTTP {response.status} {data[:200]!r}")
        return data

    return get


def sample(cases: dict[str, Any]) -> dict[str, list[float]]:
    """Seconds per request of every case, the cases taking turns in rounds."""
    for get in cases.values():
        for _ in range(WARMUP):
            get()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    clock = time.perf_counter
    for _ in range(ROUNDS):
        for name, get in cases.items():
            out = samples[name]
            for _ in range(PER_ROUND):
                start = clock()
                get()
                out.append(clock() - start)
    return samples


def main() -> None:
    engine = Engine(default_isolation="inline")
    engine.add_plugin(MANIFEST, {"plugin_ping": plugin_ping, "plugin_aping": plugin_aping})
    bare = Starlette(routes=[Route("/ping", bare_ping), Route("/aping", bare_aping)])
    ours_server = Server(create_app(engine)).start()
    bare_server = Server(bare).start()
    try:
        cases = {
            "ours sync": getter(ours_server.url, "/plugins/bench/ping"),
            "bare sync": getter(bare_server.url, "/ping"),
            "ours async": getter(ours_server.url, "/plugins/bench/aping"),
            "bare async": getter(bare_server.url, "/aping"),
        }
        assert cases["ours sync"]() == cases["bare sync"]()
        samples = sample(cases)
        medians = {name: statistics.median(v) for name, v in samples.items()}
        print(f"{'case':<12} {'p50 us':>8} {'p90 us':>8} {'p99 us':>8} {'req/s':>8}")
        for name, values in samples.items():
            values.sort()
            n = len(values)
            print(
                f"{name:<12} {medians[name] * 1e6:>8.1f} {values[int(n * 0.9)] * 1e6:>8.1f} "
                f"{values[int(n * 0.99)] * 1e6:>8.1f} {n / sum(values):>8.0f}"
            )
        sync_ratio = medians["ours sync"] / medians["bare sync"]
        async_ratio = medians["ours async"] / medians["bare async"]
        print(f"ratio sync {sync_ratio:.2f}, async {async_ratio:.2f} (ours / bare starlette)")
        print(result_line("web_endpoint_sync", "ratio_vs_starlette", sync_ratio, "<=", TARGET))
        print(result_line("web_endpoint_async", "ratio_vs_starlette", async_ratio, "<=", TARGET))
    finally:
        ours_server.stop()
        bare_server.stop()
        engine.close()


if __name__ == "__main__":
    main()
