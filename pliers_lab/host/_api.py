"""``ctx.api``: the host's services for one plugin, each call checked against its manifest.

``ctx.api.database.find/find_one/count/insert/update/delete/execute``, ``ctx.api.events.
publish/subscribe/unsubscribe``, ``ctx.api.update_submission`` and ``ctx.api.schedule_task``.
Every call is checked (database ``read``/``write``/``execute`` on the table or procedure,
events ``subscribe``/``publish`` on the event type), logged in ``host.api.access_log``,
then done inside the running host operation's transaction (see ``db.py``). A denied call
raises ``PluginError(SECURITY_ERROR)`` naming the plugin, the hook, the resource and the
action; the host then aborts the operation, so nothing the plugin wrote before stays.

The facade is wire-ready for the process sandbox: arguments and results are plain JSON
data, and ``HostAPI.call(plugin_id, "database.find", {...})`` is the single entry point a
supervisor can forward worker requests to. The one exception is ``events.subscribe``,
whose handler is a callable; a sandbox passes a callable that forwards the event.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import PluginError, PluginErrorType
from ._db import check_identifier, dumps, plugin_table_name
from ._tables import DOC_TABLE, HOST_TABLES, INTERNAL_TABLES, JSON_COLUMNS, Query, decode_row

if TYPE_CHECKING:
    from ..plugin import Plugin
    from ._host import Host

__all__ = ["Access", "DatabaseAPI", "EventsAPI", "HostAPI", "SubmissionsAPI", "TasksAPI"]

_VERB_OF = {
    "find": "read",
    "find_one": "read",
    "count": "read",
    "insert": "write",
    "update": "write",
    "delete": "write",
}
_OP_LETTER = {
    "find": "r",
    "find_one": "r",
    "count": "r",
    "insert": "i",
    "update": "u",
    "delete": "d",
}
_PROCEDURES: dict[str, str] = {
    "submission_counts": (
        "SELECT form_id, status, COUNT(*) AS n FROM submissions"
        " GROUP BY form_id, status ORDER BY form_id, status"
    ),
    "recent_events": (
        "SELECT id, type, aggregate_type, aggregate_id, sequence, timestamp FROM events"
        " ORDER BY position DESC LIMIT 100"
    ),
}


class Access(NamedTuple):
    """One api call as logged: when, who, what, on what, and whether it was allowed."""

    timestamp: float
    plugin_id: str
    action: str
    resource: str
    allowed: bool
    hook: str | None


class HostAPI:
    """The host side of every plugin's ``context.api``; registered as an api provider."""

    def __init__(self, host: Host, *, max_log: int = 10_000) -> None:
        self.host = host
        self.access_log: deque[Access] = deque(maxlen=max_log)
        self.procedures = dict(_PROCEDURES)

    def provide(self, plugin: Plugin) -> dict[str, Any]:
        """The services attached to ``plugin``'s ``context.api``."""
        services = _Services(self, plugin)
        return {
            "database": DatabaseAPI(services),
            "events": EventsAPI(services),
            "submissions": SubmissionsAPI(services),
            "tasks": TasksAPI(services),
            "update_submission": services.update_submission,
            "schedule_task": services.schedule_task,
        }

    def register_procedure(self, name: str, sql: str) -> None:
        """A named read-only query plugins may run with ``database.execute`` permission."""
        self.procedures[check_identifier(name, "procedure")] = sql

    def call(self, plugin_id: str, method: str, kwargs: Mapping[str, Any] | None = None) -> Any:
        """The wire entry point: run ``method`` (``"database.find"``, ``"events.publish"``,
        ``"update_submission"`` ...) for ``plugin_id`` with JSON keyword arguments."""
        plugin = self.host.engine.plugin(plugin_id)
        api = plugin.api
        target: Any = api
        for part in method.split("."):
            if part.startswith("_") or part in ("subscribe", "cache"):
                raise PluginError(
                    PluginErrorType.SECURITY_ERROR,
                    f"api method {method!r} cannot be called over the wire",
                    plugin_id=plugin_id,
                )
            target = getattr(target, part)
        if not callable(target):
            raise PluginError(
                PluginErrorType.VALIDATION_ERROR,
                f"api.{method} is not a method",
                plugin_id=plugin_id,
            )
        return target(**dict(kwargs or {}))

    def frame(self) -> Any:
        """The access log as a DataFrame."""
        from ..observe.frames import frame

        return frame(list(self.access_log), Access._fields, time_columns=("timestamp",))


