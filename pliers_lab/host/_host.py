"""``Host``: the simulated Pliers host (issue 3): forms, submissions and workflows in
SQLite, the event bus, and every host operation fired through the engine's hooks.

Each public operation is one transaction: it commits when the operation (and the event
deliveries it caused) succeeds and leaves nothing behind when it fails. Operations are
serialized; see ``db.py`` for how plugin code on other threads joins the running one.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..engine import Engine
from ..errors import PluginError, PluginErrorType, raised_text
from ..lifecycle import PluginState
from . import _exports as exports
from . import _imports as imports
from . import _integration as integration
from . import _plugin_auth as plugin_auth
from ._admin import EVENT as ADMIN_EVENT
from ._admin import AdminNotices
from ._api import HostAPI
from ._db import Database, default_path
from ._event_bus import EventBus, Subscription, event_from_row
from ._exceptions import HostError, StepAborted
from ._fieldtypes import FieldTypes
from ._forms import Forms
from ._pipeline_trace import Trace
from ._result import HostResult
from ._run import AsyncRunner, ErrorPolicy, Policies, Run
from ._submissions import Submissions
from ._tasks import Tasks

__all__ = ["Host", "HostResult"]

#: The trace's note on a "checkpoint" step (host/_checkpoint.py).
CHECKPOINT_NOTE = "the write-ahead log's last frames copied, so that it restarts"


class Host:
    """A Pliers host around an engine.

    Args:
        engine: the plugin engine (a new one, closed with the host, when omitted).
        db_path: the SQLite file; ``":memory:"`` for tests; default: ``host.sqlite3`` in
            the engine's data folder (see ``db.default_path``).
        max_event_depth: the longest chain of events causing events that is delivered.
        on_plugin_error: per-hook error policy overrides, ``{hook or "*": "abort" |
            "continue"}`` (defaults in ``run.py``: veto hooks abort, others continue).
        keep_traces: how many operation traces ``traces`` keeps.
        admin_recipient: to whom the administrator's notifications are addressed: one row
            of ``admin_notifications`` per recovery decision of a plugin whose
            ``recovery.notifyAdmin`` is true (``admin_notifications()``; see ``_admin``).
    """

    def __init__(
        self,
        engine: Engine | None = None,
        db_path: str | Path | None = None,
        *,
        max_event_depth: int = 8,
        on_plugin_error: Mapping[str, str | ErrorPolicy] | None = None,
        keep_traces: int = 100,
        admin_recipient: str = "admin",
    ) -> None:
        from .._version import __version__

        self._owns_engine = engine is None
        self.engine = engine if engine is not None else Engine()
        self.db = Database(
            db_path if db_path is not None else default_path(self.engine),
            in_worker_thread=self.engine.in_loop_thread,
        )
        self.field_types = FieldTypes()
        self.policies = Policies(on_plugin_error)
        self.bus = EventBus(
            self.db,
            max_depth=max_event_depth,
            source_version=__version__,
            may_receive=self._may_receive,
            on_error=self._subscriber_failed,
            on_delivered=self._delivered,
        )
        self.api = HostAPI(self)
        self.forms = Forms(self)
        self.submissions = Submissions(self)
        self.tasks = Tasks(self)
        self.current_run: Run | None = None
        self.aio = AsyncRunner()
        self.traces: deque[Trace] = deque(maxlen=keep_traces)
        self.engine.add_api_provider(self.api.provide)
        self.admin = AdminNotices(self.db, admin_recipient, self.engine.in_loop_thread)
        # An unloaded plugin's event subscriptions go with it: its handlers would run
        # code the engine no longer holds, on events it no longer has the right to.
        # Recovery decisions for the administrator are queued (written after operations).
        self._stop_watching = self.engine.activity.subscribe(self._plugin_changed)

    @classmethod
    def in_memory(cls, engine: Engine | None = None, **options: Any) -> Host:
        """A host on an in-memory database (tests, throwaway notebooks)."""
        return cls(engine, ":memory:", **options)

    # ------------------------------------------------------------------ operations
    @contextmanager
    def operation(
        self,
        name: str,
        target: str | None = None,
        *,
        user_id: str | None = None,
        session_id: str | None = None,
        request_id: str | None = None,
        event: Any = None,
    ) -> Iterator[Run]:
        """Run the block as one host operation: one transaction, one trace, events
        delivered before the commit. Raising inside rolls everything back."""
        run = Run(
            self.engine,
            self.policies,
            name,
            target,
            user_id=user_id,
            session_id=session_id,
            request_id=request_id,
            event=event,
            aio=self.aio,
        )
        outer = self.current_run
        try:
            with self.db.operation() as checkpointed:
                if checkpointed is not None:
                    run.trace.host("checkpoint", None, None, checkpointed, note=CHECKPOINT_NOTE)
                with self.bus.holding():
                    self.current_run = run
                    yield run
                t0 = time.perf_counter()
            run.trace.host(
                "commit",
                None,
                None,
                t0,
                note="nested: savepoint released" if self.db.in_operation else "",
            )
        except PluginError as exc:  # raised outside a hook step: an event subscriber's api call
            run.trace.finish(exc)
            self.traces.append(run.trace)
            error = StepAborted(name, exc)
            error.trace = run.trace
            raise error from exc
        except BaseException as exc:
            run.trace.finish(exc)
            self.traces.append(run.trace)
            if isinstance(exc, HostError) and exc.trace is None:
                exc.trace = run.trace
            raise
        finally:
            self.current_run = outer
            if self.admin.pending and not self.db.in_operation:
                self.admin.flush()  # the failures' notices outlive a rollback
        run.trace.finish()
        self.traces.append(run.trace)

    def event_metadata(self, run: Run | None) -> dict[str, Any]:
        """The metadata of the host's events in ``run``: built once, shared by them all
        (so it is encoded once too); nobody may change it."""
        if run is None:
            return self.bus.metadata()
        if run.event_meta is None:
            run.event_meta = self.bus.metadata(
                "host",
                {
                    "userId": run.user_id,
                    "sessionId": run.session_id,
                    "requestId": run.request_id,
                    "traceId": run.trace.id,
                },
            )
        return run.event_meta

    def emit(
        self,
        run: Run | None,
        event_type: str,
        payload: dict[str, Any],
        aggregate_type: str,
        aggregate_id: str,
    ) -> dict[str, Any]:
        """Publish a host event for the running operation (the one ``begin_event`` made
        for it, so that hooks saw it as ``ctx.event`` before it happened)."""
        pending = run.event if run is not None else None
        if (
            pending is not None
            and pending["sequenceNumber"] is None
            and pending["type"] == event_type
            and pending["aggregateId"] == aggregate_id
        ):
            pending["payload"] = payload
            return self.bus.publish(pending)
        event = self.bus.event(
            event_type,
            payload,
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            metadata=self.event_metadata(run),
        )
        return self.bus.publish(event)

    def begin_event(
        self, run: Run, event_type: str, aggregate_type: str, aggregate_id: str
    ) -> dict[str, Any]:
        """The event this operation is about (spec: HookContext ``event``): the hooks
        that fire from now on get it as ``ctx.event``; ``emit`` publishes it."""
        event = self.bus.event(
            event_type,
            {},
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            metadata=self.event_metadata(run),
        )
        run.event = event
        return event

    # ------------------------------------------------------------------ forms
    def create_form(
        self, definition: Mapping[str, Any], *, user_id: str | None = None
    ) -> HostResult:
        """Check, validate (``form.validate``) and save a new form; fires the form hooks."""
        return self.forms.create(definition, user_id=user_id)

    def update_form(
        self, form_id: str, definition: Mapping[str, Any], *, user_id: str | None = None
    ) -> HostResult:
        """Replace a form's definition (its version goes up by one)."""
        return self.forms.update(form_id, definition, user_id=user_id)

    def delete_form(
        self, form_id: str, *, user_id: str | None = None, purge: bool = False
    ) -> HostResult:
        """Delete a form; ``purge=True`` also deletes its submissions (else refused)."""
        return self.forms.delete(form_id, user_id=user_id, purge=purge)

    def get_form(self, form_id: str) -> dict[str, Any]:
        return self.forms.get(form_id)

    def list_forms(self) -> list[dict[str, Any]]:
        return self.forms.list()

    def render_form(self, form_id: str, *, user_id: str | None = None) -> HostResult:
        """The form's view model after ``form.field.render`` and ``form.render``."""
        return self.forms.render(form_id, user_id=user_id)

    # ------------------------------------------------------------------ submissions
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
        """Push a submission through the whole pipeline (see ``submissions.py``)."""
        return self.submissions.submit(
            form_id,
            data,
            user_id=user_id,
            session_id=session_id,
            metadata=metadata,
            request_id=request_id,
        )

    def transition(
        self,
        submission_id: str,
        to_status: str,
        *,
        by: str | None = None,
        roles: Sequence[str] = (),
        reason: str | None = None,
    ) -> HostResult:
        """Move a submission to ``to_status`` along its form's workflow."""
        return self.submissions.transition(
            submission_id, to_status, by=by, roles=roles, reason=reason
        )

    def get_submission(self, submission_id: str) -> dict[str, Any]:
        return self.submissions.get(submission_id)

    def list_submissions(
        self, form_id: str | None = None, *, status: str | None = None
    ) -> list[dict[str, Any]]:
        return self.submissions.list(form_id, status=status)

    # ------------------------------------------------------------------ import, export, auth, sync
    def import_submissions(
        self, form_id: str, rows: Sequence[Mapping[str, Any]], *, user_id: str | None = None
    ) -> HostResult:
        """``import.validate``, ``import.transform``, then every row through ``submit``;
        all rows or none."""
        return imports.import_rows(self, form_id, rows, user_id=user_id)

    def export(
        self,
        form_id: str,
        fmt: str = "csv",
        *,
        status: str | None = None,
        user_id: str | None = None,
    ) -> HostResult:
        """The form's submissions in ``fmt``, answered by an ``export.format`` plugin
        (``json`` is built in)."""
        return exports.export(self, form_id, fmt, status=status, user_id=user_id)

    def authenticate(self, credentials: Mapping[str, Any]) -> HostResult:
        """The user an ``auth.authenticate`` plugin recognises (``AuthenticationFailed``)."""
        return plugin_auth.authenticate(self, credentials)

    def authorize(
        self, user: Mapping[str, Any], action: str, resource: Mapping[str, Any] | None = None
    ) -> HostResult:
        """``auth.authorize``: any plugin may deny (``OperationVetoed``)."""
        return plugin_auth.authorize(self, user, action, resource)

    def sync(
        self, target: str, *, form_id: str | None = None, since: float | None = None
    ) -> HostResult:
        """``integration.sync``: hand submissions to the plugins that sync ``target``."""
        return integration.sync(self, target, form_id=form_id, since=since)

    def run_due_tasks(self, now: float | None = None) -> HostResult:
        """Publish every due scheduled task as a ``task.<name>`` event, then mark it done."""
        return self.tasks.run_due(now)

    # ------------------------------------------------------------------ events
    def subscribe(self, pattern: str, handler: Any, *, priority: int = 100) -> str:
        """Receive host and plugin events (no permission needed: this is the host side)."""
        return self.bus.subscribe(pattern, handler, priority=priority)

    def events(
        self, *, aggregate_id: str | None = None, type: str | None = None
    ) -> list[dict[str, Any]]:
        """The event log, oldest first."""
        clauses, params = [], []
        if aggregate_id is not None:
            clauses.append("aggregate_id = ?")
            params.append(aggregate_id)
        if type is not None:
            clauses.append("type = ?")
            params.append(type)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.db.query(f"SELECT * FROM events{where} ORDER BY position", params)
        return [event_from_row(r) for r in rows]

    def _may_receive(self, sub: Subscription, event_type: str) -> bool:
        if sub.plugin_id not in self.engine:
            return False
        plugin = self.engine.plugin(str(sub.plugin_id))
        if plugin.state is not PluginState.ACTIVE:
            return False
        return bool(plugin.manifest.permissions.allows("events", "subscribe", event_type))

    def _subscriber_failed(
        self, sub: Subscription, event: dict[str, Any], exc: BaseException
    ) -> None:
        error = (
            exc
            if isinstance(exc, PluginError)
            else PluginError(
                PluginErrorType.RUNTIME_ERROR,
                f"event handler for {event['type']!r} {raised_text(exc)}",
                plugin_id=sub.plugin_id,
                hook=f"event:{event['type']}",
                cause=exc,
            )
        )
        self.engine.errors.append(error)
        run = self.current_run
        if run is not None:
            run.failures += 1
            run.trace.host(
                f"event {event['type']}",
                event,
                None,
                time.perf_counter(),
                "error",
                f"{sub.plugin_id or 'host'}: {error.message}",
                kind="event",
            )

    def _delivered(
        self, event: dict[str, Any], subs: tuple[Subscription, ...], errors: int, t0: float
    ) -> None:
        run = self.current_run
        if run is not None:
            who = ", ".join(s.plugin_id or "host" for s in subs)
            note = f"to {who}" if subs else "no subscribers"
            run.trace.host(
                f"event {event['type']}",
                event,
                None,
                t0,
                "error" if errors else "ok",
                note,
                kind="event",
            )

    # ------------------------------------------------------------------ housekeeping
    def counts(self) -> dict[str, int]:
        """Rows per table."""
        return self.db.counts()

    @property
    def last_trace(self) -> Trace | None:
        return self.traces[-1] if self.traces else None

    def admin_notifications(self, plugin_id: str | None = None) -> list[dict[str, Any]]:
        """What the administrator was told about plugins' recovery decisions (of one
        plugin, when given), oldest first: recipient, plugin_id, action, detail, error_id,
        error_type, hook, message, status, decided_at, created_at."""
        return self.admin.rows(plugin_id)

    def _plugin_changed(self, event: Mapping[str, Any]) -> None:
        if event["type"] == ADMIN_EVENT:
            self.admin.take(event)
        elif event["type"] == "plugin.uninstalled" and event["pluginId"]:
            self.bus.unsubscribe_plugin(event["pluginId"])

    def close(self) -> None:
        """Close the database (and the engine, when the host created it)."""
        self._stop_watching()
        self.admin.flush(everything=True)
        self.db.close()
        self.aio.close()
        if self._owns_engine:
            self.engine.close()

    def __enter__(self) -> Host:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        forms, plugins = len(self.forms.ids()), len(self.engine.plugins)
        return f"<Host {self.db.path} forms={forms} plugins={plugins}>"
