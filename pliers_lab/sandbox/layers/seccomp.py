"""seccomp-bpf: an allow-list of the system calls CPython needs, installed last.

A hand-built classic-BPF program (no libseccomp): building and loading it takes well under
a millisecond and needs only ``ctypes``. Besides *allow*, the outcomes are:

- **kill the process** for the escape-class calls: exec, fork/vfork, clone without
  CLONE_THREAD or with namespace flags, ptrace, process_vm_*, pidfd_*, io_uring, bpf,
  perf_event_open, userfaultfd, mount/unshare/setns/chroot, keyctl, module loading…
  With a listener the host is told first (the call and its arguments), records it and
  kills the worker itself; without one, seccomp kills it (SIGSYS, seen in ``waitpid``).
  Either way a verdict the plugin cannot forge or swallow;
- **tell the host** (``SECCOMP_RET_USER_NOTIF``) for refusals ordinary code may meet and
  handle: new sockets of every family (the wire and asyncio's self-pipe exist before the
  filter), chmod/chown/utime/xattr changes (Landlock does not cover metadata), signals to
  other pids, rlimit changes, prctl beyond a few reads, another seccomp filter, SysV IPC,
  memfd — and the file calls Landlock judges (open, link, rename…), so the host can tell a
  denied path from an allowed one. The host records what it refuses and answers with the
  errno the call would have had (``notify``). ``clone3`` goes the same way: a thread's
  clone3 gets ENOSYS (glibc falls back to ``clone``, whose flags the filter checks), a
  process's is recorded;
- **EPERM / ENOSYS** for the same refusals where the host cannot listen (no listener),
  and ENOSYS for every call not listed: an allow-list, not a deny-list.

Only x86-64 is supported; elsewhere the layer reports itself missing.
"""

from __future__ import annotations

import ctypes
import errno
import os

__all__ = ["ALLOWED", "KILLED", "REFUSED", "apply", "build", "detect"]

_LD_ABS, _JEQ, _JSET, _RET = 0x20, 0x15, 0x45, 0x06
_JGE = 0x35
RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
RET_USER_NOTIF = 0x7FC00000
RET_ALLOW = 0x7FFF0000
AUDIT_ARCH_X86_64 = 0xC000003E
_X32_BIT = 0x40000000
CLONE_THREAD = 0x00010000
CLONE_NS_FLAGS = 0x7E020000  # NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
SECCOMP_FILTER_FLAG_NEW_LISTENER = 8
SECCOMP_FILTER_FLAG_TSYNC_ESRCH = 16

