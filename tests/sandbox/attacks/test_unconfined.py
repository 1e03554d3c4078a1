"""Issue 13 §4: each attack that claims to do harm is shown doing it without the sandbox.

The handler body of every proven attack runs in a plain child process
(``unconfined_child.py``): no namespaces, no Landlock, no seccomp, no rlimits but the
safety nets its Proof names (each far above the sandbox's own limit); as root, like the
workers here, in a throwaway folder laid out like the arena's (``plugins/<name>``,
``data/<name>`` as its working directory, the neighbour's ``plugins/boxed-bystander``).

Its targets are stand-ins: ``PWNED`` is a file in that folder, ``PARENT`` a sleeper process
started for the purpose (never this test process: checked before the child starts), with a
secret in its environment, a secret file on its fd 3 and a working directory holding a
"database"; ``LISTEN`` and ``ABSTRACT`` are listeners of this test. The child inherits one
open file on fd 9 (what a host could leak). Mounts and pivot_root happen in a private mount
namespace the child makes and checks first. The child's whole process group is killed at
its deadline; the folder is removed afterwards (it may hold a hard link to /etc/passwd).

The attacks that are not run say why, in the catalog.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import pliers_lab.sandbox as sandbox_package

from .catalog import (
    ATTACKS,
    CONTAINED,
    INHERITED_FD,
    TOKEN_OTHER_THREAD,
    TOKEN_SAME_THREAD,
    Attack,
    Proof,
    plugin_source,
)

pytestmark = [
    pytest.mark.skipif(platform.machine() != "x86_64", reason="x86-64 system call numbers"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the workers run as root here; so do proofs"),
]

CHILD = Path(__file__).with_name("unconfined_child.py")
GUEST = Path(sandbox_package.__file__).with_name("guest.py")
ALL = ATTACKS + CONTAINED
PROVEN = [a for a in ALL if a.proven]
SECRET = "hunter2"
DISK_LIMIT_MB = 100  # Limits.disk_mb: what ``data-over-limit`` must exceed
RUNS_ON_S = 1.5  # a "runs-on" attack must still be running after this long
DEADLINE_S = 60.0


@dataclass
class Run:
    ends: str
    status: int | None
    report: dict[str, Any]
    effects: set[str] = field(default_factory=set)
    stderr: str = ""

    def __str__(self) -> str:
        return (
            f"ended: {self.ends} ({self.status}); report: {self.report}; "
            f"effects: {sorted(self.effects)}; stderr: ...{self.stderr[-1500:]}"
        )


class Stage:
    """The throwaway folder, the sleeper standing in for the host, and the listeners."""

    def __init__(self, root: Path, attack: Attack) -> None:
        self.root = root
        self.attack = attack
        self.plugin = root / "plugins" / attack.name / "plugin.py"
        self.neighbour = root / "plugins" / "boxed-bystander" / "plugin.py"
        self.data = root / "data" / attack.name
        self.pwned = root / "pwned"
        self.secret = root / "secret.txt"
        host = root / "host"
        for folder in (self.plugin.parent, self.neighbour.parent, self.data, host):
            folder.mkdir(parents=True)
        self.secret.write_text(f"host secret: {SECRET}\n")
        (host / "host-secret.db").write_text("rows")
        self.neighbour.write_text("# the neighbour's code\n")
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.unix = socket.socket(socket.AF_UNIX)
        self.abstract = f"\0pliers-unconfined-{uuid.uuid4().hex}"
        self.unix.bind(self.abstract)
        self.unix.listen()
        self.sleeper = subprocess.Popen(
            ["/bin/sh", "-c", 'exec /bin/sleep 120 3<"$0"', str(self.secret)],
            cwd=host,
            env={"PATH": "/usr/bin:/bin", "PLIERS_SECRET": SECRET},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 5
        while not self._sleeping() and time.monotonic() < deadline:
            time.sleep(0.005)
        assert self._sleeping(), "the stand-in host never started sleeping"

    def _sleeping(self) -> bool:
        try:
            return os.readlink(f"/proc/{self.sleeper.pid}/exe").endswith("/sleep")
        except OSError:
            return False

    def targets(self) -> dict[str, str]:
        parent = self.sleeper.pid
        assert parent not in (0, 1, os.getpid(), os.getppid(), os.getpgrp())
        return {
            "PWNED": repr(str(self.pwned)),
            "PARENT": str(parent),
            "LISTEN": repr(self.tcp.getsockname()[:2]),
            "ABSTRACT": repr(self.abstract),
        }

    def close(self) -> None:
        if self.sleeper.poll() is None:
            self.sleeper.kill()
        self.sleeper.wait()
        self.tcp.close()
        self.unix.close()

    def run(self) -> Run:
        attack, proof = self.attack, self.attack.unconfined
        assert isinstance(proof, Proof)
        targets = self.targets()
        source = plugin_source(attack, targets)
        assert f"\nPARENT = {self.sleeper.pid}\n" in source
        self.plugin.write_text(source)
        result, markers = self.root / "result.json", self.root / "markers.json"
        markers.write_text(json.dumps(list(proof.found)))
        spec = {
            "source": source,
            "file": str(self.plugin),
            "neighbour_file": str(self.neighbour),
            "cwd": str(self.data),
            "result": str(result),
            "markers": str(markers),
            "prep": proof.prep,
            "nets": [list(net) for net in (*proof.nets, ("RLIMIT_CPU", 30))],
            "mode": attack.mode,
            "guest": str(GUEST),
            "host_mnt_ns": os.readlink("/proc/self/ns/mnt"),
        }
        (self.root / "spec.json").write_text(json.dumps(spec))
        stderr_path = self.root / "stderr.txt"
        command = [sys.executable, "-I", str(CHILD), str(self.root / "spec.json")]
        with stderr_path.open("wb") as stderr:
            child = subprocess.Popen(
                # the child inherits the secret file on INHERITED_FD, as a leaky host would
                ["/bin/sh", "-c", f'exec "$@" {INHERITED_FD}<"$0"', str(self.secret), *command],
                cwd=self.data,
                env={"PATH": "/usr/bin:/bin"},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
            timed_out = False
            try:
                child.wait(RUNS_ON_S if proof.ends == "runs-on" else DEADLINE_S)
            except subprocess.TimeoutExpired:
                timed_out = True
                os.killpg(child.pid, signal.SIGKILL)  # not reaped yet: the group is its own
                child.wait()
        text = result.read_text() if result.exists() else ""
        report: dict[str, Any] = json.loads(text) if text else {}
        if report:
            run = Run(report["ends"], child.returncode, report)
        elif timed_out:
            run = Run("runs-on", None, report)
        elif child.returncode < 0:
            run = Run("signal", -child.returncode, report)
        else:
            run = Run("exits", child.returncode, report)
        run.stderr = stderr_path.read_text(errors="replace")
        run.effects = self.effects(source, wait_for_death="parent-dead" in proof.effects)
        return run

    def effects(self, source: str, wait_for_death: bool) -> set[str]:
        found = set()
        if self.pwned.exists():
            found.add("pwned")
        try:
            self.sleeper.wait(timeout=1.0 if wait_for_death else 0.0)
            found.add("parent-dead")
        except subprocess.TimeoutExpired:
            limits = Path(f"/proc/{self.sleeper.pid}/limits").read_text()
            files = next(line for line in limits.splitlines() if line.startswith("Max open files"))
            if files.split()[3:5] == ["1", "1"]:
                found.add("parent-limited")
        if not self.plugin.exists() or self.plugin.read_text() != source:
            found.add("own-code-changed")
        if self.neighbour.read_text() != "# the neighbour's code\n":
            found.add("neighbour-code-changed")
        if self.plugin.parent.stat().st_mode & 0o777 == 0o777:
            found.add("own-folder-chmod")
        used = sum(p.stat().st_size for p in self.data.rglob("*") if p.is_file())
        if used > DISK_LIMIT_MB << 20:
            found.add("data-over-limit")
        return found


@pytest.fixture
def stage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stage]:
    stage = Stage(tmp_path, request.param)
    try:
        yield stage
    finally:
        stage.close()
        # data/ may hold a hard link to /etc/passwd and hundreds of MB: gone now
        subprocess.run(["rm", "-rf", "--one-file-system", str(tmp_path / "data")], check=True)


@pytest.mark.parametrize("stage", PROVEN, ids=lambda a: a.name, indirect=True)
def test_attack_works_unconfined(stage: Stage) -> None:
    proof = stage.attack.unconfined
    assert isinstance(proof, Proof)
    run = stage.run()
    assert run.ends == proof.ends, f"{stage.attack.name} should {proof.ends}: {run}"
    if proof.ends in ("exits", "signal"):
        assert run.status == proof.status, str(run)
    assert set(proof.effects) <= run.effects, str(run)
    assert set(proof.found) <= set(run.report.get("found", ())), str(run)
    if proof.type:
        assert run.report["type"] == proof.type, str(run)
    for measure, limit in proof.over:
        assert run.report[measure] > limit, f"{measure} <= {limit}: {run}"


def test_unproven_attacks_say_why() -> None:
    excused = {a.name: a.unconfined for a in ALL if not a.proven}
    for name, reason in excused.items():
        assert isinstance(reason, str) and reason.strip() and "\n" not in reason, name
    assert len(excused) <= 12, sorted(excused)


def test_spy_tokens_are_the_neighbours() -> None:
    """The markers the spies must find are what the child's neighbour computes."""
    assert (TOKEN_SAME_THREAD, TOKEN_OTHER_THREAD) == ("bystander-7919", "bystander-15838")
    assert "7919" in CHILD.read_text()
