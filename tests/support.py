"""Test helpers: manifest dicts, plugin folders on disk, a child that obeys file modes."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def manifest(name: str, hooks: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """A valid manifest dict with ``hooks`` and any extra top-level fields."""
    return {
        "name": name,
        "version": extra.pop("version", "1.0.0"),
        "description": f"test plugin {name}",
        "author": "Tests <tests@example.com>",
        "license": "MIT",
        "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
        "hooks": hooks or {},
        **extra,
    }


def write_plugin(root: Path, name: str, code: str, hooks: dict[str, Any], **extra: Any) -> Path:
    """A plugin folder on disk: manifest.json and plugin.py (plus extra JSON files)."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    files = extra.pop("files", {})
    (folder / "manifest.json").write_text(json.dumps(manifest(name, hooks, **extra)))
    (folder / "plugin.py").write_text(code)
    for filename, content in files.items():
        (folder / filename).write_text(
            json.dumps(content) if not isinstance(content, str) else content
        )
    return folder


def obeying_file_modes(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run Python ``code`` (with ``args`` in ``sys.argv[1:]``) in a child process that
    obeys file modes even as root; its output is text.

    Root bypasses mode bits (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH); the child drops
    both from its bounding set before it starts, so a ``chmod 0`` file denies it too.
    Skips the test where they cannot be dropped.
    """

    def drop_dac_capabilities() -> None:  # runs in the child, between fork and exec
        libc = ctypes.CDLL(None, use_errno=True)
        for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
            if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")

    as_root = os.geteuid() == 0
    try:
        return subprocess.run(
            [sys.executable, "-c", code, *args],
            capture_output=True,
            text=True,
            preexec_fn=drop_dac_capabilities if as_root else None,
            timeout=60,
        )
    except subprocess.SubprocessError as exc:
        if "prctl" in str(exc):
            pytest.skip(f"cannot drop root's DAC override here: {exc}")
        raise
