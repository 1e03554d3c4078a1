"""The manifest's ``limits``: what resources a sandboxed plugin asks for (issue 18 §2).

The specification's sandbox has ``limits`` (memory MB, CPU ms, disk MB, network KB/s,
execution time ms) and ``policies`` (allowed and blocked modules). A manifest may ask for
any of these; the host's ``SandboxPolicy.limits`` caps every figure, and a plugin asking
for more than the cap is refused at load (``pliers_lab.sandbox._plugin_limits.plugin_limits``).
Every field here is enforced in the plugin's worker or by the host for it:

- ``memory`` → the worker's cgroup memory limit and RLIMIT_AS (+ headroom);
- ``cpu`` → CPU per call (the supervisor), ``executionTime`` → wall clock per call;
- ``disk`` → the data folder's size: as root, a loop-mounted ext4 image per plugin
  (``sandbox/layers/datafs.py``, ``sandbox/_data_quota.py``), so the kernel refuses a
  write past it (ENOSPC); where the host cannot mount one (not root, no loop devices, no
  e2fsprogs, ``SandboxPolicy(data_quota=False)``) it is measured only, after calls, and
  ``engine.limits(id)["dataQuota"]`` says which (docs/isolation.md); and RLIMIT_FSIZE per
  file;
- ``network`` (KB/s) and ``networkPerCall`` (KB) → the host's ``api.http`` for this plugin;
- ``blockedModules`` → the worker's Landlock rules leave those modules' files unreadable,
  and the marketplace scanner flags code importing them.

``allowedModules`` and ``concurrency`` are refused with a reason (see ``_key_hints``): the
first has no enforcement yet, the second is the host's choice.
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar

from pydantic import AfterValidator, Field, Strict

from .fields import StrictModel
from .problems import problem

__all__ = ["ModuleName", "ResourceLimits"]

_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _module_name(value: str) -> str:
    if not _MODULE.fullmatch(value):
        raise problem(
            f"{value!r} is not a top-level module name",
            "name the top-level package or module (sqlite3, ctypes, requests), not a "
            "dotted submodule or a path",
        )
    return value


ModuleName = Annotated[str, Strict(), AfterValidator(_module_name)]
Positive = Annotated[int, Strict(), Field(gt=0)]


class ResourceLimits(StrictModel):
    """Resource limits a plugin asks for; each at most the host's cap (else refused)."""

    _key_hints: ClassVar[dict[str, str]] = {
        "allowedModules": (
            "an allow-list of modules is not enforced by this engine (a worker needs the "
            "standard library's modules to run); list the modules to forbid in "
            "blockedModules instead, or remove it"
        ),
        "concurrency": (
            "how many calls wait for a plugin, and how many workers it gets, is the host's "
            "choice (SandboxPolicy.limits.concurrency, plugin_workers); remove it"
        ),
    }

    memory: Positive | None = None
    """Memory of the worker, MB (cgroup limit; RLIMIT_AS adds the host's headroom)."""
    cpu: Positive | None = None
    """CPU time one call may use, ms (all the worker's threads)."""
    disk: Positive | None = None
    """Size of the data folder (kernel-enforced as root, else measured after calls) and
    of any one file in it (RLIMIT_FSIZE), MB."""
    network: Positive | None = None
    """Bandwidth of the host's ``api.http`` for this plugin, KB/s (1 KB = 1024 bytes),
    request and response bytes together; calls are slowed to it."""
    network_per_call: Positive | None = None
    """Bytes one ``api.http`` call may move (request and response body), KB; a call
    moving more is refused."""
    execution_time: Positive | None = None
    """Wall-clock limit per call, ms (a hook's own lower ``timeout`` wins)."""
    blocked_modules: tuple[ModuleName, ...] = ()
    """Modules whose files the worker cannot read (``import`` fails), with their C
    accelerator ``_name`` where there is one."""
