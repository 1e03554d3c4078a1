"""The host side of ``ctx.api`` for a sandboxed plugin: check, log, then act.

Each ``api`` frame names a service and an operation. The host maps it to a permission
(category, verb, resource), checks the manifest (``Permissions.allows``; for the network,
the allow-list with the policy's deny list winning), records the decision in the access
log, and only then acts: ``files`` through the data-folder VFS, ``http`` through the
host's own client, everything else through the same per-plugin ``PluginAPI`` facade
inline plugins use. In ``audit`` mode a refusal is logged as ``audit`` and the request
goes ahead (the kernel layers stay on).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import PluginError
from ._access import ALLOWED, AUDIT, DENIED, AccessLog
from ._outbound import NetworkRefused, Outbound
from .vfs import DataFiles, PathRefused

if TYPE_CHECKING:
    from ..manifest import Manifest
    from .policy import Grants, SandboxPolicy

__all__ = ["HostApi", "Origin", "permission_for"]


class Origin(Protocol):
    """The worker an ``api`` frame came from (the supervisor's slot): where the host
    keeps that call's refusals and request services, and whether the worker is
    replaying its lifecycle after a start."""

    index: int
    refusals: list[str]
    services: dict[str, Any]
    replaying: bool


#: Database operations by the permission verb each needs; the scanner reads the same table.
DB_OPERATIONS: dict[str, frozenset[str]] = {
    "read": frozenset(
        {
            "find",
            "find_one",
            "findOne",
            "count",
            "get",
            "list",
            "query",
            "select",
            "all",
            "fetch",
            "exists",
        }
    ),
    "write": frozenset(
        {
            "create",
            "insert",
            "update",
            "delete",
            "upsert",
            "remove",
            "save",
            "put",
            "update_submission",
            "updateSubmission",
        }
    ),
    "execute": frozenset({"execute", "call", "run", "procedure"}),
}
_EVENTS = {"publish": "publish", "emit": "publish", "subscribe": "subscribe", "on": "subscribe"}
_HTTP = {"get", "post", "put", "patch", "delete", "head", "request"}


def _first_str(args: list[Any], kwargs: dict[str, Any], *keys: str) -> str:
    for key in keys:
        if isinstance(kwargs.get(key), str):
            return str(kwargs[key])
    return str(args[0]) if args and isinstance(args[0], str) else "*"


def permission_for(
    svc: str, op: str, args: list[Any], kwargs: dict[str, Any]
) -> tuple[str, str, str]:
    """``(category, verb, resource)`` a request needs; ValueError for unknown operations."""
    if svc == "database":
        for verb, ops in DB_OPERATIONS.items():
            if op in ops:
                return "database", verb, _first_str(args, kwargs, "table", "collection")
        known = sorted(set().union(*DB_OPERATIONS.values()))
        raise ValueError(f"database.{op} is not a known operation (known: {', '.join(known)})")
    if svc == "events":
        if op == "unsubscribe":  # of its own subscriptions only (checked by HostApi)
            return "events", "unsubscribe", _first_str(args, kwargs, "subscription_id")
        if op not in _EVENTS:
            raise ValueError(
                f"events.{op} is not a known operation (publish, subscribe, unsubscribe)"
            )
        return "events", _EVENTS[op], _first_str(args, kwargs, "type", "event")
    if svc == "files":
        if op not in DataFiles.OPERATIONS:
            raise ValueError(
                f"files.{op} is not a known operation "
                f"(known: {', '.join(sorted(DataFiles.OPERATIONS))})"
            )
        return "filesystem", DataFiles.OPERATIONS[op][0], _first_str(args, kwargs, "path")
    if svc == "http":
        if op not in _HTTP:
            raise ValueError(f"http.{op} is not a known operation ({', '.join(sorted(_HTTP))})")
        url = args[1] if op == "request" and len(args) > 1 else _first_str(args, kwargs, "url")
        from ._outbound import _split

        _scheme, host, port = _split(str(url))
        return "network", "outbound", f"{host}:{port}"
    return "api", "call", f"{svc}.{op}"


class HostApi:
    """Serves one sandboxed plugin's ``api`` frames.

    ``database`` and ``events`` are checked against the manifest here (own tables
    ``plugin_<name>_*`` need no grant, as in the host), ``files`` and ``http`` are checked
    and served here; other services are logged and left to check themselves, as they do
    for inline plugins. Audit mode relaxes these checks only: a host service that checks
    permissions itself still applies them.
    """

    def __init__(
        self,
        manifest: Manifest,
        grants: Grants,
        policy: SandboxPolicy,
        log: AccessLog,
        mode: Callable[[], str],
    ) -> None:
        self.plugin_id = manifest.name
        self.refusals: list[str] = []
        """Capabilities the host refused this plugin (read by the supervisor per call)."""
        self.own_tables = f"plugin_{manifest.name.replace('-', '_')}_"
        self.permissions = manifest.permissions
        self.log = log
        self.mode = mode
        self.files = DataFiles(grants.data_dir) if grants.data_dir is not None else None
        self.deliver: Callable[[Any, int, int], Callable[[dict[str, Any]], Any]] | None = None
        """Set by the supervisor: ``deliver(plugin, number, worker)`` is the host-side
        handler of event handler ``number`` of worker ``worker`` (it runs it there)."""
        self.request_services: dict[str, Any] = {}
        """The request-scoped services of a call made without an ``Origin``."""
        self.subscriptions: dict[str, tuple[Any, int]] = {}
        """Host subscription id → (the events service it was made on, the worker)."""
        self.replicas: dict[str, int] = {}
        """Subscriptions an extra worker's lifecycle replay asked for: acknowledged, not
        made (the primary made them: each event is delivered once, to the primary)."""
        self._replica_ids = itertools.count(1)
        self.outbound = Outbound(
            grants.outbound,
            policy.network_deny,
            policy.http_timeout_s,
            policy.http_max_redirects,
            policy.http_max_bytes,
        )

    def _allowed(self, category: str, verb: str, resource: str) -> bool:
        if category == "network":
            host, _, port = resource.rpartition(":")
            return self.outbound.granted(host, int(port))
        if category == "api":
            # Other host services (submissions.update, tasks.schedule…) check their own
            # permissions, exactly as they do for inline plugins; the request is logged.
            return True
        if category == "events" and verb == "unsubscribe":
            return resource in self.subscriptions or resource in self.replicas
        if category == "database" and resource.startswith(self.own_tables):
            return True  # the plugin's own tables need no grant (the host's rule)
        return self.permissions.allows(category, verb, resource)

    def handle(
        self,
        frame: dict[str, Any],
        plugin: Any,
        hook: str | None,
        execution_id: str | None,
        origin: Origin | None = None,
    ) -> dict[str, Any]:
        """The ``ret`` frame answering one ``api`` frame from ``origin``; never raises."""
        refusals = origin.refusals if origin is not None else self.refusals
        rid = frame.get("id")
        svc, op = frame.get("svc"), frame.get("op")
        raw_args, raw_kw = frame.get("args"), frame.get("kw")
        args: list[Any] = raw_args if isinstance(raw_args, list) else []
        kwargs: dict[str, Any] = raw_kw if isinstance(raw_kw, dict) else {}
        if not (
            isinstance(svc, str)
            and isinstance(op, str)
            and svc.isidentifier()
            and op.isidentifier()
            and not svc.startswith("_")
            and not op.startswith("_")
        ):
            return _refusal(rid, "validation_error", f"not a service call: {svc!r}.{op!r}")
        operation = f"{svc}.{op}"
        try:
            category, verb, resource = permission_for(svc, op, args, kwargs)
        except (ValueError, PermissionError) as exc:
            self.log.record(
                self.plugin_id, hook, execution_id, svc, op, "?", operation, DENIED, str(exc)
            )
            return self._refuse(rid, str(exc), refusals)
        verdict = ALLOWED if self._allowed(category, verb, resource) else DENIED
        if verdict == DENIED and self.mode() == "audit":
            verdict = AUDIT
        self.log.record(
            self.plugin_id, hook, execution_id, category, verb, resource, operation, verdict
        )
        if verdict == DENIED:
            return self._refuse(
                rid,
                f"api.{operation}: {category}.{verb} on "
                f"{resource!r} is not granted by the manifest's permissions",
                refusals,
            )
        try:
            value = self._act(svc, op, args, kwargs, plugin, origin)
        except (PathRefused, NetworkRefused) as exc:
            self.log.record(
                self.plugin_id,
                hook,
                execution_id,
                category,
                verb,
                resource,
                operation,
                DENIED,
                str(exc),
            )
            return self._refuse(rid, f"api.{operation}: {exc}", refusals)
        except PluginError as exc:
            return _refusal(rid, exc.type.value, exc.message)
        except Exception as exc:
            return _refusal(
                rid, "runtime_error", f"api.{operation} raised {type(exc).__name__}: {exc}"
            )
        return {"t": "ret", "id": rid, "ok": True, "value": value}

    def _refuse(self, rid: Any, message: str, refusals: list[str]) -> dict[str, Any]:
        """A capability the host refused: the host's own fact, kept for the supervisor
        (the worker's ``refusals``) whatever the plugin does with the error it gets."""
        refusals.append(message[:300])
        return _refusal(rid, "security_error", message)

    def _act(
        self,
        svc: str,
        op: str,
        args: list[Any],
        kwargs: dict[str, Any],
        plugin: Any,
        origin: Origin | None,
    ) -> Any:
        if svc == "files":
            if self.files is None:
                raise PathRefused("this plugin has no data folder (no filesystem permission)")
            return getattr(self.files, DataFiles.OPERATIONS[op][1])(*args, **kwargs)
        if svc == "http":
            if op == "request":
                return self.outbound.request(*args, **kwargs)
            return self.outbound.request(op, *args, **kwargs)
        if plugin is None:
            raise PluginError("runtime_error", "no plugin context for this request")  # type: ignore[arg-type]
        if svc == "events" and op in ("subscribe", "on", "unsubscribe"):
            return self._subscription(op, args, kwargs, plugin, origin)
        if svc == "request":
            offered = origin.services if origin is not None else self.request_services
            fn = offered.get(op)
            if not callable(fn):
                raise PluginError(
                    "runtime_error",  # type: ignore[arg-type]
                    f"request.api.{op}: no such request service in this call "
                    f"(offered: {', '.join(sorted(offered)) or 'none'})",
                )
            return fn(*args, **kwargs)
        service = getattr(plugin.api, svc)
        method = getattr(service, op, None)
        if op.startswith("_") or not callable(method):
            raise PluginError("runtime_error", f"api.{svc} has no operation {op!r}")  # type: ignore[arg-type]
        return method(*args, **kwargs)

    def _subscription(
        self,
        op: str,
        args: list[Any],
        kwargs: dict[str, Any],
        plugin: Any,
        origin: Origin | None,
    ) -> Any:
        """Subscribe the worker's handler number ``callback``, or undo a subscription.

        A subscription is the worker's that made it: its events are delivered there, and
        it ends with that worker. An extra worker replaying ``on_activate`` after its
        start gets an acknowledgement only: the primary holds the plugin's lifecycle
        subscriptions, so each event reaches the plugin once."""
        events = plugin.api.events
        if op == "unsubscribe":
            sub_id = str(args[0] if args else kwargs.get("subscription_id"))
            if self.replicas.pop(sub_id, None) is not None:
                return True
            self.subscriptions.pop(sub_id, None)
            return events.unsubscribe(sub_id)
        number = kwargs.pop("callback", None)
        if not isinstance(number, int) or isinstance(number, bool) or self.deliver is None:
            raise PluginError(
                "validation_error",  # type: ignore[arg-type]
                "events.subscribe: the handler must be a function of the plugin",
            )
        index = origin.index if origin is not None else 0
        if origin is not None and index and origin.replaying:
            replica = f"replica-{index}-{next(self._replica_ids)}"
            self.replicas[replica] = index
            return replica
        sub_id = events.subscribe(*args, self.deliver(plugin, number, index), **kwargs)
        self.subscriptions[str(sub_id)] = (events, index)
        return sub_id

    def drop_subscriptions(self, worker: int | None = None) -> int:
        """Undo the subscriptions of worker ``worker`` (None: every worker's), which died
        or stopped; a replayed ``on_activate`` may subscribe again. How many were undone."""
        undone = 0
        for sub_id, (events, index) in list(self.subscriptions.items()):
            if worker is not None and index != worker:
                continue
            del self.subscriptions[sub_id]
            with contextlib.suppress(Exception):  # a host service gone has none left
                undone += bool(events.unsubscribe(sub_id))
        for sub_id, index in list(self.replicas.items()):
            if worker is None or index == worker:
                del self.replicas[sub_id]
        return undone


def _refusal(rid: Any, kind: str, message: str) -> dict[str, Any]:
    return {"t": "ret", "id": rid, "ok": False, "error": {"type": kind, "message": message}}
