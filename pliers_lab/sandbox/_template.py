"""The warm template: a process that has imported the worker and forks one per plugin.

Started by the host (``_template_host.Template``) as ``<venv python> -I -S -B _boot.py
template <control fd> <host pid>``, with the workers' clean environment and ``/dev/null``
on fds 0-2. It imports everything a worker imports before its lockdown, then serves its
control socket (a ``SOCK_SEQPACKET`` pair: one datagram per message, descriptors riding
along as SCM_RIGHTS):

- host → template ``fork`` (id): the template forks a child and answers ``forked`` (id,
  pid) with a pidfd for the child (so the host can signal it without racing a reused
  pid) and the host's end of a socket pair private to that child;
- host → child, over that pair, once: the worker's environment and its wire ends (and
  its seccomp hand-off socket, and the host's fd 2 when stderr is wanted). The child
  then returns from ``serve`` with the worker's argv and runs ``worker.main`` exactly as
  a spawned worker does: the same lockdown, in the same order, before any plugin code.
  Until then it has run nothing but this module, so the host may fork one ahead (a
  *spare*) and place it in its cgroups while no one waits for it;
- template → host ``exit`` (pid, wait status, CPU and peak RSS from ``wait4``, and the
  I/O counters read from the zombie just before) when a child ends: the template is the
  parent that reaps it, so it reports what the host's death classification and the
  plugin's resource totals read.

Its lifetime is the engine's: ``PR_SET_PDEATHSIG`` (the host thread that started it
lives as long as the template is in use) and end-of-file on the control socket each
end it, and it kills its children first; every child has ``PR_SET_PDEATHSIG`` too, so a
template that dies any other way takes its children with it. No plugin code ever runs
here: each child is a fresh copy of a process that has only imported the sandbox.
"""

from __future__ import annotations

import _socket
import gc
import os
import select
import struct
import sys

from . import wire
from .layers import _sys

TYPE_CHECKING = False  # the template imports this module: no typing at run time
if TYPE_CHECKING:
    import signal as _signal
    from typing import Any
else:  # not ``signal``: it imports enum, functools and collections (~3 ms)
    import _signal

__all__ = ["serve"]

PR_SET_PDEATHSIG = 1
_MAX_FDS = 4
_SCM_RIGHTS = 1
_SOL_SOCKET = 1


def _preload() -> None:
    """Everything a worker imports before its lockdown (``worker.main``), and no more."""
    from . import guest_debug, selfpipe, worker  # noqa: F401
    from .layers import caps, datafs, landlock, netns, rlimits, seccomp  # noqa: F401

    wire.load_fast_codec()

    # The first ``compile()`` of a process makes the ``ast`` node classes (~1.5 ms): done
    # here once, not in each worker as it compiles its plugin.
    compile("", "<template>", "exec", dont_inherit=True)


def _die_with_parent(parent: int) -> None:
    """SIGKILL when ``parent`` (its thread that forked us) ends; exit if it already has."""
    _sys.prctl(PR_SET_PDEATHSIG, _signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(0)


def _send(sock: Any, message: dict[str, Any], fds: list[int] | None = None) -> None:
    frame = wire.encode(message)
    if fds:
        sock.sendmsg([frame], [(_SOL_SOCKET, _SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))])
    else:
        sock.sendmsg([frame])


