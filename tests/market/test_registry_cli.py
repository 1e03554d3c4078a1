"""``pliers registry serve`` (a real process until SIGTERM) and ``pliers publish --registry
URL`` (the author's whole flow against a registry service), issue 19 §1."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from pliers_lab.market import Registry
from pliers_lab.market.service import serve_registry
from pliers_lab.pdk.cli import main


def test_pliers_registry_serve_runs_until_sigterm(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    missing = subprocess.run(
        [sys.executable, "-m", "pliers_lab", "registry", "serve", "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and "--create makes one" in missing.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "pliers_lab", "registry", "serve", "--root", str(root), "--create",
         "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"(http://127\.0\.0\.1:\d+)/v1 serves", line)
        assert found, line
        reply = httpx.get(found.group(1) + "/v1", timeout=10)
        assert reply.status_code == 200 and reply.json()["plugins"] == 0
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "keys"
    monkeypatch.setenv("PLIERS_KEYS", str(folder))
    return folder


def test_pliers_publish_to_a_registry_url(
    tmp_path: Path, keys: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["create", "notifier", "pinger", "--dir", str(tmp_path)]) == 0
    assert main(["key", "create", "ann"]) == 0
    root = tmp_path / "registry"
    registry = Registry(root)
    with serve_registry(registry) as server:
        publish = ["publish", str(tmp_path / "pinger"), "--registry", server.url, "--key", "ann"]
        capsys.readouterr()
        assert main(publish) == 2  # refused before the tests run: the key is unknown there
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"is not registered on {server.url}" in err
        assert "pliers key trust KEY.pem --registry DIR --user ann" in err
        # the registry's operator registers ann's public key on the registry's machine
        assert main(["key", "trust", str(keys / "ann.pub"), "--registry", str(root)]) == 0
        assert main(publish) == 0
        assert f"published pinger@0.1.0 to {server.url}" in capsys.readouterr().out
        assert registry.maintainers("pinger") == {"ann": "owner"}
        assert main(publish) == 2  # the same version again: the registry's 409, in one line
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "409 PLUGIN_ALREADY_EXISTS" in err
    assert os.environ["PLIERS_KEYS"] == str(keys)
    time.sleep(0)
