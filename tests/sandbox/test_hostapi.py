"""Host capabilities over the wire: permission checks, the access log, audit mode."""

from __future__ import annotations

import http.server
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sandbox.helpers import MakePlugin

from pliers_lab import Engine, PluginErrorType
from pliers_lab.sandbox import ProcessRuntime, SandboxPolicy
from pliers_lab.sandbox._access import AccessLog
from pliers_lab.sandbox._audit import suggest_permissions

HOOK = "submission.afterSave"


class FakeDatabase:
    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {"submissions": [{"id": 1}]}

    def find(self, table: str, query: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return self.rows.get(table, [])

    def create(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        self.rows.setdefault(table, []).append(row)
        return row


DB_PLUGIN = """
from pliers_lab import PluginError, hook

@hook("submission.afterSave")
def use_db(ctx):
    found = ctx.api.database.find("submissions", {"id": 1})
    try:
        ctx.api.database.create("submissions", {"id": 2})
        wrote = "wrote"
    except PluginError as exc:
        wrote = exc.type
    return {"found": found, "wrote": wrote}
"""


@pytest.fixture
def db() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def hosted(sandbox: Engine, db: FakeDatabase) -> Engine:
    sandbox.add_api_provider(lambda plugin: {"database": db})
    return sandbox


def test_permission_checked_logged_then_acted(
    hosted: Engine, runtime: ProcessRuntime, make_plugin: MakePlugin, db: FakeDatabase
) -> None:
    hosted.load(
        make_plugin("reader", DB_PLUGIN, permissions={"database": {"read": ["submissions"]}})
    )
    result = hosted.fire(HOOK, {})
    assert result.value == [{"found": [{"id": 1}], "wrote": "security_error"}]
    assert db.rows["submissions"] == [{"id": 1}]
    rows = runtime.access_log.rows("reader")
    assert [(r.category, r.verb, r.resource, r.verdict) for r in rows] == [
        ("database", "read", "submissions", "allowed"),
        ("database", "write", "submissions", "denied"),
    ]
    assert rows[0].hook == HOOK and rows[0].execution_id == result.execution_id
    frame = runtime.access_log.frame("reader")
    assert list(frame["verdict"]) == ["allowed", "denied"]


def test_access_log_kept_in_a_sqlite_file(
    policy: SandboxPolicy, make_plugin: MakePlugin, db: FakeDatabase, tmp_path: Path
) -> None:
    """With a path, the whole trail is on disk: past the memory bound and a restart."""
    from pliers_lab.sandbox._access import AccessLog

    path = tmp_path / "audit" / "access.db"
    runtime = ProcessRuntime(policy, access_log=AccessLog(capacity=1, path=path))
    engine = Engine(default_isolation="process")
    engine.register_runtime(runtime)
    engine.add_api_provider(lambda plugin: {"database": db})
    engine.load(
        make_plugin("reader", DB_PLUGIN, permissions={"database": {"read": ["submissions"]}})
    )
    first = engine.fire(HOOK, {}).execution_id
    engine.fire(HOOK, {})
    assert len(runtime.access_log) == 4  # 2 per call, though only 1 is kept in memory
    engine.close()
    runtime.close()
    runtime.access_log.close()

    reopened = AccessLog(path=path)
    rows = reopened.rows("reader")
    assert [r.verdict for r in rows] == ["allowed", "denied"] * 2
    assert rows[0].execution_id == first and rows[1].resource == "submissions"
    assert [r.verb for r in reopened.rows(verdict="denied")] == ["write", "write"]
    assert list(reopened.frame("reader")["verdict"])[:2] == ["allowed", "denied"]
    reopened.close()
    (tmp_path / "not-a-db").write_text("x" * 200)
    with pytest.raises(ValueError, match="not-a-db: cannot use this file"):
        AccessLog(path=tmp_path / "not-a-db")


def test_audit_mode_logs_instead_of_denying_and_suggests(
    hosted: Engine, runtime: ProcessRuntime, make_plugin: MakePlugin, db: FakeDatabase
) -> None:
    hosted.load(make_plugin("auditee", DB_PLUGIN))
    runtime.set_mode("auditee", "audit")
    assert hosted.fire(HOOK, {}).value == [{"found": [{"id": 1}], "wrote": "wrote"}]
    assert {r.verdict for r in runtime.access_log.rows("auditee")} == {"audit"}
    assert runtime.suggest_permissions("auditee") == {
        "database": {"read": ["submissions"], "write": ["submissions"]}
    }


def test_an_unattached_service_is_a_clear_error(sandbox: Engine, make_plugin: MakePlugin) -> None:
    sandbox.load(
        make_plugin(
            "lonely",
            """
    from pliers_lab import hook
    @hook("submission.afterSave")
    def call(ctx):
        return ctx.api.tasks.create({"title": "x"})
    """,
            permissions={"api": {"call": ["tasks.*"]}},
        )
    )
    err = sandbox.fire(HOOK, {}).outcomes[0].error
    assert err.type is PluginErrorType.RUNTIME_ERROR and "api.tasks is not available" in err.message


def test_files_stay_in_the_data_folder(
    sandbox: Engine, make_plugin: MakePlugin, policy: SandboxPolicy, runtime: ProcessRuntime
) -> None:
    sandbox.load(
        make_plugin(
            "filer",
            """
    from pliers_lab import PluginError, hook
    @hook("submission.afterSave")
    def files(ctx):
        ctx.api.files.write("exports/a.csv", "id\\n1\\n")
        out = {"read": ctx.api.files.read("exports/a.csv"), "list": ctx.api.files.list("exports")}
        for bad in ("../escape", "/etc/passwd"):
            try:
                ctx.api.files.read(bad)
            except PluginError as exc:
                out[bad] = exc.type
        out["direct"] = open("exports/a.csv").read()
        return out
    """,
            permissions={"filesystem": {"read": ["*"], "write": ["exports/*"]}},
        )
    )
    value = sandbox.fire(HOOK, {}).value[0]
    assert value["read"] == value["direct"] == "id\n1\n" and value["list"] == ["a.csv"]
    assert value["../escape"] == value["/etc/passwd"] == "security_error"
    # in the plugin's data folder: its own file system where the host can give it one
    # (layers.datafs; the host reaches it through its descriptor), else the folder itself
    data = runtime.data_path("filer")
    assert data is not None and (data / "exports" / "a.csv").is_file()
    quota = runtime.process("filer").quota
    assert data == (Path(quota.image.source) if quota.image else policy.data_root / "filer")


@pytest.fixture
def web() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"hello from the host side")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


HTTP_PLUGIN = """
from pliers_lab import PluginError, hook
@hook("submission.afterSave")
def fetch(ctx):
    try:
        return ctx.api.http.get(ctx.data["url"])["text"]
    except PluginError as exc:
        return exc.type + ": " + exc.message
"""


def test_http_is_made_by_the_host_within_the_allow_list(
    tmp_path: Path, make_plugin: MakePlugin, web: str
) -> None:
    port = web.rsplit(":", 1)[1]
    runtime = ProcessRuntime(SandboxPolicy(data_root=tmp_path, network_deny=("10.0.0.0/8",)))
    with Engine() as engine:
        engine.register_runtime(runtime)
        engine.load(
            make_plugin(
                "fetcher", HTTP_PLUGIN, permissions={"network": {"outbound": [f"127.0.0.1:{port}"]}}
            )
        )
        assert engine.fire(HOOK, {"url": web + "/x"}).value == ["hello from the host side"]
        other = engine.fire(HOOK, {"url": "http://127.0.0.2:9/"}).value[0]
        assert other.startswith("security_error") and "not granted" in other
        verdicts = [(r.resource, r.verdict) for r in runtime.access_log.rows("fetcher")]
        assert verdicts == [(f"127.0.0.1:{port}", "allowed"), ("127.0.0.2:9", "denied")]
    runtime.close()


def test_deny_list_wins_over_the_manifest(
    sandbox: Engine, make_plugin: MakePlugin, web: str
) -> None:
    sandbox.load(make_plugin("greedy", HTTP_PLUGIN, permissions={"network": ["outbound"]}))
    answer = sandbox.fire(HOOK, {"url": web}).value[0]
    assert answer.startswith("security_error") and "127.0.0.0/8" in answer


def test_suggestions_from_a_log() -> None:
    log = AccessLog()
    log.record("p", "h", "x-1", "events", "publish", "form.saved", "events.publish", "audit")
    log.record("p", "h", "x-1", "network", "outbound", "api.example.com:443", "http.get", "allowed")
    log.record("q", "h", "x-2", "database", "read", "users", "database.find", "allowed")
    assert suggest_permissions(log, "p") == {
        "network": {"outbound": ["api.example.com:443"]},
        "events": {"publish": ["form.saved"]},
    }


def test_the_real_host_facade_over_the_wire(
    sandbox: Engine, runtime: ProcessRuntime, make_plugin: MakePlugin
) -> None:
    from pliers_lab.host import Host

    host = Host(sandbox, db_path=":memory:")
    sandbox.load(
        make_plugin(
            "hosted",
            """
    from pliers_lab import PluginError, hook
    @hook("submission.afterSave")
    def go(ctx):
        out = {"forms": ctx.api.database.count("forms")}
        try:
            ctx.api.database.insert("notifications", {"channel": "x"})
        except PluginError as exc:
            out["insert"] = exc.type
        return out
    """,
            permissions={"database": {"read": ["forms"]}},
        )
    )
    assert sandbox.fire(HOOK, {}).value == [{"forms": 0, "insert": "security_error"}]
    verdicts = [(r.operation, r.verdict) for r in runtime.access_log.rows("hosted")]
    assert verdicts == [("database.count", "allowed"), ("database.insert", "denied")]
    if hasattr(host, "close"):
        host.close()


LISTENER = """
from pliers_lab import hook
seen = []

def on_activate(plugin):
    plugin.api.events.subscribe("form.*", lambda event: seen.append(event["type"]))

@hook("submission.afterSave")
def go(ctx):
    if ctx.data.get("publish"):
        ctx.api.events.publish("form.pinged", {"n": 1})  # delivered to itself, nested
    if ctx.data.get("forbidden"):
        ctx.api.events.subscribe("submission.*", print)
    return list(seen)
"""


def kill_while_idle(pid: int) -> None:
    """SIGKILL a worker between calls and wait until it is gone (a zombie, unreaped)."""
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z":
        assert time.monotonic() < deadline, f"worker {pid} did not die"
        time.sleep(0.005)


def test_event_subscriptions_cross_the_wire(
    sandbox: Engine, runtime: ProcessRuntime, make_plugin: MakePlugin
) -> None:
    """Spec: ``events.subscribe`` works in a worker: the handler stays in the worker and
    the host delivers each event to it; a dead worker's subscriptions are undone and
    remade by the replayed ``on_activate``, never doubled."""
    from pliers_lab.host import Host

    host = Host(sandbox, db_path=":memory:")
    sandbox.load(
        make_plugin(
            "listener",
            LISTENER,
            permissions={"events": {"subscribe": ["form.*"], "publish": ["form.pinged"]}},
        )
    )

    def publish(kind: str) -> None:
        host.bus.publish(host.bus.event(kind, {}, aggregate_type="form", aggregate_id="f1"))

    publish("form.created")
    publish("submission.created")  # not matching: not delivered
    assert sandbox.fire(HOOK, {}).value == [["form.created"]]
    assert sandbox.fire(HOOK, {"publish": True}).value == [["form.created", "form.pinged"]]

    kill_while_idle(runtime.usage("listener")["pid"])
    assert [s.pattern for s in host.bus.subscriptions()] == ["form.*"]
    # Found dead before the call reached it: the crash is counted, the call is not lost.
    assert sandbox.fire(HOOK, {}).value == [[]]  # a new worker: on_activate replayed
    assert (runtime.usage("listener")["crashes"], runtime.usage("listener")["restarts"]) == (1, 1)
    publish("form.updated")
    assert sandbox.fire(HOOK, {}).value == [["form.updated"]]  # once, not twice
    assert len(host.bus.subscriptions()) == 1

    denied = sandbox.fire(HOOK, {"forbidden": True}).errors[0]
    assert denied.type.value == "security_error" and "submission.*" in denied.message
