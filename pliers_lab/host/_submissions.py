"""Submissions: the whole pipeline of issue 3, in one transaction per submission.

``submit`` runs, in this order (hook data ``{"form", "submission"}`` unless noted)::

    intake                      form exists, data is a dict of known fields, JSON values
    submission.beforeValidate   validate   plugins' problems are kept for step 5
    submission.sanitize         waterfall
    submission.transform        waterfall
    submission.enrich           waterfall
    validate (host)             required, types, min/max, pattern, options
    form.validation.custom      validate   → any problem from steps 1, 5: SubmissionInvalid
    submission.afterValidate    collect
    submission.beforeSave       veto       → OperationVetoed
    save (host)                 row in ``submissions`` with the initial status; event
                                ``submission.created``
    submission.afterSave        collect
    submission.beforeProcess    veto
    per automatic transition (data adds ``"transition": {"from", "to", "by"}``):
      workflow.beforeTransition veto       → OperationVetoed
      workflow.condition        veto       a refusal leaves the submission where it is
      transition (host)         status update, ``status_history`` row, event
                                ``submission.status.changed``
      workflow.action           collect
      workflow.afterTransition  collect
    submission.afterProcess     collect
    notification.send, email.template, sms.send   (see notifications.py)
    events delivered, then COMMIT

A waterfall's output must keep the shape (a ``submission`` dict with a ``data`` dict)
and may not change the submission's ``id``, ``formId`` or ``status``; otherwise the
operation fails with ``MalformedPayload`` naming the hook and plugin.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._db import dumps, loads, new_id
from ._exceptions import (
    MalformedPayload,
    SubmissionInvalid,
    TransitionRefused,
    UnknownSubmissionError,
)
from ._form_validation import issue
from ._notifications import notify
from ._result import HostResult
from ._workflow import describe_condition

if TYPE_CHECKING:
    from ._forms import CompiledForm
    from ._host import Host
    from ._run import Run

__all__ = ["Submissions"]

perf = time.perf_counter
_INSERT = (
    "INSERT INTO submissions (id, form_id, form_version, data, metadata, status, submitted_by,"
    " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_HISTORY = (
    "INSERT INTO status_history (submission_id, from_status, to_status, by, reason, at)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
#: The same for an automatic move (no one, no reason): NULLs in the statement, because
#: the sqlite3 module binds a None parameter only after two failed attribute lookups.
_HISTORY_AUTO = _HISTORY.replace("(?, ?, ?, ?, ?, ?)", "(?, ?, ?, NULL, NULL, ?)")
#: A submission nobody signed in for: ``submitted_by`` NULL in the statement (as above).
_INSERT_ANONYMOUS = _INSERT.replace("?, ?, ?, ?, ?, ?, ?, ?, ?)", "?, ?, ?, ?, ?, ?, NULL, ?, ?)")


def _shape_checker(submission: dict[str, Any]) -> Any:
    """A check for waterfall outputs: keeps the shape and the host-owned keys."""
    sid, fid = submission["id"], submission["formId"]

    def check(data: Any) -> str | None:
        sub = data.get("submission") if isinstance(data, dict) else None
        if not isinstance(sub, dict) or not isinstance(sub.get("data"), dict):
            return "the data must keep a 'submission' dict with a 'data' dict"
        if sub.get("id") != sid or sub.get("formId") != fid:
            return "a plugin may not change the submission's id or formId"
        if not isinstance(sub.get("metadata", {}), dict):
            return "submission.metadata must stay a dict"
        return None

    return check


def _intake(form_id: str, compiled: CompiledForm, data: Any, metadata: Any) -> None:
    where = f"submit to form {form_id!r}"
    if type(data) is not dict and not isinstance(data, Mapping):  # the ABC check is slow
        raise MalformedPayload(
            where, "data", f"must be a dict of field name -> answer, got {type(data).__name__}"
        )
    if metadata is not None and not isinstance(metadata, Mapping):
        raise MalformedPayload(where, "metadata", f"must be a dict, got {type(metadata).__name__}")
    names = compiled.rules.names
    unknown = [k for k in data if k not in names]
    if unknown:
        bad = [k for k in unknown if not isinstance(k, str)]
        if bad:
            raise MalformedPayload(where, "data", f"field names are text, got {bad[0]!r}")
        known = ", ".join(sorted(names))
        raise SubmissionInvalid(
            form_id,
            [
                issue(k, "unknown_field", f"{k!r} is not a field of this form (fields: {known})")
                for k in unknown
            ],
            [],
        )
    for prefix, values in (("data", data), ("metadata", metadata or {})):
        for key, value in values.items():
            problem = json_problem(value)
            if problem is not None:
                raise MalformedPayload(where, f"{prefix}.{key}", problem)


_SCALARS = (str, int, bool, type(None))


def json_problem(value: Any, depth: int = 0) -> str | None:
    """Why ``value`` is not JSON data (None when it is): cheaper than encoding it."""
    if isinstance(value, _SCALARS):
        return None
    if isinstance(value, float):
        return (
            None
            if value == value and value not in (float("inf"), float("-inf"))
            else "NaN and infinity are not JSON"
        )
    if depth > 32:
        return "nested more than 32 levels"
    if isinstance(value, (list, tuple)):  # a tuple of types: cheaper than list | tuple
        for item in value:
            problem = json_problem(item, depth + 1)
            if problem is not None:
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"object keys are text, got {key!r}"
            problem = json_problem(item, depth + 1)
            if problem is not None:
                return problem
        return None
    return f"{type(value).__name__} is not JSON data"


class Submissions:
    """The host's submissions (``host.submissions``)."""

    def __init__(self, host: Host) -> None:
        self.host = host

    # ------------------------------------------------------------------ reading
    def get(self, submission_id: str) -> dict[str, Any]:
        row = (
            self.host.db.one("SELECT * FROM submissions WHERE id = ?", (submission_id,))
            if isinstance(submission_id, str)
            else None
        )
        if row is None:
            raise UnknownSubmissionError(submission_id)
        return _from_row(row)

    def list(
        self, form_id: str | None = None, *, status: str | None = None, since: float | None = None
    ) -> list[dict[str, Any]]:
        clauses, params = [], []
        for clause, value in (
            ("form_id = ?", form_id),
            ("status = ?", status),
            ("updated_at >= ?", since),
        ):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        return [
            _from_row(r)
            for r in self.host.db.query(
                f"SELECT * FROM submissions{where} ORDER BY created_at, id", params
            )
        ]

    # ------------------------------------------------------------------ submit
    def submit(
        self,
        form_id: str,
        data: Mapping[str, Any],
        *,
        user_id: str | None = None,
        session_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> HostResult:
        host = self.host
        compiled = host.forms.compiled(form_id)
        _intake(form_id, compiled, data, metadata)
        form, workflow = compiled.form, compiled.workflow
        sid = new_id()
        submission = {
            "id": sid,
            "formId": form_id,
            "data": dict(data),
            "metadata": dict(metadata or {}),
            "status": workflow.initial,
        }
        event = host.bus.event(
            "submission.created", {}, aggregate_type="submission", aggregate_id=sid
        )
        check = _shape_checker(submission)
        with host.operation(
            "submit",
            form_id,
            user_id=user_id,
            session_id=session_id,
            request_id=request_id,
            event=event,
        ) as run:
            event["metadata"] = host.event_metadata(run)
            payload: dict[str, Any] = {"form": form, "submission": submission}
            errors, warnings = run.validate("submission.beforeValidate", payload)
            payload = run.waterfall("submission.sanitize", payload, check)
            payload = run.waterfall("submission.transform", payload, check)
            payload = run.waterfall("submission.enrich", payload, check)
            submission = payload["submission"]
            if submission.get("status") != workflow.initial:
                raise MalformedPayload(
                    "submission.enrich",
                    "submission.status",
                    "plugins may not set the status; workflows do",
                )
            t0 = perf()
            core = compiled.rules.check(submission["data"])
            run.host_step(
                "validate",
                submission,
                core,
                t0,
                "invalid" if core else "ok",
                f"{len(core)} error(s)" if core else "",
            )
            more_errors, more_warnings = run.validate("form.validation.custom", payload)
            errors, warnings = [*errors, *core, *more_errors], [*warnings, *more_warnings]
            if errors:
                raise SubmissionInvalid(form_id, errors, warnings)
            run.collect("submission.afterValidate", payload)
            run.veto("submission.beforeSave", payload)
            t0 = perf()
            self._save(submission, form, user_id, event)
            run.host_step("save", payload, submission, t0)
            run.collect("submission.afterSave", payload)
            run.veto("submission.beforeProcess", payload)
            submission, entered = self._process(run, compiled, submission)
            payload = {"form": form, "submission": submission}
            run.collect("submission.afterProcess", payload)
            notify(run, host.db, form, submission, ["submit", *(f"status:{s}" for s in entered)])
        return HostResult(submission, run.trace, warnings)

    def _save(
        self,
        submission: dict[str, Any],
        form: dict[str, Any],
        user_id: str | None,
        event: dict[str, Any],
    ) -> None:
        now = time.time()
        try:
            data, meta = dumps(submission["data"]), dumps(submission.get("metadata", {}))
        except (TypeError, ValueError) as exc:
            raise MalformedPayload(
                "save", "submission", f"not JSON data after the plugins' transforms: {exc}"
            ) from None
        head = (submission["id"], form["id"], form["version"], data, meta, submission["status"])
        if user_id is None:
            self.host.db.run(_INSERT_ANONYMOUS, (*head, now, now))
        else:
            self.host.db.run(_INSERT, (*head, user_id, now, now))
        sid, fid, status = submission["id"], form["id"], submission["status"]
        event["payload"] = {
            "submissionId": sid,
            "formId": fid,
            "data": submission["data"],
            "status": status,
            "submittedBy": user_id,
        }
        # The answers are encoded once, for the row and for the event.
        payload_json = (
            f'{{"submissionId":{dumps(sid)},"formId":{dumps(fid)},"data":{data},'
            f'"status":{dumps(status)},"submittedBy":{dumps(user_id)}}}'
        )
        self.host.bus.publish(event, payload_json=payload_json)

    def _process(
        self, run: Run, compiled: CompiledForm, submission: dict[str, Any]
    ) -> tuple[dict[str, Any], builtins.list[str]]:
        """Follow automatic transitions from the submission's status; returns the
        submission and the statuses it entered."""
        workflow, entered = compiled.workflow, []
        for _ in range(len(workflow.statuses)):
            t0 = perf()
            source = submission["status"]
            chosen = workflow.automatic(source, submission["data"])
            if chosen is None:
                run.host_step(
                    "workflow",
                    submission,
                    submission,
                    t0,
                    "ok",
                    f"no automatic transition from {source!r}",
                )
                break
            transition = {"from": source, "to": chosen["toStatus"], "by": None}
            data = {"form": compiled.form, "submission": submission, "transition": transition}
            run.veto("workflow.beforeTransition", data)
            allowed, plugin, reason = run.allowed("workflow.condition", data)
            if not allowed:
                run.host_step(
                    "workflow",
                    submission,
                    submission,
                    time.perf_counter(),
                    "refused",
                    f"stays {source!r}: {plugin}: {reason}",
                )
                break
            submission = self._move(run, compiled, submission, transition, None)
            entered.append(transition["to"])
        return submission, entered

    def _move(
        self,
        run: Run,
        compiled: CompiledForm,
        submission: dict[str, Any],
        transition: dict[str, Any],
        reason: str | None,
    ) -> dict[str, Any]:
        """Write a transition, then fire ``workflow.action`` and ``workflow.afterTransition``."""
        t0, now, host = perf(), time.time(), self.host
        sid, source, target = submission["id"], transition["from"], transition["to"]
        host.db.run(
            "UPDATE submissions SET status = ?, updated_at = ? WHERE id = ?", (target, now, sid)
        )
        by = transition["by"]
        if by is None and reason is None:
            host.db.run(_HISTORY_AUTO, (sid, source, target, now))
        else:
            host.db.run(_HISTORY, (sid, source, target, by, reason, now))
        moved = {**submission, "status": target}
        host.emit(
            run,
            "submission.status.changed",
            {
                "submissionId": sid,
                "formId": submission["formId"],
                "from": source,
                "to": target,
                "changedBy": transition["by"],
                "reason": reason,
            },
            "submission",
            sid,
        )
        data = {"form": compiled.form, "submission": moved, "transition": transition}
        run.host_step("transition", submission, moved, t0, note=f"{source} -> {target}")
        run.collect("workflow.action", data)
        run.collect("workflow.afterTransition", data)
        return moved

    # ------------------------------------------------------------------ transition
    def transition(
        self,
        submission_id: str,
        to_status: str,
        *,
        by: str | None = None,
        roles: Sequence[str] = (),
        reason: str | None = None,
    ) -> HostResult:
        host = self.host
        with host.operation("transition", submission_id, user_id=by) as run:
            submission = self.get(submission_id)
            host.begin_event(run, "submission.status.changed", "submission", submission_id)
            compiled = host.forms.compiled(submission["formId"])
            source = submission["status"]
            t0 = perf()
            chosen = compiled.workflow.get(submission_id, source, to_status)
            missing = compiled.workflow.missing_roles(chosen, roles)
            if missing:
                raise TransitionRefused(
                    submission_id,
                    source,
                    to_status,
                    f"requires one of the roles {', '.join(missing)} "
                    f"(has: {', '.join(roles) or 'none'})",
                )
            failing = compiled.workflow.failing_condition(chosen, submission["data"])
            if failing is not None:
                raise TransitionRefused(
                    submission_id,
                    source,
                    to_status,
                    f"condition {describe_condition(failing)} does not hold",
                )
            run.host_step(
                "check transition", submission, chosen, t0, note=f"{source} -> {to_status}"
            )
            resource = {
                "type": "submission",
                "id": submission_id,
                "formId": submission["formId"],
                "transition": {"from": source, "to": to_status},
            }
            run.veto(
                "auth.authorize",
                {
                    "user": {"id": by, "roles": list(roles)},
                    "action": "workflow.transition",
                    "resource": resource,
                },
            )
            transition = {"from": source, "to": to_status, "by": by}
            data = {"form": compiled.form, "submission": submission, "transition": transition}
            run.veto("workflow.beforeTransition", data)
            allowed, plugin, why = run.allowed("workflow.condition", data)
            if not allowed:
                raise TransitionRefused(submission_id, source, to_status, why or "refused", plugin)
            moved = self._move(run, compiled, submission, transition, reason)
            notify(run, host.db, compiled.form, moved, [f"status:{to_status}"])
        return HostResult(moved, run.trace)

    # ------------------------------------------------------------------ api
    def update(
        self,
        submission_id: str,
        data: Mapping[str, Any] | None,
        metadata: Mapping[str, Any] | None,
        *,
        source: str,
    ) -> dict[str, Any]:
        """Merge answers and metadata into a saved submission (``api.update_submission``).

        The merged answers must still pass the form's core validation.
        """
        host = self.host
        for name, value in (("data", data), ("metadata", metadata)):
            if value is not None and not isinstance(value, Mapping):
                raise TypeError(f"{name} must be a dict, got {type(value).__name__}")
        with host.db.joined():
            current = self.get(submission_id)
            merged_data = {**current["data"], **(data or {})}
            merged_meta = {**current["metadata"], **(metadata or {})}
            compiled = host.forms.compiled(current["formId"])
            unknown = [k for k in (data or {}) if k not in compiled.rules.names]
            problems = compiled.rules.check(merged_data)
            if unknown or problems:
                shown = [f"{k!r} is not a field" for k in unknown] + [
                    p["message"] for p in problems
                ]
                raise ValueError(
                    f"submission {submission_id!r} would be invalid: {'; '.join(shown)}"
                )
            host.db.execute(
                "UPDATE submissions SET data = ?, metadata = ?, updated_at = ? WHERE id = ?",
                (dumps(merged_data), dumps(merged_meta), time.time(), submission_id),
            )
            host.emit(
                host.current_run,
                "submission.updated",
                {
                    "submissionId": submission_id,
                    "formId": current["formId"],
                    "changes": sorted(
                        {*(data or {}), *(f"metadata.{k}" for k in (metadata or {}))}
                    ),
                    "updatedBy": source,
                },
                "submission",
                submission_id,
            )
        return {**current, "data": merged_data, "metadata": merged_meta}


def _from_row(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "formId": row["form_id"],
        "formVersion": row["form_version"],
        "data": loads(row["data"]),
        "metadata": loads(row["metadata"]),
        "status": row["status"],
        "submittedBy": row["submitted_by"],
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
    }
