"""The process sandbox: plugins in worker processes that the kernel locks down.

Imported only when a plugin runs in ``process`` isolation (``import pliers_lab`` stays
light). See ``runtime.ProcessRuntime`` for the entry point and ``layers`` for what each
kernel layer does and leaves open.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: importing typing costs the worker ~10 ms
if TYPE_CHECKING:
    from typing import Any

    from ._access import AccessLog, AccessRecord
    from ._runtime import ProcessRuntime
    from .policy import Limits, SandboxPolicy

__all__ = [
    "AccessLog",
    "AccessRecord",
    "Limits",
    "ProcessRuntime",
    "SandboxPolicy",
    "detect_layers",
]

_LAZY = {
    "AccessLog": "_access",
    "AccessRecord": "_access",
    "Limits": "policy",
    "SandboxPolicy": "policy",
    "ProcessRuntime": "_runtime",
}


def detect_layers() -> dict[str, tuple[bool, str]]:
    """Which isolation layers this host offers: name → (available, detail)."""
    from .layers import detect_all

    return dict(detect_all())


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pliers_lab.sandbox' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{module}", __name__), name)
