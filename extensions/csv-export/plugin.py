"""csv-export: exports submissions as CSV or JSON Lines.

``export.format`` is a ``first`` hook: the first plugin that returns something answers,
so this plugin returns ``None`` for formats it does not know and lets another plugin
answer. The answer is ``{"contentType", "filename", "body"}``.

Columns are ``id``, the form's field names in form order, then ``status``. In CSV, text
answers that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``,
``@``, tab or carriage return) get a leading ``'`` when ``escapeFormulas`` is on.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from pliers_lab import HookContext, hook

Answer = dict[str, str]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def filename(form: dict[str, Any], extension: str) -> str:
    """``<form name>-submissions.<ext>``, the name made safe for a download."""
    slug = re.sub(r"[^a-z0-9]+", "-", str(form.get("name") or form.get("id") or "form").lower())
    return f"{slug.strip('-') or 'form'}-submissions.{extension}"


def columns(form: dict[str, Any]) -> list[str]:
    names = [f["name"] for f in form.get("fields", []) if f.get("name") not in ("id", "status")]
    return ["id", *names, "status"]


def rows(form: dict[str, Any], submissions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One dict per submission, keyed by the columns (missing answers are None)."""
    names = columns(form)[1:-1]
    return [
        {
            "id": s.get("id"),
            **{n: s.get("data", {}).get(n) for n in names},
            "status": s.get("status"),
        }
        for s in submissions
    ]


def cell(value: Any, escape_formulas: bool) -> str:
    """How one answer is written in a CSV cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = str(value)
    if escape_formulas and isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def to_csv(form: dict[str, Any], submissions: list[dict[str, Any]], config: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=config["delimiter"], lineterminator="\r\n")
    writer.writerow(columns(form))
    for row in rows(form, submissions):
        writer.writerow(cell(v, config["escapeFormulas"]) for v in row.values())
    return buffer.getvalue()


def to_jsonl(form: dict[str, Any], submissions: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows(form, submissions))


@hook("export.format")
def export(ctx: HookContext) -> Answer | None:
    """Answer for ``csv`` and ``jsonl``; pass (None) on any other format."""
    fmt = str(ctx.data.get("format", "")).lower()
    form, submissions = ctx.data["form"], ctx.data.get("submissions", [])
    if fmt == "csv":
        body, content_type = to_csv(form, submissions, ctx.config), "text/csv; charset=utf-8"
    elif fmt == "jsonl":
        body, content_type = to_jsonl(form, submissions), "application/x-ndjson"
    else:
        return None
    ctx.logger.info("exported submissions", format=fmt, count=len(submissions))
    return {"contentType": content_type, "filename": filename(form, fmt), "body": body}
