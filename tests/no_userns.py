"""Run a command the way Docker's default seccomp profile (so Binder) would: user
namespaces refused. ``python no_userns.py CMD ARGS...``

Sets ``no_new_privs``, loads a small seccomp filter — ``unshare`` and ``clone`` with
CLONE_NEWUSER fail with EPERM, ``clone3`` with ENOSYS (glibc falls back to ``clone``) —
and execs the command, which inherits the filter with everything it starts.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import sys

AUDIT_ARCH_X86_64 = 0xC000003E
CLONE_NEWUSER = 0x10000000
NR_UNSHARE, NR_CLONE, NR_CLONE3 = 272, 56, 435
LD_W_ABS, JEQ_K, JSET_K, RET_K = 0x20, 0x15, 0x45, 0x06
ALLOW, ERRNO = 0x7FFF0000, 0x00050000


def program() -> list[tuple[int, int, int, int]]:
    """(code, jt, jf, k) instructions; jumps count from the next instruction."""
    return [
        (LD_W_ABS, 0, 0, 4),  # 0: arch
        (JEQ_K, 0, 4, AUDIT_ARCH_X86_64),  # 1: not x86-64 → 6 (allow)
        (LD_W_ABS, 0, 0, 0),  # 2: syscall number
        (JEQ_K, 3, 0, NR_UNSHARE),  # 3: → 7
        (JEQ_K, 2, 0, NR_CLONE),  # 4: → 7
        (JEQ_K, 5, 0, NR_CLONE3),  # 5: → 11
        (RET_K, 0, 0, ALLOW),  # 6
        (LD_W_ABS, 0, 0, 16),  # 7: args[0], low 32 bits
        (JSET_K, 1, 0, CLONE_NEWUSER),  # 8: → 10
        (RET_K, 0, 0, ALLOW),  # 9
        (RET_K, 0, 0, ERRNO | errno.EPERM),  # 10
        (RET_K, 0, 0, ERRNO | errno.ENOSYS),  # 11
    ]


def install() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, *[ctypes.c_ulong] * 4]
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    code = b"".join(struct.pack("=HBBI", *ins) for ins in program())
    buffer = ctypes.create_string_buffer(code)
    fprog = struct.pack("=HxxxxxxQ", len(code) // 8, ctypes.addressof(buffer))
    fbuf = ctypes.create_string_buffer(fprog)
    if libc.prctl(22, 2, ctypes.addressof(fbuf), 0, 0) != 0:  # PR_SET_SECCOMP, FILTER
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")


if __name__ == "__main__":
    install()
    os.execvp(sys.argv[1], sys.argv[1:])
