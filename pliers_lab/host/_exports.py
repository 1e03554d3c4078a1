"""Exporting submissions: ``export.format`` (a ``first`` hook) answers with
``{"contentType", "filename", "body"}``; the host knows ``json`` itself, for every other
format a plugin must answer. Hook data: ``{"format", "form", "submissions"}``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ._exceptions import ExportFormatError

if TYPE_CHECKING:
    from ._host import Host, HostResult

__all__ = ["export"]


def _builtin_json(form: dict[str, Any], submissions: list[dict[str, Any]]) -> dict[str, Any]:
    body = json.dumps(
        {"form": form["id"], "version": form["version"], "submissions": submissions},
        ensure_ascii=False,
    )
    return {
        "contentType": "application/json",
        "filename": f"{form['id']}-submissions.json",
        "body": body,
    }


def export(
    host: Host,
    form_id: str,
    fmt: str = "csv",
    *,
    status: str | None = None,
    user_id: str | None = None,
) -> HostResult:
    from ._host import HostResult

    if not isinstance(fmt, str) or not fmt:
        raise ExportFormatError(f"export format must be a name such as 'csv', got {fmt!r}")
    with host.operation("export", form_id, user_id=user_id) as run:
        form = host.forms.get(form_id)
        submissions = host.submissions.list(form_id, status=status)
        answer = run.first(
            "export.format", {"format": fmt, "form": form, "submissions": submissions}
        )
        if answer is None:
            if fmt.lower() != "json":
                askers = [i.plugin_id for i in host.engine.handlers("export.format")]
                raise ExportFormatError(
                    f"no plugin answered export.format for {fmt!r} "
                    f"(asked: {', '.join(askers) or 'no plugin'}; "
                    "the host itself knows 'json')"
                )
            answer = _builtin_json(form, submissions)
        if not isinstance(answer, dict) or not isinstance(answer.get("body"), str | bytes):
            raise ExportFormatError(
                f"the export.format answer for {fmt!r} is not "
                f"{{contentType, filename, body}}: {answer!r:.200}"
            )
        host.emit(
            run,
            "form.exported",
            {"formId": form_id, "format": fmt, "count": len(submissions), "exportedBy": user_id},
            "form",
            form_id,
        )
    return HostResult(answer, run.trace)
