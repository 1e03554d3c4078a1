"""Debugging and monitoring (spec: Plugin Debugging and Monitoring).

``engine.debugger`` records what a plugin's code did line by line (``trace``) so it can
be stepped forwards and backwards afterwards (time travel), profiles it (``profile``),
groups and explains its errors (``errors``, ``analyze_error``) and replays recorded
executions (``replay``).
"""

from ._debugger import Debugger
from ._profile import ProfileResult
from .error_reports import ErrorAnalysis, ErrorGroup
from .trace import Breakpoint, DebugTrace, ExecutionFrame

__all__ = [
    "Breakpoint",
    "DebugTrace",
    "Debugger",
    "ErrorAnalysis",
    "ErrorGroup",
    "ExecutionFrame",
    "ProfileResult",
]
