"""A fresh network namespace: no interface but a loopback that is down.

``unshare(CLONE_NEWNET)`` through ctypes (Python 3.11 has no ``os.unshare``); needs
CAP_SYS_ADMIN, which the worker still has at that point (it drops it right after). Inside,
every connect fails with ENETUNREACH and DNS fails; unix sockets are still creatable, so
seccomp refuses ``socket`` as well.
"""

from __future__ import annotations

import os

__all__ = ["apply", "detect"]

CLONE_NEWNET = 0x40000000


def detect() -> tuple[bool, str]:
    """Available when the kernel has network namespaces and we may create one."""
    if not os.path.exists("/proc/self/ns/net"):
        return False, "kernel without network namespaces"
    if os.geteuid() != 0:
        try:
            with open("/proc/sys/kernel/unprivileged_userns_clone") as f:
                if f.read().strip() == "0":
                    return False, "not root and unprivileged user namespaces are off"
        except OSError:
            pass
        return False, "not root (a user namespace would be needed)"
    return True, "unshare(CLONE_NEWNET)"


def apply() -> str:
    """Move the calling process into a new, empty network namespace."""
    from ._sys import syscall

    syscall("unshare", CLONE_NEWNET)
    return "fresh network namespace (no interfaces up)"
