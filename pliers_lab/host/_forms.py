"""Form operations: create, update, delete and render, each one transaction with its hooks.

Create/update: the definition is checked by the host first (a broken definition never
reaches plugins), then ``form.validate`` (plugins' problems join the same error), then
``form.before{Create,Update}`` (a veto aborts), the rows, the ``form.created``/``updated``
event and ``form.after*``. Delete: ``form.beforeDelete``, then the rows go (a form with
submissions only with ``purge=True``), ``form.deleted``, ``form.afterDelete``.

Hook data: ``{"form": Form}``; update hooks also get ``"previous"``, the form before.
Compiled forms (validation rules, workflow) are cached per id and replaced only after a
commit, so a rolled-back update never leaves a stale cache.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, NamedTuple

from ._db import dumps, loads
from ._definitions import normalize_form
from ._exceptions import FormDefinitionError, HostError, UnknownFormError
from ._form_validation import FormRules
from ._render import render
from ._workflow import Workflow

if TYPE_CHECKING:
    from ._host import Host, HostResult
    from ._run import Run

__all__ = ["CompiledForm", "Forms"]

perf = time.perf_counter


class CompiledForm(NamedTuple):
    """A form version ready for submissions: the form, its rules and its workflow."""

    form: dict[str, Any]
    rules: FormRules
    workflow: Workflow


class Forms:
    """The host's forms (``host.forms``)."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self._compiled: dict[str, CompiledForm] = {}

    # ------------------------------------------------------------------ reading
    def compiled(self, form_id: str) -> CompiledForm:
        found = self._compiled.get(form_id)
        if found is None:
            row = (
                self.host.db.one("SELECT definition FROM forms WHERE id = ?", (form_id,))
                if isinstance(form_id, str)
                else None
            )
            if row is None:
                raise UnknownFormError(form_id, self.ids())
            form = loads(row[0])
            found = CompiledForm(form, FormRules(form, self.host.field_types), Workflow(form))
            self._compiled[form_id] = found
        return found

    def get(self, form_id: str) -> dict[str, Any]:
        return self.compiled(form_id).form

    def ids(self) -> list[str]:
        return [str(r[0]) for r in self.host.db.query("SELECT id FROM forms ORDER BY id")]

    def list(self) -> list[dict[str, Any]]:
        return [loads(r[0]) for r in self.host.db.query("SELECT definition FROM forms ORDER BY id")]

    # ------------------------------------------------------------------ checks
    def _checked(
        self, run: Run, definition: Any, version: int, hook_data: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        t0 = perf()
        form, problems = normalize_form(definition, self.host.field_types, version=version)
        label = repr(
            form.get("id") or (definition.get("id") if isinstance(definition, dict) else None)
        )
        run.host_step(
            "check definition",
            definition,
            form,
            t0,
            "invalid" if problems else "ok",
            f"{len(problems)} problem(s)" if problems else "",
        )
        if problems:
            raise FormDefinitionError(label, problems)
        errors, _warnings = run.validate("form.validate", {"form": form, **(hook_data or {})})
        if errors:
            raise FormDefinitionError(
                label,
                [
                    {
                        **e,
                        "path": e.get("field") or "",
                        "message": f"{e['message']} [{e.get('plugin')}]",
                    }
                    for e in errors
                ],
            )
        return form

    def _write(
        self, form: dict[str, Any], user_id: str | None, now: float, created: float | None = None
    ) -> None:
        db, fid = self.host.db, form["id"]
        if created is None:
            db.execute(
                "INSERT INTO forms (id, name, version, definition, created_at, updated_at,"
                " created_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (fid, form["name"], form["version"], dumps(form), now, now, user_id),
            )
        else:
            db.execute(
                "UPDATE forms SET name = ?, version = ?, definition = ?, updated_at = ?"
                " WHERE id = ?",
                (form["name"], form["version"], dumps(form), now, fid),
            )
            for table in ("form_fields", "workflow_statuses", "workflow_transitions"):
                db.execute(f"DELETE FROM {table} WHERE form_id = ?", (fid,))
        for i, f in enumerate(form["fields"]):
            db.execute(
                "INSERT INTO form_fields (form_id, position, name, type, required, definition)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (fid, i, f["name"], f["type"], int(f["required"]), dumps(f)),
            )
        for i, s in enumerate(form["statusDefinitions"]):
            db.execute(
                "INSERT INTO workflow_statuses (form_id, name, category, is_initial, is_final,"
                " position) VALUES (?, ?, ?, ?, ?, ?)",
                (fid, s["name"], s["category"], int(s["isInitial"]), int(s["isFinal"]), i),
            )
            for t in s["allowedTransitions"]:
                db.execute(
                    "INSERT INTO workflow_transitions (form_id, from_status, to_status, auto,"
                    " required_roles, conditions) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        fid,
                        s["name"],
                        t["toStatus"],
                        int(t["auto"]),
                        dumps(t["requiredRoles"]),
                        dumps(t["conditions"]),
                    ),
                )

    def _cache(self, form: dict[str, Any]) -> None:
        self._compiled[form["id"]] = CompiledForm(
            form, FormRules(form, self.host.field_types), Workflow(form)
        )

    # ------------------------------------------------------------------ operations
    def create(self, definition: Any, *, user_id: str | None = None) -> HostResult:
        from ._host import HostResult

        host = self.host
        with host.operation("create form", user_id=user_id) as run:
            form = self._checked(run, definition, 1)
            host.begin_event(run, "form.created", "form", form["id"])
            if host.db.one("SELECT 1 FROM forms WHERE id = ?", (form["id"],)) is not None:
                raise FormDefinitionError(
                    repr(form["id"]),
                    [{"path": "id", "message": "a form with this id exists; use update_form"}],
                )
            data = {"form": form}
            run.veto("form.beforeCreate", data)
            t0 = perf()
            self._write(form, user_id, time.time())
            host.emit(
                run,
                "form.created",
                {
                    "formId": form["id"],
                    "name": form["name"],
                    "version": 1,
                    "definition": form,
                    "createdBy": user_id,
                },
                "form",
                form["id"],
            )
            run.host_step("save", data, form, t0)
            run.collect("form.afterCreate", data)
        self._cache(form)
        return HostResult(form, run.trace)

    def update(self, form_id: str, definition: Any, *, user_id: str | None = None) -> HostResult:
        from ._host import HostResult

        host = self.host
        with host.operation("update form", form_id, user_id=user_id) as run:
            previous = self.compiled(form_id).form
            host.begin_event(run, "form.updated", "form", form_id)
            if not isinstance(definition, dict):
                raise FormDefinitionError(
                    repr(form_id), [{"path": "", "message": "a form definition is a dict"}]
                )
            if definition.get("id", form_id) != form_id:
                raise FormDefinitionError(
                    repr(form_id),
                    [
                        {
                            "path": "id",
                            "message": f"cannot change a form's id (to {definition['id']!r})",
                        }
                    ],
                )
            stated = definition.get("version")
            if stated is not None and stated != previous["version"]:
                raise FormDefinitionError(
                    repr(form_id),
                    [
                        {
                            "path": "version",
                            "message": f"stale: the form is at version {previous['version']},"
                            f" the update was made from {stated}",
                        }
                    ],
                )
            body = {k: v for k, v in definition.items() if k != "version"}
            form = self._checked(
                run, {**body, "id": form_id}, previous["version"] + 1, {"previous": previous}
            )
            data = {"form": form, "previous": previous}
            run.veto("form.beforeUpdate", data)
            t0 = perf()
            self._write(form, user_id, time.time(), created=0.0)
            changes = sorted(
                k
                for k in set(form) | set(previous)
                if form.get(k) != previous.get(k) and k != "version"
            )
            host.emit(
                run,
                "form.updated",
                {
                    "formId": form_id,
                    "previousVersion": previous["version"],
                    "newVersion": form["version"],
                    "changes": changes,
                    "updatedBy": user_id,
                },
                "form",
                form_id,
            )
            run.host_step(
                "save", data, form, t0, note=f"changed: {', '.join(changes) or 'nothing'}"
            )
            run.collect("form.afterUpdate", data)
        self._cache(form)
        return HostResult(form, run.trace)

    def delete(
        self, form_id: str, *, user_id: str | None = None, purge: bool = False
    ) -> HostResult:
        from ._host import HostResult

        host, db = self.host, self.host.db
        with host.operation("delete form", form_id, user_id=user_id) as run:
            form = self.compiled(form_id).form
            host.begin_event(run, "form.deleted", "form", form_id)
            data = {"form": form}
            run.veto("form.beforeDelete", data)
            t0 = perf()
            count = int(db.one("SELECT COUNT(*) FROM submissions WHERE form_id = ?", (form_id,))[0])  # type: ignore[index]
            if count and not purge:
                raise HostError(
                    f"form {form_id!r} has {count} submission(s); "
                    "delete_form(..., purge=True) deletes them too"
                )
            if count:
                ids = "SELECT id FROM submissions WHERE form_id = ?"
                db.execute(f"DELETE FROM status_history WHERE submission_id IN ({ids})", (form_id,))
                db.execute(f"DELETE FROM notifications WHERE submission_id IN ({ids})", (form_id,))
                db.execute("DELETE FROM submissions WHERE form_id = ?", (form_id,))
            db.execute("DELETE FROM forms WHERE id = ?", (form_id,))
            host.emit(
                run,
                "form.deleted",
                {
                    "formId": form_id,
                    "name": form["name"],
                    "version": form["version"],
                    "purgedSubmissions": count,
                    "deletedBy": user_id,
                },
                "form",
                form_id,
            )
            run.host_step(
                "delete", data, None, t0, note=f"{count} submission(s) purged" if count else ""
            )
            run.collect("form.afterDelete", data)
        self._compiled.pop(form_id, None)
        return HostResult(form, run.trace)

    def render(self, form_id: str, *, user_id: str | None = None) -> HostResult:
        from ._host import HostResult

        host = self.host
        with host.operation("render form", form_id, user_id=user_id) as run:
            form = self.compiled(form_id).form
            view = render(run, form)
            host.emit(
                run,
                "form.rendered",
                {"formId": form_id, "version": form["version"], "fields": len(view["fields"])},
                "form",
                form_id,
            )
        return HostResult(view, run.trace)
