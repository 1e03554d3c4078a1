"""``pliers quarantine`` / ``release`` / ``threats`` (issue 19 §3): against a security
store file, and against a running server's management API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pliers_lab import Engine
from pliers_lab.pdk.cli import main
from pliers_lab.web import serve

HOOK = "submission.afterSave"
MANIFEST = {
    "name": "mailer",
    "version": "1.0.0",
    "description": "sends mail",
    "author": "Tests <tests@example.com>",
    "license": "MIT",
    "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
    "hooks": {HOOK: {"handler": "sent"}},
}
CODE = {"sent": lambda ctx: "sent"}


def test_quarantine_in_a_store_holds_at_the_next_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "security.db"
    assert (
        main(["quarantine", "mailer", "--reason", "suspicious update", "--store", str(store)]) == 0
    )
    with Engine(default_isolation="inline", security_store=store) as engine:
        plugin = engine.add_plugin(MANIFEST, CODE)
        assert plugin.state.value == "loaded"
        assert engine.quarantined("mailer") == "suspicious update"
        assert engine.fire(HOOK, {}).value == []
    assert main(["release", "mailer", "--store", str(store), "--reason", "checked"]) == 0
    with Engine(default_isolation="inline", security_store=store) as engine:
        assert engine.add_plugin(MANIFEST, CODE).state.value == "active"
        actions = [(a["action"], a["source"], a["reason"]) for a in engine.security_actions()]
        assert actions == [
            ("quarantine", "cli", "suspicious update"),
            ("release", "cli", "checked"),
        ]
    capsys.readouterr()
    assert main(["release", "mailer", "--store", str(store)]) == 2
    assert "'mailer' is not quarantined in" in capsys.readouterr().err


def test_quarantine_and_release_a_running_engine(capsys: pytest.CaptureFixture[str]) -> None:
    with Engine(default_isolation="inline") as engine:
        engine.add_plugin(MANIFEST, CODE)
        server = serve(engine)
        try:
            target = ["--url", server.url, "--token", server.token]
            assert main(["quarantine", "mailer", "--reason", "by hand", *target]) == 0
            assert "mailer: quarantined" in capsys.readouterr().out
            assert engine.quarantined("mailer") == "by hand"
            assert engine.fire(HOOK, {}).value == []
            assert main(["threats", *target]) == 0
            assert "no threats" in capsys.readouterr().out
            assert main(["release", "mailer", *target]) == 0
            assert engine.fire(HOOK, {}).value == ["sent"]
            actions = [(a["action"], a["source"]) for a in engine.security_actions("mailer")]
            assert actions == [("quarantine", "api:admin"), ("release", "api:admin")]
            capsys.readouterr()
            # mistakes are one line naming what was wrong
            assert main(["release", "mailer", *target]) == 2
            assert "409 INVALID_STATE" in capsys.readouterr().err
            assert (
                main(
                    ["quarantine", "mailer", "--reason", "x", "--url", server.url, "--token", "bad"]
                )
                == 2
            )
            assert "401" in capsys.readouterr().err
            assert main(["quarantine", "nobody", "--reason", "x", *target]) == 2
            assert "404 PLUGIN_NOT_FOUND" in capsys.readouterr().err
        finally:
            server.stop()


@pytest.mark.parametrize(
    "argv",
    [
        ["quarantine", "mailer", "--reason", "x"],  # neither --url nor --store
        ["quarantine", "mailer", "--reason", "x", "--url", "http://127.0.0.1:9", "--store", "s"],
    ],
)
def test_say_where_the_engine_is(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    monkeypatch.delenv("PLIERS_URL", raising=False)
    assert main(argv) == 2
    assert "give either --url" in capsys.readouterr().err


def _serve(extensions: Path, store: Path) -> tuple[Any, str, str]:
    """``python -m pliers_lab serve`` on a free port with ``--security-store``."""
    import os
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "pliers_lab", "serve", "--port", "0", "--isolation", "inline",
         "--extensions", str(extensions), "--security-store", str(store)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(3)]
    assert lines[0].startswith("pliers-lab web: http://127.0.0.1:"), (lines, proc.stderr)
    return proc, lines[0].split()[2], lines[2].split()[-1]


def _stop(proc: Any) -> None:
    import signal

    proc.send_signal(signal.SIGINT)
    try:
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_a_quarantine_over_http_outlasts_the_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``pliers quarantine --url`` against ``pliers serve --security-store``: the next
    server on the same store starts the plugin quarantined; ``pliers release`` lifts it."""
    import json
    import textwrap

    from support import write_plugin

    extensions = tmp_path / "extensions"
    write_plugin(extensions, "mailer", textwrap.dedent("""
        from pliers_lab import hook

        @hook("submission.afterSave")
        def sent(ctx):
            return "sent"
    """), {HOOK: {}})  # fmt: skip
    store = tmp_path / "security.db"
    proc, url, token = _serve(extensions, store)
    try:
        target = ["--url", url, "--token", token]
        assert main(["quarantine", "mailer", "--reason", "under review", *target]) == 0
        assert "mailer: quarantined (stopped): under review" in capsys.readouterr().out
    finally:
        _stop(proc)
    proc, url, token = _serve(extensions, store)
    try:
        target = ["--url", url, "--token", token]
        assert main(["threats", "--json", *target]) == 0
        assert json.loads(capsys.readouterr().out) == []
        # 409 if the new server had not started it quarantined
        assert main(["release", "mailer", "--reason", "reviewed", *target]) == 0
        assert "mailer: released (active)" in capsys.readouterr().out
    finally:
        _stop(proc)
    from pliers_lab.security import QuarantineStore

    record = QuarantineStore(store)
    try:
        actions = [(a["action"], a["reason"], a["source"]) for a in record.actions("mailer")]
    finally:
        record.close()
    assert actions == [
        ("quarantine", "under review", "api:admin"),
        ("release", "reviewed", "api:admin"),
    ]
