"""asyncio in a worker that may not create sockets: event loops wake up over a pipe.

asyncio's selector loop makes a socket pair for its self-pipe, and the worker's seccomp
filter refuses every new socket (and tells the host). So that ``async def`` handlers, and
plugins that run ``asyncio.run`` themselves, still work, the worker installs ``install``
before plugin code: when ``asyncio.selector_events`` is first imported, its loops get an
``os.pipe`` instead. ``socket.socketpair`` itself stays refused. Importing asyncio up front
would cost a cold start ~65 ms; the import hook costs nothing until asyncio is used.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # the worker imports this module: no typing at run time
if TYPE_CHECKING:
    from typing import Any

__all__ = ["install"]

_TARGET = "asyncio.selector_events"


class _PipeEnd:
    """The little of a socket a loop's self-pipe uses, over one end of a pipe."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd

    def recv(self, size: int) -> bytes:
        return os.read(self.fd, size)

    def send(self, data: bytes) -> int:
        return os.write(self.fd, data)

    def setblocking(self, flag: bool) -> None:
        os.set_blocking(self.fd, flag)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _make_self_pipe(loop: Any) -> None:
    read, write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    loop._ssock, loop._csock = _PipeEnd(read), _PipeEnd(write)
    loop._internal_fds += 1
    loop._add_reader(read, loop._read_from_self)


class _Patched:
    """Loader wrapper: run the real module, then give its loops the pipe."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self.loader.exec_module(module)
        module.BaseSelectorEventLoop._make_self_pipe = _make_self_pipe


class _Finder:
    """Meta-path finder that only ever answers for ``asyncio.selector_events``."""

    @staticmethod
    def find_spec(name: str, path: Any = None, target: Any = None) -> Any:
        if name != _TARGET:
            return None
        finder = sys.modules["_frozen_importlib_external"].PathFinder
        spec = finder.find_spec(name, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = _Patched(spec.loader)
        return spec


def install() -> None:
    """Patch asyncio's self-pipe when it is imported (or now, if it already is)."""
    loaded = sys.modules.get(_TARGET)
    if loaded is not None:
        loaded.BaseSelectorEventLoop._make_self_pipe = _make_self_pipe
    elif _Finder not in sys.meta_path:
        sys.meta_path.insert(0, _Finder)
