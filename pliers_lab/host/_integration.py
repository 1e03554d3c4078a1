"""``integration.sync``: hand a form's submissions (or all) to the plugins that sync with
an external system. Hook data: ``{"target": str, "form": Form | None, "submissions":
[Submission]}``; each plugin answers a receipt (collected in order)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._exceptions import MalformedPayload

if TYPE_CHECKING:
    from ._host import Host, HostResult

__all__ = ["sync"]


def sync(
    host: Host, target: str, *, form_id: str | None = None, since: float | None = None
) -> HostResult:
    from ._host import HostResult

    if not isinstance(target, str) or not target:
        raise MalformedPayload(
            "sync", "target", f"must be the name of an external system, got {target!r}"
        )
    with host.operation("sync", target) as run:
        form = host.forms.get(form_id) if form_id is not None else None
        submissions = host.submissions.list(form_id, since=since)
        receipts = run.collect(
            "integration.sync", {"target": target, "form": form, "submissions": submissions}
        )
        host.emit(
            run,
            "integration.synced",
            {
                "target": target,
                "formId": form_id,
                "count": len(submissions),
                "receipts": len(receipts),
            },
            "system",
            target,
        )
    return HostResult(receipts, run.trace)
