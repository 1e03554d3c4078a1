"""The lab in a real browser: JupyterLab on loopback, headless Debian chromium driven by
Playwright, a notebook run, the hook simulator's Fire button clicked, the rendered
per-plugin table checked, a screenshot saved (facts/lab-stack.md has the recipe).

The notebooks are copied to a temporary folder first, so JupyterLab's autosave never
writes outputs into the repository.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "lab"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LabServer:
    """A running server: its base URL and token."""

    def __init__(self, url: str, token: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.url = url
        self.token = token
        self.process = process
        self.log = log

    def open_url(self, notebook: str) -> str:
        """The URL that opens ``notebook`` with a fresh layout (``reset``)."""
        return f"{self.url}/lab/tree/{notebook}?token={self.token}&reset"


def _settings(folder: Path) -> None:
    """User settings that keep JupyterLab quiet and start kernels on their own."""
    files = {
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
            "autoStartDefaultKernel": True
        },
    }
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content))


def _wait(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"jupyter lab exited with {process.returncode}:\n{log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(
        f"jupyter lab did not answer {url} in {timeout:.0f} s:\n{log.read_text()[-3000:]}"
    )


@contextmanager
def lab_server(root: Path, state: Path, env: dict[str, str] | None = None) -> Iterator[LabServer]:
    """Start ``jupyter lab`` on ``root`` (per-test config, runtime and settings dirs under
    ``state``); SIGTERM on exit shuts its kernels down."""
    port, token = free_port(), secrets.token_hex(16)
    dirs = {name: state / name for name in ("config", "runtime", "settings", "workspaces")}
    for folder in dirs.values():
        folder.mkdir(parents=True, exist_ok=True)
    _settings(dirs["settings"])
    environ = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
        "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
        "JUPYTER_PLATFORM_DIRS": "1",
        **(env or {}),
    }
    args = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={token}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        "--LabApp.expose_app_in_browser=True",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")
    log = state / "jupyter.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env=environ, cwd=root
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(f"{url}/api/status?token={token}", process, log)
        yield LabServer(url, token, process, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# The notebook widget's kernel, connected and idle: the robust wait (an execution
# indicator reads idle before any kernel is attached).
KERNEL_IDLE = """() => {
  const widget = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = widget && widget.sessionContext && widget.sessionContext.session
    && widget.sessionContext.session.kernel;
  return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
}"""


def _need_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = "Debian's chromium is not installed (apt-get install -y chromium; .ci/run does it)"
    if os.environ.get("PLIERS_REQUIRE_BROWSER"):
        pytest.fail(message)
    pytest.skip(message)


def _accept_dialogs(page: Any) -> None:
    for button in page.locator(".jp-Dialog .jp-mod-accept").all():
        if button.is_visible():
            button.click()


def test_fire_from_the_simulator_in_jupyterlab(tmp_path: Path) -> None:
    _need_chromium()
    from playwright.sync_api import sync_playwright

    root = tmp_path / "notebooks"
    shutil.copytree(
        ROOT / "notebooks",
        root,
        ignore=lambda _d, names: [n for n in names if not n.endswith(".ipynb")],
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    console: list[str] = []
    env = {"PLIERS_EXTENSIONS": str(ROOT / "extensions")}
    with lab_server(root, tmp_path / "state", env) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on(
            "console",
            lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None,
        )
        try:
            page.goto(server.open_url("01-getting-started.ipynb"))
            page.wait_for_function("() => !!window.jupyterapp", timeout=60_000)
            page.wait_for_function(KERNEL_IDLE, timeout=60_000)
            _accept_dialogs(page)
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            fire = page.locator(".pliers-simulator button.widget-button", has_text="Fire")
            fire.wait_for(state="visible", timeout=90_000)
            page.wait_for_function(KERNEL_IDLE, timeout=90_000)  # every cell has run
            table = page.locator(".pliers-simulator .pliers-outcomes")
            assert table.count() == 0  # nothing fired from the simulator yet
            started = time.perf_counter()
            fire.click()
            rows = page.locator(".pliers-simulator table.pliers-outcomes tbody tr[data-plugin]")
            rows.first.wait_for(state="visible", timeout=30_000)
            round_trip_ms = (time.perf_counter() - started) * 1000  # click → table drawn
            (ARTIFACTS / "simulator-fire-ms.txt").write_text(f"{round_trip_ms:.1f}\n")
            plugins = [rows.nth(i).get_attribute("data-plugin") for i in range(rows.count())]
            statuses = {rows.nth(i).get_attribute("data-status") for i in range(rows.count())}
            assert plugins == ["submission-sanitizer", "data-transform-chain"]
            assert statuses == {"ok"}
            status = page.locator(".pliers-simulator .pliers-message.pliers-ok").last.inner_text()
            assert "submission.transform (waterfall)" in status and "2 plugins" in status
            rows.first.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "simulator-fire.png"), full_page=False)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
            (ARTIFACTS / "failure.html").write_text(page.content())
            (ARTIFACTS / "failure-console.txt").write_text("\n".join(console))
            shutil.copy(server.log, ARTIFACTS / "failure-jupyter.log")
            raise
        finally:
            browser.close()
    assert (ARTIFACTS / "simulator-fire.png").stat().st_size > 10_000
    assert round_trip_ms < 2000, round_trip_ms  # browser → kernel → engine → browser
