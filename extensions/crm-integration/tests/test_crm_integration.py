"""crm-integration, sandboxed, in a real host (SQLite), against a CRM stand-in on loopback.

The stand-in is a real HTTP server on a free port that records every request. The plugin
is the extension folder as shipped, with one change a user pointing it at their CRM makes
too: ``permissions.network.outbound`` names the stand-in's ``127.0.0.1:<port>`` (and the
configuration's ``crmApiUrl`` points there). The host's policy lets the sandbox reach
loopback (its default deny list forbids it) and gives ``api.http`` a 1 s timeout, so a
slow CRM is a timeout within the test.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import shutil
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import write_plugin

from pliers_lab import Engine, PluginError, PluginErrorType, PluginState
from pliers_lab.host import Host
from pliers_lab.sandbox import ProcessRuntime, SandboxPolicy

PLUGIN_DIR = Path(__file__).parents[1]
PLUGIN = "crm-integration"
RETRY_DELAY_S = 300.0  # the default retryDelay: five minutes

FORM: dict[str, Any] = {
    "id": "lead",
    "name": "Sales lead",
    "fields": [
        {"name": "name", "type": "text", "required": True},
        {"name": "email", "type": "email", "required": True},
        {"name": "company", "type": "text"},
        {"name": "budget", "type": "number"},
        {"name": "notes", "type": "text"},
    ],
    "metadata": {"crm": {"enabled": True, "fieldMapping": {"budget": "dealValue"}}},
}
ANSWERS = {
    "name": "Ada Lovelace",
    "email": "ada@example.org",
    "company": "Analytical Engines",
    "budget": 5000,
    "notes": "call after 5",
}


class Crm:
    """A CRM stand-in: records requests, answers as told."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 201  # for POST /contacts
        self.delay_s = 0.0
        self.contacts: dict[str, dict[str, Any]] = {}
        self.lookup_status: int | None = None  # forces an answer to lookups
        crm = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self, status: int, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(raw)  # unless the caller timed out and left

            def _record(self, body: Any) -> None:
                crm.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                    }
                )
                if crm.delay_s:
                    time.sleep(crm.delay_s)

            def do_POST(self) -> None:
                size = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(size) or b"null")
                self._record(body)
                if crm.status >= 400:
                    self._answer(crm.status, {"error": "CRM is down"})
                else:
                    self._answer(crm.status, {"id": f"crm-{len(crm.requests)}"})

            def do_GET(self) -> None:
                self._record(None)
                url = urllib.parse.urlsplit(self.path)
                email = urllib.parse.parse_qs(url.query).get("email", [""])[0]
                if crm.lookup_status is not None:
                    self._answer(crm.lookup_status, {"error": "lookup broken"})
                elif url.path.endswith("/contacts/lookup") and email in crm.contacts:
                    self._answer(200, crm.contacts[email])
                else:
                    self._answer(404, {"error": "no such contact"})

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/api/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def posts(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == "POST"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def crm() -> Iterator[Crm]:
    server = Crm()
    yield server
    server.close()


@pytest.fixture
def plugin_dir(tmp_path: Path, crm: Crm) -> Path:
    """The shipped plugin, its outbound grant pointed at the stand-in."""
    folder = shutil.copytree(
        PLUGIN_DIR, tmp_path / "plugins" / PLUGIN, ignore=shutil.ignore_patterns("tests", "__*")
    )
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["permissions"]["network"]["outbound"] = [f"127.0.0.1:{crm.port}"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    runtime = ProcessRuntime(
        SandboxPolicy(data_root=tmp_path / "data", network_deny=(), http_timeout_s=1.0)
    )
    engine = Engine(default_isolation="process")
    engine.register_runtime(runtime)
    with Host(engine, tmp_path / "host.sqlite3") as h:
        h.create_form(json.loads(json.dumps(FORM)))
        yield h
    engine.close()
    runtime.close()


def load(host: Host, plugin_dir: Path, crm: Crm, **config: Any) -> Any:
    plugin = host.engine.load(
        plugin_dir, config={"crmApiUrl": crm.url, "apiKey": "k-123", **config}
    )
    assert plugin.state is PluginState.ACTIVE and plugin.isolation == "process"
    return plugin


def tasks(host: Host) -> list[dict[str, Any]]:
    rows = host.db.query("SELECT * FROM tasks ORDER BY id")
    return [{**dict(r), "payload": json.loads(r["payload"])} for r in rows]


def test_sync_maps_fields_adds_ids_and_stores_the_record_id(
    host: Host, plugin_dir: Path, crm: Crm
) -> None:
    load(host, plugin_dir, crm)
    saved = host.submit("lead", ANSWERS).value
    (post,) = crm.posts()
    assert post["path"] == "/api/v1/contacts"
    assert post["headers"]["authorization"] == "Bearer k-123"
    assert post["headers"]["idempotency-key"] == saved["id"]
    assert post["body"] == {
        "fullName": "Ada Lovelace",
        "email": "ada@example.org",
        "company": "Analytical Engines",
        "dealValue": 5000,  # the form's mapping adds to the configured table
        "source": "pliers",
        "formId": "lead",
        "submissionId": saved["id"],
    }  # "notes" is in no mapping table: not sent
    crm_meta = host.get_submission(saved["id"])["metadata"]["crm"]
    assert crm_meta["status"] == "synced" and crm_meta["attempts"] == 1
    assert crm_meta["recordId"] == f"crm-{len(crm.requests)}"
    assert tasks(host) == []


def test_a_form_without_crm_enabled_makes_no_request(
    host: Host, plugin_dir: Path, crm: Crm
) -> None:
    load(host, plugin_dir, crm)
    host.create_form({**json.loads(json.dumps(FORM)), "id": "plain", "metadata": {}})
    off = {**json.loads(json.dumps(FORM)), "id": "off", "metadata": {"crm": {"enabled": False}}}
    host.create_form(off)
    for form_id in ("plain", "off"):
        saved = host.submit(form_id, ANSWERS).value
        assert "crm" not in host.get_submission(saved["id"])["metadata"]
    assert crm.requests == [] and tasks(host) == []


@pytest.mark.parametrize("failure", ["http-500", "timeout"])
def test_a_failed_sync_schedules_a_retry_five_minutes_later(
    host: Host, plugin_dir: Path, crm: Crm, failure: str
) -> None:
    load(host, plugin_dir, crm)
    if failure == "http-500":
        crm.status = 500
    else:
        crm.delay_s = 2.0  # over the host's 1 s api.http timeout
    before = time.time()
    saved = host.submit("lead", ANSWERS).value
    assert len(crm.posts()) == 1
    (task,) = tasks(host)
    assert task["name"] == "crm-sync-retry" and task["plugin_id"] == PLUGIN
    assert task["status"] == "scheduled"
    assert before + RETRY_DELAY_S <= task["run_at"] <= time.time() + RETRY_DELAY_S
    assert task["payload"]["attempt"] == 1
    assert task["payload"]["record"]["submissionId"] == saved["id"]
    assert "apiKey" not in json.dumps(task["payload"]) and "k-123" not in json.dumps(task)
    meta = host.get_submission(saved["id"])["metadata"]["crm"]
    assert meta["status"] == "retrying" and meta["retryTaskId"] == task["id"]
    expected = "HTTP 500" if failure == "http-500" else "timed out"
    assert expected in meta["error"], meta["error"]
    assert host.engine.plugin(PLUGIN).state is PluginState.ACTIVE  # not quarantined


def test_the_retry_task_syncs_when_it_runs(host: Host, plugin_dir: Path, crm: Crm) -> None:
    load(host, plugin_dir, crm)
    crm.status = 503
    saved = host.submit("lead", ANSWERS).value
    assert host.run_due_tasks().value == []  # not due for five minutes
    crm.status = 201
    (task,) = tasks(host)
    assert host.run_due_tasks(now=time.time() + RETRY_DELAY_S + 1).value == [task["id"]]
    first, retry = crm.posts()
    assert retry["body"] == first["body"]
    assert retry["headers"]["idempotency-key"] == saved["id"]
    meta = host.get_submission(saved["id"])["metadata"]["crm"]
    assert meta["status"] == "synced" and meta["attempts"] == 2
    assert meta["recordId"] == f"crm-{len(crm.requests)}"
    assert [t["status"] for t in tasks(host)] == ["done"]


def test_retries_stop_after_retry_attempts(host: Host, plugin_dir: Path, crm: Crm) -> None:
    load(host, plugin_dir, crm, retryAttempts=2, retryDelay=60_000)
    crm.status = 500
    saved = host.submit("lead", ANSWERS).value
    later = time.time()
    for _ in range(3):  # more rounds than retries: the last one finds nothing due
        later += 61
        host.run_due_tasks(now=later)
    assert len(crm.posts()) == 3  # the sync and two retries
    assert [t["payload"]["attempt"] for t in tasks(host)] == [1, 2]
    assert [t["status"] for t in tasks(host)] == ["done", "done"]
    meta = host.get_submission(saved["id"])["metadata"]["crm"]
    assert meta["status"] == "failed" and meta["attempts"] == 3 and "HTTP 500" in meta["error"]


def test_enrich_adds_the_crm_contact(host: Host, plugin_dir: Path, crm: Crm) -> None:
    crm.contacts["ada@example.org"] = {"id": "c-7", "owner": "Grace", "stage": "customer"}
    load(host, plugin_dir, crm)
    saved = host.submit("lead", ANSWERS).value
    lookup = next(r for r in crm.requests if r["method"] == "GET")
    assert lookup["path"] == "/api/v1/contacts/lookup?email=ada%40example.org"
    assert lookup["headers"]["authorization"] == "Bearer k-123"
    stored = host.get_submission(saved["id"])
    assert stored["metadata"]["crmContact"] == {"id": "c-7", "owner": "Grace", "stage": "customer"}
    assert stored["data"] == ANSWERS


def test_enrich_leaves_the_data_unchanged_without_a_contact(
    host: Host, plugin_dir: Path, crm: Crm
) -> None:
    load(host, plugin_dir, crm)
    payload = {"form": host.get_form("lead"), "submission": submission()}
    result = host.engine.fire("submission.enrich", payload)
    assert result.ok, result.summary()
    assert result.value == payload  # 404: none
    assert [r["method"] for r in crm.requests] == ["GET"]


@pytest.mark.parametrize("failure", ["http-500", "timeout"])
def test_a_failing_lookup_does_not_break_the_waterfall(
    host: Host, plugin_dir: Path, crm: Crm, failure: str
) -> None:
    """A plugin after crm-integration in the waterfall still gets the data and runs."""
    later = write_plugin(
        plugin_dir.parent,
        "tagger",
        "import copy\n"
        "from pliers_lab import hook\n\n"
        "@hook('submission.enrich')\n"
        "def tag(ctx):\n"
        "    out = copy.deepcopy(ctx.data)\n"
        "    out['submission']['metadata']['tagged'] = True\n"
        "    return out\n",
        {"submission.enrich": {"priority": 10}},
    )
    load(host, plugin_dir, crm)
    host.engine.load(later)
    crm.contacts["ada@example.org"] = {"id": "c-7"}
    if failure == "http-500":
        crm.lookup_status = 500
    else:
        crm.delay_s = 2.0
    saved = host.submit("lead", ANSWERS).value
    stored = host.get_submission(saved["id"])
    assert stored["metadata"].get("tagged") is True
    assert "crmContact" not in stored["metadata"]
    assert host.engine.plugin(PLUGIN).state is PluginState.ACTIVE


def test_crm_url_outside_the_manifest_is_refused_at_load_naming_both(
    host: Host, plugin_dir: Path, crm: Crm
) -> None:
    with pytest.raises(PluginError) as caught:
        host.engine.load(plugin_dir, config={"crmApiUrl": "https://evil.example.net/api"})
    assert caught.value.type is PluginErrorType.INIT_ERROR
    message = caught.value.message
    assert "crmApiUrl" in message and "evil.example.net:443" in message
    assert "permissions.network.outbound" in message and f"127.0.0.1:{crm.port}" in message
    assert crm.requests == []


def test_a_reconfigured_url_outside_the_manifest_makes_no_request(
    host: Host, plugin_dir: Path, crm: Crm
) -> None:
    """Changed while running: logged, noted in the metadata, never sent (a refused
    request would be a security violation and quarantine the plugin)."""
    load(host, plugin_dir, crm)
    host.engine.configure(PLUGIN, {"crmApiUrl": "https://evil.example.net/api", "apiKey": "k"})
    saved = host.submit("lead", ANSWERS).value
    meta = host.get_submission(saved["id"])["metadata"]["crm"]
    assert meta["status"] == "error" and "evil.example.net:443" in meta["error"]
    assert crm.requests == [] and tasks(host) == []
    assert host.engine.plugin(PLUGIN).state is PluginState.ACTIVE


def test_shipped_defaults_load_and_the_schema_refuses_bad_settings() -> None:
    manifest = json.loads((PLUGIN_DIR / "manifest.json").read_text())
    assert manifest["permissions"]["network"]["outbound"] == ["crm.example.com:443"]
    with Engine(default_isolation="inline") as engine:
        plugin = engine.load(PLUGIN_DIR)
        assert plugin.state is PluginState.ACTIVE
        assert plugin.config["retryDelay"] == 300_000 and plugin.config["retryAttempts"] == 3
        for bad in ({"retryAttempts": -1}, {"retryDelay": "5m"}, {"crmApiUrl": "crm.local"}):
            with pytest.raises(PluginError) as info:
                engine.configure(PLUGIN, bad)
            assert info.value.type is PluginErrorType.CONFIG_ERROR


def submission() -> dict[str, Any]:
    return {"id": "s-1", "formId": "lead", "data": dict(ANSWERS), "metadata": {}, "status": "new"}


def test_without_an_api_key_nothing_is_sent(host: Host, plugin_dir: Path, crm: Crm) -> None:
    load(host, plugin_dir, crm, apiKey="")
    saved = host.submit("lead", ANSWERS).value
    meta = host.get_submission(saved["id"])["metadata"]["crm"]
    assert meta["status"] == "error" and "apiKey is empty" in meta["error"]
    assert crm.requests == [] and tasks(host) == []


def test_retry_tasks_of_another_plugin_are_left_alone(
    host: Host, plugin_dir: Path, crm: Crm
) -> None:
    load(host, plugin_dir, crm)
    record = {"email": "eve@example.org", "submissionId": "s-x", "formId": "lead"}
    other = host.tasks.schedule("someone-else", "crm-sync-retry", {"record": record, "attempt": 1})
    assert host.run_due_tasks().value == [other]
    assert crm.requests == []


def test_retries_run_when_the_host_came_after_the_plugin(
    tmp_path: Path, plugin_dir: Path, crm: Crm
) -> None:
    """As ``pliers serve --extensions … --with-host`` does it: load, then attach the host."""
    runtime = ProcessRuntime(
        SandboxPolicy(data_root=tmp_path / "data", network_deny=(), http_timeout_s=1.0)
    )
    engine = Engine(default_isolation="process")
    engine.register_runtime(runtime)
    engine.load(plugin_dir, config={"crmApiUrl": crm.url, "apiKey": "k-123"})
    with Host(engine, tmp_path / "host.sqlite3") as host:
        host.create_form(json.loads(json.dumps(FORM)))
        crm.status = 500
        saved = host.submit("lead", ANSWERS).value
        crm.status = 201
        host.run_due_tasks(now=time.time() + RETRY_DELAY_S + 1)
        assert len(crm.posts()) == 2
        assert host.get_submission(saved["id"])["metadata"]["crm"]["status"] == "synced"
    engine.close()
    runtime.close()


def test_each_request_waits_its_own_timeout_not_the_hosts(
    host: Host, plugin_dir: Path, crm: Crm
) -> None:
    """A CRM answering in 0.8 s: within the host's 1 s cap, but over the 0.3 s each
    request was configured to wait. The lookup gives up (data unchanged), the sync too (a
    retry), each with a timeout_error naming its timeout; with the shipped timeouts
    (clamped to the host's 1 s) the same CRM is waited for and answers."""
    crm.contacts["ada@example.org"] = {"id": "c-7"}
    crm.delay_s = 0.8
    load(host, plugin_dir, crm, lookupTimeout=300, syncTimeout=300)
    start = time.monotonic()
    saved = host.submit("lead", ANSWERS).value
    elapsed = time.monotonic() - start
    stored = host.get_submission(saved["id"])
    assert "crmContact" not in stored["metadata"]  # the lookup timed out
    meta = stored["metadata"]["crm"]
    assert meta["status"] == "retrying", meta
    assert "timeout_error" in meta["error"] and "timed out" in meta["error"]
    assert "timeout=0.3" in meta["error"] and "/api/v1/contacts" in meta["error"]
    assert [r["method"] for r in crm.requests] == ["GET", "POST"]  # both were sent
    assert elapsed < 1.6  # two 0.3 s waits, not two 0.8 s answers

    host.engine.configure(PLUGIN, {"lookupTimeout": 5000, "syncTimeout": 10000}, merge=True)
    saved = host.submit("lead", {**ANSWERS}).value
    stored = host.get_submission(saved["id"])
    assert stored["metadata"]["crmContact"] == {"id": "c-7"}
    assert stored["metadata"]["crm"]["status"] == "synced"
