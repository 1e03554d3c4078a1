"""Sample payloads per hook, in the data shapes the host sends (extensions/README.md).

They live in the core, not the lab, so that ``pliers simulate`` (the PDK) and the lab's
hook simulator start from the same realistic payload without the core importing the lab.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = [
    "CONTACT_FORM",
    "SUBMISSIONS",
    "describe_sample",
    "expected_keys",
    "sample_payload",
]

CONTACT_FORM: dict[str, Any] = {
    "id": "contact",
    "name": "Contact us",
    "version": 1,
    "fields": [
        {"id": "f1", "name": "name", "label": "Name", "type": "text", "required": True},
        {"id": "f2", "name": "email", "label": "E-mail", "type": "email", "required": True},
        {
            "id": "f3",
            "name": "phone",
            "label": "Phone",
            "type": "phone",
            "required": False,
            "countryCode": "US",
        },
        {"id": "f4", "name": "message", "label": "Message", "type": "text", "required": True},
        {"id": "f5", "name": "website", "label": "Leave empty", "type": "text", "required": False},
    ],
    "metadata": {
        "transformPipeline": [
            {"type": "normalize_phone", "field": "phone"},
            {"type": "enrich_company", "field": "email"},
        ]
    },
}


def _submission(sid: str, **data: Any) -> dict[str, Any]:
    return {"id": sid, "formId": "contact", "data": data, "metadata": {}, "status": "new"}


SUBMISSIONS = [
    _submission(
        "s-1",
        name="  Ada Lovelace ",
        email="Ada@Example.COM",
        phone="(415) 555-0100",
        message="Hello <script>alert(1)</script>there",
        website="",
    ),
    _submission(
        "s-2",
        name="Bot",
        email="bot@mailinator.com",
        phone="1",
        message="buy now",
        website="http://spam.example",
    ),
]


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


def describe_sample(hook: str) -> str:
    """What ``sample_payload(hook)`` holds, in a few words (for a one-line notice)."""
    keys = expected_keys(hook)
    if not keys:
        return f"no sample for {hook!r}: an empty payload {{}}"
    parts = {
        "form": f"form {CONTACT_FORM['id']!r}",
        "submission": f"submission {SUBMISSIONS[0]['id']!r}",
        "transition": "transition new -> approved",
        "format": "format 'csv'",
        "submissions": "submissions [1]",
    }
    return f"the sample payload for {hook} ({', '.join(parts[k] for k in keys)})"
