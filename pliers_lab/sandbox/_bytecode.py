"""Compiled bytecode for the worker's own modules, whatever the host's settings.

A worker runs with ``-B`` (it never writes) and imports ``worker``, ``guest``, ``wire``,
``guest_debug`` and ``layers`` before it locks down. Without up-to-date ``.pyc`` files for
them it compiles ~100 KB of source at every start: ~10 ms, a third of a cold start. The
host's own imports do not always leave them behind — ``PYTHONDONTWRITEBYTECODE`` is set
on this kind of machine — so the runtime compiles the sandbox package into its
``__pycache__`` itself (``py_compile`` writes whatever that variable says). Where the
package folder is read-only nothing is written and workers compile, as before.

Only this package is compiled: a ``pycache_prefix`` for the worker would have been
simpler, but it applies to every import, so the standard library's own bytecode would
no longer be found and each plugin import would compile it again.
"""

from __future__ import annotations

import importlib.util
import py_compile
from pathlib import Path

__all__ = ["compile_sandbox"]

_SANDBOX = Path(__file__).resolve().parent
_HEADER = 16  # magic, flags, source mtime, source size


def _fresh(source: Path, pyc: Path) -> bool:
    """Whether ``pyc`` matches ``source`` as the importer checks it (mtime and size)."""
    try:
        header = pyc.read_bytes()[:_HEADER]
        info = source.stat()
    except OSError:
        return False
    return (
        len(header) == _HEADER
        and header[:4] == importlib.util.MAGIC_NUMBER
        and int.from_bytes(header[4:8], "little") == 0  # timestamp-based, not hash-based
        and int.from_bytes(header[8:12], "little") == int(info.st_mtime) & 0xFFFFFFFF
        and int.from_bytes(header[12:16], "little") == info.st_size & 0xFFFFFFFF
    )


def compile_sandbox() -> int:
    """Bring the sandbox package's bytecode up to date; how many files were compiled."""
    compiled = 0
    for source in sorted(_SANDBOX.rglob("*.py")):
        pyc = Path(importlib.util.cache_from_source(str(source)))
        if _fresh(source, pyc):
            continue
        try:
            py_compile.compile(str(source), cfile=str(pyc), doraise=True)
        except (OSError, py_compile.PyCompileError):
            return compiled  # a read-only install: the workers compile for themselves
        compiled += 1
    return compiled
