"""Notifications: the form's ``settings.notifications`` rendered, handed to plugins and
written to the ``notifications`` outbox.

A notification setting is ``{"channel": "email" | "sms", "to", "subject"?, "body",
"on": "submit" | "status:<name>"}``; ``{{field}}``, ``{{submission.id}}``,
``{{submission.status}}`` and ``{{form.name}}`` are filled from the submission. Order:
``notification.send`` (collect; data ``{"form", "submission", "notifications"}``) once,
then per e-mail ``email.template`` (waterfall; data ``{"form", "submission", "email":
{"to", "subject", "body"}}``) and per SMS ``sms.send`` (first; data ``{"form",
"submission", "sms": {"to", "body"}}``: a gateway's answer marks it ``sent``, else it
stays ``queued``). Every notification becomes one outbox row.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ._db import dumps

if TYPE_CHECKING:
    from ._db import Database
    from ._run import Run

__all__ = ["fill", "notify"]

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")
_INSERT = (
    "INSERT INTO notifications (submission_id, channel, recipient, subject, body, status, receipt,"
    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
#: A queued e-mail: no receipt yet, NULL in the statement (the sqlite3 module binds a
#: None parameter only after two failed attribute lookups).
_INSERT_EMAIL = _INSERT.replace(
    "?, ?, ?, ?, ?, ?, ?, ?)", "?, 'email', ?, ?, ?, 'queued', NULL, ?)"
)


@functools.lru_cache(maxsize=1024)
def _parts(template: str) -> tuple[tuple[str, str | None], ...]:
    """``template`` split once into (literal, placeholder or None) pairs."""
    parts, last = [], 0
    for match in _PLACEHOLDER.finditer(template):
        parts.append((template[last : match.start()], match.group(1)))
        last = match.end()
    parts.append((template[last:], None))
    return tuple(parts)


def _lookup(key: str, form: dict[str, Any], submission: dict[str, Any]) -> str:
    if key.startswith("submission."):
        found = submission.get(key[11:])
    elif key.startswith("form."):
        found = form.get(key[5:])
    else:
        found = submission["data"].get(key)
    return "" if found is None else str(found)


def fill(template: str, form: dict[str, Any], submission: dict[str, Any]) -> str:
    """``template`` with its ``{{placeholders}}`` replaced (unknown ones become empty)."""
    if "{{" not in template:
        return template
    return "".join(  # a list, not a generator: join would make one from it anyway
        [
            text + (_lookup(key, form, submission) if key is not None else "")
            for text, key in _parts(template)
        ]
    )


def _email_ok(data: Any) -> str | None:
    email = data.get("email") if isinstance(data, dict) else None
    if not isinstance(email, dict) or not all(
        isinstance(email.get(k), str) for k in ("to", "body")
    ):
        return "the data must keep an 'email' dict with text 'to' and 'body'"
    return None


def notify(
    run: Run,
    db: Database,
    form: dict[str, Any],
    submission: dict[str, Any],
    triggers: Iterable[str],
) -> int:
    """Send the notifications due for ``triggers``; returns how many were written."""
    wanted = set(triggers)
    settings = [
        n for n in form["settings"].get("notifications", ()) if n.get("on", "submit") in wanted
    ]
    notes = [
        {
            "channel": n["channel"],
            "to": fill(n["to"], form, submission),
            "subject": fill(n.get("subject", ""), form, submission),
            "body": fill(n["body"], form, submission),
            "on": n.get("on", "submit"),
        }
        for n in settings
    ]
    run.collect(
        "notification.send", {"form": form, "submission": submission, "notifications": notes}
    )
    now, sid = time.time(), submission["id"]
    for note in notes:
        if note["channel"] == "email":
            email = {"to": note["to"], "subject": note["subject"], "body": note["body"]}
            out = run.waterfall(
                "email.template",
                {"form": form, "submission": submission, "email": email},
                _email_ok,
            )["email"]
            db.run(_INSERT_EMAIL, (sid, out["to"], out.get("subject"), out["body"], now))
        else:
            sms = {"to": note["to"], "body": note["body"]}
            receipt = run.first("sms.send", {"form": form, "submission": submission, "sms": sms})
            try:
                encoded = None if receipt is None else dumps(receipt)
            except (TypeError, ValueError):
                encoded = dumps({"answer": repr(receipt)})
            db.run(
                _INSERT,
                (
                    sid,
                    "sms",
                    sms["to"],
                    None,
                    sms["body"],
                    "queued" if receipt is None else "sent",
                    encoded,
                    now,
                ),
            )
    return len(notes)
