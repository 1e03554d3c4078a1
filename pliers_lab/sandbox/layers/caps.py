"""Capabilities: all dropped (effective, permitted, inheritable, ambient, bounding).

The worker runs as uid 0 on this kind of machine; without this it could raise its own
hard rlimits (CAP_SYS_RESOURCE), override file permissions outside Landlock's view
(CAP_DAC_OVERRIDE, CAP_FOWNER), or load kernel modules. ``no_new_privs`` is set first: it
is required by Landlock and seccomp and stops setuid binaries from giving anything back.
"""

from __future__ import annotations

import ctypes

__all__ = ["apply", "detect", "no_new_privs"]

PR_SET_NO_NEW_PRIVS = 38
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
PR_SET_DUMPABLE = 4
_CAP_VERSION_3 = 0x20080522


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def detect() -> tuple[bool, str]:
    """capset is always there; report how many capabilities we hold to drop."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    held = bin(int(line.split()[1], 16)).count("1")
                    return True, f"{held} capabilities held before the drop"
    except OSError:
        pass
    return True, "capset"


def no_new_privs() -> None:
    """Set ``no_new_privs`` and make the process non-dumpable (no ptrace, no core)."""
    from ._sys import prctl

    prctl(PR_SET_NO_NEW_PRIVS, 1)
    prctl(PR_SET_DUMPABLE, 0)


def apply() -> str:
    """Drop every capability; returns a description."""
    from ._sys import prctl, syscall

    last = 40
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
    except (OSError, ValueError):
        pass
    for cap in range(last + 1):
        try:
            prctl(PR_CAPBSET_DROP, cap)
        except OSError:
            break  # no CAP_SETPCAP (not root): the bounding set stays, capset still drops
    try:  # noqa: SIM105 - contextlib would cost every worker ~3 ms (functools, collections)
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    except OSError:
        pass
    header = _Header(_CAP_VERSION_3, 0)
    data = (_Data * 2)()
    syscall("capset", ctypes.byref(header), ctypes.byref(data))
    return "all capabilities dropped (effective, permitted, inheritable, ambient, bounding)"
