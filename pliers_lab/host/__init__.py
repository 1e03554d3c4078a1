"""The simulated Pliers host: forms, submissions and workflows in SQLite, the event bus,
and the whole submission pipeline fired through the engine's hooks (issue 3).

``from pliers_lab.host import Host``; ``pliers_lab`` itself does not import this package.
"""

from ._exceptions import (
    AuthenticationFailed,
    EventCascadeError,
    ExportFormatError,
    FormDefinitionError,
    HostError,
    ImportFailed,
    MalformedPayload,
    OperationVetoed,
    StepAborted,
    SubmissionInvalid,
    TransitionError,
    TransitionRefused,
    UnknownFormError,
    UnknownSubmissionError,
)
from ._host import Host, HostResult
from ._pipeline_trace import Trace
from ._run import ErrorPolicy

__all__ = [
    "AuthenticationFailed",
    "ErrorPolicy",
    "EventCascadeError",
    "ExportFormatError",
    "FormDefinitionError",
    "Host",
    "HostError",
    "HostResult",
    "ImportFailed",
    "MalformedPayload",
    "OperationVetoed",
    "StepAborted",
    "SubmissionInvalid",
    "Trace",
    "TransitionError",
    "TransitionRefused",
    "UnknownFormError",
    "UnknownSubmissionError",
]
