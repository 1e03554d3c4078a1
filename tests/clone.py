"""A fresh copy of the repository, as a clone would have it, and the ``uv`` to build
environments for it (tests that start from nothing: Binder, ``./run lab``, an ordinary
user)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def fresh_copy(target: Path) -> Path:
    """The files a clone would have once the working tree is committed (tracked and
    untracked-but-not-ignored), without the .venv or caches."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listing.split("\0")):
        source = ROOT / name
        if not source.is_file():
            continue  # deleted in the working tree
        dest = target / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest)
    return target


def uv() -> list[str]:
    found = shutil.which("uv")
    if found:
        return [found]
    try:
        import uv  # noqa: F401  (the PyPI wheel: ``python -m uv``)
    except ImportError:
        pytest.fail("uv is needed to build a fresh clone's environment (./run installs it)")
    return [sys.executable, "-m", "uv"]
