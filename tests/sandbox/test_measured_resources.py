"""Issue 18 §1, done when: a sandboxed plugin that reads 10 MB from its data folder, sends
1 MB through fetch and burns 0.5 s of CPU shows those figures (within 10 %) in its
metrics, in ``GET /v3/plugins/{id}/status`` and in the Prometheus endpoint; an inline
plugin shows "not measured" where it must. Real parts throughout: a locked-down worker
forked from the warm template, the host's fetch to an HTTP server on loopback, the web
server with its bearer token, ``prometheus_client``'s own parser."""

from __future__ import annotations

import http.server
import os
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from support import manifest, write_plugin

from pliers_lab import Engine, hook
from pliers_lab.observe.metrics import RESOURCE_FIGURES
from pliers_lab.sandbox import ProcessRuntime, SandboxPolicy
from pliers_lab.web import WebSettings, serve

pytestmark = pytest.mark.slow

HOOK = "submission.afterSave"
MIB = 1 << 20
READ, SENT, ANSWER, BURN_MS = 10 * MIB, 1 * MIB, 256 << 10, 500.0

CODE = """
import time
from pliers_lab import hook

@hook("submission.afterSave")
def work(ctx):
    what = ctx.data["do"]
    if what == "read":  # through the file system, in the worker
        total = 0
        with open(ctx.data["path"], "rb") as f:
            while chunk := f.read(1 << 20):
                total += len(chunk)
        return total
    if what == "send":  # through the host's fetch capability
        answer = ctx.api.http.post(ctx.data["url"], body="x" * ctx.data["size"])
        return [answer["status"], len(answer["text"])]
    if what == "burn":
        end = time.process_time() + ctx.data["seconds"]
        while time.process_time() < end:
            pass
        return "burnt"
    return "idle"
"""


class _Sink(http.server.BaseHTTPRequestHandler):
    """Takes a POST body whole and answers ``ANSWER`` bytes."""

    received: ClassVar[list[int]] = []

    def do_POST(self) -> None:
        size = int(self.headers["content-length"])
        self.received.append(len(self.rfile.read(size)))
        body = b"y" * ANSWER
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def sink() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def measured(tmp_path: Path, sink: str) -> Iterator[tuple[Engine, ProcessRuntime, httpx.Client]]:
    port = sink.rsplit(":", 1)[1]
    policy = SandboxPolicy(
        data_root=tmp_path / "data",
        network_deny=("10.0.0.0/8",),  # the default denies loopback, where the sink is
        usage_sample_s=0.2,
    )
    runtime = ProcessRuntime(policy)
    engine = Engine(default_isolation="process")
    engine.register_runtime(runtime)
    folder = write_plugin(
        tmp_path / "plugins",
        "meter",
        textwrap.dedent(CODE),
        {HOOK: {}},
        permissions={"filesystem": ["read"], "network": {"outbound": [f"127.0.0.1:{port}"]}},
    )
    engine.load(folder)

    @hook(HOOK)
    def note(ctx: Any) -> str:
        return "noted"

    engine.add_plugin(manifest("inline-note", {HOOK: {}}), {"note": note})
    server = serve(engine, settings=WebSettings())
    client = httpx.Client(
        base_url=server.url,
        timeout=30.0,
        headers={"authorization": f"Bearer {server.token}"},
    )
    try:
        yield engine, runtime, client
    finally:
        client.close()
        server.stop()
        engine.close()
        runtime.close()


def _fire(engine: Engine, **data: Any) -> Any:
    outcome = engine.fire(HOOK, data).outcome("meter")
    assert outcome.error is None, outcome.error
    return outcome.value


def _close_to(value: float | None, expected: float, what: str) -> None:
    assert value is not None, f"{what}: not measured"
    assert abs(value - expected) <= 0.1 * expected, f"{what}: {value} vs {expected} (±10 %)"


def _scrape(client: httpx.Client) -> dict[tuple[str, str], float]:
    from prometheus_client.parser import text_string_to_metric_families

    reply = client.get("/v3/metrics")
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, sample.labels["plugin"]): sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
    }


