"""Which tables a plugin may reach through ``ctx.api.database``, and safe SQL for them.

Host tables have fixed columns; each allows plugins only some operations, whatever the
manifest grants (forms change through host operations, which fire the form hooks; the
event log is written through ``events.publish``). A plugin's own tables live in its
namespace, ``plugin_<name>_<table>``, and are document tables: ``id``, ``doc`` (JSON),
``created_at``, ``updated_at``; they are created on first insert. Where clauses are built
from dicts with bound parameters, so no plugin-supplied text reaches SQL unchecked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._db import check_identifier, loads

__all__ = ["HOST_TABLES", "INTERNAL_TABLES", "JSON_COLUMNS", "OPS", "Query", "decode_row"]

#: Host table → what plugins may do there (r read, i insert, u update, d delete), on top
#: of what their manifest grants.
HOST_TABLES: dict[str, str] = {
    "forms": "r",
    "form_fields": "r",
    "workflow_statuses": "r",
    "workflow_transitions": "r",
    "status_history": "r",
    "events": "r",
    "submissions": "ru",
    "notifications": "riud",
    "tasks": "riud",
}
#: Tables no plugin reaches, whatever its manifest grants (``admin_notifications`` tells
#: the administrator about plugins' failures: no plugin may read or erase those).
INTERNAL_TABLES = frozenset({"schema_migrations", "plugin_tables", "admin_notifications"})
JSON_COLUMNS: dict[str, frozenset[str]] = {
    "forms": frozenset({"definition"}),
    "form_fields": frozenset({"definition"}),
    "workflow_transitions": frozenset({"required_roles", "conditions"}),
    "submissions": frozenset({"data", "metadata"}),
    "notifications": frozenset({"receipt"}),
    "tasks": frozenset({"payload"}),
    "events": frozenset({"metadata", "payload"}),
}
OPS = {
    "$eq": "=",
    "$ne": "!=",
    "$gt": ">",
    "$gte": ">=",
    "$lt": "<",
    "$lte": "<=",
    "$in": "IN",
    "$like": "LIKE",
}
MAX_LIMIT = 10_000

DOC_TABLE = (
    "CREATE TABLE IF NOT EXISTS {name} (id INTEGER PRIMARY KEY, doc TEXT NOT NULL,"
    " created_at REAL NOT NULL, updated_at REAL NOT NULL)"
)


def decode_row(table: str, row: Any, own: bool) -> dict[str, Any]:
    """A result row as a JSON-able dict (JSON columns decoded; documents flattened)."""
    if own:
        return {"id": row["id"], **loads(row["doc"])}
    out = dict(row)
    for column in JSON_COLUMNS.get(table, ()):
        if out.get(column) is not None:
            out[column] = loads(out[column])
    return out


class Query:
    """SQL fragments for one table: where, order and limit, from plain JSON-able args."""

    def __init__(self, table: str, columns: tuple[str, ...], own: bool) -> None:
        self.table = table
        self.columns = columns
        self.own = own

    def column(self, name: object) -> str:
        """The SQL expression for a key: a column, or a document field of an own table."""
        key = check_identifier(name, "column")
        if self.own:
            return (
                key
                if key in ("id", "created_at", "updated_at")
                else f"json_extract(doc, '$.{key}')"
            )
        if key not in self.columns:
            raise ValueError(
                f"table {self.table!r} has no column {key!r} (columns: {', '.join(self.columns)})"
            )
        return key

    def where(self, where: Mapping[str, Any] | None) -> tuple[str, list[Any]]:
        if not where:
            return "", []
        if not isinstance(where, Mapping):
            raise ValueError(f"where must be a dict of column: value, got {type(where).__name__}")
        parts, params = [], []
        for key, cond in where.items():
            expr = self.column(key)
            if isinstance(cond, Mapping):
                for op, value in cond.items():
                    sql_op = OPS.get(op)
                    if sql_op is None:
                        raise ValueError(
                            f"unknown operator {op!r} on {key!r} (known: {', '.join(OPS)})"
                        )
                    if sql_op == "IN":
                        values = list(value) if isinstance(value, list | tuple) else None
                        if not values:
                            raise ValueError(f"$in on {key!r} needs a non-empty list")
                        parts.append(f"{expr} IN ({', '.join('?' * len(values))})")
                        params.extend(values)
                    else:
                        parts.append(f"{expr} {sql_op} ?")
                        params.append(value)
            elif cond is None:
                parts.append(f"{expr} IS NULL")
            else:
                parts.append(f"{expr} = ?")
                params.append(cond)
        return " WHERE " + " AND ".join(parts), params

    def order(self, order_by: str | list[str] | None) -> str:
        if not order_by:
            return " ORDER BY id" if self.own else ""
        keys = [order_by] if isinstance(order_by, str) else list(order_by)
        terms = []
        for key in keys:
            desc = isinstance(key, str) and key.startswith("-")
            terms.append(f"{self.column(key[1:] if desc else key)}{' DESC' if desc else ''}")
        return " ORDER BY " + ", ".join(terms)

    @staticmethod
    def limit(limit: int | None, offset: int) -> tuple[str, list[Any]]:
        if limit is None:
            limit = MAX_LIMIT
        for name, value in (("limit", limit), ("offset", offset)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        return " LIMIT ? OFFSET ?", [min(limit, MAX_LIMIT), offset]
