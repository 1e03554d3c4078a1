"""The lab's link to the simulated Pliers host (``pliers_lab.host``), when it is installed.

``%pliers simulate`` pushes a submission through the host's pipeline. The host is built
in parallel with the lab; until its package offers ``Host`` this module says so in one
line instead of pretending (tests/lab/test_hostlink.py fails once the host exists and
this link does not work).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["host_available", "simulate"]


def host_module() -> Any | None:
    """``pliers_lab.host`` when it is importable and offers ``Host``, else None."""
    try:
        import pliers_lab.host as host
    except ImportError:
        return None
    return host if hasattr(host, "Host") else None


def host_available() -> bool:
    return host_module() is not None


def simulate(
    engine: Engine,
    answers: Any,
    *,
    form: str | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
) -> Any:
    """Submit ``answers`` through the host's whole pipeline; returns its trace."""
    if host_module() is None:
        raise UsageError(
            "%pliers simulate needs the simulated host (pliers_lab.host), which this install "
            "does not have yet; fire the submission hooks one by one with %pliers fire"
        )
    raise UsageError("%pliers simulate: the host is installed but the lab is not wired to it yet")
