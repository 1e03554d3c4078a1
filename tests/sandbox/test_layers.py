"""Each kernel layer on its own, in a throwaway child process: what it stops."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from sandbox.helpers import requires

from pliers_lab.sandbox import detect_layers
from pliers_lab.sandbox.layers import LAYERS
from pliers_lab.sandbox.layers._sysnr import X86_64
from pliers_lab.sandbox.layers.seccomp import ALLOWED, KILLED, REFUSED, build

PACKAGE = Path(__file__).resolve().parents[2] / "pliers_lab"
PRELUDE = f"""
import os, sys, types
pkg = types.ModuleType("pliers_lab")
pkg.__path__ = [{str(PACKAGE)!r}]
sys.modules["pliers_lab"] = pkg
from pliers_lab.sandbox.layers import caps, landlock, netns, rlimits, seccomp
"""


def child(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", PRELUDE + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_detection_names_every_layer() -> None:
    status = detect_layers()
    assert list(status) == list(LAYERS)
    assert all(isinstance(ok, bool) and detail for ok, detail in status.values())


def test_seccomp_program_is_well_formed() -> None:
    program = build(12345, X86_64)
    assert len(program) < 4096
    for i, (code, jt, jf, _k) in enumerate(program):
        if code & 0x07 == 0x05:  # conditional jumps land inside the program
            assert i + 1 + max(jt, jf) < len(program)
    assert not set(ALLOWED) & set(KILLED) and not set(ALLOWED) & set(REFUSED)
    assert {"execve", "fork", "ptrace", "io_uring_setup", "bpf", "pidfd_getfd"} <= set(KILLED)


@requires("rlimits")
def test_rlimits_turn_a_huge_allocation_into_memory_error() -> None:
    out = child("""
    rlimits.apply({"as": 256 << 20, "core": 0})
    try:
        bytearray(512 << 20)
    except MemoryError:
        print("MemoryError")
    """)
    assert out.stdout.strip() == "MemoryError", out.stderr


@requires("netns")
def test_network_namespace_has_no_network() -> None:
    out = child("""
    import socket
    netns.apply()
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", 9))
    except OSError as exc:
        print(exc.errno)
    """)
    assert out.stdout.strip() == "101", out.stderr  # ENETUNREACH: even loopback is down


@requires("landlock")
def test_landlock_limits_files_and_tcp(tmp_path: Path) -> None:
    from pliers_lab.sandbox.policy import interpreter_paths

    out = child(f"""
    import socket
    caps.no_new_privs()
    landlock.apply({interpreter_paths()!r}, [{str(tmp_path)!r}])
    paths = (("/etc/passwd", "r"), ({str(tmp_path / "ok")!r}, "w"), ("/tmp/x-pliers", "w"))
    for path, mode in paths:
        try:
            open(path, mode).close()
            print("ok")
        except OSError as exc:
            print(exc.errno)
    try:
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    except OSError as exc:
        print(exc.errno)
    """)
    assert out.stdout.split() == ["13", "ok", "13", "13"], out.stderr


@requires("seccomp")
def test_seccomp_refuses_sockets_and_kills_on_fork() -> None:
    refused = child("""
    import socket, threading
    caps.no_new_privs()
    seccomp.apply()
    t = threading.Thread(target=print, args=("thread ok",)); t.start(); t.join()
    attempts = (lambda: socket.socket(), lambda: os.kill(1, 0), lambda: os.chmod("/tmp", 0o777))
    for attempt in attempts:
        try:
            attempt()
        except PermissionError:
            print("EPERM")
    """)
    assert refused.stdout.split() == ["thread", "ok", "EPERM", "EPERM", "EPERM"], refused.stderr
    killed = child("""
    caps.no_new_privs()
    seccomp.apply()
    os.fork()
    print("survived")
    """)
    assert killed.returncode == -signal.SIGSYS and "survived" not in killed.stdout


@requires("capabilities")
def test_capabilities_are_dropped() -> None:
    out = child("""
    caps.no_new_privs()
    caps.apply()
    print([l.split()[1] for l in open("/proc/self/status") if l.startswith(("CapEff", "CapBnd"))])
    """)
    assert out.stdout.strip() == "['0000000000000000', '0000000000000000']", out.stderr


@requires("cgroup")
def test_cgroup_group_lifecycle() -> None:
    from pliers_lab.sandbox.layers.cgroup import GroupOwner, WorkerGroup

    owner = GroupOwner()
    group = WorkerGroup("test", 64 << 20, 8, owner)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        group.add(proc.pid)
        assert proc.pid in group.pids()
        if group.kind == "v1" and "cpu" not in group.dirs:
            assert group.throttle(0.5) is False  # no cpu controller here to write a quota to
        else:
            cpu = group.dirs["cpu"] if group.kind == "v1" else group.dirs["memory"]
            quota_file = cpu / ("cpu.cfs_quota_us" if group.kind == "v1" else "cpu.max")
            assert group.throttle(0.5) is True
            assert quota_file.read_text().split()[0] == "50000"  # half of a 100 ms period
            assert group.throttle(None) is True
            assert quota_file.read_text().split()[0] in ("-1", "max")
    finally:
        proc.kill()
        proc.wait()
        group.remove()
        owner.release()
    assert not any(path.exists() for path in group.dirs.values())
    assert not any(folder.exists() for folder in owner.folders())


def test_layers_can_be_missing_elsewhere() -> None:
    # The refusal itself is tested in test_runtime; here only that the probes never raise.
    from pliers_lab.sandbox.layers import detect

    for name in LAYERS:
        _ok, detail = detect(name)
        assert isinstance(detail, str)
