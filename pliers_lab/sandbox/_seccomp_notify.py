"""What the kernel refused a worker, as the host sees it: seccomp user notifications.

The worker's filter (``layers.seccomp``) hands its listener descriptor to the host over a
socket before plugin code runs. From then on every refused call — a socket, a signal to
another process, a chmod, a clone3 that would start a process — and every file call
Landlock judges waits in the kernel until this module's thread has looked at it and
answered. The host reads the call's arguments (paths from the worker's memory), decides,
records a refusal in the worker's ``denials`` and answers with the errno; an allowed file
call continues in the kernel, where Landlock still enforces (a path the plugin swaps
after the host read it is still refused, only not recorded).

So the verdict "this plugin tried something forbidden" comes from the host, whatever the
plugin later raises, catches or returns. One daemon thread per host process serves every
worker over ``epoll``; a denied call costs one round trip to it, an allowed call none
(only refusals and file calls are notified).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import os
import select
import signal
import socket
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from .layers._sysnr import X86_64
from .layers.seccomp import KILLED

__all__ = ["Watch", "listener_service"]

_RECV, _SEND, _ID_VALID = 0xC0502100, 0xC0182101, 0x40082102
_CONTINUE = 1  # SECCOMP_USER_NOTIF_FLAG_CONTINUE
_NOTIF = struct.Struct("=QIIiIQ6Q")  # id, pid, flags, nr, arch, ip, args[6]
_RESP = struct.Struct("=QqiI")  # id, val, error, flags
_NAMES = {nr: name for name, nr in X86_64.items()}
_FATAL = frozenset(KILLED)
#: Escape-class calls whose path or name arguments the host reads to say what was tried.
_FATAL_STRINGS = {"execve": (0,), "execveat": (1,), "mount": (0, 1, 2), "umount2": (0,),
                  "chroot": (0,), "pivot_root": (0, 1), "fsopen": (0,), "open_tree": (1,),
                  "add_key": (0, 1), "request_key": (0, 1), "swapon": (0,),
                  "acct": (0,)}  # fmt: skip
_AT_FDCWD = 0xFFFFFF9C
_O_WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_O_PATH = 0o10000000
_CLONE_THREAD, _CLONE_NS = 0x00010000, 0x7E020000
_PRCTL = {1: "PR_SET_PDEATHSIG", 4: "PR_SET_DUMPABLE", 8: "PR_SET_KEEPCAPS",
          22: "PR_SET_SECCOMP", 24: "PR_CAPBSET_DROP", 36: "PR_SET_CHILD_SUBREAPER",
          38: "PR_SET_NO_NEW_PRIVS", 0x59616D61: "PR_SET_PTRACER"}  # fmt: skip

#: (path argument indexes, dirfd argument index per path or None, how the last component
#: is resolved: "follow" like open, "parent" like unlink) for the file calls watched.
_FILE_CALLS: dict[str, tuple[tuple[int, ...], tuple[int | None, ...], str]] = {
    "open": ((0,), (None,), "follow"),
    "openat": ((1,), (0,), "follow"),
    "creat": ((0,), (None,), "follow"),
    "truncate": ((0,), (None,), "follow"),
    "link": ((0, 1), (None, None), "parent"),
    "linkat": ((1, 3), (0, 2), "parent"),
    "symlink": ((1,), (None,), "parent"),
    "symlinkat": ((2,), (1,), "parent"),
    "rename": ((0, 1), (None, None), "parent"),
    "renameat": ((1, 3), (0, 2), "parent"),
    "renameat2": ((1, 3), (0, 2), "parent"),
    "mkdir": ((0,), (None,), "parent"),
    "mkdirat": ((1,), (0,), "parent"),
    "rmdir": ((0,), (None,), "parent"),
    "unlink": ((0,), (None,), "parent"),
    "unlinkat": ((1,), (0,), "parent"),
}


@dataclass(eq=False)
class Watch:
    """One worker as the listener thread knows it: where it may read and write (the
    Landlock rules, mirrored), and the refusals seen so far (``denials``, appended by the
    thread, read by the supervisor)."""

    pid: int
    read_roots: tuple[str, ...]
    write_roots: tuple[str, ...]
    denials: list[str] = field(default_factory=list)
    blocked: tuple[str, ...] = ()
    """Files of modules the plugin may not import (``limits.blockedModules``): refused and
    recorded, though a read rule of a folder above them is mirrored here."""
    listening: bool = False
    """True once the worker's listener arrived: refusals are then the host's to see."""
    arrived: threading.Event = field(default_factory=threading.Event)
    _mem: int | None = None
    _listener: int | None = None
    _handoff: socket.socket | None = None

    @classmethod
    def for_worker(cls, pid: int, read: Iterable[str], write: Iterable[str]) -> Watch:
        read, write = tuple(read), tuple(write)
        return cls(pid, _roots((*read, *write, "/dev/null")), _roots((*write, "/dev/null")))

    # ------------------------------------------------------------------ judging
    def judge(
        self, listener: int, notif_id: int, tid: int, nr: int, args: tuple[int, ...]
    ) -> tuple[int, str | None]:
        """``(errno or 0 to let the kernel run the call, refusal to record or None)``."""
        name = _NAMES.get(nr, f"syscall {nr}")
        if name in _FATAL or name == "clone":
            # Escape-class: recorded with what it named, then the worker is killed
            # before it runs another instruction of the plugin.
            refusal = self._fatal(listener, notif_id, name, args)
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
            return errno.EPERM, refusal
        if name in _FILE_CALLS:
            return self._judge_files(listener, notif_id, tid, name, args)
        if name == "clone3":
            flags = self._read_u64(listener, notif_id, args[0])
            if flags is not None and flags & _CLONE_THREAD and not flags & _CLONE_NS:
                return errno.ENOSYS, None  # a thread: glibc falls back to clone()
            shown = "?" if flags is None else f"{flags:#x}"
            return errno.ENOSYS, f"clone3(flags={shown}): starting a process is refused"
        return errno.EPERM, _describe(name, args)

    def _fatal(self, listener: int, notif_id: int, name: str, args: tuple[int, ...]) -> str:
        strings = _FATAL_STRINGS.get(name)
        if strings is not None:
            texts = [self._read_str(listener, notif_id, args[i]) for i in strings]
            shown = ", ".join("?" if t is None else repr(t[:200]) for t in texts)
        elif name == "clone":
            shown = f"flags={args[0]:#x}"
        elif name == "ptrace":
            shown = f"{args[0] & 0xFFFFFFFF}, pid {args[1] & 0xFFFFFFFF}"
        elif name in ("process_vm_readv", "process_vm_writev", "pidfd_open", "kcmp"):
            shown = f"pid {args[0] & 0xFFFFFFFF}, …"
        elif name == "perf_event_open":
            shown = f"pid {args[1] & 0xFFFFFFFF}, …"
        elif name == "setns":
            shown = f"fd {args[0] & 0xFFFFFFFF}, nstype {args[1] & 0xFFFFFFFF:#x}"
        elif name in ("fork", "vfork"):
            shown = ""
        else:
            shown = f"{args[0]:#x}, …"
        return f"{name}({shown}): forbidden, the worker was killed"

    def _judge_files(
        self, listener: int, notif_id: int, tid: int, name: str, args: tuple[int, ...]
    ) -> tuple[int, str | None]:
        indexes, dirfds, last = _FILE_CALLS[name]
        if name in ("open", "openat"):
            flags = args[2 if name == "openat" else 1]
            if flags & _O_PATH:
                return 0, None  # a handle, not an access: Landlock does not judge it either
            writing = bool(flags & _O_WRITE)
        else:
            writing = True
        for index, dirfd_index in zip(indexes, dirfds, strict=True):
            path = self._read_str(listener, notif_id, args[index])
            if path is None:
                return 0, None  # unreadable: the kernel (Landlock) decides unrecorded
            dirfd = None if dirfd_index is None else args[dirfd_index] & 0xFFFFFFFF
            where = _resolve(tid, path, dirfd, follow=last == "follow")
            if where is None:
                return 0, None
            if self.blocked and _under(where, self.blocked):
                return errno.EACCES, f"{name}({where!r}): {BLOCKED_MODULE}"
            roots = self.write_roots if writing else self.read_roots
            if not _under(where, roots):
                verb = "write" if writing else "read"
                shown = path if path == where else f"{path} → {where}"
                return errno.EACCES, f"{name}({shown!r}, {verb}) outside the plugin's files"
        return 0, None

    def _read_str(self, listener: int, notif_id: int, address: int) -> str | None:
        if address == 0:
            return None
        data = self._read(listener, notif_id, address, 4096)
        if data is None:
            return None
        end = data.find(b"\0")
        return os.fsdecode(data[: end if end >= 0 else len(data)])

    def open_memory(self) -> None:
        """Open the worker's memory now, while it is still an ordinary process of ours.

        Called after its hello, before ``init``: the kernel checks access when
        ``/proc/<pid>/mem`` is opened, and once the worker is non-dumpable (and, for an
        ordinary user, inside its own user namespace) only root could still open it.
        """
        if self._mem is None:
            with contextlib.suppress(OSError):
                self._mem = os.open(f"/proc/{self.pid}/mem", os.O_RDONLY | os.O_CLOEXEC)

    def _read_u64(self, listener: int, notif_id: int, address: int) -> int | None:
        data = self._read(listener, notif_id, address, 8)
        return int.from_bytes(data, "little") if data is not None and len(data) == 8 else None

    def _read(self, listener: int, notif_id: int, address: int, size: int) -> bytes | None:
        """Bytes of the worker's memory, or None; checked to belong to the waiting call."""
        try:
            if self._mem is None:
                self._mem = os.open(f"/proc/{self.pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
            data = os.pread(self._mem, size, address)
            fcntl.ioctl(listener, _ID_VALID, struct.pack("=Q", notif_id))
        except OSError:
            return None
        return data

    def descriptors(self) -> list[int]:
        """The descriptors the listener thread holds for this worker (it closes them)."""
        fds = [fd for fd in (self._mem, self._listener) if fd is not None]
        self._mem = self._listener = None
        return fds


BLOCKED_MODULE = "a blocked module's file (limits.blockedModules)"


@functools.lru_cache(maxsize=256)
def _roots(paths: tuple[str, ...]) -> tuple[str, ...]:
    """The Landlock rules' folders as the kernel resolves them (cached: every worker of a
    plugin, restarts included, has the same)."""
    return tuple(dict.fromkeys(os.path.realpath(p) for p in paths))


def _resolve(tid: int, path: str, dirfd: int | None, *, follow: bool) -> str | None:
    """The absolute path the worker's call names, as the kernel would walk it."""
    try:
        if not path.startswith("/"):
            cwd = dirfd is None or dirfd == _AT_FDCWD
            base = f"/proc/{tid}/cwd" if cwd else f"/proc/{tid}/fd/{dirfd}"
            path = os.path.join(os.readlink(base), path)
    except OSError:
        return None
    for own in ("/proc/self", "/proc/thread-self"):
        if path == own or path.startswith(own + "/"):
            path = f"/proc/{tid}" + path[len(own) :]
    root = f"/proc/{tid}/root"
    if follow:
        return _realpath_in(root, path)
    head, tail = os.path.split(os.path.normpath(path))
    return os.path.join(_realpath_in(root, head), tail)


def _realpath_in(root: str, path: str) -> str:
    """``os.path.realpath`` of ``path`` as the worker sees it: each link read through
    ``root`` (``/proc/<tid>/root``), its mount namespace — its data folder may be a file
    system of its own (``layers.datafs``), whose links the host's view does not hold.
    (``realpath`` itself would read ``root`` as the link it is, and land in the host's.)"""
    resolved = "/"
    todo = [p for p in reversed(path.split("/")) if p and p != "."]
    hops = 0
    while todo:
        part = todo.pop()
        if part == "..":
            resolved = os.path.dirname(resolved)
            continue
        candidate = os.path.join(resolved, part)
        try:
            target = os.readlink(root + candidate)
        except OSError:  # not a link, or not there: taken as named
            resolved = candidate
            continue
        hops += 1
        if hops > 40:  # ELOOP for the kernel too
            return candidate
        if target.startswith("/"):
            resolved = "/"
        todo += [p for p in reversed(target.split("/")) if p and p != "."]
    return resolved


def _under(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def _describe(name: str, args: tuple[int, ...]) -> str:
    if name in ("socket", "socketpair"):
        family = _enum_name(socket.AddressFamily, args[0] & 0xFFFFFFFF)
        kind = _enum_name(socket.SocketKind, args[1] & 0xF)
        return f"{name}({family}, {kind}): new sockets are refused"
    if name in ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"):
        target = args[0] & 0xFFFFFFFF
        sig = args[2 if name == "tgkill" else 1] & 0xFFFFFFFF
        shown = _enum_name(signal.Signals, sig)
        return f"{name}(pid {target}, {shown}): signalling another process"
    if name == "prlimit64":
        return f"prlimit64(pid {args[0] & 0xFFFFFFFF}, resource {args[1]}): changing limits"
    if name == "prctl":
        option = args[0] & 0xFFFFFFFF
        return f"prctl({_PRCTL.get(option, option)}): refused"
    if name in ("seccomp", "landlock_restrict_self"):
        return f"{name}(): changing the sandbox's own filters is refused"
    return f"{name}(): refused by the sandbox"


def _enum_name(enum: type, value: int) -> str:
    try:
        return str(enum(value).name)
    except ValueError:
        return str(value)


class _Service:
    """The one thread that receives listeners and answers notifications.

    Only this thread uses or closes a worker's listener and memory descriptors, so a
    number freed by one worker is never read as another's.
    """

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._by_fd: dict[int, tuple[str, Watch]] = {}
        self._forgotten: list[Watch] = []
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._epoll.register(self._wake_r, select.EPOLLIN)
        self._thread = threading.Thread(target=self._serve, name="pliers-seccomp", daemon=True)
        self._thread.start()

    def watch(self, handoff: socket.socket, watch: Watch) -> None:
        """Wait on ``handoff`` for the worker's listener, then serve it."""
        watch._handoff = handoff
        with self._lock:
            self._by_fd[handoff.fileno()] = ("handoff", watch)
        self._epoll.register(handoff.fileno(), select.EPOLLIN | select.EPOLLHUP)

    def forget(self, watch: Watch) -> None:
        """Stop serving ``watch`` (its worker is gone); pending calls then get ENOSYS."""
        with self._lock:
            for fd in [fd for fd, (_k, w) in self._by_fd.items() if w is watch]:
                del self._by_fd[fd]
                with contextlib.suppress(OSError, ValueError):
                    self._epoll.unregister(fd)
            self._forgotten.append(watch)
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _serve(self) -> None:
        while True:
            try:
                events = self._epoll.poll()
            except InterruptedError:  # pragma: no cover - PEP 475 retries
                continue
            for fd, mask in events:
                if fd == self._wake_r:
                    self._close_forgotten()
                    continue
                with self._lock:
                    entry = self._by_fd.get(fd)
                if entry is None:
                    continue
                kind, watch = entry
                try:
                    if kind == "handoff":
                        self._receive(fd, watch)
                    elif mask & select.EPOLLIN:
                        self._answer(fd, watch)
                    else:  # every task of the filter is gone
                        self._drop(fd)
                except Exception:  # the thread must outlive any one worker
                    self._drop(fd)

    def _close_forgotten(self) -> None:
        with contextlib.suppress(OSError):
            os.read(self._wake_r, 4096)
        with self._lock:
            forgotten, self._forgotten = self._forgotten, []
        for watch in forgotten:
            for fd in watch.descriptors():
                with contextlib.suppress(OSError):
                    os.close(fd)
            if watch._handoff is not None:
                watch._handoff.close()
                watch._handoff = None
            watch.arrived.set()

    def _receive(self, fd: int, watch: Watch) -> None:
        handoff = watch._handoff
        fds: list[int] = []
        if handoff is not None:
            with contextlib.suppress(OSError):
                _msg, fds, _flags, _addr = socket.recv_fds(
                    handoff, 1, 1, socket.MSG_CMSG_CLOEXEC | socket.MSG_DONTWAIT
                )
        self._drop(fd)
        if handoff is not None:
            handoff.close()
            watch._handoff = None
        if fds:
            listener = fds[0]
            with self._lock:
                if watch in self._forgotten:  # the worker went while its listener came
                    os.close(listener)
                    return
                watch._listener, watch.listening = listener, True
                self._by_fd[listener] = ("listener", watch)
            self._epoll.register(listener, select.EPOLLIN | select.EPOLLHUP)
        watch.arrived.set()

    def _answer(self, listener: int, watch: Watch) -> None:
        buf = bytearray(_NOTIF.size)
        try:
            fcntl.ioctl(listener, _RECV, buf, True)
        except OSError as exc:
            if exc.errno != errno.ENOENT:  # ENOENT: the caller died or was interrupted
                raise
            return
        notif_id, tid, _flags, nr, _arch, _ip, *args = _NOTIF.unpack(buf)
        code, refusal = watch.judge(listener, notif_id, tid, nr, tuple(args))
        if refusal is not None:
            watch.denials.append(refusal[:300])
        resp = _RESP.pack(notif_id, 0, -code if code else 0, 0 if code else _CONTINUE)
        with contextlib.suppress(OSError):  # ENOENT: the caller is gone
            fcntl.ioctl(listener, _SEND, bytearray(resp), True)

    def _drop(self, fd: int) -> None:
        """Stop serving ``fd``; a listener is closed with its worker's memory handle."""
        with self._lock:
            entry = self._by_fd.pop(fd, None)
        with contextlib.suppress(OSError, ValueError):
            self._epoll.unregister(fd)
        if entry is not None and entry[0] == "listener":
            for number in entry[1].descriptors():
                with contextlib.suppress(OSError):
                    os.close(number)


_service: _Service | None = None
_service_lock = threading.Lock()


def listener_service() -> _Service:
    """The process's listener thread (started on first use)."""
    global _service
    with _service_lock:
        if _service is None:
            _service = _Service()
        return _service
