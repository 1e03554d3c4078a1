"""The attack plugins: each a handler body for ``submission.afterSave`` and what it must yield.

Each attack is a tiny plugin (manifest + ``plugin.py``) written to a folder by the test.
``ATTACKS`` must be stopped, and say how: ``stopped_by`` names the host's mechanism
(``STOPPED_BY``; test_attacks knows what each one's error looks like), ``expect`` the
error type it yields and ``match`` the distinguishing part of the host's message (for a
refusal, the refused call with its key argument, as the host saw it). ``match`` may name
``{PARENT}`` (the host's pid), ``{FOLDER}`` (the attacking plugin's folder), ``{DATA}``
(its data folder), ``{PLUGINS}`` (the folder of all plugins), ``{N}`` (any number: a
worker's pid, a descriptor) and ``{ADDR}`` (a hexadecimal address: the host records a
pointer argument as it is).
``CONTAINED`` may answer: ``held`` then decides from the answer (and ``held_after`` from
the data folder after unload) that nothing reached the host or another plugin; an error
answer counts as held.

A body names its harmful targets through module-level constants, never literally:
``PWNED`` (a path it must not be able to write), ``PARENT`` (the host's pid), ``LISTEN``
(a TCP address), ``ABSTRACT`` (an abstract unix socket). The arena binds them to the real
host (``ARENA_TARGETS``); test_unconfined binds them to throwaway stand-ins (a temp file,
a sleeper process, its own listeners) and runs the same body with no sandbox at all, to
show that each attack does what it claims. ``unconfined`` says how that is shown
(a ``Proof``), or is a one-line reason why the attack is not run there.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SEC, RES, TMO, RUN = "security_error", "resource_error", "timeout_error", "runtime_error"
VAL = "validation_error"
HOOK = "submission.afterSave"

#: What the arena binds a body's targets to: the real host (each an expression).
ARENA_TARGETS = {
    "PWNED": repr("/tmp/pliers-pwned"),
    # The host process (the engine): named by its pid, since a worker's own parent is the
    # runtime's warm template (test_attacks also aims the same attacks at the template).
    "PARENT": str(os.getpid()),
    "LISTEN": repr(("127.0.0.1", 22)),
    "ABSTRACT": repr("\0pliers"),
}


@dataclass(frozen=True)
class Proof:
    """How test_unconfined shows an attack working in a plain child process, unconfined.

    ``ends``: ``returns`` (the handler returned), ``raises``, ``runs-on`` (still running at
    the deadline, then killed), ``exits`` (the process exited, ``status`` its code: an
    exec replaced it, or ``os._exit``), ``signal`` (killed by signal ``status``).
    ``effects``: what the runner then finds (``pwned``, ``parent-dead``,
    ``parent-limited``, ``own-code-changed``, ``neighbour-code-changed``,
    ``own-folder-chmod``, ``data-over-limit``). ``found``: substrings of ``repr`` of the
    answer. ``type``: the answer's type name. ``over``: ``(measure, limit)`` pairs the
    child must exceed (``rss_mb``, ``threads``). ``prep``: set up before the body
    (``private-mounts``, ``pivot-root``, ``lowered-soft``). ``nets``: rlimits the child
    sets on itself first, a safety net far above the sandbox's own limit.
    """

    ends: str = "returns"
    status: int = 0
    effects: tuple[str, ...] = ()
    found: tuple[str, ...] = ()
    type: str = ""
    over: tuple[tuple[str, int], ...] = ()
    prep: str = ""
    nets: tuple[tuple[str, int], ...] = ()


RETURNS = Proof()

#: How the host stops an attack (``Attack.stopped_by``): each yields one error type, and
#: test_attacks checks the message (and metadata) each one leaves.
STOPPED_BY = {
    "host-kill": "an escape-class call (exec, fork, clone, ptrace, process_vm_*, pidfd_*, "
    "namespaces, mounts, keys, bpf, perf, io_uring...): the seccomp listener told the host, "
    "which recorded it with its arguments (metadata ``refusals``, ending 'forbidden, the "
    "worker was killed') and killed the worker (SIGKILL) before it ran on",
    "host-refusal": "the seccomp listener refused a call (a file outside the plugin's, a "
    "socket, a signal, prlimit64, prctl, clone3...) and the host recorded it "
    "(metadata ``refusals``): a violation, whatever the plugin did with the errno",
    "host-api": "the host API refused a request (``ctx.api``) and the plugin let the "
    "security error out (metadata ``refusals``)",
    "protocol": "the host's wire reader found a malformed, oversized, unexpected or "
    "second frame and killed the worker",
    "log-flood": "the host's cap on log frames per call killed the worker",
    "cpu-limit": "the host's per-call CPU check killed the worker",
    "timeout": "the host's wall-clock limit killed the worker",
    "oom": "the cgroup's memory limit: the kernel's OOM killer ended the worker",
    "pids": "the cgroup's pids limit: a thread could not start (the worker's account)",
    "rlimit-fsize": "RLIMIT_FSIZE: a write past the disk quota failed with EFBIG (the "
    "worker's account)",
    "encode": "the worker could not encode the answer: it cannot cross to the host",
    "crash": "the worker died by itself: an exit status, or a signal other than SIGSYS",
}
SIGSEGV = 11


@dataclass(frozen=True)
class Attack:
    name: str
    body: str
    expect: frozenset[str]
    hook: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    #: What more the error must satisfy (called with the ``PluginError``).
    check: Callable[..., None] | None = None
    #: How the host stopped it: a key of ``STOPPED_BY`` ("" for a contained attack).
    stopped_by: str = ""
    match: str = ""
    #: A Proof, or why the attack is not run unconfined (one line).
    unconfined: Proof | str = RETURNS
    #: ``call``; ``spy`` (installs on its first call, reports on the next; unconfined,
    #: another plugin runs in between); ``exit`` (acts when its process ends).
    mode: str = "call"
    held: Callable[[Any], bool] | None = None
    held_after: Callable[[Path], bool] | None = None

    @property
    def proven(self) -> bool:
        return isinstance(self.unconfined, Proof)


def attack(name: str, body: str, *expect: str, **extra: Any) -> Attack:
    return Attack(name, body, frozenset(expect), **extra)


def capped(limit: int) -> Callable[[Any], None]:
    """A ``check``: the error's message is at most ``limit`` characters."""

    def check(error: Any) -> None:
        assert len(error.message) <= limit, f"a message of {len(error.message)} characters"

    return check


def reported(text: str) -> Callable[..., None]:
    """A ``check``: the worker's own account (its audit hook) is in the message too."""

    def check(error: Any) -> None:
        assert f"(the worker reported: {text}" in error.message, error.message

    return check


def refused_too(text: str) -> Callable[..., None]:
    """A ``check``: the host also recorded a refusal naming ``text`` before the kill."""

    def check(error: Any) -> None:
        assert any(text in r for r in error.metadata["refusals"][:-1]), error.metadata

    return check


def plugin_source(attack: Attack, targets: dict[str, str]) -> str:
    """The plugin module: the targets as constants, then the body as the hook handler."""
    body = textwrap.indent(textwrap.dedent(attack.body).strip("\n"), "    ")
    consts = "".join(f"{name} = {value}\n" for name, value in targets.items())
    return f"from pliers_lab import hook\n\n{consts}\n\n@hook({HOOK!r})\ndef attack(ctx):\n{body}\n"