#: Allowed without conditions; the hot ones first (the filter is a linear scan).
ALLOWED = (
    "read",
    "write",
    "poll",
    "ppoll",
    "futex",
    "recvfrom",
    "sendto",
    "recvmsg",
    "sendmsg",
    "close",
    "mmap",
    "munmap",
    "brk",
    "madvise",
    "fstat",
    "newfstatat",
    "statx",
    "lseek",
    "getpid",
    "gettid",
    "clock_gettime",
    "clock_nanosleep",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "select",
    "pselect6",
    "mprotect",
    "mremap",
    "getrandom",
    "stat",
    "lstat",
    "access",
    "faccessat",
    "faccessat2",
    "readlink",
    "readlinkat",
    "getdents",
    "getdents64",
    "getcwd",
    "chdir",
    "fchdir",
    "pread64",
    "pwrite64",
    "readv",
    "writev",
    "preadv",
    "pwritev",
    "preadv2",
    "pwritev2",
    "dup",
    "dup2",
    "dup3",
    "pipe",
    "pipe2",
    "fcntl",
    "flock",
    "fsync",
    "fdatasync",
    "ftruncate",
    "fallocate",
    "umask",
    "statfs",
    "fstatfs",
    "fadvise64",
    "readahead",
    "sendfile",
    "copy_file_range",
    "splice",
    "tee",
    "sync_file_range",
    "getxattr",
    "lgetxattr",
    "fgetxattr",
    "listxattr",
    "llistxattr",
    "flistxattr",
    "msync",
    "mincore",
    "nanosleep",
    "gettimeofday",
    "time",
    "clock_getres",
    "sched_yield",
    "sched_getaffinity",
    "sched_getparam",
    "sched_getscheduler",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_rr_get_interval",
    "sched_getattr",
    "getcpu",
    "getpriority",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getresuid",
    "getresgid",
    "getgroups",
    "getppid",
    "getpgrp",
    "getpgid",
    "getsid",
    "capget",
    "getrlimit",
    "getrusage",
    "times",
    "sysinfo",
    "uname",
    "set_tid_address",
    "set_robust_list",
    "get_robust_list",
    "rseq",
    "membarrier",
    "restart_syscall",
    "exit",
    "exit_group",
    "wait4",
    "waitid",
    "sigaltstack",
    "rt_sigpending",
    "rt_sigtimedwait",
    "rt_sigsuspend",
    "pause",
    "alarm",
    "getitimer",
    "setitimer",
    "timer_create",
    "timer_settime",
    "timer_gettime",
    "timer_getoverrun",
    "timer_delete",
    "timerfd_create",
    "timerfd_settime",
    "timerfd_gettime",
    "eventfd",
    "eventfd2",
    "signalfd",
    "signalfd4",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "inotify_init",
    "inotify_init1",
    "inotify_add_watch",
    "inotify_rm_watch",
    "shutdown",
    "getsockname",
    "getpeername",
    "getsockopt",
    "setsockopt",
    "recvmmsg",
    "sendmmsg",
    "close_range",
    "arch_prctl",
    "futex_waitv",
    "pkey_mprotect",
    "pkey_alloc",
    "pkey_free",
)

#: File calls whose path Landlock judges: the host looks at the path (``notify``) and lets
#: the kernel run the call, or records a denied path and answers EACCES.
WATCHED_FILES = (
    "openat",
    "open",
    "creat",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "rename",
    "renameat",
    "renameat2",
    "mkdir",
    "mkdirat",
    "rmdir",
    "unlink",
    "unlinkat",
    "truncate",
)

#: Calls that end the worker: nothing a plugin does legitimately needs them.
KILLED = (
    "execve",
    "execveat",
    "fork",
    "vfork",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "keyctl",
    "add_key",
    "request_key",
    "pidfd_open",
    "pidfd_getfd",
    "pidfd_send_signal",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "open_by_handle_at",
    "name_to_handle_at",
    "iopl",
    "ioperm",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    "quotactl",
    "quotactl_fd",
    "lookup_dcookie",
    "fanotify_init",
    "process_madvise",
    "process_mrelease",
    "syslog",
    "vhangup",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "sethostname",
    "setdomainname",
    "uselib",
    "create_module",
    "get_kernel_syms",
    "query_module",
    "nfsservctl",
    "remap_file_pages",
)

#: Refused (the plugin sees a PermissionError it may handle) and told to the host.
REFUSED = (
    "socket",
    "socketpair",
    "connect",
    "bind",
    "listen",
    "accept",
    "accept4",
    "chmod",
    "fchmod",
    "fchmodat",
    "chown",
    "fchown",
    "lchown",
    "fchownat",
    "utime",
    "utimes",
    "futimesat",
    "utimensat",
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "removexattr",
    "lremovexattr",
    "fremovexattr",
    "setrlimit",
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setfsuid",
    "setfsgid",
    "setgroups",
    "setpgid",
    "setsid",
    "setpriority",
    "sched_setaffinity",
    "sched_setparam",
    "sched_setscheduler",
    "sched_setattr",
    "mknod",
    "mknodat",
    "memfd_create",
    "memfd_secret",
    "tkill",
    "capset",
    "seccomp",
    "landlock_create_ruleset",
    "landlock_add_rule",
    "landlock_restrict_self",
    "shmget",
    "shmat",
    "shmctl",
    "shmdt",
    "semget",
    "semop",
    "semctl",
    "semtimedop",
    "msgget",
    "msgsnd",
    "msgrcv",
    "msgctl",
    "mq_open",
    "mq_unlink",
    "mq_timedsend",
    "mq_timedreceive",
    "mq_notify",
    "mq_getsetattr",
    "mlock",
    "mlock2",
    "mlockall",
    "munlock",
    "munlockall",
    "ioprio_set",
    "migrate_pages",
    "move_pages",
    "mbind",
    "set_mempolicy",
    "personality",
    "modify_ldt",
    "sync",
    "syncfs",
    "fanotify_mark",
)

