"""Drive JupyterLab in a real browser for the lab's tests: JupyterLab on loopback,
headless Debian chromium through Playwright (facts/lab-stack.md has the recipe).

``lab_server`` starts a server on a folder, ``browser_page`` opens a page that saves a
screenshot, the HTML and console errors when the test fails, ``run_all`` runs a notebook.
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

ROOT = Path(__file__).resolve().parents[1]
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


def need_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = "Debian's chromium is not installed (apt-get install -y chromium; .ci/run does it)"
    if os.environ.get("PLIERS_REQUIRE_BROWSER"):
        pytest.fail(message)
    pytest.skip(message)


def accept_dialogs(page: Any) -> None:
    for button in page.locator(".jp-Dialog .jp-mod-accept").all():
        if button.is_visible():
            button.click()


@contextmanager
def browser_page(server: LabServer, name: str) -> Iterator[Any]:
    """A Chromium page (1400x1000) on ``server``; on failure a screenshot, the page HTML,
    console errors and the server log are saved under ARTIFACTS as ``<name>-failure*``."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    console: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on(
            "console",
            lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None,
        )
        try:
            yield page
        except Exception:
            page.screenshot(path=str(ARTIFACTS / f"{name}-failure.png"), full_page=True)
            (ARTIFACTS / f"{name}-failure.html").write_text(page.content())
            (ARTIFACTS / f"{name}-failure-console.txt").write_text("\n".join(console))
            shutil.copy(server.log, ARTIFACTS / f"{name}-failure-jupyter.log")
            raise
        finally:
            browser.close()


def copy_notebooks(target: Path) -> Path:
    """The notebooks alone, copied to ``target`` (JupyterLab's autosave never writes
    outputs into the repository)."""
    shutil.copytree(
        ROOT / "notebooks",
        target,
        ignore=lambda _d, names: [n for n in names if not n.endswith(".ipynb")],
    )
    return target


def run_all(page: Any, server: LabServer, notebook: str, timeout_ms: int = 120_000) -> None:
    """Open ``notebook`` with a fresh layout, wait for its kernel, run every cell and
    wait until the kernel is idle again."""
    page.goto(server.open_url(notebook))
    page.wait_for_function("() => !!window.jupyterapp", timeout=60_000)
    page.wait_for_function(KERNEL_IDLE, timeout=60_000)
    accept_dialogs(page)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_timeout(500)
    page.wait_for_function(KERNEL_IDLE, timeout=timeout_ms)


# Outputs, or boxes in them, whose content is wider than they are and hidden or scrolled
# sideways (content to the right a reader cannot see without hunting for a scrollbar):
# [cell number, class, content px, box px].
WIDER_THAN_OUTPUT = """() => [...document.querySelectorAll('.jp-Notebook .jp-Cell')].flatMap(
  (cell, n) => [...cell.querySelectorAll('.jp-OutputArea-output, .jp-OutputArea-output *')]
    .filter(el => el.scrollWidth > el.clientWidth + 1
                  && ['auto', 'scroll', 'hidden'].includes(getComputedStyle(el).overflowX))
    .map(el => [n, String(el.className), el.scrollWidth, el.clientWidth]))"""
