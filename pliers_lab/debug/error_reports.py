"""Error reports: errors grouped by cause, and one error explained.

Two errors are "the same" when plugin, type, hook and the message with its numbers and
quoted values blanked out agree, and they failed on the same line of plugin code. That
is what the REST API's grouped ``/errors`` and the lab's error table show.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import PluginError, PluginErrorType

__all__ = ["ErrorAnalysis", "ErrorGroup", "group_errors", "severity_of"]

_SEVERITY = {
    PluginErrorType.SECURITY_ERROR: "critical",
    PluginErrorType.RESOURCE_ERROR: "critical",
    PluginErrorType.TIMEOUT_ERROR: "high",
    PluginErrorType.LOAD_ERROR: "high",
    PluginErrorType.INIT_ERROR: "high",
    PluginErrorType.DEPENDENCY_ERROR: "high",
    PluginErrorType.RUNTIME_ERROR: "medium",
    PluginErrorType.CONFIG_ERROR: "medium",
    PluginErrorType.VALIDATION_ERROR: "low",
}

_ADVICE = {
    PluginErrorType.RUNTIME_ERROR: "Read the failing line; guard against the input shown in the "
    "variables, or replay the execution with engine.debugger.replay() under a trace.",
    PluginErrorType.TIMEOUT_ERROR: "Profile the handler (engine.debugger.profile) or raise its "
    "manifest timeout; async handlers are cancelled, sync inline ones only reported.",
    PluginErrorType.VALIDATION_ERROR: "The handler answered in the wrong shape for its hook's "
    "result mode; see the mode table in extensions/README.md.",
    PluginErrorType.CONFIG_ERROR: "Check the configuration against the plugin's schema "
    "(engine.validate_config shows every violation with its path).",
    PluginErrorType.LOAD_ERROR: "Fix the manifest or the module named in the message; the "
    "previous version keeps serving while hot reload is on.",
    PluginErrorType.INIT_ERROR: "on_activate failed; restart the plugin after fixing it.",
    PluginErrorType.DEPENDENCY_ERROR: "Install or pin the dependency named; the conflict lists "
    "both ranges.",
    PluginErrorType.SECURITY_ERROR: "The plugin tried something its permissions do not grant; "
    "grant the permission in the manifest or remove the call.",
    PluginErrorType.RESOURCE_ERROR: "The plugin hit a resource limit; raise the limit or fix "
    "the leak.",
}


def severity_of(error: PluginError) -> str:
    return _SEVERITY.get(error.type, "medium")


def _location(error: PluginError) -> str | None:
    """The innermost frame of the cause's traceback: ``file:line in function``."""
    cause = error.cause
    if cause is None or cause.__traceback__ is None:
        return None
    last = traceback.extract_tb(cause.__traceback__)[-1]
    return f"{last.filename}:{last.lineno} in {last.name}"


def signature(error: PluginError) -> tuple[str | None, str, str | None, str, str | None]:
    message = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", error.message)
    message = re.sub(r"\d+(\.\d+)?", "#", message)
    return (error.plugin_id, error.type.value, error.hook, message, _location(error))


@dataclass
class ErrorGroup:
    """Errors with one cause: how often, when first and last, a sample."""

    plugin_id: str | None
    type: str
    hook: str | None
    pattern: str
    location: str | None
    severity: str
    errors: list[PluginError] = field(default_factory=list)

    @property
    def occurrences(self) -> int:
        return len(self.errors)

    @property
    def first_seen(self) -> float:
        return min(e.timestamp for e in self.errors)

    @property
    def last_seen(self) -> float:
        return max(e.timestamp for e in self.errors)


def group_errors(errors: Iterable[PluginError]) -> list[ErrorGroup]:
    """Errors grouped by cause, the most frequent first."""
    groups: dict[tuple[Any, ...], ErrorGroup] = {}
    for error in errors:
        key = signature(error)
        group = groups.get(key)
        if group is None:
            group = groups[key] = ErrorGroup(
                key[0], key[1], key[2], key[3], key[4], severity_of(error)
            )
        group.errors.append(error)
    return sorted(groups.values(), key=lambda g: (-g.occurrences, -g.last_seen))


@dataclass
class ErrorAnalysis:
    """The spec's ``ErrorAnalysis`` of one error."""

    error: PluginError
    severity: str
    group: ErrorGroup
    location: str | None
    source_line: str | None
    suggestions: list[str]
    recoveries: list[Any]

    def summary(self) -> str:
        lines = [f"{self.error}", f"severity {self.severity}; seen {self.group.occurrences} times"]
        if self.location:
            lines.append(f"at {self.location}: {self.source_line or ''}".rstrip())
        lines.extend(f"- {s}" for s in self.suggestions)
        return "\n".join(lines)


def source_line(location: str | None) -> str | None:
    if not location:
        return None
    import linecache

    file, _, rest = location.rpartition(":")
    line = rest.split(" ", 1)[0]
    text = linecache.getline(file, int(line)) if line.isdigit() else ""
    return text.strip() or None


def advice(error: PluginError) -> list[str]:
    return [_ADVICE.get(error.type, "See the error's stack for the failing call.")]
