"""The error taxonomy of the spec (Error Handling and Recovery) and the exceptions we raise.

Every error that reaches a user names its culprit: the plugin, the hook, the execution and
the cause. ``PluginError`` is both an exception and the record kept in the error store, so
the lab can show the same object the code caught.
"""

from __future__ import annotations

import itertools
import time
import traceback
from enum import StrEnum
from typing import Any, ClassVar

__all__ = [
    "HOST_OVERLOAD",
    "CircuitOpen",
    "EngineError",
    "HostOverload",
    "IllegalTransition",
    "NotRun",
    "PliersError",
    "PluginError",
    "PluginErrorType",
    "UnknownHookError",
    "UnknownPluginError",
]


class PluginErrorType(StrEnum):
    """The spec's ``PluginErrorType``: what kind of failure a plugin caused."""

    LOAD_ERROR = "load_error"
    INIT_ERROR = "init_error"
    RUNTIME_ERROR = "runtime_error"
    CONFIG_ERROR = "config_error"
    DEPENDENCY_ERROR = "dependency_error"
    SECURITY_ERROR = "security_error"
    RESOURCE_ERROR = "resource_error"
    TIMEOUT_ERROR = "timeout_error"
    VALIDATION_ERROR = "validation_error"


class PliersError(Exception):
    """Base of every exception pliers_lab raises on purpose."""


class EngineError(PliersError):
    """The engine was asked something it cannot do (a user mistake, not a plugin failure)."""


class UnknownPluginError(EngineError, KeyError):
    """No plugin with that id is known to the engine."""

    def __init__(self, plugin_id: str, known: list[str] | None = None) -> None:
        hint = f"; loaded plugins: {', '.join(sorted(known))}" if known else ""
        super().__init__(f"unknown plugin {plugin_id!r}{hint}")
        self.plugin_id = plugin_id

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class UnknownHookError(EngineError, KeyError):
    """A hook name that is neither a core hook nor declared as custom by a loaded plugin."""

    def __init__(self, hook: str, suggestion: str | None = None) -> None:
        hint = f" (did you mean {suggestion!r}?)" if suggestion else ""
        super().__init__(
            f"unknown hook {hook!r}{hint}: not a core hook and no loaded plugin declares it"
        )
        self.hook = hook

    def __str__(self) -> str:
        return str(self.args[0])


class IllegalTransition(EngineError):
    """A lifecycle transition that the transition table does not allow."""

    def __init__(self, plugin_id: str, source: str, target: str, allowed: list[str]) -> None:
        super().__init__(
            f"plugin {plugin_id!r}: illegal lifecycle transition {source} -> {target} "
            f"(from {source} only {', '.join(allowed) or 'nothing'} is allowed)"
        )
        self.plugin_id = plugin_id
        self.source = source
        self.target = target


_error_ids = itertools.count(1)


