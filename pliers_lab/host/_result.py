"""``HostResult``: what a host operation returns. A module of its own so that the
operations import it once, at the top, instead of from ``_host`` inside each call (an
import statement per submission cost ~6,000 instructions)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._pipeline_trace import Trace

__all__ = ["HostResult"]


@dataclass(frozen=True, slots=True)
class HostResult:
    """What a host operation returns.

    Attributes:
        value: the operation's answer (the saved submission, the form, the export...).
        trace: every step with each plugin's outcome, timings and data before/after.
        warnings: validation warnings the plugins reported (``{field, code, message, plugin}``).
    """

    value: Any
    trace: Trace
    warnings: list[dict[str, Any]] = field(default_factory=list)