def test_a_sandboxed_plugin_shows_what_it_read_sent_and_burnt(
    measured: tuple[Engine, ProcessRuntime, httpx.Client], sink: str
) -> None:
    engine, runtime, client = measured
    template = runtime.template
    assert template is not None and template.wait_up(), runtime.template_off
    engine.worker("meter").recycle()  # the work happens on a worker the template forked
    worker = engine.worker("meter").worker
    assert worker.template is not None
    blob = runtime.policy.data_root / "meter" / "blob.bin"
    blob.write_bytes(os.urandom(READ))  # the page cache serves it: block I/O stays ~0

    before = engine.metrics("meter").resources
    assert _fire(engine, do="read", path=str(blob)) == READ
    after_read = engine.metrics("meter").resources
    assert _fire(engine, do="send", url=sink + "/in", size=SENT) == [200, ANSWER]
    assert _Sink.received[-1] == SENT
    after_send = engine.metrics("meter").resources
    assert _fire(engine, do="burn", seconds=BURN_MS / 1000) == "burnt"
    time.sleep(0.6)  # a few samples after the burn
    after = engine.metrics("meter").resources

    def delta(late: dict[str, Any], early: dict[str, Any], group: str, name: str) -> float:
        return float(late[group][name]) - float(early[group][name])

    # each call shows in its own figure, and not in the others'
    _close_to(delta(after_read, before, "diskIO", "read"), READ, "diskIO.read")
    assert delta(after_read, before, "diskIO", "write") < 64 << 10
    _close_to(delta(after_send, after_read, "networkIO", "bytesOut"), SENT, "bytesOut")
    _close_to(delta(after_send, after_read, "networkIO", "bytesIn"), ANSWER, "bytesIn")
    assert delta(after_send, after_read, "networkIO", "requests") == 1
    # the 1 MB crossed the worker's wire to the host: not file-system bytes
    assert delta(after_send, after_read, "diskIO", "write") < 64 << 10
    assert delta(after_send, after_read, "diskIO", "read") < 64 << 10
    _close_to(delta(after, after_send, "cpuUsage", "total"), BURN_MS, "cpuUsage.total")
    cpu = after["cpuUsage"]
    assert 20 <= cpu["peak"] <= 115, cpu  # one thread burning, sampled every 0.2 s
    assert cpu["current"] is not None and cpu["current"] <= cpu["peak"]
    memory = after["memoryUsage"]
    assert 1 < memory["current"] <= memory["peak"] and memory["average"] > 1, memory
    assert after["notMeasured"] == {}
    assert set(after["units"]) == {f"{g}.{n}" for g, n, _u in RESOURCE_FIGURES}
    assert "rchar" in after["sources"]["diskIO.read"]

    expected = {
        ("diskIO", "read"): READ,
        ("networkIO", "bytesOut"): SENT,
        ("networkIO", "bytesIn"): ANSWER,
        ("cpuUsage", "total"): BURN_MS,
    }
    # the status endpoint: the same figures, and the limits its worker runs under
    status = client.get("/v3/plugins/meter/status").json()
    for (group, name), value in expected.items():
        shown = status["resources"][group][name] - before[group][name]
        _close_to(shown, value, f"status {group}.{name}")
    limits = status["limits"]
    policy = runtime.policy.limits
    assert limits["applied"] is True and limits["source"].startswith(f"worker {worker.pid}")
    assert (
        limits["addressSpaceBytes"] == (policy.memory_mb + policy.address_space_headroom_mb) * MIB
    )
    assert limits["openFiles"] == policy.max_open_files
    assert limits["cpuMsPerCall"] == status["resources"]["cpu"]["limit"] == policy.cpu_ms
    if "cgroup" in engine.plugin("meter").layers:  # read back from the worker's group
        assert limits["memoryBytes"] == policy.memory_mb * MIB
        assert status["resources"]["memory"]["limit"] == policy.memory_mb
        assert limits["pids"] == policy.max_threads + 1
    else:
        assert limits["memoryBytes"] is None and "memoryBytes" in limits["notApplied"]

    # Prometheus: units in the names, one label, the same figures
    samples = _scrape(client)
    names = {
        ("diskIO", "read"): ("pliers_plugin_fs_read_bytes_total", 1.0),
        ("networkIO", "bytesOut"): ("pliers_plugin_network_sent_bytes_total", 1.0),
        ("networkIO", "bytesIn"): ("pliers_plugin_network_received_bytes_total", 1.0),
        ("cpuUsage", "total"): ("pliers_plugin_cpu_seconds_total", 1000.0),
    }
    for (group, name), value in expected.items():
        metric, scale = names[(group, name)]
        shown = samples[(metric, "meter")] * scale - before[group][name]
        _close_to(shown, value, metric)
    assert samples[("pliers_plugin_network_requests_total", "meter")] >= 1
    assert samples[("pliers_plugin_memory_resident_bytes", "meter")] > MIB

    # a worker's end keeps its figures (its parent reports them), and a new one adds on
    worker.kill("test")
    ended = worker.exit[1] if worker.exit is not None else None
    if os.geteuid() == 0:  # the template read the zombie's counters before reaping it
        assert ended is not None and ended.io is not None, ended
    gone = engine.metrics("meter").resources
    for (group, name), value in expected.items():
        _close_to(gone[group][name] - before[group][name], value, f"after the kill {group}.{name}")
    assert gone["memoryUsage"]["current"] == 0.0  # no worker runs: none holds memory
    assert _fire(engine, do="read", path=str(blob)) == READ  # a restarted worker
    again = engine.metrics("meter").resources
    _close_to(delta(again, gone, "diskIO", "read"), READ, "diskIO.read after a restart")
    assert again["cpuUsage"]["total"] >= gone["cpuUsage"]["total"]


