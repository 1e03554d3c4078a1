"""``api.files``: a virtual filesystem rooted in the plugin's data folder, served by the host.

The worker can plant symlinks in its own data folder and swap folders while the host
works; so every path is walked one component at a time from the root's descriptor with
``O_NOFOLLOW`` (no ``..``, no absolute paths, no symlink anywhere on the way). That is
race-free where a ``realpath`` check followed by ``open`` is not.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import threading
from pathlib import Path
from typing import Any, ClassVar

__all__ = ["DataFiles", "PathRefused"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class PathRefused(PermissionError):
    """A path that leaves the data folder or goes through a symlink."""


def _parts(path: str) -> list[str]:
    if not isinstance(path, str) or "\0" in path:
        raise PathRefused(f"{path!r} is not a path")
    if path.startswith("/"):
        raise PathRefused(f"{path!r}: paths are relative to the plugin's data folder")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise PathRefused(f"{path!r}: '..' is not allowed")
    return parts


class DataFiles:
    """File operations inside ``root``, capped at ``max_read`` bytes per read."""

    def __init__(self, root: Path, max_read: int = 4 << 20) -> None:
        self.root = Path(root)
        self.root_fd: int | None = None
        """The root of the plugin's own data file system (``layers.datafs``) when it has
        one: its data lives there, not in ``root`` (the mount point)."""
        self.max_read = max_read
        self._moved = [0, 0]  # bytes read, written: part of the plugin's disk figures
        self._counting = threading.Lock()  # several workers' calls may run at once

    def _count(self, read: int, written: int) -> None:
        with self._counting:
            self._moved[0] += read
            self._moved[1] += written

    def moved(self) -> tuple[int, int]:
        """Bytes read and written for the plugin so far (file contents)."""
        with self._counting:
            return self._moved[0], self._moved[1]

    @contextlib.contextmanager
    def _dir(self, parts: list[str], create: bool = False) -> Any:
        if self.root_fd is not None:
            fd = os.open(".", _DIR_FLAGS, dir_fd=self.root_fd)
        else:
            fd = os.open(self.root, _DIR_FLAGS)
        try:
            for part in parts:
                try:
                    nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    os.mkdir(part, 0o755, dir_fd=fd)
                    nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (40, 20):  # ELOOP (a symlink), ENOTDIR
                        raise PathRefused(f"{part!r} is a symlink or not a folder") from None
                    raise
                os.close(fd)
                fd = nxt
            yield fd
        finally:
            os.close(fd)

    def _open(self, path: str, flags: int, create_dirs: bool = False) -> int:
        parts = _parts(path)
        if not parts:
            raise PathRefused("a file name is required")
        with self._dir(parts[:-1], create=create_dirs) as dfd:
            try:
                return os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dfd)
            except OSError as exc:
                if exc.errno == 40:
                    raise PathRefused(f"{path!r} is a symlink") from None
                raise

    def read_text(self, path: str) -> str:
        fd = self._open(path, os.O_RDONLY)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise PathRefused(f"{path!r} is not a regular file")
            data = f.read(self.max_read + 1)
        self._count(len(data), 0)
        if len(data) > self.max_read:
            raise ValueError(f"{path!r} is larger than {self.max_read} bytes")
        return data.decode("utf-8")

    def read_json(self, path: str) -> Any:
        return json.loads(self.read_text(path))

    def write_text(self, path: str, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError("write_text takes a string")
        data = text.encode("utf-8")
        fd = self._open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, create_dirs=True)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        self._count(0, len(data))
        return len(text)

    def append_text(self, path: str, text: str) -> int:
        text = str(text)
        data = text.encode("utf-8")
        fd = self._open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, create_dirs=True)
        with os.fdopen(fd, "ab") as f:
            f.write(data)
        self._count(0, len(data))
        return len(text)

    def write_json(self, path: str, value: Any) -> int:
        return self.write_text(path, json.dumps(value))

    def list(self, path: str = ".") -> list[str]:
        with self._dir(_parts(path)) as dfd:
            return sorted(os.listdir(dfd))

    def exists(self, path: str) -> bool:
        try:
            fd = self._open(path, os.O_RDONLY)
        except (FileNotFoundError, PathRefused, NotADirectoryError):
            return False
        os.close(fd)
        return True

    def delete(self, path: str) -> bool:
        parts = _parts(path)
        if not parts:
            raise PathRefused("a file name is required")
        with self._dir(parts[:-1]) as dfd:
            try:
                os.unlink(parts[-1], dir_fd=dfd)
            except FileNotFoundError:
                return False
        return True

    #: operation → (verb, method name): the permission each needs.
    OPERATIONS: ClassVar[dict[str, tuple[str, str]]] = {
        "read": ("read", "read_text"),
        "read_text": ("read", "read_text"),
        "read_json": ("read", "read_json"),
        "list": ("read", "list"),
        "listdir": ("read", "list"),
        "exists": ("read", "exists"),
        "write": ("write", "write_text"),
        "write_text": ("write", "write_text"),
        "write_json": ("write", "write_json"),
        "append": ("write", "append_text"),
        "append_text": ("write", "append_text"),
        "delete": ("write", "delete"),
        "remove": ("write", "delete"),
    }
