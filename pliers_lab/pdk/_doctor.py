"""``pliers doctor``: what this machine gives the engine, before anything goes wrong.

Python and platform, the isolation layers (active, missing, required, and how to get
each: ``pliers_lab.sandbox.report``) and where plugin data goes. Exits non-zero only when
untrusted plugins could not run isolated here under the default policy.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from ..sandbox.policy import SandboxPolicy

__all__ = ["doctor"]

MIN_PYTHON = (3, 11)


def _writable(folder: Path) -> str:
    """``writable`` or why not (the nearest existing parent is tried: it is created later)."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        with tempfile.NamedTemporaryFile(dir=probe):
            pass
    except OSError as exc:
        return f"not writable: {exc.strerror or exc}"
    return "writable"


def doctor(out: TextIO | None = None, policy: SandboxPolicy | None = None) -> int:
    """Print the machine's report under ``policy`` (the default one when None); 0 when
    process isolation can start, 1 when it cannot."""
    from ..sandbox.policy import SandboxPolicy
    from ..sandbox.report import host_report

    write = (out or sys.stdout).write
    policy = policy or SandboxPolicy()
    report = host_report(policy)
    python_ok = sys.version_info[:2] >= MIN_PYTHON
    lines = [
        f"python    {platform.python_version()} ({sys.executable})"
        + ("" if python_ok else f"  -- pliers_lab needs >= {'.'.join(map(str, MIN_PYTHON))}"),
        f"platform  {platform.system()} {platform.release()} {platform.machine()}",
        f"user      uid {os.geteuid()}" + (" (root)" if os.geteuid() == 0 else " (ordinary)"),
        f"data      {policy.data_root} ({_writable(policy.data_root)})",
        "",
        "isolation layers:",
        str(report),
    ]
    write("\n".join(lines) + "\n")
    return 0 if report.can_isolate and python_ok else 1
