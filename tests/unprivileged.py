"""Run parts of the project as an ordinary user, the way Binder runs them: no root, no
cgroup delegation, and (``userns=False``) no user namespaces either.

As root, commands run as uid/gid 65534 through ``setpriv`` with every capability dropped;
run by an ordinary user, they run as that user. The user gets its own home (a fresh copy
of the repository in it, installed editable, as Binder's postBuild does) and a venv on an
interpreter every user may execute (root's pyenv lives under /root, mode 0700).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from clone import fresh_copy, uv

ROOT = Path(__file__).resolve().parents[1]
NO_USERNS = Path(__file__).resolve().parent / "no_userns.py"
UID = GID = 65534


def _everyone_may_run(path: Path) -> bool:
    """Whether a user who is neither owner nor group may execute ``path``."""
    path = path.resolve()
    return all(part.stat().st_mode & stat.S_IXOTH for part in (*reversed(path.parents), path))


def public_interpreter() -> Path:
    """A Python of this minor version that any user may execute."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (Path(sys.executable), Path(f"/usr/bin/python{version}")):
        if candidate.exists() and _everyone_may_run(candidate):
            return candidate
    pytest.fail(
        f"no Python {version} that an ordinary user may run ({sys.executable} is not "
        f"executable by others, /usr/bin/python{version} is missing): "
        f"apt-get install python{version}-venv",
        pytrace=False,
    )


@dataclass(frozen=True)
class OrdinaryUser:
    """An unprivileged user's home with the repository installed in its own venv."""

    home: Path
    repo: Path
    venv: Path
    """Owned by the user, as Binder's environment is."""

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def command(self, *args: str, userns: bool = True) -> list[str]:
        """``args`` as this user (and without user namespaces unless ``userns``)."""
        prefix: list[str] = []
        if os.geteuid() == 0:
            prefix = ["setpriv", f"--reuid={UID}", f"--regid={GID}", "--clear-groups",
                      "--inh-caps=-all", "--bounding-set=-all"]  # fmt: skip
        if not userns:
            prefix += [str(self.python), str(NO_USERNS)]
        return [*prefix, *args]

    def env(self, **extra: str) -> dict[str, str]:
        keep = ("PATH", "LANG", "LC_ALL", "TERM")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env.update(
            HOME=str(self.home),
            USER="jovyan",
            JUPYTER_PLATFORM_DIRS="1",
            PYTHONDONTWRITEBYTECODE="1",
            PIP_DISABLE_PIP_VERSION_CHECK="1",
            PATH=f"{self.venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}",
            VIRTUAL_ENV=str(self.venv),
        )
        env.update(extra)
        return env

    def run(
        self, *args: str, userns: bool = True, timeout: float = 900, cwd: Path | None = None,
        **extra_env: str,
    ) -> subprocess.CompletedProcess[str]:  # fmt: skip
        return subprocess.run(
            self.command(*args, userns=userns),
            cwd=cwd or self.home,
            env=self.env(**extra_env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def make_ordinary_user() -> OrdinaryUser:
    """Binder's recipe for an ordinary user: a home holding a fresh copy of the repository,
    a venv with binder/requirements.txt (and nbclient to run notebooks) owned by the user,
    and binder/postBuild run as that user (uv installs the pins: seconds, not minutes)."""
    base = Path(tempfile.mkdtemp(prefix="pliers-ordinary-"))
    base.chmod(0o755)
    home = base / "home"
    repo = fresh_copy(home / "repo")
    venv = base / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PLIERS_EXTENSIONS")}
    python = venv / "bin" / "python"
    for args in (
        ["venv", "--quiet", "--seed", "--python", str(public_interpreter()), str(venv)],
        ["pip", "install", "--quiet", "--python", str(python),
         "-r", str(repo / "binder" / "requirements.txt"), "nbclient", "nbformat"],
    ):  # fmt: skip
        subprocess.run([*uv(), *args], check=True, env=env, capture_output=True)
    if os.geteuid() == 0:
        for top in (home, venv):
            os.chown(top, UID, GID)
            for folder, dirs, files in os.walk(top):
                for name in (*dirs, *files):
                    os.lchown(Path(folder) / name, UID, GID)
    user = OrdinaryUser(home, repo, venv)
    built = user.run(str(repo / "binder" / "postBuild"), cwd=repo, timeout=600)
    if built.returncode != 0:
        raise AssertionError(f"binder/postBuild failed as an ordinary user:\n{built.stderr}")
    return user