LIBC = "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.syscall.restype = ctypes.c_long\n"  # noqa: E501 - plugin source
#: LIBC plus ``sys_(nr, *args)``: a raw system call that raises OSError on failure.
RAW = (
    LIBC
    + """import os
def sys_(nr, *args, what=""):
    args = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    r = libc.syscall(ctypes.c_long(nr), *args)
    if r < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what or nr}: {os.strerror(err)}")
    return r
"""
)
#: A one-instruction seccomp program that allows everything (``prog``).
ALLOW_ALL = """
class Insn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]
class Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(Insn))]
insns = (Insn * 1)(Insn(0x06, 0, 0, 0x7FFF0000))
prog = Prog(1, insns)
"""
#: After a raw fork/clone: the child leaves a mark and exits; the parent reaps it.
CHILD_MARKS = """
if pid == 0:
    try:
        with open(PWNED, "w") as f:
            f.write("written by a raw child")
    finally:
        os._exit(0)
os.waitpid(pid, 0)
return f"started process {pid}"
"""
CLONE_ARGS = """
class CloneArgs(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in (
        "flags", "pidfd", "child_tid", "parent_tid", "exit_signal", "stack", "stack_size",
        "tls", "set_tid", "set_tid_size", "cgroup")]
args = CloneArgs(flags=0, exit_signal=17)  # a plain fork: SIGCHLD to the parent
"""
RW = {"permissions": {"filesystem": ["read", "write"]}}
NO_CAP_SYS_RESOURCE = (
    "raising a hard limit needs CAP_SYS_RESOURCE, which root lacks on this machine "
    "(facts/isolation.md): refused even without the sandbox"
)
NO_WIRE = (
    "forges frames on the host's wire (fd 4); there is no wire without the sandbox, and an "
    "inline plugin answers with Python objects"
)