class PluginError(PliersError):
    """A failure caused by (or attributed to) one plugin.

    Attributes mirror the spec's ``PluginError`` record: ``type``, ``plugin_id``,
    ``message``, ``stack`` and the context (``hook``, ``execution_id``, ``timestamp``,
    ``metadata``), plus the original ``cause``.
    """

    counted: ClassVar[bool] = True
    """Whether the failure is the plugin's: counted in its error rate and breaker streak
    and handed to its recovery policy. False for what the host did or refused on its own
    (``HostOverload``, ``NotRun`` such as ``CircuitOpen``)."""

    def __init__(
        self,
        type: PluginErrorType,
        message: str,
        *,
        plugin_id: str | None = None,
        hook: str | None = None,
        execution_id: str | None = None,
        cause: BaseException | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.id = f"err-{next(_error_ids)}"
        self.type = PluginErrorType(type)
        self.message = message
        self.plugin_id = plugin_id
        self.hook = hook
        self.execution_id = execution_id
        self.cause = cause
        self.metadata: dict[str, Any] = metadata or {}
        self.timestamp = time.time()
        self.recovery: str | None = None
        if cause is not None:
            self.__cause__ = cause
            self.stack: str | None = "".join(
                traceback.format_exception(type_(cause), cause, cause.__traceback__)
            )
        else:
            self.stack = None

    def __str__(self) -> str:
        where = []
        if self.plugin_id:
            where.append(f"plugin {self.plugin_id!r}")
        if self.hook:
            where.append(f"hook {self.hook!r}")
        if self.execution_id:
            where.append(f"execution {self.execution_id}")
        prefix = f"[{self.type.value}] " + (", ".join(where) + ": " if where else "")
        return prefix + self.message

    def __repr__(self) -> str:
        return f"PluginError({self.type.value}, {self.plugin_id!r}, {self.message!r})"

    def to_dict(self) -> dict[str, Any]:
        """The spec's serialisable error record."""
        return {
            "id": self.id,
            "type": self.type.value,
            "pluginId": self.plugin_id,
            "message": self.message,
            "stack": self.stack,
            "context": {
                "hook": self.hook,
                "executionId": self.execution_id,
                "timestamp": self.timestamp,
                "metadata": self.metadata,
            },
            "recovery": self.recovery,
        }


#: ``PluginError.metadata["cause"]`` of a call refused for the host's own limits.
HOST_OVERLOAD = "host_overload"


class _HostDecision(PluginError):
    """An error the host made, not the plugin: ``counted`` is False, the error type and
    the ``cause`` in the metadata come from the class."""

    counted = False
    decided_type = PluginErrorType.RUNTIME_ERROR
    decided_cause: str | None = None

    def __init__(
        self,
        message: str,
        *,
        plugin_id: str | None = None,
        hook: str | None = None,
        execution_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        cause = {"cause": self.decided_cause} if self.decided_cause else {}
        super().__init__(
            self.decided_type,
            message,
            plugin_id=plugin_id,
            hook=hook,
            execution_id=execution_id,
            metadata={**cause, **(metadata or {})} or None,
        )


class HostOverload(_HostDecision):
    """The host had no worker for the call within its budget, or its queue was full.

    Load, not failure (issue 14): a ``RESOURCE_ERROR`` with ``metadata["cause"] ==
    "host_overload"``, recorded in the error store and the execution's outcome (status
    ``overloaded``) but never counted against the plugin: no breaker streak, no recovery
    action, no quarantine, no ``on_error``, not in its error rate.
    """

    decided_type = PluginErrorType.RESOURCE_ERROR
    decided_cause = HOST_OVERLOAD


class NotRun(_HostDecision):
    """The host decided not to run the handler: the outcome is ``skipped`` with this
    message as its reason; nothing is counted, and it is no error of the plugin's (the
    error store does not keep it). ``metadata["cause"]`` says why."""


class CircuitOpen(NotRun):
    """Raised by an open circuit breaker instead of calling the handler (its openings
    and trials are in ``engine.recoveries``)."""

    def __init__(
        self,
        message: str,
        *,
        plugin_id: str | None = None,
        hook: str | None = None,
        execution_id: str | None = None,
        retry_after_s: float = 0.0,
    ) -> None:
        metadata: dict[str, Any] = {"cause": "circuit_open"}
        if retry_after_s > 0:
            metadata["retry_after_s"] = round(retry_after_s, 3)
        super().__init__(
            message,
            plugin_id=plugin_id,
            hook=hook,
            execution_id=execution_id,
            metadata=metadata,
        )


def type_(exc: BaseException) -> type[BaseException]:
    """``type()`` under another name: the constructor's parameter shadows the builtin."""
    return exc.__class__


def must_propagate(exc: BaseException) -> bool:
    """True for what a plugin's failure must never swallow: a real Ctrl-C.

    Everything else a trusted (inline) handler raises, ``SystemExit`` and
    ``GeneratorExit`` included, is that plugin's failure: the engine's caller (a
    notebook, a server) keeps running.
    """
    return isinstance(exc, KeyboardInterrupt)


def raised_text(exc: BaseException) -> str:
    """What a handler did, for an error message: ``raised ValueError: bad`` or, for
    ``SystemExit``, ``called sys.exit(3)``."""
    if isinstance(exc, SystemExit):
        return f"called sys.exit({'' if exc.code is None else repr(exc.code)})"
    return f"raised {type_(exc).__name__}: {exc}"
