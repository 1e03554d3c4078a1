"""A data folder the kernel keeps to its size: one ext4 file system per plugin.

RLIMIT_FSIZE caps one file; a folder needs a file system of its own. Measured on this
kind of machine (docs/isolation.md, "The data folder's size"):

- the root file system has no project quota (and turning it on is a remount of ``/``,
  machine-wide state no engine owns); tmpfs (``size=``) is mountable even in a user
  namespace but holds nothing across a worker's restart, and copying in and out is
  fragile; fanotify cannot refuse a write, and a seccomp notification per ``write`` costs
  a round trip per call the plugin makes;
- a loop-mounted ext4 image works as root: ``mkfs.ext4`` takes ~4 ms for a 1 MB image,
  and a write past it fails with ENOSPC.

So each plugin's data lives in ``<data folder>/.pliers-data.ext4``. The host (root)
attaches it to a loop device (``LOOP_CONFIGURE``, auto-clearing) and mounts it *detached*
(``fsopen``/``fsconfig``/``fsmount``): a mount in no namespace at all, held by one file
descriptor, so nothing is mounted on the machine and nothing is left behind when the
host dies. The host serves ``api.files`` through that descriptor, and each worker clones
it (``open_tree(OPEN_TREE_CLONE)``) onto the data folder in a mount namespace of its own
(``apply``) before Landlock opens the folder: one file system, seen by the host and by
every worker of the plugin; the image file is under the mount, out of the plugin's reach.

An ordinary user cannot mount ext4 (it needs CAP_SYS_ADMIN in the initial user
namespace), so there the folder is measured after calls only — ``detect`` says why, and
the engine reports it (``applied_limits()["dataQuota"]``).

The worker imports this module for ``apply``: standard library and ctypes only at import.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # the worker imports this module: no typing at run time
if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["IMAGE", "DataImage", "apply", "detect"]

IMAGE = ".pliers-data.ext4"
"""The image's name inside the plugin's data folder (hidden under the mount)."""

_CLONE_NEWNS = 0x00020000
_MS_REC, _MS_PRIVATE = 0x4000, 0x40000
_AT_FDCWD = -100
_AT_EMPTY_PATH = 0x1000
_OPEN_TREE_CLONE, _OPEN_TREE_CLOEXEC = 1, 0x80000
_MOVE_MOUNT_F_EMPTY_PATH = 0x4
_FSOPEN_CLOEXEC = 1
_FSCONFIG_SET_STRING, _FSCONFIG_CMD_CREATE = 1, 6
_FSMOUNT_CLOEXEC = 1
_MOUNT_ATTR_NOSUID, _MOUNT_ATTR_NODEV, _MOUNT_ATTR_NOEXEC = 0x2, 0x4, 0x8
_LOOP_CTL_GET_FREE, _LOOP_CONFIGURE = 0x4C82, 0x4C0A
_LO_FLAGS_AUTOCLEAR = 4
_BLOCK = 1024  # 1 KiB blocks: small images waste least


# ----------------------------------------------------------------------------- worker side
def apply(source: str, target: str) -> str:
    """In the worker, before Landlock: a mount namespace of its own (nothing it mounts
    reaches the host's), and a clone of the plugin's file system (``source``: the host's
    descriptor as ``/proc/<host>/fd/<n>``) mounted on ``target``, the data folder."""
    from ._sys import libc, syscall

    syscall("unshare", _CLONE_NEWNS)
    if libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
        import ctypes

        err = ctypes.get_errno()
        raise OSError(err, f"making / private in the worker's mount namespace: {os.strerror(err)}")
    tree = syscall("open_tree", _AT_FDCWD, source.encode(), _OPEN_TREE_CLONE | _OPEN_TREE_CLOEXEC)
    try:
        syscall("move_mount", tree, b"", _AT_FDCWD, target.encode(), _MOVE_MOUNT_F_EMPTY_PATH)
    finally:
        os.close(tree)
    st = os.statvfs(target)
    return (
        f"ext4 of {st.f_blocks * st.f_frsize >> 10} KiB on the data folder, in the worker's "
        "own mount namespace (writes past it: ENOSPC)"
    )


# ----------------------------------------------------------------------------- host side
_detected: tuple[bool, str] | None = None


def detect() -> tuple[bool, str]:
    """Whether this host can give plugins a size-limited data file system, and how or
    why not (checked once: root, loop devices, mkfs.ext4, the new mount API)."""
    global _detected
    if _detected is None:
        _detected = _detect()
    return _detected


def _detect() -> tuple[bool, str]:
    import shutil

    if os.geteuid() != 0:
        return False, (
            "not root: an ordinary user cannot mount a block file system (ext4 needs "
            "CAP_SYS_ADMIN in the initial user namespace; a user namespace may mount "
            "tmpfs, which would not keep the data across a worker's restart)"
        )
    if not os.path.exists("/dev/loop-control"):
        return False, "no loop devices on this host (/dev/loop-control is missing)"
    for tool in ("mkfs.ext4", "dumpe2fs", "e2fsck", "resize2fs"):
        if shutil.which(tool, path="/usr/sbin:/sbin:/usr/bin:/bin") is None:
            return False, f"{tool} not found (Debian package e2fsprogs)"
    try:
        from ._sys import syscall

        fs = syscall("fsopen", b"ext4", _FSOPEN_CLOEXEC)
        os.close(fs)
    except OSError as exc:
        return False, f"the kernel refuses fsopen('ext4'): {exc}"
    return True, "a loop-mounted ext4 image per plugin, mounted detached by the host"


def _tool(name: str) -> str:
    import shutil

    return shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin") or name


def _run(*args: str) -> str:
    import subprocess

    done = subprocess.run(
        [_tool(args[0]), *args[1:]], capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0 and not (args[0] == "e2fsck" and done.returncode == 1):
        raise OSError(f"{' '.join(args)}: exit {done.returncode}: {done.stderr.strip()[-300:]}")
    return done.stdout


def _margin(limit: int) -> int:
    """Room over the limit for the blocks a file system spends on the data's own
    structure (folders, extent trees): one file still reaches RLIMIT_FSIZE (EFBIG) at
    exactly the limit, and the folder as a whole stops within 1/64 over it."""
    return max(64 << 10, limit // 64)


def _inodes(limit: int) -> int:
    return max(64, limit // 16384)


def _mkfs(path: str, size: int, inodes: int, seed: str | None = None) -> None:
    with open(path, "wb") as f:
        f.truncate(size)
    _run(
        "mkfs.ext4",
        "-q",
        "-F",
        "-b",
        str(_BLOCK),
        "-I",
        "128",
        "-N",
        str(inodes),
        "-m",
        "0",
        "-O",
        "^has_journal,^resize_inode",
        "-E",
        f"root_owner={os.getuid()}:{os.getgid()}",
        *(("-d", seed) if seed else ()),
        path,
    )


def _free_blocks(path: str) -> tuple[int, int]:
    """``(block count, free blocks)`` of an image, from its superblock."""
    fields = {}
    for line in _run("dumpe2fs", "-h", path).splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return int(fields["Block count"]), int(fields["Free blocks"])


_overheads: dict[int, int] = {}


def _overhead(limit: int, scratch: str) -> int:
    """Bytes an empty image of about ``limit`` spends on itself (inode tables, bitmaps,
    the root folder): measured on a scratch image, so the data gets ``limit`` (once per
    limit and process: the same ``mkfs`` gives the same layout)."""
    known = _overheads.get(limit)
    if known is not None:
        return known
    size = limit + _inodes(limit) * 128 + 64 * _BLOCK
    try:
        _mkfs(scratch, size, _inodes(limit))
        blocks, free = _free_blocks(scratch)
    finally:
        os.unlink(scratch)
    _overheads[limit] = (blocks - free) * _BLOCK
    return _overheads[limit]


class DataImage:
    """One plugin's data file system, mounted detached; ``fd`` is its root."""

    def __init__(self, folder: Path, limit: int) -> None:
        """Open (make, or resize to ``limit``) the image in ``folder`` and mount it.
        Raises ``OSError`` naming what failed; the caller falls back to measuring."""
        import fcntl

        self.folder = folder
        self.limit = limit
        self.image = str(folder / IMAGE)
        self.note = ""
        self.sized_for = limit
        """The limit its size was made for (another, when a resize failed)."""
        self.fd = -1
        self._lock = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            try:  # one host at a time: ext4 mounted twice at once is corrupted
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise OSError(
                    f"{folder}: another engine on this machine holds this plugin's data file system"
                ) from None
            self._prepare()
            self.fd = self._mount()
        except BaseException:
            os.close(self._lock)
            raise
        self.capacity = self._capacity()

    def _prepare(self) -> None:
        want = self.limit + _margin(self.limit) + _overhead(self.limit, self.image + ".scratch")
        # ext4 keeps 2 % of the blocks (at most 4096) back from data, for its own metadata
        want += min(want // 49, 4096 * _BLOCK)
        want -= want % _BLOCK
        if not os.path.exists(self.image):
            legacy = [e for e in os.listdir(self.folder) if not e.startswith(IMAGE)]
            temp = self.image + ".new"
            # Files the folder held before it had an image are copied in (mkfs -d).
            seed = str(self.folder) if legacy else None
            if seed:
                temp = str(self.folder.parent / f".{self.folder.name}{IMAGE}.new")
            try:
                _mkfs(temp, want, _inodes(self.limit), seed)
                os.replace(temp, self.image)
            except BaseException:
                import contextlib

                with contextlib.suppress(OSError):  # a half-made image
                    os.unlink(temp)
                raise
            self.note = f"made ({len(legacy)} existing entries copied in)" if legacy else "made"
            return
        _run("e2fsck", "-p", self.image)  # no journal: a host that died mid-write
        size = os.path.getsize(self.image)
        if size != want:  # its limit changed
            blocks = size // _BLOCK
            try:
                if want > size:
                    with open(self.image, "r+b") as f:
                        f.truncate(want)
                _run("resize2fs", self.image, f"{want // _BLOCK}")
                with open(self.image, "r+b") as f:
                    f.truncate(want)
                self.note = f"resized from {blocks * _BLOCK >> 10} KiB"
            except OSError as exc:
                self.sized_for = -1
                self.note = f"kept at {blocks * _BLOCK >> 10} KiB (could not resize: {exc})"

    def _mount(self) -> int:
        import contextlib
        import fcntl
        import struct

        from ._sys import syscall

        backing = os.open(self.image, os.O_RDWR | os.O_CLOEXEC)
        try:
            for _attempt in range(8):  # another process may take the free device first
                ctl = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
                try:
                    number = fcntl.ioctl(ctl, _LOOP_CTL_GET_FREE)
                finally:
                    os.close(ctl)
                loop = os.open(f"/dev/loop{number}", os.O_RDWR | os.O_CLOEXEC)
                info = bytearray(232)  # struct loop_info64; lo_flags at 52
                struct.pack_into("<I", info, 52, _LO_FLAGS_AUTOCLEAR)
                try:
                    fcntl.ioctl(
                        loop, _LOOP_CONFIGURE, struct.pack("<II", backing, 0) + info + bytes(64)
                    )
                    break
                except OSError as exc:
                    os.close(loop)
                    if exc.errno != 16:  # EBUSY: taken meanwhile
                        raise
            else:
                raise OSError(f"no free loop device for {self.image}")
        finally:
            os.close(backing)
        try:
            fs = syscall("fsopen", b"ext4", _FSOPEN_CLOEXEC)
            try:
                syscall(
                    "fsconfig",
                    fs,
                    _FSCONFIG_SET_STRING,
                    b"source",
                    f"/dev/loop{number}".encode(),
                    0,
                )
                syscall("fsconfig", fs, _FSCONFIG_CMD_CREATE, None, None, 0)
                attrs = _MOUNT_ATTR_NOSUID | _MOUNT_ATTR_NODEV | _MOUNT_ATTR_NOEXEC
                fd = syscall("fsmount", fs, _FSMOUNT_CLOEXEC, attrs)
            finally:
                os.close(fs)
        finally:
            os.close(loop)  # the mount holds the device; auto-cleared when it goes
        with contextlib.suppress(OSError):  # mkfs's, not the plugin's
            os.rmdir("lost+found", dir_fd=fd)
        return fd

    def _capacity(self) -> int:
        return self.free() + self.used()

    @property
    def source(self) -> str:
        """Where a worker (root, before its lockdown) finds the file system to clone."""
        return f"/proc/{os.getpid()}/fd/{self.fd}"

    def used(self) -> int:
        """Bytes of data in it: the blocks of its files and folders, as the kernel
        counts them (the file system's own structures left out)."""
        total = 0
        stack = [self.source]
        while stack:
            try:
                with os.scandir(stack.pop()) as it:
                    for entry in it:
                        total += entry.stat(follow_symlinks=False).st_blocks * 512
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
            except OSError:
                continue
        return total

    def free(self) -> int:
        """Bytes a write may still add before the kernel refuses it."""
        st = os.fstatvfs(self.fd)
        return st.f_bavail * st.f_frsize

    def describe(self) -> str:
        return (
            f"ext4 image {self.image} ({self.capacity >> 10} KiB for data), loop-mounted "
            "detached by the host, cloned into each worker's own mount namespace"
            + (f"; {self.note}" if self.note else "")
        )

    def close(self) -> None:
        """Let the file system go (it stays until the last worker using it is gone)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self._lock >= 0:
            os.close(self._lock)
            self._lock = -1