_IOCTLS = (
    0x5401,
    0x5413,
    0x541B,
    0x5421,
    0x5450,
    0x5451,
)  # TCGETS TIOCGWINSZ FIONREAD FIONBIO FIONCLEX FIOCLEX
_PRCTLS = (
    3,
    15,
    16,
    21,
    23,
    39,
    0x53564D41,
)  # GET_DUMPABLE SET/GET_NAME GET_SECCOMP CAPBSET_READ GET_NO_NEW_PRIVS SET_VMA


class _Insn(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class _Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_Insn))]


Insn = tuple[int, int, int, int]


def _arg(i: int, high: bool = False) -> Insn:
    return (_LD_ABS, 0, 0, 16 + 8 * i + (4 if high else 0))


def _group(numbers: list[int], action: int) -> list[Insn]:
    """``nr in numbers → return action``; falls through otherwise (chunks of <=200)."""
    out: list[Insn] = []
    for start in range(0, len(numbers), 200):
        chunk = numbers[start : start + 200]
        m = len(chunk)
        for i, nr in enumerate(chunk):
            out.append((_JEQ, m - 1 - i, 1 if i == m - 1 else 0, nr))
        out.append((_RET, 0, 0, action))
    return out


def _guarded(nr: int, body: list[Insn]) -> list[Insn]:
    """``nr → run body`` (which always returns); falls through otherwise."""
    return [(_JEQ, 0, len(body), nr), *body]


def _one_of(values: tuple[int, ...], arg: int, allow: int, deny: int) -> list[Insn]:
    body: list[Insn] = [_arg(arg)]
    n = len(values)
    for i, value in enumerate(values):
        body.append((_JEQ, n - i, 0, value))  # → the allow return after the deny return
    body += [(_RET, 0, 0, deny), (_RET, 0, 0, allow)]
    return body