ATTACKS = [
    # --- processes: what audit hooks cannot stop ---------------------------------------
    attack(
        "posixsubprocess",
        """
import _posixsubprocess, os
r, w = os.pipe()
_posixsubprocess.fork_exec([b"/bin/id"], [b"/bin/id"], True, (), None, None, -1, -1, -1, -1,
                           -1, -1, r, w, True, False, -1, None, None, None, -1, None, False)
return "forked"
""",
        SEC,
        stopped_by="host-kill",
        match="clone(flags=0x1200011): forbidden",
    ),
    attack(
        "subprocess",
        'import subprocess\nreturn subprocess.run(["id"], capture_output=True).stdout.decode()',
        SEC,
        stopped_by="host-kill",
        match="vfork(): forbidden",
        check=reported("subprocess.Popen ['id']: starting processes"),
    ),
    attack(
        "os-system",
        "import os\nreturn os.system(f\"id > '{PWNED}'\")",
        SEC,
        stopped_by="host-kill",
        match="clone(flags=0x4111): forbidden",
        check=reported("os.system b\"id > '/tmp/pliers-pwned'\""),
        unconfined=Proof(effects=("pwned",)),
    ),
    attack(
        "fork-swallowed",
        """
import os
try:
    pid = os.fork()
except OSError:
    return "fork refused, carrying on"
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
return "forked"
""",
        SEC,
        stopped_by="host-kill",
        match="clone(flags=0x1200011): forbidden",
        check=reported("os.fork(): starting processes"),
    ),
    attack(
        "fork-bomb",
        "import os\nwhile True:\n    os.fork()",
        SEC,
        stopped_by="host-kill",
        match="clone(flags=0x1200011): forbidden",
        check=reported("os.fork(): starting processes"),
        unconfined="unbounded fork(): as root nothing but the sandbox's pids cgroup stops it "
        "short of the machine's process table",
    ),
    attack(
        "posix-spawn",
        'import os\nreturn os.posix_spawn("/bin/id", ["id"], {})',
        SEC,
        stopped_by="host-kill",
        match="clone(flags=0x4111): forbidden",
        check=reported("os.posix_spawn '/bin/id'"),
    ),
    # --- helpers an audit hook relies on ----------------------------------------------
    attack(
        "rebound-helpers",
        """
import os.path, builtins
os.path.abspath = os.path.realpath = os.path.normpath = lambda p: "/harmless"
return open("/etc/passwd").read()
""",
        SEC,
        stopped_by="host-refusal",
        match="openat('/etc/passwd', read) outside the plugin's files",
        unconfined=Proof(found=("root:",)),
    ),
    # --- raw syscalls through ctypes --------------------------------------------------
    attack(
        "ctypes-ptrace",
        RAW + "return sys_(101, 16, PARENT, 0, 0, what='ptrace(ATTACH)')",
        SEC,
        stopped_by="host-kill",
        match="ptrace(16, pid {PARENT}): forbidden",
    ),
    attack(
        "ctypes-process-vm-readv",
        RAW
        + """
try:
    with open(f"/proc/{PARENT}/maps") as maps:
        address = int(maps.readline().split("-")[0], 16)
except OSError:
    address = 0x400000
buf = ctypes.create_string_buffer(64)
class IOV(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
local = IOV(ctypes.cast(buf, ctypes.c_void_p), 64)
remote = IOV(address, 64)
return sys_(310, PARENT, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
""",
        SEC,
        stopped_by="host-kill",
        # The host shows the pid first, then labels the local iovec pointer "pid".
        match="process_vm_readv(pid {PARENT}, …): forbidden",
    ),
    attack(
        "ctypes-unshare-user",
        RAW + "return sys_(272, 0x10000000, what='unshare')",
        SEC,
        stopped_by="host-kill",
        match="unshare(0x10000000, …): forbidden",
    ),
    attack(
        "ctypes-io-uring",
        RAW
        + """
params = ctypes.create_string_buffer(120)
fd = sys_(425, 4, params, what="io_uring_setup")
os.close(fd)
return "made an io_uring"
""",
        SEC,
        stopped_by="host-kill",
        match="io_uring_setup(0x4, …): forbidden",
    ),
    attack(
        "ctypes-prlimit-parent",
        LIBC
        + """
new = (ctypes.c_uint64 * 2)(1, 1)
if libc.syscall(302, PARENT, 7, new, None) != 0:
    raise OSError(ctypes.get_errno(), "prlimit64 on the parent")
return "limited the host"
""",
        SEC,
        stopped_by="host-refusal",
        match="prlimit64(pid {PARENT}, resource 7): changing limits",
        unconfined=Proof(effects=("parent-limited",)),
    ),
    attack(
        "ctypes-pidfd-getfd",
        RAW
        + """
pidfd = sys_(434, PARENT, 0, what="pidfd_open")
stolen = sys_(438, pidfd, 3, 0, what="pidfd_getfd")
return os.read(stolen, 64).decode(errors="replace")
""",
        SEC,
        stopped_by="host-kill",
        match="pidfd_open(pid {PARENT}, …): forbidden",
        unconfined=Proof(found=("host secret",)),
    ),
    attack(
        "ctypes-memfd-exec",
        RAW
        + """
fd = sys_(319, b"x", 0, what="memfd_create")
os.write(fd, f"#!/bin/sh\\necho pwned > '{PWNED}'\\n".encode())
argv = (ctypes.c_char_p * 2)(b"x", None)
sys_(322, fd, b"", argv, None, 0x1000, what="execveat")
return "exec returned"
""",
        SEC,
        stopped_by="host-refusal",
        match="memfd_create(): refused",
        unconfined=Proof(ends="exits", effects=("pwned",)),
    ),
    attack(
        "ctypes-kill-parent",
        LIBC
        + """
import signal
if libc.syscall(62, PARENT, signal.SIGKILL) != 0:
    raise OSError(ctypes.get_errno(), "kill")
return "killed the host"
""",
        SEC,
        stopped_by="host-refusal",
        match="kill(pid {PARENT}, SIGKILL): signalling another process",
        unconfined=Proof(effects=("parent-dead",)),
    ),
    # --- files -----------------------------------------------------------------------
    attack(
        "read-outside",
        'return open("/etc/shadow").read()',
        SEC,
        stopped_by="host-refusal",
        match="openat('/etc/shadow', read) outside",
    ),
    attack(
        "write-outside",
        'open(PWNED, "w").write("x")\nreturn "wrote"',
        SEC,
        stopped_by="host-refusal",
        match="openat('/tmp/pliers-pwned', write) outside",
        unconfined=Proof(effects=("pwned",)),
    ),
    attack(
        "write-own-folder",
        """
import os
open(os.path.join(os.path.dirname(__file__), "plugin.py"), "a").write("# owned")
return "rewrote itself"
""",
        SEC,
        stopped_by="host-refusal",
        match="openat('{FOLDER}/plugin.py', write) outside",
        unconfined=Proof(effects=("own-code-changed",)),
    ),
    attack(
        "chmod-own-folder",
        """
import os
os.chmod(os.path.dirname(__file__), 0o777)
return "chmod"
""",
        SEC,
        stopped_by="host-refusal",
        match="chmod(): refused",
        unconfined=Proof(effects=("own-folder-chmod",)),
    ),
    attack(
        "symlink-in-data",
        """
import os
os.symlink("/etc/passwd", "escape")
return open("escape").read()
""",
        SEC,
        stopped_by="host-refusal",
        match="openat('escape → /etc/passwd', read) outside",
        manifest=RW,
        unconfined=Proof(found=("root:",)),
    ),
    attack(
        "symlink-via-host-vfs",
        """
import os
if not os.path.islink("link"):
    os.symlink("/etc", "link")
return ctx.api.files.read("link/passwd")
""",
        SEC,
        stopped_by="host-api",
        match="api.files.read: 'link' is a symlink or not a folder",
        manifest=RW,
        unconfined="the escape would be in the host's files API (ctx.api.files), which exists "
        "only with a host",
    ),
    attack(
        "proc-of-parent",
        'return open(f"/proc/{PARENT}/environ").read()',
        SEC,
        stopped_by="host-refusal",
        match="openat('/proc/{PARENT}/environ', read) outside",
        unconfined=Proof(found=("hunter2",)),
    ),
    # --- network ---------------------------------------------------------------------
    attack(
        "tcp",
        'import socket\ns = socket.create_connection(LISTEN, timeout=1)\ns.close()\nreturn "connected"',  # noqa: E501 - plugin source
        SEC,
        stopped_by="host-refusal",
        match="socket(AF_INET, SOCK_STREAM): new sockets are refused",
    ),
    attack(
        "udp",
        'import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.sendto(b"x", LISTEN)\nreturn "sent"',  # noqa: E501 - plugin source
        SEC,
        stopped_by="host-refusal",
        match="socket(AF_INET, SOCK_DGRAM): new sockets are refused",
    ),
    attack(
        "unix-abstract",
        'import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect(ABSTRACT)\ns.close()\nreturn "connected"',  # noqa: E501 - plugin source
        SEC,
        stopped_by="host-refusal",
        match="socket(AF_UNIX, SOCK_STREAM): new sockets are refused",
    ),
    # --- resources -------------------------------------------------------------------
    attack(
        "cpu-loop",
        "while True:\n    pass",
        RES,
        stopped_by="cpu-limit",
        match="used over 1000 ms of CPU in one call",
        unconfined=Proof(ends="runs-on"),
    ),
    attack(
        "memory-bomb",
        "hog = []\nwhile True:\n    hog.append(b'x' * (8 << 20))",
        RES,
        stopped_by="oom",
        match="used over 128 MB",
        unconfined=Proof(ends="raises", over=(("rss_mb", 128),), nets=(("RLIMIT_AS", 512 << 20),)),
    ),
    attack(
        "thread-bomb",
        """
import threading, time
threads = []
while True:
    t = threading.Thread(target=time.sleep, args=(30,), daemon=True)
    t.start()
    threads.append(t)
""",
        RES,
        stopped_by="pids",
        match="RuntimeError: can't start new thread",
        unconfined=Proof(ends="raises", over=(("threads", 33),), nets=(("RLIMIT_AS", 4 << 30),)),
    ),
    attack(
        "disk-fill",
        "chunk = b'x' * (1 << 20)\nwith open('fill.bin', 'wb') as f:\n    while True:\n        f.write(chunk)",  # noqa: E501 - plugin source
        RES,
        stopped_by="rlimit-fsize",
        match="OSError: [Errno 27] File too large",
        manifest=RW,
        unconfined=Proof(
            ends="raises", effects=("data-over-limit",), nets=(("RLIMIT_FSIZE", 110 << 20),)
        ),
    ),
    attack(
        "never-answers",
        "import time\ntime.sleep(60)",
        TMO,
        stopped_by="timeout",
        match="no answer within 300 ms",
        hook={"timeout": 300},
        unconfined=Proof(ends="runs-on"),
    ),
    attack(
        "thread-outlives-timeout",
        """
import threading, time
def spin():
    while True:
        time.sleep(0.01)
threading.Thread(target=spin).start()
time.sleep(60)
""",
        TMO,
        stopped_by="timeout",
        match="no answer within 300 ms",
        hook={"timeout": 300},
        unconfined=Proof(ends="runs-on"),
    ),
    attack(
        "signal-parent",
        "import os, signal\nos.kill(PARENT, signal.SIGKILL)\nreturn 'killed'",
        SEC,
        stopped_by="host-refusal",
        match="kill(pid {PARENT}, SIGKILL): signalling another process",
        unconfined=Proof(effects=("parent-dead",)),
    ),
    attack(
        "dies-mid-call",
        "import os\nos._exit(7)",
        RUN,
        stopped_by="crash",
        match="the worker exited mid-call with status 7",
        unconfined=Proof(ends="exits", status=7),
    ),
    # --- the wire --------------------------------------------------------------------
    attack(
        "wire-garbage",
        'import os\nos.write(4, b"\\x00\\x00\\x00\\x05hello")\nimport time\ntime.sleep(1)',
        SEC,
        stopped_by="protocol",
        match="malformed JSON at byte 0",
        unconfined=NO_WIRE,
    ),
    attack(
        "wire-oversized",
        'import os\nos.write(4, (1 << 31).to_bytes(4, "big"))\nimport time\ntime.sleep(1)',
        SEC,
        stopped_by="protocol",
        match="frame header announces 2147483648 bytes (cap ",
        unconfined=NO_WIRE,
    ),
    attack(
        "wire-wrong-version",
        """
import os, json
body = json.dumps({"t": "hello", "v": 99}).encode()
os.write(4, len(body).to_bytes(4, "big") + body)
import time
time.sleep(1)
""",
        SEC,
        stopped_by="protocol",
        match="unexpected frame type 'hello' during a call",
        unconfined=NO_WIRE,
    ),
    attack(
        "wire-answers-twice",
        """
import os, json
frames = b""
for call_id in range(1, 5):
    body = json.dumps({"t": "done", "id": call_id, "ok": True, "value": "forged"}).encode()
    frames += len(body).to_bytes(4, "big") + body
os.write(4, frames)  # one write: the host reads them together
return "real"
""",
        SEC,
        stopped_by="protocol",
        match="extra 'done' frame after the answer",
        unconfined=NO_WIRE,
    ),
    attack(
        "wire-flood",
        """
import os, json
body = json.dumps({"t": "log", "level": "info", "msg": "x" * 100, "fields": {}}).encode()
frame = len(body).to_bytes(4, "big") + body
while True:
    os.write(4, frame * 50)
""",
        RES,
        stopped_by="log-flood",
        match="over 2000 log frames in one call",
        unconfined=NO_WIRE,
    ),
    # --- writes through /proc/self/mem ----------------------------------------------------
    attack(
        "proc-self-mem-write",
        """
import ctypes
buf = ctypes.create_string_buffer(b"harmless", 16)
with open("/proc/self/mem", "r+b", buffering=0) as mem:
    mem.seek(ctypes.addressof(buf))
    mem.write(b"pwned!!!")
if buf.value != b"pwned!!!":
    raise RuntimeError(f"the write did not land: {buf.value!r}")
return "rewrote my own memory through /proc/self/mem"
""",
        SEC,
        stopped_by="host-refusal",
        match="openat('/proc/self/mem → /proc/{N}/mem', write) outside",
    ),
    attack(
        "proc-self-mem-readonly-page",
        """
import ctypes, mmap
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
page = libc.mmap(None, 4096, mmap.PROT_READ, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
with open("/proc/self/mem", "r+b", buffering=0) as mem:
    mem.seek(page)
    mem.write(b"pwned")
if ctypes.string_at(page, 5) != b"pwned":
    raise RuntimeError("the read-only page is unchanged")
return "wrote into a read-only page (FOLL_FORCE)"
""",
        SEC,
        stopped_by="host-refusal",
        match="openat('/proc/self/mem → /proc/{N}/mem', write) outside",
    ),
    attack(
        "proc-self-mem-task-pwrite",
        """
import ctypes, os, threading
buf = ctypes.create_string_buffer(b"harmless", 16)
fd = os.open(f"/proc/{os.getpid()}/task/{threading.get_native_id()}/mem", os.O_RDWR)
try:
    os.pwrite(fd, b"pwned!!!", ctypes.addressof(buf))
finally:
    os.close(fd)
if buf.value != b"pwned!!!":
    raise RuntimeError(f"the write did not land: {buf.value!r}")
return "rewrote my memory through /proc/<pid>/task/<tid>/mem"
""",
        SEC,
        stopped_by="host-refusal",
        match="openat('/proc/{N}/task/{N}/mem', write) outside",
    ),
    # --- raw process creation ---------------------------------------------------------
    attack(
        "raw-execve",
        RAW
        + """
argv = (ctypes.c_char_p * 4)(b"/bin/sh", b"-c", f"echo pwned > '{PWNED}'".encode(), None)
sys_(59, b"/bin/sh", argv, None, what="execve")
return "exec returned"
""",
        SEC,
        stopped_by="host-kill",
        match="execve('/bin/sh'): forbidden",
        unconfined=Proof(ends="exits", effects=("pwned",)),
    ),
    attack(
        "raw-execveat",
        RAW
        + """
argv = (ctypes.c_char_p * 4)(b"/bin/sh", b"-c", f"echo pwned > '{PWNED}'".encode(), None)
sys_(322, -100, b"/bin/sh", argv, None, 0, what="execveat")
return "exec returned"
""",
        SEC,
        stopped_by="host-kill",
        match="execveat('/bin/sh'): forbidden",
        unconfined=Proof(ends="exits", effects=("pwned",)),
    ),
    attack(
        "raw-fork",
        RAW + 'pid = sys_(57, what="fork")' + CHILD_MARKS,
        SEC,
        stopped_by="host-kill",
        match="fork(): forbidden",
        unconfined=Proof(effects=("pwned",)),
    ),
    attack(
        "raw-clone",
        RAW + 'pid = sys_(56, 17, 0, 0, 0, 0, what="clone(SIGCHLD)")' + CHILD_MARKS,
        SEC,
        stopped_by="host-kill",
        match="clone(flags=0x11): forbidden",
        unconfined=Proof(effects=("pwned",)),
    ),
    attack(
        "raw-clone3",
        RAW
        + CLONE_ARGS
        + 'pid = sys_(435, ctypes.byref(args), ctypes.sizeof(args), what="clone3")'
        + CHILD_MARKS,
        SEC,
        stopped_by="host-refusal",
        match="clone3(flags=0x0): starting a process is refused",
        unconfined=Proof(effects=("pwned",)),
    ),
    attack(
        "raw-clone3-swallowed",
        RAW
        + CLONE_ARGS
        + """
pid = libc.syscall(ctypes.c_long(435), ctypes.byref(args), ctypes.c_long(ctypes.sizeof(args)))
if pid < 0:
    return f"clone3 refused ({os.strerror(ctypes.get_errno())}), carrying on"
"""
        + CHILD_MARKS,
        SEC,
        stopped_by="host-refusal",
        match="clone3(flags=0x0): starting a process is refused",
        unconfined=Proof(effects=("pwned",)),
    ),
    # --- sockets ----------------------------------------------------------------------
    attack(
        "raw-socket",
        """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.sendto(bytes([8, 0, 0xF7, 0xFF, 0, 0, 0, 0]), ("127.0.0.1", 0))  # an ICMP echo request
s.close()
return "sent a raw ICMP packet"
""",
        SEC,
        stopped_by="host-refusal",
        match="socket(AF_INET, SOCK_RAW): new sockets are refused",
    ),
    attack(
        "raw-socket-ctypes",
        RAW
        + """
fd = sys_(41, 2, 3, 255, what="socket(AF_INET, SOCK_RAW, IPPROTO_RAW)")
os.close(fd)
return "made a raw socket without socket.socket (no audit event)"
""",
        SEC,
        stopped_by="host-refusal",
        match="socket(AF_INET, SOCK_RAW): new sockets are refused",
    ),
    attack(
        "packet-socket",
        """
import socket
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))  # ETH_P_ALL
s.close()
return "could sniff every frame on every interface"
""",
        SEC,
        stopped_by="host-refusal",
        match="socket(AF_PACKET, SOCK_RAW): new sockets are refused",
    ),
    attack(
        "netlink-route",
        """
import socket, struct
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
s.bind((0, 0))
s.send(struct.pack("=IHHII", 32, 18, 0x301, 1, 0) + bytes(16))  # RTM_GETLINK, dump
data = s.recv(65536)
s.close()
return f"read {len(data)} bytes about the network interfaces"
""",
        SEC,
        stopped_by="host-refusal",
        match="socket(AF_NETLINK, SOCK_RAW): new sockets are refused",
    ),
    attack(
        "netlink-uevent",
        """
import socket
s = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 15)  # NETLINK_KOBJECT_UEVENT
s.bind((0, 1))
s.close()
return "listening to the kernel's device events"
""",
        SEC,
        stopped_by="host-refusal",
        match="socket(AF_NETLINK, SOCK_DGRAM): new sockets are refused",
    ),
    attack(
        "scm-rights-roundtrip",
        """
import os, socket
ours, theirs = socket.socketpair()
fd = os.open(__file__, os.O_RDONLY)
socket.send_fds(ours, [b"fd"], [fd])
_, fds, _, _ = socket.recv_fds(theirs, 16, 1)
data = os.read(fds[0], 64)
return f"passed a descriptor over SCM_RIGHTS and read {len(data)} bytes through it"
""",
        SEC,
        stopped_by="host-refusal",
        match="socketpair(AF_UNIX, SOCK_STREAM): new sockets are refused",
    ),
    attack(
        "scm-rights-dirfd-write",
        """
import os, socket
ours, theirs = socket.socketpair()
folder = os.open(os.path.dirname(__file__), os.O_RDONLY | os.O_DIRECTORY)
socket.send_fds(ours, [b"dir"], [folder])
_, fds, _, _ = socket.recv_fds(theirs, 16, 1)
fd = os.open("plugin.py", os.O_WRONLY | os.O_APPEND, dir_fd=fds[0])
os.write(fd, b"# owned through a passed descriptor")
return "rewrote my code through a passed directory descriptor"
""",
        SEC,
        stopped_by="host-refusal",
        match="socketpair(AF_UNIX, SOCK_STREAM): new sockets are refused",
        unconfined=Proof(effects=("own-code-changed",)),
    ),
    # --- raising rlimits back -----------------------------------------------------------
    attack(
        "rlimit-raise-as-hard",
        """
import resource
resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
return "unlimited address space"
""",
        SEC,
        stopped_by="host-refusal",
        match="prlimit64(pid 0, resource 9): changing limits",
        unconfined=NO_CAP_SYS_RESOURCE,
    ),
    attack(
        "rlimit-raise-nofile-hard",
        """
import resource
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard + 4096, hard + 4096))
return f"open files: {hard} -> {hard + 4096}"
""",
        SEC,
        stopped_by="host-refusal",
        match="prlimit64(pid 0, resource 7): changing limits",
        unconfined=NO_CAP_SYS_RESOURCE,
    ),
    attack(
        "rlimit-raise-soft-to-hard",
        """
import resource
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
if resource.getrlimit(resource.RLIMIT_NOFILE)[0] <= soft:
    raise RuntimeError(f"nothing raised: soft {soft}, hard {hard}")
return f"raised my open-files limit from {soft} to {hard}"
""",
        SEC,
        stopped_by="host-refusal",
        match="prlimit64(pid 0, resource 7): changing limits",
        unconfined=Proof(prep="lowered-soft"),
    ),
    attack(
        "prlimit64-raise-hard",
        RAW
        + """
new = (ctypes.c_uint64 * 2)(2**64 - 1, 2**64 - 1)
sys_(302, 0, 9, new, None, what="prlimit64(self, RLIMIT_AS)")
return "unlimited address space"
""",
        SEC,
        stopped_by="host-refusal",
        match="prlimit64(pid 0, resource 9): changing limits",
        unconfined=NO_CAP_SYS_RESOURCE,
    ),
    attack(
        "prlimit64-raise-soft",
        RAW
        + """
old = (ctypes.c_uint64 * 2)()
sys_(302, os.getpid(), 7, None, old, what="prlimit64(read)")
new = (ctypes.c_uint64 * 2)(old[1], old[1])
sys_(302, os.getpid(), 7, new, None, what="prlimit64(RLIMIT_NOFILE)")
if old[0] >= old[1]:
    raise RuntimeError(f"nothing raised: soft {old[0]}, hard {old[1]}")
return f"raised my open-files limit from {old[0]} to {old[1]}"
""",
        SEC,
        stopped_by="host-refusal",
        match="prlimit64(pid {N}, resource 7): changing limits",
        unconfined=Proof(prep="lowered-soft"),
    ),
    # --- prctl and stacking seccomp filters ------------------------------------------------
    attack(
        "prctl-set-seccomp",
        RAW
        + ALLOW_ALL
        + """
sys_(157, 22, 2, ctypes.byref(prog), 0, 0, what="prctl(PR_SET_SECCOMP)")
return "installed my own seccomp filter"
""",
        SEC,
        stopped_by="host-refusal",
        match="prctl(PR_SET_SECCOMP): refused",
    ),
    attack(
        "prctl-no-new-privs-off",
        RAW + "sys_(157, 38, 0, 0, 0, 0, what='prctl(PR_SET_NO_NEW_PRIVS, 0)')\nreturn 'cleared'",
        SEC,
        stopped_by="host-refusal",
        match="prctl(PR_SET_NO_NEW_PRIVS): refused",
        unconfined="the kernel never clears no_new_privs (EINVAL even unconfined); kept as a "
        "probe of the filter",
    ),
    attack(
        "prctl-set-dumpable",
        RAW + "sys_(157, 4, 1, 0, 0, 0, what='prctl(PR_SET_DUMPABLE)')\nreturn 'dumpable'",
        SEC,
        stopped_by="host-refusal",
        match="prctl(PR_SET_DUMPABLE): refused",
    ),
    attack(
        "prctl-capbset-drop",
        RAW + "sys_(157, 24, 21, 0, 0, 0, what='prctl(PR_CAPBSET_DROP)')\nreturn 'dropped'",
        SEC,
        stopped_by="host-refusal",
        match="prctl(PR_CAPBSET_DROP): refused",
    ),
    attack(
        "prctl-set-ptracer",
        RAW + "sys_(157, 0x59616D61, -1, 0, 0, 0, what='prctl(PR_SET_PTRACER, ANY)')\nreturn 'any'",
        SEC,
        stopped_by="host-refusal",
        match="prctl(PR_SET_PTRACER): refused",
        unconfined="PR_SET_PTRACER needs the Yama LSM, which this kernel lacks (EINVAL even "
        "unconfined)",
    ),
    attack(
        "seccomp-stack-allow",
        RAW
        + ALLOW_ALL
        + """
sys_(317, 1, 0, ctypes.byref(prog), what="seccomp(SET_MODE_FILTER)")
return "stacked an allow-all filter"
""",
        SEC,
        stopped_by="host-refusal",
        match="seccomp(): changing the sandbox's own filters is refused",
    ),
    attack(
        "seccomp-new-listener",
        RAW
        + ALLOW_ALL
        + """
insns = (Insn * 4)(Insn(0x20, 0, 0, 0), Insn(0x15, 0, 1, 110),  # getppid -> notify
                   Insn(0x06, 0, 0, 0x7FC00000), Insn(0x06, 0, 0, 0x7FFF0000))
prog = Prog(4, insns)
fd = sys_(317, 1, 8, ctypes.byref(prog), what="seccomp(FILTER_FLAG_NEW_LISTENER)")
return f"a seccomp listener of my own: fd {fd}"
""",
        SEC,
        stopped_by="host-refusal",
        match="seccomp(): changing the sandbox's own filters is refused",
    ),
    # --- namespaces, mounts, roots ----------------------------------------------------------
    *(
        attack(
            f"unshare-{ns}",
            RAW + f"sys_(272, {flag:#x}, what='unshare(CLONE_NEW{ns.upper()})')\nreturn 'new {ns}'",
            SEC,
            stopped_by="host-kill",
            match=f"unshare({flag:#x}, …): forbidden",
        )
        for ns, flag in (
            ("mnt", 0x00020000),
            ("cgroup", 0x02000000),
            ("uts", 0x04000000),
            ("ipc", 0x08000000),
            ("pid", 0x20000000),
            ("net", 0x40000000),
            ("time", 0x00000080),
        )
    ),
    *(
        attack(
            f"setns-parent-{ns}",
            RAW
            + f"""
try:
    fd = os.open(f"/proc/{{PARENT}}/ns/{ns}", os.O_RDONLY)
except OSError:
    fd = 0  # the path is refused: try the system call anyway
sys_(308, fd, {flag:#x}, what="setns")
return "joined the host's {ns} namespace"
""",
            SEC,
            stopped_by="host-kill",
            match=f"setns(fd 0, nstype {flag:#x}): forbidden",  # fd 0: the file was refused
            check=refused_too(f"/ns/{ns} → "),
        )
        for ns, flag in (("net", 0x40000000), ("mnt", 0x00020000))
    ),
    attack(
        "mount-tmpfs",
        RAW
        + """
sys_(165, b"none", os.getcwd().encode(), b"tmpfs", 0, None, what="mount")
return "mounted a tmpfs"
""",
        SEC,
        stopped_by="host-kill",
        match="mount('none', '{DATA}', 'tmpfs'): forbidden",
        manifest=RW,
        unconfined=Proof(prep="private-mounts"),
    ),
    attack(
        "mount-bind-root",
        RAW
        + """
here = os.getcwd()
sys_(165, b"/", here.encode(), None, 0x1000 | 0x4000, None, what="mount(MS_BIND|MS_REC, /)")
return sorted(os.listdir(here))
""",
        SEC,
        stopped_by="host-kill",
        match="mount('/', '{DATA}', ?): forbidden",
        manifest=RW,
        unconfined=Proof(prep="private-mounts", found=("'etc'",)),
    ),
    attack(
        "fsopen-tmpfs",
        RAW
        + """
fd = sys_(430, b"tmpfs", 0, what="fsopen")
os.close(fd)
return "opened a filesystem context"
""",
        SEC,
        stopped_by="host-kill",
        match="fsopen('tmpfs'): forbidden",
        unconfined=Proof(prep="private-mounts"),
    ),
    attack(
        "chroot",
        RAW + 'sys_(161, b".", what="chroot")\nreturn "chrooted"',
        SEC,
        stopped_by="host-kill",
        match="chroot('.'): forbidden",
        manifest=RW,
    ),
    attack(
        "pivot-root",
        RAW + 'sys_(155, b".", b"old", what="pivot_root")\nreturn "pivoted"',
        SEC,
        stopped_by="host-kill",
        match="pivot_root('.', 'old'): forbidden",
        manifest=RW,
        unconfined=Proof(prep="pivot-root"),
    ),
    # --- keys, bpf, perf, userfaultfd ---------------------------------------------------
    attack(
        "keyctl-user-keyring",
        RAW
        + """
key = sys_(250, 0, -4, 0, what="keyctl(GET_KEYRING_ID, KEY_SPEC_USER_KEYRING)")
return f"root's user keyring, shared with the host: {key}"
""",
        SEC,
        stopped_by="host-kill",
        match="keyctl(0x0, …): forbidden",
    ),
    attack(
        "add-key",
        RAW
        + """
key = sys_(248, b"user", b"pliers-attack", b"x", 1, -2, what="add_key")
return f"added key {key}"
""",
        SEC,
        stopped_by="host-kill",
        match="add_key('user', 'pliers-attack'): forbidden",
    ),
    attack(
        "bpf-map-create",
        RAW
        + """
attr = (ctypes.c_uint32 * 32)(2, 4, 4, 1)  # BPF_MAP_TYPE_ARRAY, 4-byte keys and values
fd = sys_(321, 0, attr, 128, what="bpf(BPF_MAP_CREATE)")
os.close(fd)
return "created a BPF map"
""",
        SEC,
        stopped_by="host-kill",
        match="bpf(0x0, …): forbidden",
    ),
    attack(
        "bpf-prog-load",
        RAW
        + """
insns = (ctypes.c_uint64 * 2)(0xB7, 0x95)  # r0 = 0; exit
license = ctypes.create_string_buffer(b"GPL")
attr = (ctypes.c_uint64 * 16)()
attr[0] = 1 | (2 << 32)  # BPF_PROG_TYPE_SOCKET_FILTER, two instructions
attr[1] = ctypes.addressof(insns)
attr[2] = ctypes.addressof(license)
fd = sys_(321, 5, attr, 128, what="bpf(BPF_PROG_LOAD)")
os.close(fd)
return "loaded a BPF program into the kernel"
""",
        SEC,
        stopped_by="host-kill",
        match="bpf(0x5, …): forbidden",
    ),
    *(
        attack(
            f"perf-event-{who}",
            RAW
            + f"""
attr = (ctypes.c_uint32 * 32)()
attr[0], attr[1] = 1, 128  # PERF_TYPE_SOFTWARE, sizeof(attr); config 0: CPU clock
fd = sys_(298, attr, {pid}, -1, -1, 0, what="perf_event_open")
os.close(fd)
return "counting {who}"
""",
            SEC,
            stopped_by="host-kill",
            match=f"perf_event_open(pid {'{PARENT}' if pid == 'PARENT' else pid}, …): forbidden",
        )
        for who, pid in (("self", "0"), ("parent", "PARENT"))
    ),
    attack(
        "userfaultfd",
        RAW
        + """
fd = sys_(323, 0o2000000, what="userfaultfd")
os.close(fd)
return "made a userfaultfd"
""",
        SEC,
        stopped_by="host-kill",
        match="userfaultfd(0x80000, …): forbidden",
    ),
    # --- crashes --------------------------------------------------------------------
    attack(
        "segfault-string-at",
        "import ctypes\nreturn ctypes.string_at(0)",
        RUN,
        stopped_by="crash",
        match="the worker died mid-call (SIGSEGV)",
        unconfined=Proof(ends="signal", status=SIGSEGV),
    ),
    attack(
        "segfault-memset",
        "import ctypes\nctypes.memset(0, 0, 1)\nreturn 'wrote at address 0'",
        RUN,
        stopped_by="crash",
        match="the worker died mid-call (SIGSEGV)",
        unconfined=Proof(ends="signal", status=SIGSEGV),
    ),
    # --- hostile return values -----------------------------------------------------------
    attack(
        "return-300mb-string",
        'return "x" * (300 << 20)',
        RES,
        stopped_by="oom",
        match="used over 128 MB",
        unconfined=Proof(type="str"),
    ),
    attack(
        "return-deep-nesting",
        "value = []\nfor _ in range(100_000):\n    value = [value]\nreturn value",
        VAL,
        stopped_by="encode",
        match="maximum recursion depth exceeded while encoding",
        unconfined=Proof(type="list"),
    ),
    attack(
        "return-socket",  # a socket object without socket(), which is refused
        "import socket\nreturn socket.socket.__new__(socket.socket)",
        VAL,
        stopped_by="encode",
        match="socket is not JSON-serialisable",
        unconfined=Proof(type="socket"),
    ),
    attack(
        "return-open-file",
        "return open(__file__)",
        VAL,
        stopped_by="encode",
        match="TextIOWrapper is not JSON-serialisable",
        unconfined=Proof(type="TextIOWrapper"),
    ),
    attack(
        "return-generator",
        "return (i for i in range(3))",
        VAL,
        stopped_by="encode",
        match="generator is not JSON-serialisable",
        unconfined=Proof(type="generator"),
    ),
    attack(
        "return-set-of-objects",
        "return {object(), object()}",
        VAL,
        stopped_by="encode",
        match="set is not JSON-serialisable",
        unconfined=Proof(type="set"),
    ),
    attack(
        "return-nan-inf",
        'return {"score": float("nan"), "limit": float("inf"), "floor": float("-inf")}',
        VAL,
        stopped_by="encode",
        match="Out of range float values are not JSON compliant",
        unconfined=Proof(type="dict", found=("nan", "inf")),
    ),
    attack(
        "return-non-string-keys",
        'return {("a", 1): "tuple key", object(): "object key"}',
        VAL,
        stopped_by="encode",
        match="keys must be str, int, float, bool or None, not tuple",
        unconfined=Proof(type="dict"),
    ),
    attack(
        "return-bytes",
        'return b"\\x00\\xff" * 8',
        VAL,
        stopped_by="encode",
        match="bytes is not JSON-serialisable",
        unconfined=Proof(type="bytes"),
    ),
    attack(
        "return-self-reference",
        'value = {}\nvalue["self"] = value\nreturn value',
        VAL,
        stopped_by="encode",
        match="Circular reference detected",
        unconfined=Proof(type="dict"),
    ),
    attack(
        "return-huge-int",
        "return 10 ** 5000",
        VAL,
        stopped_by="encode",
        match="Exceeds the limit (4300 digits) for integer string conversion",
        unconfined=Proof(type="int"),
    ),
    attack(
        "return-huge-type-name",
        'return type("X" * (16 << 20), (), {})()',
        VAL,
        stopped_by="encode",
        match="cannot cross to the host: XXXXXXXX",
        check=capped(2100),  # the 16 MB name is cut to 2000 characters in the message
        unconfined=Proof(found=("XXXX",)),
    ),
    # --- hard links into the data folder -----------------------------------------------
    attack(
        "hardlink-etc-passwd",
        'import os\nos.link("/etc/passwd", "passwd")\nreturn open("passwd").read()',
        SEC,
        stopped_by="host-refusal",
        match="link('/etc/passwd', write) outside",
        manifest=RW,
        unconfined=Proof(found=("root:",)),
    ),
    attack(
        "hardlink-own-code",
        """
import os
os.link(os.path.join(os.path.dirname(__file__), "plugin.py"), "code.py")
with open("code.py", "a") as f:
    f.write("# owned through a hard link")
return "rewrote my code through a hard link"
""",
        SEC,
        stopped_by="host-refusal",
        match="link('{FOLDER}/plugin.py', write) outside",
        manifest=RW,
        unconfined=Proof(effects=("own-code-changed",)),
    ),
    attack(
        "hardlink-linkat-fd",
        RAW
        + """
fd = os.open(os.path.join(os.path.dirname(__file__), "plugin.py"), os.O_RDONLY)
sys_(265, fd, b"", -100, b"code.py", 0x1000, what="linkat(AT_EMPTY_PATH)")
with open("code.py", "a") as f:
    f.write("# owned through linkat")
return "rewrote my code through linkat of a read-only descriptor"
""",
        SEC,
        stopped_by="host-refusal",
        match="linkat(' → {FOLDER}/plugin.py', write) outside",
        manifest=RW,
        unconfined=Proof(effects=("own-code-changed",)),
    ),
    attack(
        "hardlink-neighbour-code",
        """
import os
os.link("../../plugins/boxed-bystander/plugin.py", "theirs.py")
with open("theirs.py", "a") as f:
    f.write("# owned by my neighbour")
return "rewrote another plugin's code through a hard link"
""",
        SEC,
        stopped_by="host-refusal",
        match="link('../../plugins/boxed-bystander/plugin.py → "
        "{PLUGINS}/boxed-bystander/plugin.py', write) outside",
        manifest=RW,
        unconfined=Proof(effects=("neighbour-code-changed",)),
    ),
    # --- refusals swallowed or disguised: the host's verdict, not the plugin's word -------
    attack(
        "read-outside-swallowed",
        """
try:
    return open("/etc/shadow").read()
except OSError:
    return "nothing to see"
""",
        SEC,
        stopped_by="host-refusal",
        match="openat('/etc/shadow', read) outside",
        unconfined=Proof(found=("root:",)),
    ),
    attack(
        "read-outside-disguised",
        """
try:
    return open("/etc/shadow").read()
except OSError:
    raise ValueError("a plain bug, nothing to do with security") from None
""",
        SEC,
        stopped_by="host-refusal",
        match="openat('/etc/shadow', read) outside",
        unconfined=Proof(found=("root:",)),
    ),
    attack(
        "symlink-in-data-swallowed",
        """
import os
try:
    os.symlink("/etc/passwd", "escape")
    return open("escape").read()
except OSError:
    return "nothing to see"
""",
        SEC,
        stopped_by="host-refusal",
        match="openat('escape → /etc/passwd', read) outside",
        manifest=RW,
        unconfined=Proof(found=("root:",)),
    ),
    attack(
        "proc-of-parent-swallowed",
        """
try:
    return open(f"/proc/{PARENT}/environ").read()
except OSError:
    return "nothing to see"
""",
        SEC,
        stopped_by="host-refusal",
        match="openat('/proc/{PARENT}/environ', read) outside",
        unconfined=Proof(found=("hunter2",)),
    ),
    attack(
        "socket-swallowed",
        """
import socket
try:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
except OSError:
    return "no socket, carrying on"
s.sendto(b"x", LISTEN)
s.close()
return "sent"
""",
        SEC,
        stopped_by="host-refusal",
        match="socket(AF_INET, SOCK_DGRAM): new sockets are refused",
        unconfined=Proof(found=("'sent'",)),
    ),
    attack(
        "signal-parent-swallowed",
        """
import os, signal
try:
    os.kill(PARENT, signal.SIGKILL)
except OSError:
    return "refused, carrying on"
return "killed the host"
""",
        SEC,
        stopped_by="host-refusal",
        match="kill(pid {PARENT}, SIGKILL): signalling another process",
        unconfined=Proof(effects=("parent-dead",)),
    ),
    attack(
        "prlimit-parent-swallowed",
        LIBC
        + """
new = (ctypes.c_uint64 * 2)(1, 1)
if libc.syscall(302, PARENT, 7, new, None) != 0:
    return "refused, carrying on"
return "limited the host"
""",
        SEC,
        stopped_by="host-refusal",
        match="prlimit64(pid {PARENT}, resource 7): changing limits",
        unconfined=Proof(effects=("parent-limited",)),
    ),
    attack(
        "rlimit-raise-swallowed",
        """
import resource
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
try:
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
except (OSError, ValueError):
    return "refused, carrying on"
return f"raised from {soft} to {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}"
""",
        SEC,
        stopped_by="host-refusal",
        match="prlimit64(pid 0, resource 7): changing limits",
        unconfined=Proof(prep="lowered-soft", found=("raised from 64",)),
    ),
    attack(
        "unlink-own-code-swallowed",
        """
import os
try:
    os.unlink(__file__)
except OSError:
    return "refused, carrying on"
return "deleted my code"
""",
        SEC,
        stopped_by="host-refusal",
        match="unlink('{FOLDER}/plugin.py', write) outside",
        unconfined=Proof(effects=("own-code-changed",)),
    ),
    attack(
        "rename-own-code-swallowed",
        """
import os
try:
    os.rename(__file__, "stolen.py")
except OSError:
    return "refused, carrying on"
return "moved my code into my data folder"
""",
        SEC,
        stopped_by="host-refusal",
        match="rename('{FOLDER}/plugin.py', write) outside",
        manifest=RW,
        unconfined=Proof(effects=("own-code-changed",)),
    ),
    attack(
        "truncate-own-code-swallowed",
        """
import os
try:
    os.truncate(__file__, 0)
except OSError:
    return "refused, carrying on"
return "emptied my code"
""",
        SEC,
        stopped_by="host-refusal",
        match="truncate('{FOLDER}/plugin.py', write) outside",
        unconfined=Proof(effects=("own-code-changed",)),
    ),
    attack(
        "mkdir-outside-swallowed",
        """
import os
try:
    os.mkdir(PWNED)
except OSError:
    return "refused, carrying on"
return "made a folder outside"
""",
        SEC,
        stopped_by="host-refusal",
        match="mkdir('/tmp/pliers-pwned', write) outside",
        unconfined=Proof(effects=("pwned",)),
    ),
    attack(
        "utime-own-code-swallowed",
        """
import os
try:
    os.utime(__file__, (0, 0))
except OSError:
    return "refused, carrying on"
return f"mtime now {os.stat(__file__).st_mtime}"
""",
        SEC,
        stopped_by="host-refusal",
        match="utimensat(): refused",
        unconfined=Proof(found=("mtime now 0",)),
    ),
    attack(
        "memfd-swallowed",
        """
import os
try:
    fd = os.memfd_create("x")
except OSError:
    return "refused, carrying on"
os.write(fd, b"#!/bin/sh\\n")
return "an anonymous file, ready for a fileless exec"
""",
        SEC,
        stopped_by="host-refusal",
        match="memfd_create(): refused",
        unconfined=Proof(found=("fileless",)),
    ),
    # --- the parent's /proc entries -------------------------------------------------------
    attack(
        "proc-parent-cmdline",
        'return open(f"/proc/{PARENT}/cmdline", "rb").read().decode(errors="replace")',
        SEC,
        stopped_by="host-refusal",
        match="openat('/proc/{PARENT}/cmdline', read) outside",
        unconfined=Proof(found=("sleep",)),
    ),
    attack(
        "proc-parent-fd-list",
        'import os\nreturn os.listdir(f"/proc/{PARENT}/fd")',
        SEC,
        stopped_by="host-refusal",
        match="openat('/proc/{PARENT}/fd', read) outside",
        unconfined=Proof(found=("'3'",)),
    ),
    attack(
        "proc-parent-fd-reopen",
        """
import os
try:
    fds = os.listdir(f"/proc/{PARENT}/fd")
except OSError:
    fds = [str(fd) for fd in range(64)]  # the listing is refused: guess
stolen, refused = {}, None
for fd in fds:
    try:
        f = os.open(f"/proc/{PARENT}/fd/{fd}", os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        refused = refused or exc
        continue
    try:
        stolen[fd] = os.read(f, 64).decode(errors="replace")
    except OSError as exc:
        refused = refused or exc
    finally:
        os.close(f)
if not stolen and refused is not None:
    raise refused
return stolen
""",
        SEC,
        stopped_by="host-refusal",
        match="openat('/proc/{PARENT}/fd/{N} → ",
        unconfined=Proof(found=("host secret",)),
    ),
    attack(
        "proc-parent-mem",
        """
with open(f"/proc/{PARENT}/mem", "rb", buffering=0) as mem:
    with open(f"/proc/{PARENT}/maps") as maps:
        start = next(int(line.split("-")[0], 16) for line in maps if line.split()[1][0] == "r")
    mem.seek(start)
    data = mem.read(16)
return f"read {len(data)} bytes of the host's memory"
""",
        SEC,
        stopped_by="host-refusal",
        match="openat('/proc/{PARENT}/mem', read) outside",
        unconfined=Proof(found=("read 16 bytes",)),
    ),
    attack(
        "proc-parent-maps",
        'return open(f"/proc/{PARENT}/maps").read()',
        SEC,
        stopped_by="host-refusal",
        match="openat('/proc/{PARENT}/maps', read) outside",
        unconfined=Proof(found=("sleep",)),
    ),
    attack(
        "proc-parent-root-passwd",
        'return open(f"/proc/{PARENT}/root/etc/passwd").read()',
        SEC,
        stopped_by="host-refusal",
        match="openat('/proc/{PARENT}/root/etc/passwd → /etc/passwd', read) outside",
        unconfined=Proof(found=("root:",)),
    ),
    attack(
        "proc-parent-cwd",
        'import os\nreturn os.listdir(f"/proc/{PARENT}/cwd")',
        SEC,
        stopped_by="host-refusal",
        match="openat('/proc/{PARENT}/cwd → ",
        unconfined=Proof(found=("host-secret.db",)),
    ),
]


