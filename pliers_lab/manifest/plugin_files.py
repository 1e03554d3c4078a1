"""The files the engine reads from a plugin's folder on the plugin's behalf, and how.

Every such read — ``manifest.json``, the code ``main`` names, the configuration files
(schema, defaults, environment overlays) — goes through this module:

- :func:`escape` / :func:`plugin_path`: the name is joined to the plugin's folder and
  resolved (``os.path.realpath``, every symlink followed, in any part of the path); a
  file that resolves outside the resolved folder is refused, naming the plugin, the
  manifest field, the path and where it leads. A plugin cannot make the engine read
  ``/etc/passwd`` as its schema through ``config-schema.json -> /etc/passwd``. (The
  folder itself may be a symlink: what counts is where it resolves.)
- :func:`read_file`: one file, safely: regular files only (a FIFO would block the
  engine, a device may never end), at most ``limit`` bytes, and every ``OSError`` turned
  into a sentence (:class:`Unreadable`) that the caller wraps in its own error.
- :func:`probe`: what is at a path, without letting an ``OSError`` out (a name too long,
  a component that is a file, a folder we may not enter).
- :func:`list_folder`: what a folder holds, likewise (a folder we may not list).

Handlers a plugin runs are its own business (inline code can open what it likes); this
is about what the *engine* reads and may show (the configuration API, error messages).
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import PluginError, PluginErrorType

__all__ = [
    "CODE_LIMIT",
    "CONFIG_LIMIT",
    "MANIFEST_LIMIT",
    "Escape",
    "Unreadable",
    "escape",
    "list_folder",
    "plugin_path",
    "probe",
    "read_file",
]

#: Size caps: a manifest or a configuration file is small; bigger is a mistake (or a
#: trap) and is refused before it is read into memory.
MANIFEST_LIMIT = 1 << 20
CONFIG_LIMIT = 8 << 20
CODE_LIMIT = 64 << 20

Kind = Literal["file", "folder", "missing", "other"]

_WORDS = {
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENAMETOOLONG: "the path is too long",
    errno.ELOOP: "too many levels of symbolic links",
    errno.EISDIR: "it is a folder, not a file",
}


def _words(exc: OSError) -> str:
    said = _WORDS.get(exc.errno or -1)
    if said is not None:
        return said
    return exc.strerror or str(exc) or type(exc).__name__


class Unreadable(Exception):
    """A file the engine cannot (or will not) read; ``str()`` says why in a sentence."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Escape:
    """A file of a plugin that resolves outside its folder."""

    path: Path  #: as named: the plugin folder joined with the name
    target: Path  #: where it resolves, every symlink followed
    root: Path  #: the plugin folder, resolved

    def __str__(self) -> str:
        return (
            f"{self.path} leads to {self.target}, outside the plugin folder {self.root} "
            "(a plugin's files must stay in its folder; symlinks may not point out of it)"
        )


def escape(root: Path, name: str | os.PathLike[str]) -> Escape | None:
    """Where ``name`` (relative to the plugin folder ``root``) leads if that is outside
    the folder, else None. Works for files that do not exist (yet): a dangling link
    out of the folder is an escape too."""
    path = root / name
    real_root = Path(os.path.realpath(root))
    target = Path(os.path.realpath(path))
    if target == real_root or target.is_relative_to(real_root):
        return None
    return Escape(path, target, real_root)


def plugin_path(
    root: Path,
    name: str | os.PathLike[str],
    *,
    plugin_id: str | None,
    field: str,
    kind: PluginErrorType = PluginErrorType.LOAD_ERROR,
) -> Path:
    """``name`` in the plugin folder ``root``, resolved, after checking it stays there.

    Raises a ``PluginError`` of ``kind`` naming the plugin, the manifest ``field``, the
    path and where it leads when it does not.
    """
    found = escape(root, name)
    if found is not None:
        raise PluginError(
            kind,
            f"{field} {str(name)!r}: {found}",
            plugin_id=plugin_id,
            metadata={
                "field": field,
                "path": str(found.path),
                "target": str(found.target),
                "root": str(found.root),
            },
        )
    return Path(os.path.realpath(root / name))


def probe(path: Path) -> tuple[Kind, str | None]:
    """What is at ``path``: (kind, None), or ("missing", why) when looking failed for
    another reason than absence (permission denied, a name too long…)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return "missing", None
        return "missing", _words(exc)
    except ValueError:  # an embedded NUL byte
        return "missing", "the path contains a NUL byte"
    if stat.S_ISREG(mode):
        return "file", None
    if stat.S_ISDIR(mode):
        return "folder", None
    return "other", None


def list_folder(path: Path) -> tuple[list[Path], str | None]:
    """The entries of the folder at ``path``, sorted: (entries, None), or ([], why) when
    it cannot be listed (permission denied, not a folder, gone meanwhile)."""
    try:
        return sorted(path.iterdir()), None
    except OSError as exc:
        return [], _words(exc)
    except ValueError:  # an embedded NUL byte
        return [], "the path contains a NUL byte"


def _special(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "it is a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "it is a named pipe (FIFO), not a regular file"
    if stat.S_ISSOCK(mode):
        return "it is a socket, not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "it is a device, not a regular file"
    return "it is not a regular file"


def read_file(path: Path, limit: int) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit`` of them.

    Opened without blocking (a FIFO is refused, not waited on) and checked on the open
    descriptor, so what is read is what was checked. Raises :class:`Unreadable`.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise Unreadable(path, f"cannot open it: {_words(exc)}") from None
    except ValueError:
        raise Unreadable(path, "cannot open it: the path contains a NUL byte") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Unreadable(path, _special(info.st_mode))
        if info.st_size > limit:
            raise Unreadable(path, f"it is too large ({info.st_size:,} bytes; at most {limit:,})")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:  # the file may grow while we read: never past the limit
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise Unreadable(path, f"it is too large (more than {limit:,} bytes)")
        return b"".join(chunks)
    except OSError as exc:
        raise Unreadable(path, f"cannot read it: {_words(exc)}") from None
    finally:
        os.close(fd)
