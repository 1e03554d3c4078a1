"""The sandbox as an ordinary user, the way Binder runs it: no root, no cgroups, and with
or without user namespaces. Workers start with what the host offers, the required layers
hold, and the host still sees every refusal itself."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = pytest.mark.slow

SCRIPT = r'''
import json, os, sys, tempfile, textwrap
from pathlib import Path
from pliers_lab import Engine

work = Path(tempfile.mkdtemp())
folder = work / "curious"
folder.mkdir()
(folder / "manifest.json").write_text(json.dumps({
    "name": "curious", "version": "1.0.0", "description": "tries what it should not",
    "author": "Lab <lab@example.com>", "license": "MIT", "main": "plugin.py",
    "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
    "hooks": {"submission.afterSave": {}},
    "permissions": {"filesystem": ["read", "write"]},
}))
(folder / "plugin.py").write_text(textwrap.dedent("""
    import os
    from pliers_lab import hook

    @hook("submission.afterSave")
    def snoop(ctx):
        attempt = ctx.data.get("try")
        if attempt == "file":
            return open("/etc/passwd").read()
        if attempt == "socket":
            import socket
            socket.create_connection(("127.0.0.1", 9), timeout=1)
        if attempt == "process":
            import subprocess
            return subprocess.run(["id"], capture_output=True, text=True).stdout
        ctx.api.files.write("mine.txt", "kept")
        return {"uid": os.getuid(), "gid": os.getgid()}
"""))
engine = Engine(default_isolation="process")
report = engine.isolation_report()
plugin = engine.load(folder)
layers = sorted(plugin.layers)  # while it runs: a closed engine's plugins hold no worker
template = engine.sandbox.template  # started once the first worker was ready
template_up = template is not None and template.wait_up()
answers = {}
for attempt in ("nothing", "file", "socket", "process"):
    engine.release("curious")
    outcome = engine.fire("submission.afterSave", {"try": attempt}).outcome("curious")
    answers[attempt] = (
        {"status": "ok", "value": outcome.value} if outcome.error is None
        else {"status": "error", "type": outcome.error.type.value,
              "message": outcome.error.message}
    )
owner = os.stat(Path(engine.sandbox.policy.data_root) / "curious" / "mine.txt").st_uid
engine.release("curious")
first = engine.fire("submission.afterSave", {"try": "nothing"}).outcome("curious")
resources = engine.metrics("curious").resources  # what this user can measure, and not
worker = engine.worker("curious").worker
forked = {"up": template_up, "off": engine.sandbox.template_off,
          "by_template": worker.template is not None, "layers": sorted(worker.layers)}
# The template's end takes its workers with it (PR_SET_PDEATHSIG, kept through the user
# namespace), and the next call gets a worker all the same.
import signal, time
os.kill(template.pid, signal.SIGKILL)
deadline = time.monotonic() + 5
while time.monotonic() < deadline and worker.reap(0.05) is None:
    pass
forked["worker_died_with_template"] = worker.exit is not None
again = engine.fire("submission.afterSave", {"try": "nothing"}).outcome("curious")
forked["answers_after"] = first.error is None and again.error is None
engine.close()
print(json.dumps({
    "uid": os.getuid(), "layers": layers, "answers": answers,
    "report": {s.layer: s.verdict for s in report}, "netns": report["netns"].detail,
    "summary": report.summary(), "owner": owner, "forked": forked,
    "resources": resources,
}))
'''


def run_as_user(user: Any, userns: bool) -> dict[str, Any]:
    done = user.run(str(user.python), "-c", SCRIPT, userns=userns, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize("userns", [True, False], ids=["user-namespaces", "no-user-namespaces"])
def test_an_ordinary_user_gets_the_required_layers_and_host_verdicts(
    ordinary_user: Any, userns: bool
) -> None:
    seen = run_as_user(ordinary_user, userns)
    assert seen["uid"] != 0
    assert seen["report"]["cgroup"] == "missing: runs without"  # no delegation here
    assert {"rlimits", "landlock", "seccomp", "capabilities"} <= set(seen["layers"])
    assert "cgroup" not in seen["layers"]
    if userns:
        assert "netns" in seen["layers"] and seen["report"]["netns"] == "active"
        assert "user namespace" in seen["netns"]
    else:  # Binder's container runtime: the layer is missing and says why
        assert "netns" not in seen["layers"]
        assert seen["report"]["netns"] == "missing: runs without"
        assert "refuses user namespaces" in seen["netns"]
    assert seen["summary"].startswith("process isolation works without")
    answers = seen["answers"]
    assert answers["nothing"] == {"status": "ok", "value": {"uid": seen["uid"], "gid": seen["uid"]}}
    assert seen["owner"] == seen["uid"]  # files written in its data keep the user's id
    forked = seen["forked"]  # a worker forked by the warm template: the same layers
    assert forked["up"] and forked["by_template"], forked
    assert forked["layers"] == seen["layers"], forked
    assert forked["worker_died_with_template"] and forked["answers_after"], forked
    # Issue 18 §1: the worker is non-dumpable, so its /proc/<pid>/io is root's: the disk
    # figures are not measured (saying why), never 0; the rest is measured all the same.
    resources = seen["resources"]
    for name in ("read", "write", "blockRead", "blockWrite"):
        assert resources["diskIO"][name] is None, resources
        assert "not readable by this user" in resources["notMeasured"][f"diskIO.{name}"]
    assert resources["cpuUsage"]["total"] is not None and resources["memoryUsage"]["current"] > 1
    assert resources["memoryUsage"]["peak"] >= resources["memoryUsage"]["current"]
    assert resources["networkIO"]["requests"] == 0  # counted by the host: none were made
    assert set(resources["notMeasured"]) <= {
        "diskIO.read", "diskIO.write", "diskIO.blockRead", "diskIO.blockWrite",
        "cpuUsage.current", "cpuUsage.peak",  # a rate needs two samples, 1 s apart
    }, resources["notMeasured"]  # fmt: skip
    for attempt, shown in (("file", "'/etc/passwd'"), ("socket", "socket(AF_INET"),
                           ("process", "the worker was killed")):  # fmt: skip
        answer = answers[attempt]
        assert answer["type"] == "security_error", (attempt, answer)
        assert "seen by the host" in answer["message"] and shown in answer["message"]
