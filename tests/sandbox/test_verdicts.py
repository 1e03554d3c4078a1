"""The host, not the sandboxed code, decides what was an attack (issue 13 §3).

Every verdict here comes from what the host saw — the kernel's refusals reported by the
seccomp listener, the host API's own refusals — never from what the plugin raised."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox.helpers import MakePlugin, requires

from pliers_lab import Engine, PluginState
from pliers_lab.sandbox import ProcessRuntime, SandboxPolicy

pytestmark = requires("rlimits", "netns", "landlock", "capabilities", "seccomp")

HOOK = "submission.afterSave"


def handler(body: str) -> str:
    lines = "\n".join("    " + line for line in body.strip("\n").splitlines())
    return f"from pliers_lab import hook\n\n@hook({HOOK!r})\ndef run(ctx):\n{lines}\n"


def fire_one(engine: Engine, name: str) -> object:
    outcome = next(o for o in engine.fire(HOOK, {"n": 1}).outcomes if o.plugin_id == name)
    return outcome


def test_a_refusal_the_plugin_swallowed_is_still_a_violation(
    sandbox: Engine, make_plugin: MakePlugin
) -> None:
    sandbox.load(
        make_plugin(
            "swallower",
            handler("""
import socket
try:
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
except OSError:
    pass
return "nothing happened"
"""),
        )
    )
    outcome = fire_one(sandbox, "swallower")
    assert outcome.status == "error" and outcome.value is None
    assert outcome.error.type.value == "security_error"
    assert "seen by the host" in outcome.error.message
    assert "socket(AF_INET, SOCK_DGRAM)" in outcome.error.message
    assert sandbox.quarantined("swallower")
    assert sandbox.plugin("swallower").state is PluginState.STOPPED


def test_raising_something_else_does_not_hide_a_refusal(
    sandbox: Engine, make_plugin: MakePlugin
) -> None:
    sandbox.load(
        make_plugin(
            "disguiser",
            handler("""
try:
    open("/etc/shadow").read()
except PermissionError:
    raise ValueError("just a bad value")
"""),
        )
    )
    error = fire_one(sandbox, "disguiser").error
    assert error.type.value == "security_error"
    assert "openat('/etc/shadow', read) outside the plugin's files" in error.message
    assert "ValueError: just a bad value" in error.message  # what the plugin said, kept
    assert sandbox.quarantined("disguiser")


def test_a_forged_denial_is_the_plugins_word_only(sandbox: Engine, make_plugin: MakePlugin) -> None:
    sandbox.load(make_plugin("forger", handler('raise PermissionError(13, "pretend")')))
    outcome = fire_one(sandbox, "forger")
    assert outcome.error.type.value == "runtime_error"
    assert "the host did not see" in outcome.error.message
    assert not sandbox.quarantined("forger")
    assert sandbox.plugin("forger").state is PluginState.ACTIVE


def test_signalling_the_host_is_seen_whatever_the_plugin_does(
    sandbox: Engine, make_plugin: MakePlugin
) -> None:
    sandbox.load(
        make_plugin(
            "signaller",
            handler("""
import os
try:
    os.kill(os.getppid(), 0)
except OSError:
    return "the host is alive, never mind"
"""),
        )
    )
    error = fire_one(sandbox, "signaller").error
    assert error.type.value == "security_error"
    assert "signalling another process" in error.message


def test_host_api_refusals_confirm_an_uncaught_error_but_a_handled_one_is_not_an_attack(
    sandbox: Engine, make_plugin: MakePlugin
) -> None:
    asks = """
try:
    ctx.api.http.get("https://example.com/")
except Exception as exc:
    if ctx.data.get("catch"):
        return type(exc).__name__
    raise
"""
    sandbox.load(make_plugin("asker", handler(asks)))
    result = sandbox.fire(HOOK, {"catch": True})
    assert result.outcomes[0].status == "ok", result.outcomes[0].error
    assert not sandbox.quarantined("asker")
    error = sandbox.fire(HOOK, {"catch": False}).outcomes[0].error
    assert error.type.value == "security_error"
    assert "refused by the host API" in error.message
    assert sandbox.quarantined("asker")


@pytest.fixture
def lenient(tmp_path: Path) -> Iterator[Engine]:
    runtime = ProcessRuntime(SandboxPolicy(data_root=tmp_path / "data", quarantine_after=2))
    engine = Engine(default_isolation="process")
    engine.register_runtime(runtime)
    yield engine
    engine.close()
    runtime.close()


def test_quarantine_after_the_configured_number_of_violations(
    lenient: Engine, make_plugin: MakePlugin
) -> None:
    lenient.load(
        make_plugin(
            "prober",
            handler("import os\ntry:\n    os.chmod('.', 0o777)\nexcept OSError:\n    pass"),
        )
    )
    first = fire_one(lenient, "prober").error
    assert first.type.value == "security_error" and "chmod" in first.message
    assert first.metadata["violations"] == 1
    assert not lenient.quarantined("prober")
    second = fire_one(lenient, "prober").error
    assert second.type.value == "security_error"
    assert lenient.quarantined("prober")


def test_ordinary_work_raises_no_refusal(
    sandbox: Engine, runtime: ProcessRuntime, make_plugin: MakePlugin
) -> None:
    # What plugins and the standard library do every day must not look like an attack:
    # each of these once tripped a refusal (a config file, /sys, the user database, /tmp).
    sandbox.load(
        make_plugin(
            "worker-bee",
            handler("""
import asyncio, getpass, json, mimetypes, os, ssl, tempfile, threading
from concurrent.futures import ThreadPoolExecutor
async def twice(x):
    await asyncio.sleep(0)
    return 2 * x
threads = [threading.Thread(target=lambda: None) for _ in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
with ThreadPoolExecutor() as pool:
    pooled = list(pool.map(abs, [-1, -2]))
with tempfile.NamedTemporaryFile("w", delete=False) as f:
    f.write("scratch")
os.rename(f.name, "renamed.txt")
os.mkdir("sub")
os.rmdir("sub")
ssl.create_default_context()
own = open(__file__).read()
return {"async": asyncio.run(twice(21)), "tmp": f.name.startswith(os.getcwd()),
        "read": "def run" in own, "home": os.path.expanduser("~") == os.getcwd(),
        "json": json.loads("[1]"), "pool": pooled, "cpus": os.cpu_count() > 0,
        "mime": mimetypes.guess_type("a.pdf")[0], "user": getpass.getuser()}
"""),
            permissions={"filesystem": ["read", "write"]},
        )
    )
    outcome = fire_one(sandbox, "worker-bee")
    assert outcome.status == "ok", outcome.error
    assert outcome.value == {
        "async": 42, "tmp": True, "read": True, "home": True, "json": [1], "pool": [1, 2],
        "cpus": True, "mime": "application/pdf", "user": "pliers-plugin",
    }  # fmt: skip
    worker = runtime.process("worker-bee").worker
    assert worker is not None and worker.host_sees_refusals
    assert worker.denials == []
    assert "(reported to the host)" in runtime.usage("worker-bee")["layers"]["seccomp"]
