"""The host's side of the warm template (``_template``): start it, take children from
it to become workers, hear how they ended, close it.

One per ``ProcessRuntime``, started once its first worker is ready, never shared with
another runtime (or another engine on the machine). A thread of its own starts the
template process and then reads its control socket for as long as it lives: answers to
``fork`` requests (the child's pid, a pidfd for it and a socket to it) and each child's
end (its wait status, CPU time and I/O counters, which only the template, its parent,
can read at its end).
Starting it from that thread matters: ``PR_SET_PDEATHSIG`` fires when the *thread* that
forked a process ends, so a template started from a short-lived caller thread would die
with it.

**Spares.** Moving a process into a cgroup can wait for an RCU grace period in the
kernel: anywhere from 0.1 to 16 ms on this kind of VM, whichever process does it, and
more than the rest of a forked worker's start. So the template keeps one child forked
ahead, and ``place`` (the runtime's) puts it in its cgroups while nobody waits; the next
worker takes it and the next spare is forked and placed behind it. A spare has run
nothing but the template's own code: it waits for its worker's wire and then locks down
as any worker does.

Bound to the engine three ways: ``close`` (the template sees end-of-file, kills its
children and exits), the host's death (PDEATHSIG, and end-of-file when the kernel
closes the socket), and a process forked from the host without exec (the child closes
its copy of the socket at once, so it cannot keep the template alive or talk to it).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from .wire import WireError, decode, encode

__all__ = ["BOOT", "Child", "Exit", "Template", "TemplateError"]

BOOT = str(Path(__file__).with_name("_boot.py"))
#: The interpreter flags of every worker, template or not.
FLAGS = ("-I", "-S", "-B", "-X", "utf8")
_START_TIMEOUT_S = 20.0
_GONE_TIMEOUT_S = 2.0


class TemplateError(Exception):
    """The template cannot start or cannot serve a request (the caller spawns instead)."""


class Exit(NamedTuple):
    """How a child of the template ended: its wait status, ``wait4``'s usage and its I/O
    counters (rchar, wchar, read_bytes, write_bytes) read just before it was reaped."""

    status: int
    ru_utime: float
    ru_stime: float
    ru_maxrss: int
    io: tuple[int, int, int, int] | None = None
    """None where the template could not read them (an ordinary user's worker)."""


class Child:
    """A child of the template waiting for the wire of the worker it will become."""

    def __init__(self, template: Template, pid: int, pidfd: int, sock: socket.socket) -> None:
        self.template = template
        self.pid = pid
        self.pidfd = pidfd
        self._sock = sock
        self.group: Any = None
        """Its cgroups (a ``WorkerGroup``), when it was placed ahead as a spare."""

    def become(self, fds: list[int], env: dict[str, str], *, handoff: bool, stderr: bool) -> None:
        """Send it the worker's wire ``fds`` (in, out[, hand-off]) and environment; it
        then runs ``worker.main``. Raises ``TemplateError`` if it is gone."""
        passed = [*fds, *((2,) if stderr else ())]
        request = {"t": "become", "env": env, "handoff": handoff, "stderr": stderr}
        try:
            socket.send_fds(self._sock, [encode(request)], passed)
        except OSError as exc:
            raise TemplateError(f"the template's child is gone: {exc}") from None
        finally:
            self._sock.close()

    def discard(self) -> None:
        """End a child that will not be a worker, and remove its cgroups."""
        self._sock.close()  # it exits at end of file; killed to be sure
        self.template._ignore(self.pid)
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        gone = select.poll()
        gone.register(self.pidfd, select.POLLIN)
        gone.poll(_GONE_TIMEOUT_S * 1000)
        os.close(self.pidfd)
        if self.group is not None:
            self.group.remove()
            self.group = None


_live: weakref.WeakSet[Template] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for template in list(_live):
        template._forget()


os.register_at_fork(after_in_child=_after_fork_in_child)


class Template:
    """A warm template process and what it told us.

    Args:
        env: the environment it starts with (its children get their own per request).
        inherit_stderr: let the template's own fd 2 reach the host's stderr.
        place: puts a spare (its pid) in its cgroups, returning them (None: no cgroups);
            without it no spare is kept.
    """

    def __init__(
        self,
        env: dict[str, str],
        inherit_stderr: bool = False,
        place: Callable[[int], Any] | None = None,
    ) -> None:
        self._cond = threading.Condition()
        self._sending = threading.Lock()
        """Held while a request is written: never with ``_cond``, which the reader takes
        for each message (a template blocked writing to us must never wait on a sender
        that waits on it)."""
        self._replies: dict[int, tuple[dict[str, Any], list[int]]] = {}
        self._exits: dict[int, Exit] = {}
        self._ignored: set[int] = set()
        self._place = place
        self._spare: Child | None = None
        self._refilling: threading.Thread | None = None
        self._ids = itertools.count(1)
        self._owner = os.getpid()
        self.state = "starting"
        """``starting``, ``up``, ``closed`` or ``dead``."""
        self.reason = ""
        """Why it is not up (set when ``state`` is ``dead``)."""
        self.pid = 0
        self.started_s = 0.0
        """Seconds from the start to the template's ``up`` (its interpreter and imports)."""
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._thread = threading.Thread(
            target=self._run,
            args=(theirs, env, inherit_stderr),
            name="pliers-worker-template",
            daemon=True,
        )
        _live.add(self)
        self._thread.start()

    # ------------------------------------------------------------------ the reader
    def _run(self, theirs: socket.socket, env: dict[str, str], inherit_stderr: bool) -> None:
        t0 = time.monotonic()
        try:
            fd = theirs.fileno()
            self._proc = subprocess.Popen(
                [sys.executable, *FLAGS, BOOT, "template", str(fd), str(os.getpid())],
                pass_fds=(fd,),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=None if inherit_stderr else subprocess.DEVNULL,
                env=env,
                cwd="/",
                start_new_session=True,
            )
        except OSError as exc:
            self._end(f"cannot start the template: {exc}")
            return
        finally:
            theirs.close()
        reason = "the template exited"
        try:
            while True:
                data, fds, _flags, _addr = socket.recv_fds(self._sock, 1 << 16, 4)
                if not data:
                    break
                message = decode(data[4:])
                with self._cond:
                    self._take(message, fds, t0)
                    self._cond.notify_all()
        except (OSError, WireError, KeyError, TypeError, ValueError) as exc:
            reason = f"the template's control socket failed: {exc}"
        self._end(reason)

    def _take(self, message: dict[str, Any], fds: list[int], t0: float) -> None:
        kind = message["t"]
        if kind == "exit":
            pid = int(message["pid"])
            if pid in self._ignored:
                self._ignored.discard(pid)
            else:
                io = message.get("io")
                self._exits[pid] = Exit(
                    int(message["status"]),
                    float(message["utime"]),
                    float(message["stime"]),
                    int(message["maxrss"]),
                    (int(io[0]), int(io[1]), int(io[2]), int(io[3]))
                    if isinstance(io, list) and len(io) == 4
                    else None,
                )
        elif kind in ("forked", "failed"):
            self._replies[int(message["id"])] = (message, fds)
            return
        elif kind == "up":
            self.pid = int(message["pid"])
            self.started_s = time.monotonic() - t0
            self.state = "up"
            self._refill_locked()
        for fd in fds:
            os.close(fd)

    def _end(self, reason: str) -> None:
        with self._cond:
            if self.state != "closed":
                self.state, self.reason = "dead", reason
            self._cond.notify_all()
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if self.state == "dead" and proc.returncode:
                self.reason += f" (status {proc.returncode})"

    # ------------------------------------------------------------------ requests
    def wait_up(self, timeout: float = _START_TIMEOUT_S) -> bool:
        """Wait for the template to come up; whether it did (``reason`` says why not)."""
        with self._cond:
            self._cond.wait_for(lambda: self.state != "starting", timeout)
            if self.state == "starting":
                self.reason = f"the template did not come up within {timeout:.0f} s"
                self._kill_locked()
            return self.state == "up"

    @property
    def usable(self) -> bool:
        """Up, and ours (a process forked from the host has no template of its own)."""
        return self.state in ("starting", "up") and self._owner == os.getpid()

    def fork(self, timeout: float) -> Child:
        """A new child, waiting for its worker's wire. Raises ``TemplateError``."""
        if not self.usable or not self.wait_up(timeout):
            raise TemplateError(self.reason or "the template belongs to another process")
        with self._sending:
            rid = next(self._ids)
            try:
                self._sock.send(encode({"t": "fork", "id": rid}))
            except OSError as exc:
                raise TemplateError(f"cannot reach the template: {exc}") from None
        with self._cond:
            done = self._cond.wait_for(lambda: rid in self._replies or self.state != "up", timeout)
            if not done:
                self._kill_locked()
                raise TemplateError(f"the template did not answer within {timeout:.0f} s")
            if rid not in self._replies:
                raise TemplateError(self.reason or "the template is gone")
            reply, got = self._replies.pop(rid)
        if reply["t"] != "forked" or len(got) != 2:
            for fd in got:
                os.close(fd)
            raise TemplateError(f"the template could not fork: {reply.get('error')}")
        return Child(self, int(reply["pid"]), got[0], socket.socket(fileno=got[1]))

    def take(self, timeout: float) -> Child:
        """A child to become the next worker: the spare, placed in its cgroups, when one
        is ready, else a fresh one; a new spare is prepared behind it."""
        with self._cond:
            spare, self._spare = self._spare, None
            self._refill_locked()
        return spare if spare is not None else self.fork(timeout)

    def _refill_locked(self) -> None:
        if self._place is None or self._spare is not None or self.state != "up":
            return
        if self._refilling is not None and self._refilling.is_alive():
            return
        self._refilling = threading.Thread(
            target=self._make_spare, name="pliers-worker-template-spare", daemon=True
        )
        self._refilling.start()

    def _make_spare(self) -> None:
        assert self._place is not None
        child: Child | None = None
        try:
            child = self.fork(_START_TIMEOUT_S)
            child.group = self._place(child.pid)
        except Exception:  # no spare this time: the next worker is forked fresh
            pass
        with self._cond:
            if child is not None and self.state == "up" and self._spare is None:
                self._spare, child = child, None
        if child is not None:
            child.discard()

    def _ignore(self, pid: int) -> None:
        """Drop the exit report of a child nobody will reap (a discarded spare)."""
        with self._cond:
            if self._exits.pop(pid, None) is None:
                self._ignored.add(pid)

    def wait_exit(self, pid: int, pidfd: int, timeout: float) -> Exit | None:
        """How child ``pid`` ended, waiting up to ``timeout``; None if it runs on.

        If the template died first, its children were killed with it (PDEATHSIG): once
        ``pidfd`` says the child is gone, it is reported as killed by SIGKILL.
        """
        end = time.monotonic() + timeout
        with self._cond:
            while pid not in self._exits:
                left = end - time.monotonic()
                if self.state in ("dead", "closed"):
                    break
                if left <= 0:
                    return None
                self._cond.wait(left)
            else:
                return self._exits.pop(pid)
        gone = select.poll()
        gone.register(pidfd, select.POLLIN)
        if gone.poll(max(0.0, end - time.monotonic()) * 1000):
            return Exit(signal.SIGKILL, 0.0, 0.0, 0)
        return None

    # ------------------------------------------------------------------ ending
    def _kill_locked(self) -> None:
        if self.state in ("starting", "up"):
            self.state = "dead"
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()

    def close(self) -> None:
        """End the template (it kills any child left first), its spare (whose cgroups
        go with it) and its reader thread."""
        if self._owner != os.getpid():
            return  # a forked copy: its lock may have been held by a thread at the fork
        with self._cond:
            if self.state in ("starting", "up"):
                self.state = "closed"
            self._cond.notify_all()
            spare, self._spare = self._spare, None
            refilling = self._refilling
        if refilling is not None and refilling is not threading.current_thread():
            refilling.join(_START_TIMEOUT_S)  # it discards what it made: not "up" any more
        if spare is not None:
            spare.discard()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        if self._thread.ident != threading.get_ident():
            self._thread.join(5.0)
        self._sock.close()
        with self._cond:  # answers nobody took (a request cut short by the close)
            left = [fd for _reply, fds in self._replies.values() for fd in fds]
            self._replies.clear()
        for fd in left:
            os.close(fd)
        _live.discard(self)

    def _forget(self) -> None:
        """In a child forked from the host: drop our copy of the socket, touch nothing."""
        self.state, self.reason = "dead", "the template belongs to the process that forked"
        with contextlib.suppress(OSError):
            os.close(self._sock.detach())
