"""From a fresh copy of the repository: Binder's recipe builds an environment that runs
every notebook, and ``./run lab`` serves the notebooks on its own.

There is no Docker here, so Binder is reproduced by what repo2docker does after its image
build: a fresh environment, ``binder/requirements.txt`` installed, ``binder/postBuild``
run from the repository root. ``uv`` builds the environment (seconds, not minutes).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from clone import fresh_copy, uv
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _pins() -> dict[str, str]:
    """binder/requirements.txt as name → exact version (every line must be a pin)."""
    pins = {}
    for line in (ROOT / "binder" / "requirements.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, version = line.strip().partition("==")
        assert sep and version and not re.search(r"[<>~!,;\s]", version), line
        pins[canonicalize_name(name)] = version
    return pins


def test_binder_pins_every_dependency_of_the_lab_exactly() -> None:
    """A build next year gets the same versions: core and lab dependencies, and theirs,
    pinned with ``==`` at versions pyproject.toml accepts (binder/lock regenerates)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    pins = _pins()
    wanted, seen = [*project["dependencies"], *extras["lab"]], set()
    while wanted:
        requirement = Requirement(wanted.pop())
        name = canonicalize_name(requirement.name)
        if name == canonicalize_name(project["name"]):  # the lab's own extras (wire)
            for extra in requirement.extras - seen:
                seen.add(extra)
                wanted.extend(extras[extra])
            continue
        assert name in pins, f"{name} is not pinned in binder/requirements.txt (run binder/lock)"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            str(requirement),
            pins[name],
        )
    assert {"ipykernel", "jupyterlab", "ipywidgets", "pydantic", "packaging"} <= set(pins)
    assert os.access(ROOT / "binder" / "postBuild", os.X_OK)


def test_binder_opens_notebook_01_without_news_prompts() -> None:
    readme = (ROOT / "README.md").read_text()
    badge = re.search(r"\(https://mybinder\.org/v2/gh/[^)\s]+\)", readme)
    assert badge, "no Binder launch badge in the README"
    assert "labpath=notebooks%2F01-getting-started.ipynb" in badge.group(0)
    assert (ROOT / "notebooks" / "01-getting-started.ipynb").exists()
    overrides = json.loads((ROOT / "binder" / "overrides.json").read_text())
    notification = overrides["@jupyterlab/apputils-extension:notification"]
    assert notification == {"fetchNews": "false", "checkForUpdates": False}
    assert "binder/overrides.json" in (ROOT / "binder" / "postBuild").read_text()


def test_binder_environment_runs_every_notebook(tmp_path: Path) -> None:
    repo = fresh_copy(tmp_path / "repo")
    venv = tmp_path / "binder-env"
    env = {**os.environ, "JUPYTER_PLATFORM_DIRS": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PLIERS_EXTENSIONS", None)
    env.pop("VIRTUAL_ENV", None)
    python = f"{sys.version_info.major}.{sys.version_info.minor}"

    def run(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, check=True, env=env, capture_output=True, text=True, **kw)

    run(*uv(), "venv", "--quiet", "--seed", "--python", python, str(venv))
    run(
        *uv(),
        "pip",
        "install",
        "--quiet",
        "--python",
        str(venv / "bin" / "python"),
        "-r",
        str(repo / "binder" / "requirements.txt"),
    )
    env["PATH"] = f"{venv / 'bin'}:{env['PATH']}"
    env["VIRTUAL_ENV"] = str(venv)
    try:
        run(str(repo / "binder" / "postBuild"), cwd=repo)
    except subprocess.CalledProcessError as exc:
        raise AssertionError(f"postBuild failed:\n{exc.stdout}\n{exc.stderr}") from None
    where = run(
        str(venv / "bin" / "python"),
        "-c",
        "import pliers_lab; print(pliers_lab.__file__)",
        cwd=tmp_path,
    )
    assert where.stdout.strip() == str(repo / "pliers_lab" / "__init__.py")
    installed = venv / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    assert json.loads(installed.read_text()) == json.loads(
        (repo / "binder" / "overrides.json").read_text()
    )
    notebooks = sorted((repo / "notebooks").glob("*.ipynb"))
    assert notebooks
    try:  # one nbclient process for all of them, each in its own fresh kernel
        run(
            str(venv / "bin" / "jupyter"),
            "execute",
            "--timeout=180",
            *(n.name for n in notebooks),
            cwd=repo / "notebooks",
        )
    except subprocess.CalledProcessError as exc:
        raise AssertionError(
            f"a notebook failed in the Binder environment:\n{exc.stderr[-4000:]}"
        ) from None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_run_lab_serves_the_notebooks_from_a_fresh_clone(tmp_path: Path) -> None:
    repo = fresh_copy(tmp_path / "repo")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PLIERS_EXTENSIONS")}
    env.update(
        PLIERS_LAB_PORT=str(port),
        JUPYTER_CONFIG_DIR=str(tmp_path / "no-config"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
    )  # embedded defaults only
    log = tmp_path / "run-lab.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(repo / "run"), "lab"],
            cwd=repo,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = None
        deadline = time.monotonic() + 180
        while url is None and time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()[-3000:]
            found = re.search(
                rf"http://127\.0\.0\.1:{port}/lab/tree/01-getting-started\.ipynb\?token=(\w+)",
                log.read_text(),
            )
            url = found and found.group(0)
            time.sleep(0.3)
        assert url, f"no URL printed:\n{log.read_text()[-3000:]}"
        token = url.rsplit("=", 1)[1]
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/contents?token={token}", timeout=10
        ) as response:
            listing = json.load(response)
        names = {item["name"] for item in listing["content"]}
        assert {"01-getting-started.ipynb", "02-hooks-priorities-and-result-modes.ipynb"} <= names
        assert "pliers_lab: JupyterLab on notebooks/" in log.read_text()
        # the first screen is the notebook: JupyterLab's own settings say no news prompt
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/lab/api/settings/@jupyterlab/apputils-extension:"
            f"notification?token={token}",
            timeout=10,
        ) as response:
            defaults = json.load(response)["schema"]["properties"]  # overrides.json applied
        assert defaults["fetchNews"]["default"] == "false"
        assert defaults["checkForUpdates"]["default"] is False
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
