"""The kernel layers of the sandbox, one module each, every one detected at run time.

Worker-side, in this order (seccomp last: the earlier steps need calls it denies):
``rlimits`` → ``netns`` → ``landlock`` → ``capabilities`` → ``seccomp``. Supervisor-side:
``cgroup`` (the worker is moved into its groups before it loads plugin code).
"""

from __future__ import annotations

TYPE_CHECKING = False  # the worker imports this package: no typing, no functools
if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["LAYERS", "detect", "detect_all"]

#: Every layer, in the order it is applied.
LAYERS = ("rlimits", "netns", "landlock", "capabilities", "seccomp", "cgroup")


def _detector(name: str) -> Callable[[], tuple[bool, str]]:
    if name == "rlimits":
        from . import rlimits as module
    elif name == "netns":
        from . import netns as module  # type: ignore[no-redef]
    elif name == "landlock":
        from . import landlock as module  # type: ignore[no-redef]
    elif name == "capabilities":
        from . import caps as module  # type: ignore[no-redef]
    elif name == "seccomp":
        from . import seccomp as module  # type: ignore[no-redef]
    else:
        from . import cgroup as module  # type: ignore[no-redef]
    return module.detect


def detect(name: str) -> tuple[bool, str]:
    """``(available, detail)`` for one layer on this host; never raises."""
    try:
        return _detector(name)()
    except Exception as exc:  # a probe failing means the layer is unusable
        return False, f"probe failed: {type(exc).__name__}: {exc}"


_detected: dict[str, tuple[bool, str]] = {}


def detect_all() -> dict[str, tuple[bool, str]]:
    """Every layer's availability on this host (probed once per process)."""
    if not _detected:
        _detected.update({name: detect(name) for name in LAYERS})
    return _detected
