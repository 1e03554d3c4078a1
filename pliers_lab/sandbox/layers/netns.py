"""A fresh network namespace: no interface but a loopback that is down.

``unshare(CLONE_NEWNET)`` through ctypes (Python 3.11 has no ``os.unshare``). As root the
worker still has CAP_SYS_ADMIN at that point (it drops it right after). An ordinary user
has no such capability, so the worker first enters a user namespace of its own
(``CLONE_NEWUSER | CLONE_NEWNET`` in one call): its capabilities there cover the new
network namespace and nothing outside it, and its own uid and gid are mapped onto
themselves so files keep their owner. Some container runtimes (Docker's default seccomp
profile, so Binder) refuse user namespaces: ``detect`` tries one in a short-lived child
and reports the layer missing when it is refused.

Inside, every connect fails with ENETUNREACH and DNS fails; unix sockets are still
creatable, so seccomp refuses ``socket`` as well.
"""

from __future__ import annotations

import os

__all__ = ["apply", "detect"]

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000

# Run in a child by ``detect``: exit 0 when an unprivileged user+network namespace can be
# made, else print why (the errno's text).
_PROBE = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.syscall(272, 0x10000000 | 0x40000000) != 0:
    sys.stdout.write(os.strerror(ctypes.get_errno()))
    sys.exit(1)
"""


def _userns_refused() -> str | None:
    """Why an ordinary user cannot make a user+network namespace here, or None."""
    for path, off in (
        ("/proc/sys/kernel/unprivileged_userns_clone", "0"),
        ("/proc/sys/user/max_user_namespaces", "0"),
        ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1"),
    ):
        try:
            with open(path) as f:
                if f.read().strip() == off:
                    return f"user namespaces are off ({path} = {off})"
        except OSError:
            pass
    import subprocess
    import sys

    try:
        probe = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"could not probe user namespaces: {exc}"
    if probe.returncode != 0:
        reason = probe.stdout.strip() or f"probe exited with {probe.returncode}"
        return f"the system refuses user namespaces ({reason}; a container's seccomp profile?)"
    return None


def detect() -> tuple[bool, str]:
    """Available when the kernel has network namespaces and we may create one: as root
    directly, as an ordinary user inside a user namespace of our own."""
    if not os.path.exists("/proc/self/ns/net"):
        return False, "kernel without network namespaces"
    if os.geteuid() == 0:
        return True, "unshare(CLONE_NEWNET)"
    refused = _userns_refused()
    if refused is not None:
        return False, f"not root, and {refused}"
    return True, "unshare(CLONE_NEWUSER | CLONE_NEWNET): a user namespace of an ordinary user's own"


def _map_self(uid: int, gid: int) -> None:
    """Map our uid and gid onto themselves inside the new user namespace (files we
    write keep their owner; ``os.getuid()`` stays true). ``setgroups`` must be denied
    before an unprivileged process may write its gid map."""
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"{uid} {uid} 1\n")
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny\n")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"{gid} {gid} 1\n")


def apply() -> str:
    """Move the calling process into a new, empty network namespace."""
    from ._sys import syscall

    if os.geteuid() == 0:
        syscall("unshare", CLONE_NEWNET)
        return "fresh network namespace (no interfaces up)"
    uid, gid = os.geteuid(), os.getegid()
    syscall("unshare", CLONE_NEWUSER | CLONE_NEWNET)
    _map_self(uid, gid)
    return "fresh network namespace (no interfaces up) in a user namespace of its own"