def build(pid: int, nr: dict[str, int], notify: bool = False) -> list[Insn]:
    """The filter program for a worker whose pid is ``pid`` (signals only to itself).

    ``notify``: refusals go to the host's listener (``RET_USER_NOTIF``) instead of being
    answered here, and the file calls Landlock judges are shown to it first.
    """
    allow, kill = RET_ALLOW, RET_KILL_PROCESS
    eperm = RET_ERRNO | errno.EPERM
    refuse = RET_USER_NOTIF if notify else eperm
    self_only = [_arg(0), (_JEQ, 0, 1, pid), (_RET, 0, 0, allow), (_RET, 0, 0, refuse)]
    prog: list[Insn] = [
        (_LD_ABS, 0, 0, 4),
        (_JEQ, 1, 0, AUDIT_ARCH_X86_64),
        (_RET, 0, 0, kill),
        (_LD_ABS, 0, 0, 0),
        (_JGE, 0, 1, _X32_BIT),
        (_RET, 0, 0, kill),
    ]
    names = [n for n in ALLOWED if n in nr]
    prog += _group([nr[n] for n in names], allow)
    files = [nr[n] for n in WATCHED_FILES if n in nr]
    prog += _group(files, RET_USER_NOTIF if notify else allow)
    # With a listener, escape-class calls go to the host first, which records the call
    # with its arguments and then kills the worker: the same end, with a name on it.
    fatal = RET_USER_NOTIF if notify else kill
    prog += _guarded(
        nr["clone"],
        [
            _arg(0),
            (_JSET, 0, 2, CLONE_THREAD),
            (_JSET, 1, 0, CLONE_NS_FLAGS),
            (_RET, 0, 0, allow),
            (_RET, 0, 0, fatal),
        ],
    )
    # clone3's flags sit in memory the filter cannot read: the host reads them (notify).
    prog += _guarded(nr["clone3"], [(_RET, 0, 0, RET_USER_NOTIF if notify else RET_ERRNO | 38)])
    for name in ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"):
        prog += _guarded(nr[name], list(self_only))
    prog += _guarded(
        nr["prlimit64"],
        [
            _arg(0),
            (_JEQ, 1, 0, 0),
            (_JEQ, 0, 5, pid),
            _arg(2),
            (_JEQ, 0, 3, 0),
            _arg(2, high=True),
            (_JEQ, 0, 1, 0),
            (_RET, 0, 0, allow),
            (_RET, 0, 0, refuse),
        ],
    )
    prog += _guarded(nr["ioctl"], _one_of(_IOCTLS, 1, allow, RET_ERRNO | errno.ENOTTY))
    prog += _guarded(nr["prctl"], _one_of(_PRCTLS, 0, allow, refuse))
    prog += _group([nr[n] for n in KILLED if n in nr], fatal)
    prog += _group([nr[n] for n in REFUSED if n in nr], refuse)
    prog.append((_RET, 0, 0, RET_ERRNO | errno.ENOSYS))
    return prog


def detect() -> tuple[bool, str]:
    """Available on x86-64 kernels with CONFIG_SECCOMP_FILTER."""
    from ._sys import ARCH_OK

    if not ARCH_OK:
        return False, "the hand-built filter supports x86-64 only"
    actions = _actions()
    if not actions:
        return False, "kernel without seccomp filters (/proc/sys/kernel/seccomp missing)"
    if "kill_process" not in actions or "errno" not in actions:
        return False, f"seccomp actions missing (have {' '.join(sorted(actions))})"
    if "user_notif" not in actions:
        return True, "BPF filter (no user notification: refusals are not reported to the host)"
    return True, "BPF filter, refusals reported to the host"


def _read_actions() -> set[str]:
    try:
        with open("/proc/sys/kernel/seccomp/actions_avail") as f:
            return set(f.read().split())
    except OSError:
        return set()


#: Read at import: the worker imports this module before Landlock hides ``/proc/sys``.
_ACTIONS = _read_actions()


def _actions() -> set[str]:
    return _ACTIONS


def apply(notify: bool = False) -> tuple[str, int | None]:
    """Install the filter on every thread of this process (needs no_new_privs).

    With ``notify`` (and a kernel that offers it) the filter's listener descriptor is
    returned for the host; the caller must hand it over and close it before plugin code
    runs (whoever holds it answers the worker's refused calls).
    """
    from ._sys import NR, syscall

    notify = notify and "user_notif" in _actions()
    program = build(os.getpid(), NR, notify)
    insns = (_Insn * len(program))(*(_Insn(*insn) for insn in program))
    prog = _Prog(len(program), insns)
    flags = SECCOMP_FILTER_FLAG_TSYNC
    if notify:
        flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_TSYNC_ESRCH
    result = syscall("seccomp", SECCOMP_SET_MODE_FILTER, flags, ctypes.byref(prog))
    how = "reported to the host" if notify else "EPERM"
    detail = (
        f"{len(program)}-instruction allow-list: kill on exec/fork/ptrace/namespaces, "
        f"sockets/chmod/foreign signals refused ({how}), ENOSYS otherwise"
    )
    return detail, (result if notify else None)