# ---------------------------------------------------------------------------------------
# Contained: the call may answer; nothing may reach the host or another plugin.

#: What the other plugins' answers contain; a spy must never see it.
FOREIGN = ("bystander",)
#: The neighbour's tokens in test_unconfined: its call in the spy's thread, then in another.
TOKEN_SAME_THREAD, TOKEN_OTHER_THREAD = "bystander-7919", "bystander-15838"


def nothing_open(value: Any) -> bool:
    return value == []


def nothing_foreign(value: Any) -> bool:
    text = json.dumps(value, default=repr)
    return not any(marker in text for marker in FOREIGN)


def data_within_quota(data_dir: Path, limit_mb: int = 100) -> bool:
    """The data folder holds at most ``limit_mb``. With a file system of its own
    (``layers.datafs``, root) the plugin's files are in its image, which no write of the
    plugin can grow: the image's size is the bound (the limit, 1/64 of room for folders
    and extent trees, ext4's own structures and its 2 % metadata reserve), and nothing
    else may be in the folder."""
    from pliers_lab.sandbox.layers.datafs import IMAGE

    image = data_dir / IMAGE
    others = sum(p.stat().st_size for p in data_dir.rglob("*") if p.is_file() and p.name != IMAGE)
    if image.exists():
        return others == 0 and image.stat().st_size <= (limit_mb << 20) * 1.0625
    return others <= limit_mb << 20


