"""Issue 18 §2: limits per plugin, asked by the manifest, capped by the host, applied in
each plugin's own worker; and bandwidth, storage and module limits stopping a plugin.

Real engines, real workers, a real HTTP server on loopback."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sandbox.helpers import MakePlugin

from pliers_lab import Engine, PluginError, PluginErrorType
from pliers_lab.sandbox import Limits, ProcessRuntime, SandboxPolicy
from pliers_lab.sandbox._plugin_limits import carve, module_files, worker_modules

HOOK = "submission.afterSave"

READ_OWN_LIMITS = """
import resource
from pliers_lab import hook
@hook("submission.afterSave")
def mine(ctx):
    return {"as": resource.getrlimit(resource.RLIMIT_AS)[0],
            "fsize": resource.getrlimit(resource.RLIMIT_FSIZE)[0]}
"""


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[tuple[Engine, ProcessRuntime]]:
    runtime = ProcessRuntime(
        SandboxPolicy(data_root=tmp_path / "data", network_deny=(), disk_check_interval_s=0)
    )
    with Engine(default_isolation="process") as engine:
        engine.register_runtime(runtime)
        yield engine, runtime
    runtime.close()


def test_two_plugins_get_their_own_limits_seen_from_inside(
    engine: tuple[Engine, ProcessRuntime], make_plugin: MakePlugin
) -> None:
    eng, runtime = engine
    headroom = Limits().address_space_headroom_mb
    eng.load(make_plugin("small", READ_OWN_LIMITS, limits={"memory": 64, "disk": 5}))
    eng.load(make_plugin("large", READ_OWN_LIMITS, limits={"memory": 100}))
    result = eng.fire(HOOK, {})
    seen = {name: result.outcome(name).value for name in ("small", "large")}
    assert seen["small"] == {"as": (64 + headroom) << 20, "fsize": 5 << 20}
    assert seen["large"] == {"as": (100 + headroom) << 20, "fsize": 100 << 20}
    # and the cgroup each worker sits in has its own memory limit (where cgroups apply)
    for name, mb in (("small", 64), ("large", 100)):
        worker = runtime.process(name).slots[0].worker
        assert worker is not None
        if worker.group is not None:
            memory = worker.group.dirs["memory"]
            v1 = (memory / "memory.limit_in_bytes").exists()
            text = (memory / ("memory.limit_in_bytes" if v1 else "memory.max")).read_text()
            assert int(text) == mb << 20


def test_asking_over_the_hosts_cap_is_refused_at_load(
    engine: tuple[Engine, ProcessRuntime], make_plugin: MakePlugin
) -> None:
    eng, _ = engine
    with pytest.raises(PluginError) as info:
        eng.load(make_plugin("greedy", READ_OWN_LIMITS, limits={"memory": 512, "cpu": 50}))
    err = info.value
    assert err.type is PluginErrorType.LOAD_ERROR
    assert "'greedy'" in err.message
    assert "limits.memory asks for 512 MB, over the host's cap of 128 MB" in err.message
    assert "limits.cpu" not in err.message  # asking for less is fine


def test_manifest_refuses_fields_it_cannot_enforce(make_plugin: MakePlugin) -> None:
    from pliers_lab.manifest import ManifestError, load_manifest

    folder = make_plugin("p", READ_OWN_LIMITS, limits={"allowedModules": ["json"]})
    with pytest.raises(ManifestError) as info:
        load_manifest(folder)
    assert "allowedModules" in str(info.value) and "blockedModules" in str(info.value)


# ----------------------------------------------------------------------------- network
@pytest.fixture
def web() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            size = int(self.path.rsplit("/", 1)[1])
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            self.wfile.write(b"x" * size)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


FETCH = """
from pliers_lab import hook
@hook("submission.afterSave")
def fetch(ctx):
    return len(ctx.api.http.get(ctx.data["url"])["text"])
"""


def test_bandwidth_is_throttled_and_a_call_over_its_cap_refused(
    engine: tuple[Engine, ProcessRuntime], make_plugin: MakePlugin, web: str
) -> None:
    eng, runtime = engine
    port = web.rsplit(":", 1)[1]
    feed: list[dict[str, Any]] = []
    eng.activity.subscribe(feed.append)
    eng.load(
        make_plugin(
            "slow",
            FETCH,
            permissions={"network": {"outbound": [f"127.0.0.1:{port}"]}},
            limits={"network": 100, "networkPerCall": 200},
        )
    )
    t0 = time.monotonic()
    assert eng.fire(HOOK, {"url": f"{web}/153600"}).value == [153600]  # 150 KB at 100 KB/s
    took = time.monotonic() - t0
    assert took >= 1.2, took  # ~1.5 s less the 0.1 s burst allowance

    outcome = eng.fire(HOOK, {"url": f"{web}/307200"})  # 300 KB > 200 KB per call
    error = outcome.errors[0]
    assert error.type is PluginErrorType.RESOURCE_ERROR
    assert "networkPerCall" in error.message and "'slow'" in error.message
    limit = error.metadata["limit"]
    assert limit["limit"] == "networkPerCall" and limit["cap"] == 200 * 1024
    assert limit["value"] > 200 * 1024 and limit["action"].startswith("refused")

    exceeded = runtime.usage("slow")["limits_exceeded"]
    assert exceeded["networkPerCall:" + _action(exceeded, "networkPerCall")] == 1
    events = [e["data"] for e in feed if e["type"] == "plugin.limit.exceeded"]
    kinds = [(e["limit"], e["action"].split()[0]) for e in events]
    assert kinds[0] == ("network", "throttled") and ("networkPerCall", "refused") in kinds
    assert all(e["plugin"] == "slow" and e["value"] and e["cap"] for e in events)


def _action(summary: dict[str, int], limit: str) -> str:
    return next(k.split(":", 1)[1] for k in summary if k.startswith(limit + ":"))


# ----------------------------------------------------------------------------- storage
FILL = """
from pliers_lab import hook
@hook("submission.afterSave")
def fill(ctx):
    for i in range(ctx.data["files"]):
        with open(f"f{i}.bin", "wb") as f:
            f.write(b"x" * (1 << 20))
    return "written"
