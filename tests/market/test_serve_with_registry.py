"""``pliers serve --registry R --store S --advisory-policy warn|disable``: the server's
marketplace and its ``AdvisoryWatch`` (issue 19 §2), set from the command line. A real
registry and store (the marketplace fixtures), a real ``python -m pliers_lab serve`` on a
free port, its management API over HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from pliers_lab.market import PluginMarketplace, PluginStore, Registry
from pliers_lab.pdk.cli import main

pytestmark = pytest.mark.slow


def _serve(*options: str) -> tuple[Any, str, str, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pliers_lab", "serve", "--port", "0", *options],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(4)]
    assert lines[0].startswith("pliers-lab web: http://127.0.0.1:"), (lines, proc.stderr)
    return proc, lines[0].split()[2], lines[2].split()[-1], lines[3]


def _stop(proc: Any) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        for stream in (proc.stdout, proc.stderr):
            stream.close()


def _affected(registry: Registry, market: PluginMarketplace, publish: Any, capsys: Any) -> str:
    """csvx 1.0.0 installed in the store, an advisory on <1.1.0 confirmed: its id."""
    publish("csvx", "1.0.0")
    market.install("csvx")
    publish("csvx", "1.1.0")
    reg = str(registry.root)
    assert main([
        "advisory", "report", "csvx", "--version", "1.0.0", "--severity", "high",
        "--type", "data-exfiltration", "--description", "rows go out",
        "--registry", reg, "--user", "bob",
    ]) == 0  # fmt: skip
    report = json.loads(capsys.readouterr().out)["id"]
    confirm = ["advisory", "confirm", str(report), "--affected", "<1.1.0", "--fixed", "1.1.0"]
    assert main([*confirm, "--registry", reg, "--user", "ann"]) == 0
    return str(json.loads(capsys.readouterr().out)["id"])


@pytest.mark.parametrize("policy", ["disable", "warn"])
def test_the_advisory_policy_is_set_by_the_flag(
    registry: Registry,
    store: PluginStore,
    market: PluginMarketplace,
    publish: Any,
    capsys: pytest.CaptureFixture[str],
    policy: str,
) -> None:
    advisory = _affected(registry, market, publish, capsys)
    proc, url, token, said = _serve(
        "--registry", str(registry.root), "--store", str(store.root),
        "--advisory-policy", policy, "--trust", "csvx",
    )  # fmt: skip
    try:
        assert said.startswith(f"marketplace: registry {registry.root}, store {store.root}")
        assert f"advisories: policy {policy}, checked every 300 s" in said
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=auth, timeout=30) as client:
            # the store's plugin runs; under "disable" the watch's first check (at start,
            # before any request) stops it, naming the advisory
            deadline = time.monotonic() + (20 if policy == "disable" else 2)
            while True:
                status = client.get("/v3/plugins/csvx/status").json()
                if status["disabledReason"] or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            if policy == "disable":
                assert status["state"] != "active" and advisory in status["disabledReason"]
            else:
                assert status["state"] == "active" and status["disabledReason"] is None
            listed = client.get("/v3/advisories").json()
            assert listed["policy"] == policy
            (finding,) = listed["advisories"]
            assert finding["advisory"]["id"] == advisory
            assert client.get("/v3/plugins/csvx/status").json()["state"] == status["state"]
    finally:
        _stop(proc)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--advisory-policy", "disable"], "--advisory-policy need --registry DIR|URL"),
        (["--store", "s"], "--store need --registry DIR|URL"),
        (["--registry", "r"], "--registry r needs --store DIR"),
        (["--registry", "r", "--store", "s", "--advisory-interval", "0"], "> 0, got 0"),
    ],
)
def test_marketplace_mistakes_are_one_line_before_anything_starts(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--port", "0", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
