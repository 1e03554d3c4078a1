"""The attack plugins: each a handler body for ``submission.afterSave`` and what it must yield.

Each attack is a tiny plugin (manifest + ``plugin.py``) written to a folder by the test.
``expect`` is the set of error types that count as "blocked and classified"; ``"contained"``
means the call may answer, and ``check`` then verifies that nothing escaped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SEC, RES, TMO, RUN = "security_error", "resource_error", "timeout_error", "runtime_error"


@dataclass(frozen=True)
class Attack:
    name: str
    body: str
    expect: frozenset[str]
    hook: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    check: Callable[..., None] | None = None
    match: str = ""


def attack(name: str, body: str, *expect: str, **extra: Any) -> Attack:
    return Attack(name, body, frozenset(expect), **extra)


LIBC = "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.syscall.restype = ctypes.c_long\n"  # noqa: E501 - plugin source

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
        match="seccomp",
    ),
    attack(
        "subprocess",
        'import subprocess\nreturn subprocess.run(["id"], capture_output=True).stdout.decode()',
        SEC,
        match="subprocess.Popen",
    ),
    attack("os-system", 'import os\nreturn os.system("id > /tmp/pliers-pwned")', SEC),
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
return "forked"
""",
        SEC,
        match="seccomp",
    ),
    attack("fork-bomb", "import os\nwhile True:\n    os.fork()", SEC),
    attack("posix-spawn", 'import os\nreturn os.posix_spawn("/bin/id", ["id"], {})', SEC),
    # --- helpers an audit hook relies on ----------------------------------------------
    attack(
        "rebound-helpers",
        """
import os.path, builtins
os.path.abspath = os.path.realpath = os.path.normpath = lambda p: "/harmless"
return open("/etc/passwd").read()
""",
        SEC,
        match="Permission denied",
    ),
    # --- raw syscalls through ctypes --------------------------------------------------
    attack(
        "ctypes-ptrace", LIBC + "import os\nreturn libc.syscall(101, 16, os.getppid(), 0, 0)", SEC
    ),
    attack(
        "ctypes-process-vm-readv",
        LIBC
        + """
import os
buf = ctypes.create_string_buffer(64)
class IOV(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
local = IOV(ctypes.cast(buf, ctypes.c_void_p), 64)
remote = IOV(0x400000, 64)
return libc.syscall(310, os.getppid(), ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
""",
        SEC,
    ),
    attack("ctypes-unshare-user", LIBC + "return libc.syscall(272, 0x10000000)", SEC),
    attack(
        "ctypes-io-uring",
        LIBC
        + """
params = ctypes.create_string_buffer(120)
return libc.syscall(425, 4, params)
""",
        SEC,
    ),
    attack(
        "ctypes-prlimit-parent",
        LIBC
        + """
import os
new = (ctypes.c_uint64 * 2)(1, 1)
if libc.syscall(302, os.getppid(), 7, new, None) != 0:
    raise OSError(ctypes.get_errno(), "prlimit64 on the parent")
return "limited the host"
""",
        SEC,
    ),
    attack(
        "ctypes-pidfd-getfd",
        LIBC
        + """
import os
pidfd = libc.syscall(434, os.getppid(), 0)
return libc.syscall(438, pidfd, 3, 0)
""",
        SEC,
    ),
    attack(
        "ctypes-memfd-exec",
        LIBC
        + """
fd = libc.syscall(319, b"x", 0)
if fd < 0:
    raise OSError(ctypes.get_errno(), "memfd_create")
return libc.syscall(322, fd, b"", None, None, 0x1000)
""",
        SEC,
    ),
    attack(
        "ctypes-kill-parent",
        LIBC
        + """
import os, signal
if libc.syscall(62, os.getppid(), signal.SIGKILL) != 0:
    raise OSError(ctypes.get_errno(), "kill")
return "killed the host"
""",
        SEC,
    ),
    # --- files -----------------------------------------------------------------------
    attack("read-outside", 'return open("/etc/shadow").read()', SEC),
    attack("write-outside", 'open("/tmp/pliers-pwned", "w").write("x")\nreturn "wrote"', SEC),
    attack(
        "write-own-folder",
        """
import os
open(os.path.join(os.path.dirname(__file__), "plugin.py"), "a").write("# owned")
return "rewrote itself"
""",
        SEC,
    ),
    attack(
        "chmod-own-folder",
        """
import os
os.chmod(os.path.dirname(__file__), 0o777)
return "chmod"
""",
        SEC,
    ),
    attack(
        "symlink-in-data",
        """
import os
os.symlink("/etc/passwd", "escape")
return open("escape").read()
""",
        SEC,
        manifest={"permissions": {"filesystem": ["read", "write"]}},
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
        manifest={"permissions": {"filesystem": ["read", "write"]}},
        match="symlink",
    ),
    attack("proc-of-parent", 'import os\nreturn open(f"/proc/{os.getppid()}/environ").read()', SEC),
    # --- network ---------------------------------------------------------------------
    attack(
        "tcp",
        'import socket\ns = socket.create_connection(("127.0.0.1", 22), timeout=1)\nreturn "connected"',  # noqa: E501 - plugin source
        SEC,
    ),
    attack(
        "udp",
        'import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.sendto(b"x", ("127.0.0.1", 53))\nreturn "sent"',  # noqa: E501 - plugin source
        SEC,
    ),
    attack(
        "unix-abstract",
        'import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect("\\0pliers")\nreturn "connected"',  # noqa: E501 - plugin source
        SEC,
    ),
    # --- resources -------------------------------------------------------------------
    attack("cpu-loop", "while True:\n    pass", RES, match="CPU"),
    attack(
        "memory-bomb",
        "hog = []\nwhile True:\n    hog.append(b'x' * (8 << 20))",
        RES,
        match="memory",
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
        match="thread",
    ),
    attack(
        "disk-fill",
        "chunk = b'x' * (1 << 20)\nwith open('fill.bin', 'wb') as f:\n    while True:\n        f.write(chunk)",  # noqa: E501 - plugin source
        RES,
        manifest={"permissions": {"filesystem": ["read", "write"]}},
        match="disk",
    ),
    attack("never-answers", "import time\ntime.sleep(60)", TMO, hook={"timeout": 300}),
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
        hook={"timeout": 300},
    ),
    attack(
        "signal-parent",
        "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nreturn 'killed'",
        SEC,
    ),
    attack("dies-mid-call", "import os\nos._exit(7)", RUN, match="status 7"),
    # --- the wire --------------------------------------------------------------------
    attack(
        "wire-garbage",
        'import os\nos.write(4, b"\\x00\\x00\\x00\\x05hello")\nimport time\ntime.sleep(1)',
        SEC,
        match="protocol",
    ),
    attack(
        "wire-oversized",
        'import os\nos.write(4, (1 << 31).to_bytes(4, "big"))\nimport time\ntime.sleep(1)',
        SEC,
        match="protocol",
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
        match="protocol",
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
        match="protocol",
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
        match="flood",
    ),
]