class _Services:
    """What the facades of one plugin share: the plugin, the checks, the log."""

    def __init__(self, api: HostAPI, plugin: Plugin) -> None:
        self.api = api
        self.host = api.host
        self.plugin = plugin
        self.plugin_id = plugin.id
        self.own_prefix = plugin_table_name(plugin.id, "")

    # ------------------------------------------------------------------ checks
    def hook(self) -> str | None:
        run = self.host.current_run
        return run.current_hook if run is not None else None

    def error(self, kind: PluginErrorType, message: str, **meta: Any) -> PluginError:
        return PluginError(kind, message, plugin_id=self.plugin_id, hook=self.hook(), metadata=meta)

    def check(self, category: str, verb: str, resource: str, action: str) -> None:
        """Log the call; raise SECURITY_ERROR when the manifest does not grant it."""
        allowed = self.plugin.manifest.permissions.allows(category, verb, resource)
        self.api.access_log.append(
            Access(time.time(), self.plugin_id, action, resource, allowed, self.hook())
        )
        if not allowed:
            granted = getattr(self.plugin.manifest.permissions, category).get(verb, ())
            raise self.deny(
                action,
                resource,
                f"the manifest grants {category}.{verb} on {', '.join(granted) or 'nothing'}",
            )

    def deny(self, action: str, resource: str, why: str) -> PluginError:
        return self.error(
            PluginErrorType.SECURITY_ERROR,
            f"{action} on {resource!r} denied: {why}",
            action=action,
            resource=resource,
        )

    def table(self, name: object, op: str) -> tuple[str, bool]:
        """(physical table, is it the plugin's own) after every check but the manifest's."""
        action = f"database.{op}"
        try:
            name = check_identifier(name, "table")
        except ValueError as exc:
            raise self.error(PluginErrorType.VALIDATION_ERROR, f"{action}: {exc}") from None
        if name in INTERNAL_TABLES or name.startswith("sqlite_"):
            self.api.access_log.append(
                Access(time.time(), self.plugin_id, action, name, False, self.hook())
            )
            raise self.deny(action, name, "it is internal to the host")
        rights = HOST_TABLES.get(name)
        if rights is not None:
            if _OP_LETTER[op] not in rights:
                self.api.access_log.append(
                    Access(time.time(), self.plugin_id, action, name, False, self.hook())
                )
                raise self.deny(
                    action, name, f"host table {name!r} allows plugins only {_rights(rights)}"
                )
            return name, False
        physical = name if name.startswith("plugin_") else plugin_table_name(self.plugin_id, name)
        owner = self.host.db.one("SELECT plugin_id FROM plugin_tables WHERE name = ?", (physical,))
        if not physical.startswith(self.own_prefix) or (
            owner is not None and owner[0] != self.plugin_id
        ):
            self.api.access_log.append(
                Access(time.time(), self.plugin_id, action, physical, False, self.hook())
            )
            who = f"plugin {owner[0]!r}" if owner is not None else "another plugin's namespace"
            raise self.deny(
                action,
                physical,
                f"it belongs to {who}; this plugin's tables are {self.own_prefix}*",
            )
        return physical, True

    def invalid(self, action: str, exc: Exception) -> PluginError:
        return self.error(PluginErrorType.VALIDATION_ERROR, f"{action}: {exc}")

    # ------------------------------------------------------------------ submissions, tasks
    def update_submission(
        self,
        submission_id: str,
        *,
        data: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Merge ``data`` and ``metadata`` into a saved submission; returns it."""
        self.check("database", "write", "submissions", "update_submission")
        try:
            return self.host.submissions.update(
                submission_id, data, metadata, source=f"plugin:{self.plugin_id}"
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise self.invalid("update_submission", exc) from None

    def schedule_task(
        self, name: str, payload: Mapping[str, Any] | None = None, *, delay_s: float = 0.0
    ) -> int:
        """Schedule ``name`` to run after ``delay_s`` seconds; returns the task id."""
        self.check("database", "write", "tasks", "schedule_task")
        try:
            return self.host.tasks.schedule(self.plugin_id, name, dict(payload or {}), delay_s)
        except (TypeError, ValueError) as exc:
            raise self.invalid("schedule_task", exc) from None


def _rights(letters: str) -> str:
    names = {"r": "read", "i": "insert", "u": "update", "d": "delete"}
    return ", ".join(names[c] for c in letters)


class DatabaseAPI:
    """``ctx.api.database``: rows of host tables and of the plugin's own tables."""

    def __init__(self, services: _Services) -> None:
        self._s = services

    def _prepare(self, op: str, table: object) -> tuple[str, bool, Query]:
        s = self._s
        physical, own = s.table(table, op)
        s.check("database", _VERB_OF[op], physical, f"database.{op}")
        return physical, own, Query(physical, s.host.db.columns(physical), own)

    def _run(self, action: str, fn: Callable[[], Any]) -> Any:
        try:
            with self._s.host.db.joined():
                return fn()
        except ValueError as exc:
            raise self._s.invalid(action, exc) from None

    def find(
        self,
        table: str,
        where: Mapping[str, Any] | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        order_by: str | list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Rows matching ``where`` (``{"status": "new", "amount": {"$gt": 100}}``)."""
        physical, own, q = self._prepare("find", table)
        if not q.columns:
            return []

        def go() -> list[dict[str, Any]]:
            clause, params = q.where(where)
            tail, more = q.limit(limit, offset)
            rows = self._s.host.db.query(
                f"SELECT * FROM {physical}{clause}{q.order(order_by)}{tail}", [*params, *more]
            )
            return [decode_row(physical, r, own) for r in rows]

        result: list[dict[str, Any]] = self._run("database.find", go)
        return result

    def find_one(
        self,
        table: str,
        where: Mapping[str, Any] | None = None,
        *,
        order_by: str | list[str] | None = None,
    ) -> dict[str, Any] | None:
        rows = self.find(table, where, limit=1, order_by=order_by)
        return rows[0] if rows else None

    def count(self, table: str, where: Mapping[str, Any] | None = None) -> int:
        physical, _own, q = self._prepare("count", table)
        if not q.columns:
            return 0

        def go() -> int:
            clause, params = q.where(where)
            return int(
                self._s.host.db.query(f"SELECT COUNT(*) FROM {physical}{clause}", params)[0][0]
            )

        result: int = self._run("database.count", go)
        return result

    def insert(self, table: str, row: Mapping[str, Any]) -> Any:
        """Insert ``row``; returns its id. An own table is created on first insert."""
        physical, own, q = self._prepare("insert", table)
        if not isinstance(row, Mapping):
            raise self._s.invalid(
                "database.insert", ValueError(f"a row is a dict, got {type(row).__name__}")
            )
        db, now = self._s.host.db, time.time()

        def go() -> Any:
            if own:
                if "id" in row:
                    raise ValueError("'id' is assigned by the database")
                if not q.columns:
                    db.execute(DOC_TABLE.format(name=physical))
                    db.execute(
                        "INSERT INTO plugin_tables (name, plugin_id, short_name, created_at)"
                        " VALUES (?, ?, ?, ?)",
                        (physical, self._s.plugin_id, physical[len(self._s.own_prefix) :], now),
                    )
                    db.forget_columns(physical)
                return db.execute(
                    f"INSERT INTO {physical} (doc, created_at, updated_at) VALUES (?, ?, ?)",
                    (_json(row), now, now),
                ).lastrowid
            cols = [q.column(k) for k in row]
            values = [_encode(physical, k, v) for k, v in row.items()]
            cursor = db.execute(
                f"INSERT INTO {physical} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                values,
            )
            return row.get("id", cursor.lastrowid)

        return self._run("database.insert", go)

    def update(self, table: str, where: Mapping[str, Any], values: Mapping[str, Any]) -> int:
        """Set ``values`` on the rows matching ``where`` (own tables: a JSON merge patch)."""
        physical, own, q = self._prepare("update", table)
        if not q.columns:
            return 0
        if not isinstance(values, Mapping) or not values:
            raise self._s.invalid("database.update", ValueError("values must be a non-empty dict"))

        def go() -> int:
            clause, params = q.where(where)
            if own:
                sets, args = (
                    "doc = json_patch(doc, ?), updated_at = ?",
                    [_json(values), time.time()],
                )
            else:
                sets = ", ".join(f"{q.column(k)} = ?" for k in values)
                args = [_encode(physical, k, v) for k, v in values.items()]
            return int(
                self._s.host.db.execute(
                    f"UPDATE {physical} SET {sets}{clause}", [*args, *params]
                ).rowcount
            )

        result: int = self._run("database.update", go)
        return result

    def delete(self, table: str, where: Mapping[str, Any]) -> int:
        """Delete the rows matching ``where`` (which must not be empty)."""
        physical, _own, q = self._prepare("delete", table)
        if not q.columns:
            return 0
        if not where:
            raise self._s.invalid("database.delete", ValueError("a delete needs a where clause"))

        def go() -> int:
            clause, params = q.where(where)
            return int(self._s.host.db.execute(f"DELETE FROM {physical}{clause}", params).rowcount)

        result: int = self._run("database.delete", go)
        return result

    def execute(
        self, procedure: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Run a named host procedure (a read-only query) with ``database.execute``."""
        s = self._s
        sql = s.api.procedures.get(procedure) if isinstance(procedure, str) else None
        if sql is None:
            known = ", ".join(sorted(s.api.procedures))
            raise s.invalid(
                "database.execute", ValueError(f"no procedure {procedure!r} (known: {known})")
            )
        s.check("database", "execute", procedure, "database.execute")
        rows = self._run("database.execute", lambda: s.host.db.query(sql, dict(params or {})))
        return [dict(r) for r in rows]


class EventsAPI:
    """``ctx.api.events``: publish and subscribe within the manifest's ``events`` grants."""

    def __init__(self, services: _Services) -> None:
        self._s = services

    def publish(
        self,
        type: str,
        payload: Mapping[str, Any] | None = None,
        *,
        aggregate_type: str = "plugin",
        aggregate_id: str | None = None,
    ) -> dict[str, Any]:
        """Publish an event; returns it (with id and sequence number)."""
        s = self._s
        s.check("events", "publish", str(type), "events.publish")
        run = s.host.current_run
        meta = (
            {"userId": run.user_id, "sessionId": run.session_id, "traceId": run.trace.id}
            if run
            else {}
        )
        meta["sourceVersion"] = s.plugin.version
        try:
            event = s.host.bus.event(
                type,
                dict(payload or {}),
                aggregate_type=aggregate_type,
                aggregate_id=aggregate_id or s.plugin_id,
                source=f"plugin:{s.plugin_id}",
                metadata=meta,
            )
            return s.host.bus.publish(event, publisher=f"plugin {s.plugin_id!r}")
        except (TypeError, ValueError) as exc:
            raise s.invalid("events.publish", exc) from None

    def subscribe(
        self, pattern: str, handler: Callable[[dict[str, Any]], Any], *, priority: int = 100
    ) -> str:
        """Receive events whose type matches ``pattern``; returns a subscription id."""
        s = self._s
        s.check("events", "subscribe", str(pattern), "events.subscribe")
        return s.host.bus.subscribe(pattern, handler, priority=priority, plugin_id=s.plugin_id)

    def unsubscribe(self, subscription_id: str) -> bool:
        return self._s.host.bus.unsubscribe(subscription_id)


def _json(value: Mapping[str, Any]) -> str:
    try:
        return dumps(dict(value))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not JSON data: {exc}") from None


def _encode(table: str, column: str, value: Any) -> Any:
    if column in JSON_COLUMNS.get(table, ()):
        try:
            return dumps(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"column {column!r}: not JSON data: {exc}") from None
    if value is not None and not isinstance(value, str | int | float | bytes):
        raise ValueError(f"column {column!r}: {type(value).__name__} is not a column value")
    return value


class SubmissionsAPI:
    """``ctx.api.submissions.update(...)``: ``update_submission`` as a service method
    (the process sandbox forwards ``service.operation`` calls)."""

    def __init__(self, services: _Services) -> None:
        self.update = services.update_submission


class TasksAPI:
    """``ctx.api.tasks.schedule(...)``: ``schedule_task`` as a service method."""

    def __init__(self, services: _Services) -> None:
        self.schedule = services.schedule_task