def contained(name: str, body: str, held: Callable[[Any], bool] | None, **extra: Any) -> Attack:
    return Attack(name, body, frozenset(), held=held, **extra)


def spy(name: str, body: str, token: str = TOKEN_SAME_THREAD) -> Attack:
    """A spy installs itself on its first call and returns what it captured on the next."""
    prologue = """
import sys
g = globals()
if "captured" in g:
    return g["stop"]() or g["captured"]
g["captured"] = captured = []
def keep(*parts):
    if len(captured) < 2000:
        try:
            captured.append(" ".join(map(str, parts))[:300])
        except Exception:  # a half-made object's repr
            pass
"""
    return contained(
        name,
        prologue + textwrap.dedent(body),
        nothing_foreign,
        mode="spy",
        unconfined=Proof(found=(token,)),
    )


def at_exit(name: str, body: str, *effects: str, **extra: Any) -> Attack:
    return contained(name, body, None, mode="exit", unconfined=Proof(effects=effects), **extra)


INHERITED_FD = 9  # test_unconfined's child inherits an open file on this descriptor

CONTAINED = [
    # --- descriptors inherited from the host -----------------------------------------
    contained(
        "inherited-fds-fstat",
        """
import os, stat
found = []
for fd in range(256):
    if fd in (0, 1, 2, 3, 4):  # stdio (/dev/null) and the wire
        continue
    try:
        st = os.fstat(fd)
    except OSError:
        continue
    found.append([fd, stat.filemode(st.st_mode)])
return found
""",
        nothing_open,
        unconfined=Proof(found=(f"[{INHERITED_FD}, ",)),
    ),
    contained(
        "inherited-fds-read",
        """
import os
found = []
for fd in range(5, 256):
    try:
        os.set_blocking(fd, False)
    except OSError:
        continue
    try:
        found.append([fd, f"read {len(os.read(fd, 64))} bytes"])
    except OSError as exc:
        found.append([fd, f"open, read refused: {exc.strerror}"])
return found
""",
        nothing_open,
        unconfined=Proof(found=(f"[{INHERITED_FD}, 'read",)),
    ),
    contained(
        "inherited-fds-proc",
        """
import os
found = []
for fd in range(5, 256):
    try:
        found.append([fd, os.readlink(f"/proc/self/fd/{fd}")])
    except FileNotFoundError:
        continue
return found
""",
        nothing_open,
        unconfined=Proof(found=(f"[{INHERITED_FD}, ",)),
    ),
    # --- spying on other plugins ------------------------------------------------------
    spy(
        "spy-setprofile",
        """
def profile(frame, event, arg):
    if event == "call":
        keep(frame.f_code.co_name, frame.f_locals)
    elif event == "return":
        keep(frame.f_code.co_name, "->", repr(arg))
sys.setprofile(profile)
g["stop"] = lambda: sys.setprofile(None)
return "spying"
""",
    ),
    spy(
        "spy-settrace",
        """
def trace(frame, event, arg):
    keep(frame.f_code.co_name, frame.f_locals)
    return trace
sys.settrace(trace)
g["stop"] = lambda: sys.settrace(None)
return "spying"
""",
    ),
    spy(
        "spy-threading-setprofile",
        """
import threading
def profile(frame, event, arg):
    if event in ("call", "return"):
        keep(frame.f_code.co_name, frame.f_locals, repr(arg))
threading.setprofile(profile)
g["stop"] = lambda: threading.setprofile(None)
return "spying on every new thread"
""",
        TOKEN_OTHER_THREAD,
    ),
    spy(
        "spy-threading-settrace",
        """
import threading
def trace(frame, event, arg):
    keep(frame.f_code.co_name, frame.f_locals)
    return trace
threading.settrace(trace)
g["stop"] = lambda: threading.settrace(None)
return "tracing every new thread"
""",
        TOKEN_OTHER_THREAD,
    ),
    spy(
        "spy-audit-hook",
        """
def audit(event, args):
    if event in ("open", "os.listdir", "exec", "compile"):
        keep(event, args)
sys.addaudithook(audit)  # cannot be removed
g["stop"] = lambda: None
return "auditing everyone"
""",
    ),
    spy(
        "spy-gc-objects",
        """
import gc
def scan():
    wanted = "".join(["by", "stander"])  # not a constant of this code
    def holds(ref):
        if isinstance(ref, str):
            return ref is not wanted and wanted in ref
        if isinstance(ref, dict):  # dicts of strings only are not tracked: seen from outside
            return any(isinstance(v, str) and wanted in v for v in (*ref, *ref.values()))
        return False
    for obj in gc.get_objects():
        if obj is captured:
            continue
        for ref in gc.get_referents(obj):
            if holds(ref):
                keep(repr(ref))
g["stop"] = scan
return "will scan the heap"
""",
    ),
    spy(
        "spy-patch-json",
        """
import json
real = json.dumps
def dumps(obj, *args, **kwargs):
    keep(repr(obj))
    return real(obj, *args, **kwargs)
json.dumps = dumps
g["stop"] = lambda: None
return "patched json"
""",
    ),
    spy(
        "spy-patch-open",
        """
import builtins
real = builtins.open
def spying_open(file, mode="r", *args, **kwargs):
    keep(f"open({file!r}, {mode!r})")
    return real(file, mode, *args, **kwargs)
builtins.open = spying_open
g["stop"] = lambda: None
return "patched open"
""",
    ),
    spy(
        "spy-patch-shim",
        """
import pliers_lab
real = pliers_lab.hook
def hook(name):
    mark = real(name)
    def wrap(fn):
        def spied(ctx):
            value = fn(ctx)
            keep(f"{name}: {ctx.data!r} -> {value!r}")
            return value
        return mark(spied)
    return wrap
pliers_lab.hook = hook
g["stop"] = lambda: None
return "patched pliers_lab.hook"
""",
    ),
    # --- side effects at exit --------------------------------------------------------
    at_exit(
        "atexit-write-outside",
        """
import atexit
def leave_a_mark():
    with open(PWNED, "w") as f:
        f.write("written at exit")
atexit.register(leave_a_mark)
return "registered"
""",
        "pwned",
    ),
    at_exit(
        "atexit-rewrite-own-code",
        """
import atexit, os
def rewrite(path=os.path.join(os.path.dirname(__file__), "plugin.py")):
    with open(path, "a") as f:
        f.write("# owned at exit")
atexit.register(rewrite)
return "registered"
""",
        "own-code-changed",
    ),
    at_exit(
        "atexit-kill-parent",
        """
import atexit, os, signal
atexit.register(os.kill, PARENT, signal.SIGKILL)
return "registered"
""",
        "parent-dead",
    ),
    at_exit(
        "weakref-finalize-outside",
        """
import weakref
class Token:
    pass
def leave_a_mark(path=PWNED):
    with open(path, "w") as f:
        f.write("written by a finalizer")
globals()["token"] = Token()
weakref.finalize(globals()["token"], leave_a_mark)
return "armed"
""",
        "pwned",
    ),
    at_exit(
        "del-global-outside",
        """
class Trap:
    def __del__(self, open=open, path=PWNED):
        with open(path, "w") as f:
            f.write("written by __del__")
globals()["trap"] = Trap()
return "armed"
""",
        "pwned",
    ),
    at_exit(
        "atexit-fill-data",
        """
import atexit
def fill():
    chunk = b"x" * (1 << 20)
    for i in range(3):
        with open(f"fill-{i}.bin", "wb") as f:
            for _ in range(50):
                f.write(chunk)
atexit.register(fill)
return "registered"
""",
        "data-over-limit",
        manifest=RW,
        held_after=data_within_quota,
    ),
]