"""


def test_storage_limit_stops_a_plugin_filling_its_folder(
    engine: tuple[Engine, ProcessRuntime], make_plugin: MakePlugin
) -> None:
    eng, runtime = engine
    feed: list[dict[str, Any]] = []
    eng.activity.subscribe(feed.append)
    folder = make_plugin(
        "filler", FILL, permissions={"filesystem": {"write": ["*"]}}, limits={"disk": 2}
    )
    eng.load(folder)
    assert eng.fire(HOOK, {"files": 1}).value == ["written"]
    outcome = eng.fire(HOOK, {"files": 4})
    error = outcome.errors[0]
    assert error.type is PluginErrorType.RESOURCE_ERROR and "disk limit" in error.message
    assert error.metadata["limit"]["limit"] == "disk"
    assert error.metadata["limit"]["cap"] == 2 << 20
    exceeded = runtime.usage("filler")["limits_exceeded"]
    assert exceeded == {"disk:" + _action(exceeded, "disk"): 1}
    assert any(e["type"] == "plugin.limit.exceeded" for e in feed)


# ----------------------------------------------------------------------------- modules
IMPORT = """
from pliers_lab import hook
@hook("submission.afterSave")
def use(ctx):
    import importlib
    try:
        importlib.import_module(ctx.data["module"])
    except BaseException as exc:
        return type(exc).__name__
    return "imported"
"""


def test_a_blocked_module_cannot_be_read_by_the_worker(
    engine: tuple[Engine, ProcessRuntime], make_plugin: MakePlugin
) -> None:
    eng, runtime = engine
    eng.load(make_plugin("free", IMPORT))
    eng.load(make_plugin("nodb", IMPORT, limits={"blockedModules": ["sqlite3"]}))
    result = eng.fire(HOOK, {"module": "sqlite3"})
    assert result.outcome("free").value == "imported"
    error = result.outcome("nodb").error
    assert error is not None
    assert error.type is PluginErrorType.SECURITY_ERROR  # the kernel refused, the host saw
    assert "blockedModules" in error.message and "sqlite3" in error.message
    assert error.metadata["limit"]["limit"] == "blockedModules"
    assert eng.plugin("nodb").state.value != "active"  # quarantined: stopped
    assert runtime.usage("nodb")["limits_exceeded"]


def test_blocking_a_module_the_worker_needs_is_refused(
    engine: tuple[Engine, ProcessRuntime], make_plugin: MakePlugin
) -> None:
    eng, _ = engine
    assert "ctypes" in worker_modules()  # the sandbox layers call the kernel through it
    with pytest.raises(PluginError) as info:
        eng.load(make_plugin("odd", IMPORT, limits={"blockedModules": ["ctypes", "posix"]}))
    assert "'ctypes' is imported by the sandbox's worker" in info.value.message
    assert "'posix' is built into the interpreter" in info.value.message


def test_carve_leaves_the_blocked_files_out(tmp_path: Path) -> None:
    files = module_files("sqlite3")
    assert any(f.endswith("/sqlite3") for f in files)
    assert any("_sqlite3" in f for f in files)  # its C accelerator too
    lib = tmp_path / "lib"
    (lib / "pkg" / "sub").mkdir(parents=True)
    (lib / "pkg" / "keep.py").write_text("")
    (lib / "other.py").write_text("")
    rules, listed = carve([str(lib)], [str(lib / "pkg" / "sub")])
    assert sorted(rules) == [str(lib / "other.py"), str(lib / "pkg" / "keep.py")]
    assert listed == [str(lib), str(lib / "pkg")]


def test_the_scanner_finds_code_importing_a_blocked_module() -> None:
    from pliers_lab.manifest import Manifest
    from pliers_lab.market.scan import scan_files

    manifest = Manifest.model_validate(
        {
            "name": "scanned",
            "version": "1.0.0",
            "description": "a plugin for the scanner",
            "author": "a",
            "license": "MIT",
            "engines": {"pliers": ">=0.1.0", "python": ">=3.11"},
            "limits": {"blockedModules": ["sqlite3"]},
        }
    )
    code = b"import json\nimport sqlite3.dbapi2\nimport importlib\n"
    code += b"importlib.import_module('_sqlite3')\n"
    result = scan_files({"plugin.py": code}, manifest)
    found = [(i.type, i.severity, i.location) for i in result.issues if i.type == "blocked-module"]
    assert found == [
        ("blocked-module", "high", "plugin.py:2"),
        ("blocked-module", "high", "plugin.py:4"),
    ]
    assert not result.safe
    assert not [i for i in scan_files({"plugin.py": b"import json\n"}, manifest).issues]
