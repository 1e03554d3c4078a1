"""Importing submissions: ``import.validate`` and ``import.transform`` on the whole batch,
then every row through the submit pipeline, in one transaction: all rows or none.

Hook data: ``{"form": Form, "rows": [answers]}`` (a waterfall output must keep a
``rows`` list of dicts). Row issues from ``import.validate`` name the row in ``field``
(e.g. ``"rows[3].email"``) by convention.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._exceptions import HostError, ImportFailed, MalformedPayload

if TYPE_CHECKING:
    from ._host import Host, HostResult

__all__ = ["import_rows"]


def _rows_ok(data: Any) -> str | None:
    rows = data.get("rows") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        return "the data must keep a 'rows' list of dicts"
    return None


def import_rows(
    host: Host, form_id: str, rows: Sequence[Mapping[str, Any]], *, user_id: str | None = None
) -> HostResult:
    from ._host import HostResult

    form = host.forms.get(form_id)
    if isinstance(rows, str | bytes) or not isinstance(rows, Sequence):
        raise MalformedPayload(
            f"import into form {form_id!r}",
            "rows",
            f"must be a list of dicts, got {type(rows).__name__}",
        )
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise MalformedPayload(
                f"import into form {form_id!r}",
                f"rows[{i}]",
                f"must be a dict, got {type(row).__name__}",
            )
    with host.operation("import", form_id, user_id=user_id) as run:
        data: dict[str, Any] = {"form": form, "rows": [dict(r) for r in rows]}
        errors, warnings = run.validate("import.validate", data)
        if errors:
            shown = "; ".join(f"{e.get('field') or '(batch)'}: {e['message']}" for e in errors)
            raise ImportFailed(
                form_id, f"import.validate found {len(errors)} problem(s): {shown}", errors=errors
            )
        data = run.waterfall("import.transform", data, _rows_ok)
        saved, t0 = [], time.perf_counter()
        for i, row in enumerate(data["rows"]):
            try:
                saved.append(host.submit(form_id, row, user_id=user_id).value)
            except HostError as exc:
                raise ImportFailed(form_id, str(exc), row=i, error=exc) from exc
        run.host_step(
            "import",
            len(data["rows"]),
            [s["id"] for s in saved],
            t0,
            note=f"{len(saved)} submission(s)",
        )
        host.emit(
            run,
            "form.imported",
            {
                "formId": form_id,
                "count": len(saved),
                "submissionIds": [s["id"] for s in saved],
                "importedBy": user_id,
            },
            "form",
            form_id,
        )
    return HostResult(saved, run.trace, warnings)
