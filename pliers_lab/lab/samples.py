"""Sample payloads per hook, in the data shapes the host sends (extensions/README.md).

The hook simulator starts from these so that a first Fire does something meaningful.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["expected_keys", "sample_payload"]


def expected_keys(hook: str) -> tuple[str, ...]:
    """Top-level keys the host puts in ``ctx.data`` for ``hook`` (empty when unknown)."""
    if hook.startswith("workflow."):
        return ("form", "submission", "transition")
    if hook.startswith("submission.") or hook == "form.validation.custom":
        return ("form", "submission")
    if hook.startswith("form."):
        return ("form",)
    if hook == "export.format":
        return ("format", "form", "submissions")
    return ()


def sample_payload(hook: str) -> Any:
    """A payload for ``hook`` built from the demo's contact form and first submission."""
    from ..demo import CONTACT_FORM, SUBMISSIONS

    form = copy.deepcopy(CONTACT_FORM)
    submission = copy.deepcopy(SUBMISSIONS[0])
    keys = expected_keys(hook)
    values: dict[str, Any] = {
        "form": form,
        "submission": submission,
        "transition": {"from": "new", "to": "approved", "by": "reviewer"},
        "format": "csv",
        "submissions": [submission],
    }
    return {key: values[key] for key in keys} if keys else {}
