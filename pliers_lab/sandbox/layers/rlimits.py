"""rlimits: address space, CPU seconds, file size, open files, no core dumps.

Set in the worker before plugin code loads, soft = hard, so nothing the plugin does can
raise them again (raising a hard limit needs CAP_SYS_RESOURCE, which the worker drops and
seccomp refuses ``setrlimit`` anyway). RLIMIT_NPROC is not used: the kernel ignores it for
uid 0, so process counts are capped by the cgroup ``pids`` controller instead.
"""

from __future__ import annotations

import resource

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["apply", "detect"]

_NAMES = {
    "as": resource.RLIMIT_AS,
    "cpu": resource.RLIMIT_CPU,
    "fsize": resource.RLIMIT_FSIZE,
    "nofile": resource.RLIMIT_NOFILE,
    "core": resource.RLIMIT_CORE,
    "memlock": resource.RLIMIT_MEMLOCK,
    "msgqueue": resource.RLIMIT_MSGQUEUE,
}


def detect() -> tuple[bool, str]:
    """rlimits exist on every Linux; reported for completeness."""
    return True, "setrlimit"


def apply(limits: dict[str, Any]) -> str:
    """Apply ``{name: value}`` (bytes, seconds or counts) as soft = hard limits."""
    done = []
    for name, value in limits.items():
        which = _NAMES[name]
        _soft, hard = resource.getrlimit(which)
        value = int(value)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))
        done.append(f"{name}={_human(name, value)}")
    return " ".join(done)


def _human(name: str, value: int) -> str:
    if name in ("as", "fsize", "memlock") and value >= 1 << 20:
        return f"{value >> 20}MB"
    if name == "cpu":
        return f"{value}s"
    return str(value)
