"""``pliers doctor``: the machine's report, and an exit code a script can trust."""

from __future__ import annotations

import io
import subprocess
import sys
from typing import Any

import pytest

from pliers_lab.pdk._doctor import doctor
from pliers_lab.sandbox import SandboxPolicy
from pliers_lab.sandbox.layers import LAYERS
from pliers_lab.sandbox.report import REMEDY


def test_doctor_lists_every_layer_and_exits_0_when_isolation_can_start() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pliers_lab", "doctor"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("python    3.")
    for layer in LAYERS:
        assert f"\n  {layer} " in done.stdout
    assert "process isolation works" in done.stdout


def test_doctor_exits_1_naming_the_missing_required_layer_and_its_remedy() -> None:
    out = io.StringIO()
    code = doctor(out, SandboxPolicy(simulate_missing=frozenset({"seccomp"})))
    assert code == 1
    text = out.getvalue()
    assert "process isolation refused: required layer missing (seccomp)" in text
    assert "to get it: " + REMEDY["seccomp"] in text


@pytest.mark.slow
def test_doctor_as_an_ordinary_user_without_user_namespaces(ordinary_user: Any) -> None:
    done = ordinary_user.run(str(ordinary_user.python), "-m", "pliers_lab", "doctor",
                             userns=False, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(ordinary)" in done.stdout and "(writable)" in done.stdout
    assert "process isolation works without netns, cgroup (degraded)" in done.stdout
    assert "to get it: " + REMEDY["netns"] in done.stdout
