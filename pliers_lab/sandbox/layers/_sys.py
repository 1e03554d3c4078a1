"""Raw system calls through ctypes: the few the layers need and Python 3.11 lacks.

Why ctypes rather than PyPI ``landlock``/``pyseccomp``: measured on this machine, importing
``ctypes`` costs ~3 ms, while ``pyseccomp`` costs ~30 ms (and runs ``ldconfig`` through a
subprocess on import) and ``landlock`` ~23 ms plus ~8 ms for its rules. Three Landlock
syscalls, ``unshare``, ``capset`` and one ``prctl`` carrying a BPF program are a few lines
each, so the worker pays for ctypes only and needs no system package.
"""

from __future__ import annotations

import ctypes
import os

from ._sysnr import X86_64

TYPE_CHECKING = False  # the worker imports this module: no typing at run time
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ARCH_OK", "NR", "libc", "prctl", "send_fd", "syscall"]

#: Only x86-64 is supported by the hand-built seccomp filter (its numbers and audit arch).
ARCH_OK = os.uname().machine in ("x86_64", "AMD64")
NR: dict[str, int] = X86_64 if ARCH_OK else {}

libc = ctypes.CDLL(None, use_errno=True)
_syscall = libc.syscall
_syscall.restype = ctypes.c_long
_prctl = libc.prctl
_prctl.restype = ctypes.c_int
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


def syscall(name: str, *args: Any) -> int:
    """``syscall(2)`` by name; raises ``OSError`` with the errno on failure."""
    if name not in NR:
        raise OSError(38, f"{name}: unknown system call on {os.uname().machine}")
    result = int(_syscall(ctypes.c_long(NR[name]), *args))
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}: {os.strerror(err)}")
    return result


def prctl(option: int, a2: int = 0, a3: int = 0, a4: int = 0, a5: int = 0) -> int:
    """``prctl(2)``; raises ``OSError`` on failure."""
    result = int(_prctl(option, a2, a3, a4, a5))
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}): {os.strerror(err)}")
    return result


class _IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _MsgHdr(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_void_p),
        ("namelen", ctypes.c_uint32),
        ("iov", ctypes.POINTER(_IoVec)),
        ("iovlen", ctypes.c_size_t),
        ("control", ctypes.c_void_p),
        ("controllen", ctypes.c_size_t),
        ("flags", ctypes.c_int),
    ]


class _FdMessage(ctypes.Structure):
    """A ``cmsghdr`` carrying one descriptor (``CMSG_SPACE(sizeof(int))`` bytes)."""

    _fields_ = [
        ("len", ctypes.c_size_t),
        ("level", ctypes.c_int),
        ("type", ctypes.c_int),
        ("fd", ctypes.c_int),
        ("pad", ctypes.c_int),
    ]


def send_fd(sock: int, fd: int) -> None:
    """Pass ``fd`` over the unix socket ``sock`` (SCM_RIGHTS) with one byte of data.

    Through libc and ctypes, already loaded for the layers, rather than importing
    ``_socket`` (a shared library: ~0.5 ms of every worker's start).
    """
    data = ctypes.create_string_buffer(b"L", 1)
    iov = _IoVec(ctypes.cast(data, ctypes.c_void_p), 1)
    control = _FdMessage(16 + 4, 1, 1, fd, 0)  # CMSG_LEN(4), SOL_SOCKET, SCM_RIGHTS
    msg = _MsgHdr(None, 0, ctypes.pointer(iov), 1, ctypes.addressof(control), 24, 0)
    if libc.sendmsg(sock, ctypes.byref(msg), 0) < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"sendmsg: {os.strerror(err)}")
