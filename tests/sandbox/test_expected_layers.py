"""Where CI expects a kernel layer, a test that needs it fails instead of skipping."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]

CONFTEST = """
from pliers_lab.sandbox import layers

layers.detect_all()
layers._detected["seccomp"] = (False, "simulated as missing by this test")
pytest_plugins = ["sandbox.conftest"]
"""

NEEDS_SECCOMP = """
from sandbox.helpers import requires

@requires("seccomp")
def test_needs_seccomp():
    pass
"""


def run_inner(tmp_path: Path, expect: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(NEEDS_SECCOMP))
    env = {k: v for k, v in os.environ.items() if k != "PLIERS_EXPECT_LAYERS"}
    if expect is not None:
        env["PLIERS_EXPECT_LAYERS"] = expect
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            "-c",
            os.devnull,
            "--import-mode=importlib",
            "-o",
            f"pythonpath={TESTS}",
            "-W",
            "ignore::pytest.PytestConfigWarning",
            str(tmp_path / "test_inner.py"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )


def test_a_missing_layer_skips_where_nothing_is_expected(tmp_path: Path) -> None:
    out = run_inner(tmp_path, None)
    assert "1 skipped" in out.stdout, out.stdout + out.stderr
    assert "layer missing here: seccomp (simulated as missing by this test)" in out.stdout


def test_a_missing_layer_fails_where_it_is_expected(tmp_path: Path) -> None:
    for expect in ("all", "netns,seccomp"):
        out = run_inner(tmp_path, expect)
        assert "1 error" in out.stdout, out.stdout + out.stderr  # fails in setup: the suite fails
        assert "expected on this machine (PLIERS_EXPECT_LAYERS) but missing: seccomp" in out.stdout
    assert "1 skipped" in run_inner(tmp_path, "netns").stdout  # expected elsewhere: a skip
