"""The event log: JSON Lines of the event engine's ``BaseEvent`` (related facts §9).

Events are checked for the fields replay needs (id, type, timestamp, aggregateId,
aggregateType, sequenceNumber, payload object); a bad line is an ``EventLogError`` naming
the line number and the field, never a KeyError deep inside a worker.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import PliersError

__all__ = ["EventLogError", "check_event", "read_events", "synthetic_log"]

REQUIRED = {"id": str, "type": str, "timestamp": str, "aggregateId": str, "aggregateType": str,
            "sequenceNumber": int, "payload": dict}  # fmt: skip


class EventLogError(PliersError):
    """A line of an event log that is not a valid event."""


def check_event(raw: str, where: str) -> dict[str, Any]:
    try:
        event = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise EventLogError(f"{where}: not JSON (column {exc.colno}: {exc.msg})") from None
    if not isinstance(event, dict):
        raise EventLogError(f"{where}: an event must be a JSON object")
    for name, kind in REQUIRED.items():
        if name not in event:
            raise EventLogError(f"{where}: missing field {name!r}")
        if not isinstance(event[name], kind) or (kind is int and isinstance(event[name], bool)):
            raise EventLogError(
                f"{where}: {name} must be {kind.__name__}, got {type(event[name]).__name__}"
            )
    if event["sequenceNumber"] < 1:
        raise EventLogError(f"{where}: sequenceNumber must be at least 1")
    return event


def read_events(path: str | Path) -> Iterator[dict[str, Any]]:
    """The events of a log file, checked, blank lines skipped."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                yield check_event(line, f"{path}:{number}")


FORM = {
    "id": "contact",
    "name": "Contact us",
    "version": 1,
    "metadata": {},
    "fields": [
        {"id": "f1", "name": "name", "label": "Name", "type": "text", "required": True},
        {"id": "f2", "name": "email", "label": "E-mail", "type": "email", "required": True},
        {"id": "f3", "name": "message", "label": "Message", "type": "text", "required": True},
        {"id": "f4", "name": "website", "label": "Leave empty", "type": "text", "required": False},
    ],
}


def _event(
    n: int, type_: str, aggregate: str, kind: str, seq: int, payload: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": f"evt-{n:08d}", "type": type_, "version": 1,
        "timestamp": f"2026-11-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:00Z",
        "aggregateId": aggregate, "aggregateType": kind, "sequenceNumber": seq,
        "metadata": {"sourceSystem": "pliers", "sourceVersion": "3.0.0"}, "payload": payload,
    }  # fmt: skip


def synthetic_log(path: str | Path, submissions: int, *, seed: int = 1) -> Path:
    """A realistic log: a form, then per submission a creation and one or two status
    changes; about one in twelve is spam (honeypot filled or a throwaway domain)."""
    rng = random.Random(seed)
    domains = ["example.com", "acme.io", "gmail.com", "mailinator.com", "contoso.org"]
    lines: list[dict[str, Any]] = [
        _event(0, "form.created", "contact", "form", 1,
               {"formId": "contact", "name": FORM["name"], "version": 1, "definition": FORM,
                "createdBy": "admin"}),
    ]  # fmt: skip
    n = 1
    for i in range(submissions):
        sid = f"sub-{i:07d}"
        spam = rng.random() < 1 / 12
        data = {"name": f"Person {i}", "email": f"user{i}@{rng.choice(domains)}",
                "message": "hello <b>there</b>" if i % 5 else "call me",
                "website": "http://spam.example" if spam else ""}  # fmt: skip
        lines.append(_event(n, "submission.created", sid, "submission", 1,
                            {"submissionId": sid, "formId": "contact", "data": data,
                             "status": "new", "submittedBy": f"user{i % 50}"}))  # fmt: skip
        n += 1
        for seq, (old, new) in enumerate(
            [("new", "in_review"), ("in_review", "done")][: 1 + i % 2], 2
        ):
            lines.append(_event(n, "submission.status.changed", sid, "submission", seq,
                                {"from": old, "to": new, "changedBy": "reviewer"}))  # fmt: skip
            n += 1
    target = Path(path)
    with open(target, "w", encoding="utf-8") as out:
        for event in lines:
            out.write(json.dumps(event, separators=(",", ":")) + "\n")
    return target


def forms_of(events: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Form definitions from ``form.created``/``form.updated`` events, by form id."""
    forms: dict[str, dict[str, Any]] = {}
    for event in events:
        if event["type"] in ("form.created", "form.updated"):
            definition = event["payload"].get("definition") or event["payload"].get("new")
            if isinstance(definition, dict):
                forms[event["aggregateId"]] = definition
    return forms