def test_an_inline_plugin_shows_not_measured_not_zero(
    measured: tuple[Engine, ProcessRuntime, httpx.Client],
) -> None:
    engine, _runtime, client = measured
    assert engine.fire(HOOK, {"do": "idle"}).outcome("inline-note").value == "noted"
    resources = engine.metrics("inline-note").resources
    for group, name, _unit in RESOURCE_FIGURES:
        assert resources[group][name] is None, (group, name)
        assert "inline" in resources["notMeasured"][f"{group}.{name}"]
    assert resources["sources"] == {}
    assert "thread_time" in resources["notMeasured"]["cpuUsage.total"]

    status = client.get("/v3/plugins/inline-note/status").json()
    assert status["resources"]["memory"] == {"current": None, "limit": None, "unit": "MiB"}
    assert status["resources"]["cpu"]["current"] is None
    assert status["resources"]["cpu"]["limit"] is None
    assert status["limits"]["applied"] is False and "inline" in status["limits"]["reason"]
    assert status["limits"]["hookTimeoutsMs"] == {HOOK: 30000.0}

    samples = _scrape(client)
    assert samples[("pliers_plugin_calls_total", "inline-note")] >= 1  # counted: it ran
    measured_only = [
        name for name, plugin in samples if plugin == "inline-note" and "calls" not in name
    ]
    # no resource sample at all for what is not measured (the counts are the engine's)
    assert set(measured_only) == {
        "pliers_plugin_errors_total",
        "pliers_plugin_call_seconds_total",
        "pliers_plugin_restarts_total",
    }, measured_only

    frame = engine.metrics_frame().set_index("plugin_id")
    assert frame.loc["inline-note", "cpu_total_ms"] != frame.loc["inline-note", "cpu_total_ms"]
    assert "cpuUsage.total" in frame.loc["inline-note", "not_measured"]
    # the sandboxed one: a rate needs two samples (0.2 s apart), then everything is
    missing = frame.loc["meter", "not_measured"]
    assert set(missing.split(",")) <= {"", "cpuUsage.current", "cpuUsage.peak"}, missing
    deadline = time.monotonic() + 10
    while engine.metrics("meter").resources["notMeasured"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert engine.metrics_frame().set_index("plugin_id").loc["meter", "not_measured"] == ""
