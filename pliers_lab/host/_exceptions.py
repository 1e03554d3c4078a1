"""What a host operation raises. Every error names what went wrong and where.

Host errors carry the pipeline ``trace`` up to the failure (``None`` when the operation
failed before any step ran), so the lab can draw an aborted submission as well as a
successful one. When an error is raised the operation's transaction has been rolled back:
nothing of it stays in the database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import PliersError, PluginError, PluginErrorType

if TYPE_CHECKING:
    from ._pipeline_trace import Trace

__all__ = [
    "AuthenticationFailed",
    "EventCascadeError",
    "ExportFormatError",
    "FormDefinitionError",
    "HostError",
    "ImportFailed",
    "MalformedPayload",
    "OperationVetoed",
    "StepAborted",
    "SubmissionInvalid",
    "TransitionError",
    "TransitionRefused",
    "UnknownFormError",
    "UnknownSubmissionError",
]


class HostError(PliersError):
    """Base of the host's errors; ``trace`` is the pipeline trace up to the failure."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.trace: Trace | None = None


class UnknownFormError(HostError, KeyError):
    """No form with that id."""

    def __init__(self, form_id: object, known: list[str] | None = None) -> None:
        shown = ", ".join(sorted(known)[:10]) if known else "none"
        super().__init__(f"unknown form {form_id!r} (forms: {shown})")
        self.form_id = form_id

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class UnknownSubmissionError(HostError, KeyError):
    """No submission with that id."""

    def __init__(self, submission_id: object) -> None:
        super().__init__(f"unknown submission {submission_id!r}")
        self.submission_id = submission_id

    def __str__(self) -> str:
        return self.message


def _listing(problems: list[dict[str, Any]], key: str) -> str:
    return "\n  ".join(f"{p.get(key) or '(form)'}: {p['message']}" for p in problems)


class FormDefinitionError(HostError):
    """A form definition that is not valid; ``problems`` are ``{path, message}`` dicts."""

    def __init__(self, form: str, problems: list[dict[str, Any]]) -> None:
        n = len(problems)
        super().__init__(
            f"form {form}: {n} problem{'s' if n != 1 else ''} in the definition:\n  "
            + _listing(problems, "path")
        )
        self.form = form
        self.problems = problems


class MalformedPayload(HostError):
    """Input that is not even the right shape (not a dict, non-JSON values, a plugin
    returning a broken payload); ``path`` says where."""

    def __init__(self, where: str, path: str, message: str) -> None:
        super().__init__(f"{where}: malformed payload at {path}: {message}")
        self.where = where
        self.path = path


class SubmissionInvalid(HostError):
    """A submission that violates its form; ``errors`` lists every field problem.

    Each issue is ``{field, code, message}`` plus ``plugin`` when a plugin reported it.
    """

    def __init__(
        self, form_id: str, errors: list[dict[str, Any]], warnings: list[dict[str, Any]]
    ) -> None:
        n = len(errors)
        lines = "\n  ".join(
            f"{e.get('field') or '(submission)'}: {e['message']}"
            + (f" [{e['plugin']}]" if e.get("plugin") else "")
            for e in errors
        )
        super().__init__(
            f"submission to form {form_id!r} is invalid ({n} problem{'s' if n != 1 else ''}):"
            f"\n  {lines}"
        )
        self.form_id = form_id
        self.errors = errors
        self.warnings = warnings


class OperationVetoed(HostError):
    """A plugin refused the operation at a veto hook (``before*``, ``auth.authorize``)."""

    def __init__(self, operation: str, hook: str, plugin_id: str | None, reason: str) -> None:
        super().__init__(f"{operation} refused by plugin {plugin_id!r} at {hook}: {reason}")
        self.operation = operation
        self.hook = hook
        self.plugin_id = plugin_id
        self.reason = reason


class StepAborted(HostError):
    """A plugin failure that aborts the operation: a security error anywhere, or any
    failure at a step whose policy is ``abort`` (veto hooks fail closed).

    ``error`` is the engine's ``PluginError`` (plugin, hook, execution id, cause).
    """

    def __init__(self, operation: str, error: PluginError) -> None:
        super().__init__(f"{operation} aborted at {error.hook or 'the host api'}: {error}")
        self.operation = operation
        self.error = error
        self.plugin_id = error.plugin_id
        self.hook = error.hook
        self.__cause__ = error

    @property
    def type(self) -> PluginErrorType:
        return self.error.type


class TransitionError(HostError):
    """A workflow transition that the form's status definitions do not have."""

    def __init__(
        self, form_id: str, submission_id: str, source: str, target: str, allowed: list[str]
    ) -> None:
        shown = ", ".join(allowed) or "none (final status)"
        super().__init__(
            f"submission {submission_id!r} (form {form_id!r}): no transition {source!r} -> "
            f"{target!r}; from {source!r} the form allows: {shown}"
        )
        self.form_id = form_id
        self.submission_id = submission_id
        self.source = source
        self.target = target
        self.allowed = allowed


class TransitionRefused(HostError):
    """A transition that exists but may not happen now: a role is missing, a condition
    is false, or a plugin's ``workflow.condition`` blocked it."""

    def __init__(
        self,
        submission_id: str,
        source: str,
        target: str,
        reason: str,
        plugin_id: str | None = None,
    ) -> None:
        by = f" (plugin {plugin_id!r})" if plugin_id else ""
        super().__init__(
            f"submission {submission_id!r}: transition {source!r} -> {target!r} "
            f"refused{by}: {reason}"
        )
        self.submission_id = submission_id
        self.source = source
        self.target = target
        self.reason = reason
        self.plugin_id = plugin_id


class EventCascadeError(HostError):
    """Events publishing events deeper than the bus allows; ``chain`` lists the types."""

    def __init__(self, limit: int, chain: list[str], publisher: str | None) -> None:
        who = f" by {publisher}" if publisher else ""
        super().__init__(
            f"event cascade deeper than {limit} stopped: publishing {chain[-1]!r}{who} "
            f"after {' -> '.join(chain[:-1])}"
        )
        self.limit = limit
        self.chain = chain
        self.publisher = publisher


class ExportFormatError(HostError):
    """No plugin (and not the host) knows the requested export format."""


class AuthenticationFailed(HostError):
    """No ``auth.authenticate`` plugin recognised the credentials."""


class ImportFailed(HostError):
    """An import refused as a whole: ``import.validate`` found problems (``errors``), or
    one row failed the pipeline (``row``, ``error``). No row of it was saved."""

    def __init__(
        self,
        form_id: str,
        message: str,
        *,
        row: int | None = None,
        error: BaseException | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        where = f" at row {row}" if row is not None else ""
        super().__init__(f"import into form {form_id!r} failed{where}: {message}")
        self.form_id = form_id
        self.row = row
        self.error = error
        self.errors = errors or []