def _receive(sock: Any) -> tuple[dict[str, Any] | None, list[int]]:
    """One message and the descriptors it carried; ``(None, [])`` at end of file."""
    data, ancillary, _flags, _addr = sock.recvmsg(1 << 16, _socket.CMSG_SPACE(_MAX_FDS * 4))
    fds: list[int] = []
    for level, kind, payload in ancillary:
        if level == _SOL_SOCKET and kind == _SCM_RIGHTS:
            fds += struct.unpack(f"{len(payload) // 4}i", payload[: len(payload) // 4 * 4])
    if not data:
        for fd in fds:
            os.close(fd)
        return None, []
    return wire.decode(data[4:]), fds


def _kill_all(children: dict[int, int]) -> None:
    for pidfd in children:
        try:  # noqa: SIM105 - contextlib would cost every worker ~3 ms (functools, collections)
            _signal.pidfd_send_signal(pidfd, _signal.SIGKILL)
        except OSError:
            pass


def _become(me: int, own: Any) -> list[str]:
    """In a forked child: wait for the worker's wire from the host; the worker's argv."""
    _die_with_parent(me)
    os.setsid()
    try:
        request, fds = _receive(own)
    except (OSError, ValueError, wire.WireError):
        request, fds = None, []
    own.close()
    if request is None or len(fds) < 2:
        os._exit(0)  # a spare the host no longer needs
    os.environ.clear()
    os.environ.update(request["env"])
    wire_in, wire_out = fds[0], fds[1]
    rest = fds[2:]
    if request.get("stderr") and rest:
        os.dup2(rest.pop(), 2)  # the host's stderr, wanted for debugging
    argv = [sys.argv[0], str(wire_in), str(wire_out)]
    if request.get("handoff") and rest:
        argv.append(str(rest[0]))
    return argv


def _io_counters(pid: int) -> list[int] | None:
    """rchar, wchar, read_bytes, write_bytes of the exited child ``pid`` (a zombie until
    we reap it: its counters are final, and it is ours alone); None where unreadable (an
    ordinary user may not read a non-dumpable process's, zombie or not)."""
    try:
        fd = os.open(f"/proc/{pid}/io", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        text = os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)
    found = {}
    for line in text.splitlines():
        key, _, value = line.partition(b":")
        found[key] = value.strip()
    try:
        return [int(found[k]) for k in (b"rchar", b"wchar", b"read_bytes", b"write_bytes")]
    except (KeyError, ValueError):
        return None


def _reaped(ctl: Any, pid: int) -> None:
    io = _io_counters(pid)  # before wait4: the reaped child's /proc entry is gone
    _pid, status, usage = os.wait4(pid, 0)
    _send(
        ctl,
        {
            "t": "exit",
            "pid": pid,
            "status": status,
            "utime": usage.ru_utime,
            "stime": usage.ru_stime,
            "maxrss": usage.ru_maxrss,
            "io": io,
        },
    )


def serve(ctl_fd: int, host: int) -> list[str]:
    """Run the template until the host goes; in a forked child, return the worker's argv.

    The template itself never returns: it exits when its control socket closes.
    """
    _die_with_parent(host)
    _preload()
    me = os.getpid()
    ctl = _socket.socket(fileno=ctl_fd)
    children: dict[int, int] = {}  # pidfd → pid
    ready = select.poll()
    ready.register(ctl_fd, select.POLLIN)
    _send(ctl, {"t": "up", "pid": me})
    while True:
        for fd, _events in ready.poll():
            if fd != ctl_fd:  # a child ended
                ready.unregister(fd)
                os.close(fd)
                _reaped(ctl, children.pop(fd))
                continue
            try:
                request, fds = _receive(ctl)
            except (OSError, ValueError, wire.WireError):
                request, fds = None, []
            for passed in fds:
                os.close(passed)  # nothing the host sends here carries descriptors
            if request is None:  # the host closed the engine, or is gone
                _kill_all(children)
                os._exit(0)
            rid = request.get("id")
            own, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
            # Objects made so far live as long as the template: no collection in a child
            # walks them (a walk writes to every page, copying it: ~2 ms of its start).
            gc.freeze()
            try:
                pid = os.fork()
            except OSError as exc:
                own.close()
                theirs.close()
                _send(ctl, {"t": "failed", "id": rid, "error": str(exc)})
                continue
            if pid == 0:
                theirs.close()
                ctl.close()
                return _become(me, own)
            own.close()
            pidfd = os.pidfd_open(pid)
            children[pidfd] = pid
            ready.register(pidfd, select.POLLIN)
            _send(ctl, {"t": "forked", "id": rid, "pid": pid}, [pidfd, theirs.fileno()])
            theirs.close()
