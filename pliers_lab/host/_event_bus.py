"""The event bus: every host operation becomes an event; plugins subscribe and publish.

An event has the event engine's shape (related-facts §9)::

    {"id": uuid, "type": "submission.created", "version": 1, "timestamp": epoch seconds,
     "source": "host" | "plugin:<id>", "aggregateType": "submission", "aggregateId": "...",
     "sequenceNumber": n (gap-free per aggregate), "causationId": parent event id | None,
     "correlationId": root event id | None,
     "metadata": {"sourceSystem", "sourceVersion", "userId"?, "sessionId"?, ...},
     "payload": {...}}

Delivery order, defined:

1. Events are written to the ``events`` table when published (inside the operation's
   transaction, so an aborted operation leaves none) and queued.
2. The queue is delivered when the host operation has done its work, *before* it
   commits, so subscribers' api writes belong to the same transaction. Outside a host
   operation an event is delivered at once, in a transaction of its own.
3. Events are delivered first in, first out. An event published by a subscriber goes to
   the back of the queue (breadth first): every subscriber sees an event before anyone
   sees the events it caused.
4. Subscribers of one event run by ``priority`` (higher first), then in subscription
   order. A plugin subscriber also needs ``events.subscribe`` for the event's type at
   delivery time, and an active plugin.
5. An event caused by an event caused by ... deeper than ``max_depth`` is refused with
   ``EventCascadeError`` naming the chain; the operation is aborted (rolled back) even
   if the publishing plugin swallowed the error.

A subscriber that raises is recorded and the others still run; a security error or a
cascade error aborts the operation. Handlers are synchronous callables ``(event) ->
None`` and must not change the event.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Any, NamedTuple

from ..errors import PluginError, PluginErrorType, must_propagate
from ._db import Database, dumps, loads, new_id
from ._exceptions import EventCascadeError

__all__ = ["AGGREGATE_TYPES", "EventBus", "Subscription", "event_from_row"]

AGGREGATE_TYPES = ("form", "submission", "user", "plugin", "system")

Handler = Callable[[dict[str, Any]], Any]

_INSERT = (
    "INSERT INTO events (id, type, version, aggregate_type, aggregate_id, sequence, causation_id,"
    " correlation_id, source, timestamp, metadata, payload) VALUES (?, ?, 1, ?, ?,"
    " (SELECT COALESCE(MAX(sequence), 0) + 1 FROM events"
    "  WHERE aggregate_type = ? AND aggregate_id = ?),"
    " ?, ?, ?, ?, ?, ?) RETURNING sequence"
)
#: The same for an event nobody caused (every host event): the two NULLs are written in
#: the statement, because the sqlite3 module binds a None parameter only after two failed
#: attribute lookups (``__adapt__``, ``__conform__``), each formatting an AttributeError.
_INSERT_ROOT = _INSERT.replace(" ?, ?, ?, ?, ?, ?) RETURNING", " NULL, NULL, ?, ?, ?, ?) RETURNING")


def event_from_row(row: Any) -> dict[str, Any]:
    """An ``events`` row back in the published shape."""
    return {
        "id": row["id"],
        "type": row["type"],
        "version": row["version"],
        "timestamp": row["timestamp"],
        "source": row["source"],
        "aggregateType": row["aggregate_type"],
        "aggregateId": row["aggregate_id"],
        "sequenceNumber": row["sequence"],
        "causationId": row["causation_id"],
        "correlationId": row["correlation_id"],
        "metadata": loads(row["metadata"]),
        "payload": loads(row["payload"]),
    }


def _insert(event: dict[str, Any], meta: str, payload: str) -> tuple[str, tuple[Any, ...]]:
    """The statement and parameters that record ``event``."""
    kind, aggregate = event["aggregateType"], event["aggregateId"]
    cause, correlation = event["causationId"], event["correlationId"]
    head = (event["id"], event["type"], kind, aggregate, kind, aggregate)
    tail = (event["source"], event["timestamp"], meta, payload)
    if cause is None and correlation is None:
        return _INSERT_ROOT, (*head, *tail)
    return _INSERT, (*head, cause, correlation, *tail)


class Subscription(NamedTuple):
    """One subscriber: who (``plugin_id``, None for the host or a notebook), to what."""

    id: str
    pattern: str
    handler: Handler
    priority: int
    plugin_id: str | None
    seq: int


class _Delivery(NamedTuple):
    event: dict[str, Any]
    chain: tuple[str, ...]


class _Holding:
    """``EventBus.holding``'s context manager: a class, not a generator, because every
    host operation enters one (a generator-based one costs ~0.9 us more)."""

    __slots__ = ("bus", "mark")

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self.mark = 0

    def __enter__(self) -> None:
        bus = self.bus
        self.mark = len(bus._queue)
        bus._holding += 1

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: Any
    ) -> None:
        bus = self.bus
        bus._holding -= 1
        if kind is not None:  # the events it queued are dropped; the error goes on
            queue = bus._queue
            while len(queue) > self.mark:
                queue.pop()
        elif not bus._holding:
            bus.drain()


class EventBus:
    """Subscriptions, the delivery queue and the event log.

    Args:
        db: where events are recorded.
        max_depth: the longest chain of events causing events that is delivered.
        may_receive: ``(subscription, event type) -> bool``: the permission check for
            plugin subscribers at delivery time.
        on_error: called with (subscription, event, exception) when a subscriber raises.
        on_delivered: called with (event, subscriptions, errors, perf start) per event.
    """

    def __init__(
        self,
        db: Database,
        *,
        max_depth: int = 8,
        source_version: str = "0",
        may_receive: Callable[[Subscription, str], bool] | None = None,
        on_error: Callable[[Subscription, dict[str, Any], BaseException], None] | None = None,
        on_delivered: Callable[[dict[str, Any], tuple[Subscription, ...], int, float], None]
        | None = None,
    ) -> None:
        if max_depth < 1:
            raise ValueError(f"max_depth must be at least 1, got {max_depth}")
        self.db = db
        self.max_depth = max_depth
        self.source_version = source_version
        self.may_receive = may_receive
        self.on_error = on_error
        self.on_delivered = on_delivered
        self._subs: list[Subscription] = []
        self._matching: dict[str, tuple[Subscription, ...]] = {}
        self._seq = itertools.count(1)
        self._queue: deque[_Delivery] = deque()
        self._holding = 0
        self._delivering: _Delivery | None = None
        self._cascade: EventCascadeError | None = None
        self._meta_seen: dict[str, Any] | None = None
        self._meta_json = ""
        self.published = 0
        self.delivered = 0

    # ------------------------------------------------------------------ subscriptions
    def subscribe(
        self, pattern: str, handler: Handler, *, priority: int = 100, plugin_id: str | None = None
    ) -> str:
        """Deliver events whose type matches ``pattern`` (fnmatch: ``submission.*``)."""
        if not isinstance(pattern, str) or not pattern:
            raise ValueError("an event pattern is a non-empty string such as 'submission.*'")
        if not callable(handler):
            raise TypeError(f"an event handler must be callable, got {type(handler).__name__}")
        seq = next(self._seq)
        sub = Subscription(f"sub-{seq}", pattern, handler, int(priority), plugin_id, seq)
        self._subs.append(sub)
        self._matching.clear()
        return sub.id

    def unsubscribe(self, subscription_id: str) -> bool:
        before = len(self._subs)
        self._subs = [s for s in self._subs if s.id != subscription_id]
        self._matching.clear()
        return len(self._subs) != before

    def unsubscribe_plugin(self, plugin_id: str) -> int:
        before = len(self._subs)
        self._subs = [s for s in self._subs if s.plugin_id != plugin_id]
        self._matching.clear()
        return before - len(self._subs)

    def subscriptions(self) -> list[Subscription]:
        return list(self._subs)

    def subscribers(self, event_type: str) -> tuple[Subscription, ...]:
        """Who receives ``event_type``, in delivery order."""
        found = self._matching.get(event_type)
        if found is None:
            matching = [s for s in self._subs if fnmatchcase(event_type, s.pattern)]
            found = tuple(sorted(matching, key=lambda s: (-s.priority, s.seq)))
            self._matching[event_type] = found
        return found

    # ------------------------------------------------------------------ events
    def event(
        self,
        event_type: str,
        payload: dict[str, Any],
        *,
        aggregate_type: str,
        aggregate_id: str,
        source: str = "host",
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A new event (not yet published); ``ValueError`` for a malformed one."""
        if not isinstance(event_type, str) or not 1 <= len(event_type) <= 100:
            raise ValueError(f"event type must be text of 1 to 100 characters, got {event_type!r}")
        if aggregate_type not in AGGREGATE_TYPES:
            raise ValueError(
                f"aggregate type {aggregate_type!r}: one of {', '.join(AGGREGATE_TYPES)}"
            )
        if not isinstance(aggregate_id, str) or not 1 <= len(aggregate_id) <= 255:
            raise ValueError(
                f"aggregate id must be text of 1 to 255 characters, got {aggregate_id!r}"
            )
        if not isinstance(payload, dict):
            raise ValueError(f"an event payload is a dict, got {type(payload).__name__}")
        if metadata is not None and "sourceSystem" in metadata:
            meta = metadata  # complete already (the host's, shared by one operation's events)
        else:
            meta = self.metadata(source, metadata)
        return {
            "id": new_id(),
            "type": event_type,
            "version": 1,
            "timestamp": time.time(),
            "source": source,
            "aggregateType": aggregate_type,
            "aggregateId": aggregate_id,
            "sequenceNumber": None,
            "causationId": None,
            "correlationId": None,
            "metadata": meta,
            "payload": payload,
        }

    def metadata(self, source: str = "host", extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Event metadata: the required ``sourceSystem``/``sourceVersion`` and the
        optional ids of ``extra`` that are set."""
        meta = {
            "sourceSystem": "pliers-host" if source == "host" else source,
            "sourceVersion": self.source_version,
        }
        if extra:
            meta.update({k: v for k, v in extra.items() if v is not None})
        return meta

    def publish(
        self,
        event: dict[str, Any],
        *,
        publisher: str | None = None,
        payload_json: str | None = None,
    ) -> dict[str, Any]:
        """Record ``event`` and queue it; delivered now unless a host operation holds the
        queue (it then delivers before committing). Raises ``EventCascadeError``.

        ``payload_json``: the payload already encoded (the caller vouches they match).
        """
        if not self.db.in_operation:
            with self.db.operation():
                return self._publish(event, publisher, payload_json)
        return self._publish(event, publisher, payload_json)  # one INSERT: no savepoint

    def _publish(
        self, event: dict[str, Any], publisher: str | None, payload_json: str | None
    ) -> dict[str, Any]:
        parent = self._delivering
        chain = (*parent.chain, event["type"]) if parent else (event["type"],)
        if parent is not None:
            event["causationId"] = parent.event["id"]
            event["correlationId"] = parent.event["correlationId"] or parent.event["id"]
        if len(chain) > self.max_depth:
            error = EventCascadeError(self.max_depth, list(chain), publisher)
            self._cascade = self._cascade or error
            raise error
        try:
            payload = payload_json if payload_json is not None else dumps(event["payload"])
            metadata = event["metadata"]
            if metadata is not self._meta_seen:  # one operation's events share theirs
                self._meta_seen, self._meta_json = metadata, dumps(metadata)
            meta = self._meta_json
        except (TypeError, ValueError) as exc:
            raise ValueError(f"event {event['type']!r}: payload is not JSON data: {exc}") from None
        row = self.db.returning(*_insert(event, meta, payload))
        event["sequenceNumber"] = row[0] if row is not None else None
        self._queue.append(_Delivery(event, chain))
        self.published += 1
        if not self._holding and self._delivering is None:
            self.drain()
        return event

    # ------------------------------------------------------------------ delivery
    def holding(self) -> _Holding:
        """Queue events until the block ends, then deliver them (a host operation's body).

        If the block raises, the events it queued are dropped (their rows roll back).
        """
        return _Holding(self)

    def drain(self) -> None:
        """Deliver queued events, breadth first, until the queue is empty."""
        if self._delivering is not None:
            return
        try:
            while self._queue:
                item = self._queue.popleft()
                self._deliver(item)
        except BaseException:
            self._queue.clear()
            raise
        finally:
            self._delivering = None
            self._cascade = None

    def _deliver(self, item: _Delivery) -> None:
        event = item.event
        subs = self.subscribers(event["type"])
        t0 = time.perf_counter()
        errors = 0
        self._delivering = item
        for sub in subs:
            if (
                sub.plugin_id is not None
                and self.may_receive is not None
                and not self.may_receive(sub, event["type"])
            ):
                continue
            try:
                sub.handler(event)
            except EventCascadeError:
                raise
            except BaseException as exc:  # sys.exit() in a subscriber must not end the caller
                if must_propagate(exc) or (
                    isinstance(exc, PluginError) and exc.type is PluginErrorType.SECURITY_ERROR
                ):
                    raise
                errors += 1
                if self.on_error is not None:
                    self.on_error(sub, event, exc)
            if self._cascade is not None:
                raise self._cascade
        self.delivered += 1
        self._delivering = None
        if self.on_delivered is not None:
            self.on_delivered(event, subs, errors, t0)

    def pending(self) -> int:
        return len(self._queue)
