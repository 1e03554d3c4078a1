"""Landlock: the filesystem the worker may see, no TCP, and scoped signals and sockets.

Raw syscalls 444-446 through ctypes (see ``_sys`` for why not PyPI ``landlock``). Every
access right the running ABI knows is *handled*, so anything not granted by a rule is
denied, for root too, and for every thread and child of the worker:

- read: the interpreter's library tree, the site-packages the worker imports from, the
  shared-library folders, the plugin's own folder and any granted read path;
- write: the plugin's data folder and granted write paths (create, remove, rename inside,
  truncate); never execute anywhere;
- network (ABI >= 4): TCP bind and connect denied outright (no rule grants a port);
- scope (ABI >= 6): no signals to processes outside the worker's domain, no abstract unix
  sockets out of it.

Not covered by Landlock (seccomp carries these): metadata changes such as chmod/chown/utime
on files it can read, UDP, prlimit on other processes, descriptors opened before.
"""

from __future__ import annotations

import ctypes
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["abi", "apply", "detect"]

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1, 2, 4, 8
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 16, 32, 64, 128
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK = 256, 512, 1024, 2048
MAKE_SYM, REFER, TRUNCATE, IOCTL_DEV = 4096, 8192, 16384, 32768
NET_BIND_TCP, NET_CONNECT_TCP = 1, 2
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1, 2
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1

READ_DIR_RIGHTS = READ_FILE | READ_DIR
READ_FILE_RIGHTS = READ_FILE
WRITE_DIR_RIGHTS = (
    READ_DIR_RIGHTS
    | WRITE_FILE
    | REMOVE_DIR
    | REMOVE_FILE
    | MAKE_DIR
    | MAKE_REG
    | MAKE_SYM
    | REFER
    | TRUNCATE
)
WRITE_FILE_RIGHTS = READ_FILE | WRITE_FILE | TRUNCATE
_FILE_ONLY = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def abi() -> int:
    """The Landlock ABI version the kernel offers, 0 when Landlock is off."""
    from ._sys import syscall

    try:
        return syscall("landlock_create_ruleset", None, 0, _CREATE_RULESET_VERSION)
    except OSError:
        return 0


def detect() -> tuple[bool, str]:
    """Available when the kernel reports an ABI version (CONFIG_SECURITY_LANDLOCK, enabled)."""
    version = abi()
    if version <= 0:
        return False, "Landlock is not enabled in this kernel (landlock_create_ruleset failed)"
    return True, f"ABI {version}"


def _handled_fs(version: int) -> int:
    rights = (MAKE_SYM << 1) - 1
    if version >= 2:
        rights |= REFER
    if version >= 3:
        rights |= TRUNCATE
    if version >= 5:
        rights |= IOCTL_DEV
    return rights


def _add(ruleset: int, path: str, rights: int, handled: int) -> bool:
    from ._sys import syscall

    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if path.endswith("/") and len(path) > 1:
            rights &= READ_DIR  # "dir/": listed only, its files read by rules of their own
        elif not os.path.isdir(path):
            rights &= _FILE_ONLY  # a directory right on a file is EINVAL
        attr = _PathBeneath(rights & handled, fd)
        syscall("landlock_add_rule", ruleset, _RULE_PATH_BENEATH, ctypes.byref(attr), 0)
    finally:
        os.close(fd)
    return True


def apply(
    read: Iterable[str], write: Iterable[str], devices: Iterable[str] = ("/dev/null",)
) -> str:
    """Restrict this process (and its future threads) to the given paths.

    ``read`` and ``write`` may hold directories or files; paths that do not exist are
    skipped (the host checked the granted ones). A ``read`` folder written with a
    trailing ``/`` may be listed only (the host's blocked modules, ``_plugin_limits.carve``).
    ``devices`` get read and write.
    """
    from ._sys import syscall

    version = abi()
    if version <= 0:
        raise OSError(95, "Landlock is not available")
    handled = _handled_fs(version)
    attr = _RulesetAttr(handled, 0, 0)
    size = 8
    if version >= 4:
        attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP
        size = 16
    if version >= 6:
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
        size = 24
    ruleset = syscall("landlock_create_ruleset", ctypes.byref(attr), size, 0)
    try:
        n_read = sum(_add(ruleset, p, READ_DIR_RIGHTS, handled) for p in dict.fromkeys(read))
        n_write = sum(_add(ruleset, p, WRITE_DIR_RIGHTS, handled) for p in dict.fromkeys(write))
        for dev in devices:
            _add(ruleset, dev, READ_FILE | WRITE_FILE, handled)
        syscall("landlock_restrict_self", ruleset, 0)
    finally:
        os.close(ruleset)
    extra = []
    if version >= 4:
        extra.append("TCP bind/connect denied")
    if version >= 6:
        extra.append("signals and abstract unix sockets scoped")
    return f"ABI {version}: read {n_read} paths, write {n_write}; no execute; " + ", ".join(extra)
