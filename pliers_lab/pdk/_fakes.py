"""Stand-ins for the *host's* services, for plugin tests (spec ``PluginTestFramework``:
``mockDatabase``, ``mockFileSystem``, ``mockNetwork``, ``mockLogger``).

They replace what a Pliers host would offer on ``ctx.api`` — never the engine: plugins
still load, run and fail in a real engine. Each records every call in ``calls``, so a
test can assert what the plugin asked for. A sandboxed plugin's ``database`` calls reach
``FakeDatabase`` too (across the wire, its manifest's permissions checked first), but its
``files`` and ``http`` are the sandbox's own (its data folder, the host's HTTP client):
``FakeFiles`` and ``FakeNetwork`` serve plugins running inline, the harness's default.
"""

from __future__ import annotations

import copy
import fnmatch
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..engine import Engine
    from ..observe.logs import LogEntry

__all__ = ["FakeDatabase", "FakeFiles", "FakeNetwork", "LogCapture"]


def _matches(row: Mapping[str, Any], query: Mapping[str, Any] | None) -> bool:
    return all(row.get(k) == v for k, v in (query or {}).items())


def _sort_key(column: str) -> Callable[[Mapping[str, Any]], tuple[bool, Any]]:
    return lambda row: (row.get(column) is None, row.get(column))


@dataclass
class FakeDatabase:
    """``ctx.api.database`` over in-memory tables, with the host's signatures: rows are
    dicts, ``insert`` returns the new ``id``, ``where`` matches on equal values, and
    ``order_by`` takes column names (``"-name"`` descending)."""

    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[tuple[str, str, Any]] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1), repr=False)

    def _log(self, op: str, table: str, arg: Any = None) -> list[dict[str, Any]]:
        self.calls.append((op, table, copy.deepcopy(arg)))
        return self.tables.setdefault(table, [])

    def find(
        self,
        table: str,
        where: Mapping[str, Any] | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        order_by: str | list[str] | None = None,
    ) -> list[dict[str, Any]]:
        rows = [dict(r) for r in self._log("find", table, where) if _matches(r, where)]
        keys = [order_by] if isinstance(order_by, str) else list(order_by or [])
        for key in reversed(keys):  # stable sorts, last key first
            rows.sort(key=_sort_key(key.lstrip("-")), reverse=key.startswith("-"))
        return rows[offset : None if limit is None else offset + limit]

    def find_one(
        self,
        table: str,
        where: Mapping[str, Any] | None = None,
        *,
        order_by: str | list[str] | None = None,
    ) -> dict[str, Any] | None:
        found = self.find(table, where, limit=1, order_by=order_by)
        return found[0] if found else None

    def count(self, table: str, where: Mapping[str, Any] | None = None) -> int:
        return sum(1 for r in self._log("count", table, where) if _matches(r, where))

    def insert(self, table: str, row: Mapping[str, Any]) -> Any:
        rows = self._log("insert", table, row)
        new_id = next(self._ids)
        rows.append({**dict(row), "id": new_id})
        return new_id

    def update(self, table: str, where: Mapping[str, Any], values: Mapping[str, Any]) -> int:
        rows = self._log("update", table, {"where": where, "values": values})
        hit = [r for r in rows if _matches(r, where)]
        for row in hit:
            row.update(values)
        return len(hit)

    def delete(self, table: str, where: Mapping[str, Any]) -> int:
        rows = self._log("delete", table, where)
        kept = [r for r in rows if not _matches(r, where)]
        self.tables[table] = kept
        return len(rows) - len(kept)


@dataclass
class FakeFiles:
    """``ctx.api.files`` over an in-memory folder: paths are relative, text content."""

    files: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)

    @staticmethod
    def _clean(path: str) -> str:
        parts = [p for p in str(path).split("/") if p not in ("", ".")]
        if not parts or ".." in parts:
            raise PermissionError(f"{path!r}: outside the plugin's data folder")
        return "/".join(parts)

    def read(self, path: str) -> str:
        key = self._clean(path)
        self.calls.append(("read", key))
        if key not in self.files:
            raise FileNotFoundError(f"{path!r}: no such file in the plugin's data folder")
        return self.files[key]

    def write(self, path: str, content: str) -> int:
        key = self._clean(path)
        self.calls.append(("write", key))
        self.files[key] = str(content)
        return len(self.files[key])

    def exists(self, path: str) -> bool:
        key = self._clean(path)
        self.calls.append(("exists", key))
        return key in self.files or any(f.startswith(key + "/") for f in self.files)

    def list(self, path: str = ".") -> list[str]:
        prefix = "" if path in ("", ".") else self._clean(path) + "/"
        self.calls.append(("list", prefix.rstrip("/") or "."))
        return sorted({f[len(prefix) :].split("/")[0] for f in self.files if f.startswith(prefix)})

    def delete(self, path: str) -> bool:
        key = self._clean(path)
        self.calls.append(("delete", key))
        return self.files.pop(key, None) is not None


@dataclass
class FakeNetwork:
    """``ctx.api.http``: canned responses by ``"METHOD url"`` (``*`` patterns allowed) or
    a function of (method, url, options); a request nobody answers is a clear error."""

    responses: Mapping[str, Any] | Callable[[str, str, dict[str, Any]], Any] = field(
        default_factory=dict
    )
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def request(self, method: str, url: str, **options: Any) -> Any:
        method = method.upper()
        self.calls.append((method, url, dict(options)))
        if callable(self.responses):
            return self.responses(method, url, options)
        for pattern, answer in self.responses.items():
            if fnmatch.fnmatchcase(f"{method} {url}", pattern):
                if isinstance(answer, BaseException):
                    raise answer
                return copy.deepcopy(answer)
        known = ", ".join(self.responses) or "none"
        raise LookupError(f"http: no canned response for {method} {url} (known: {known})")

    def get(self, url: str, **options: Any) -> Any:
        return self.request("GET", url, **options)

    def post(self, url: str, **options: Any) -> Any:
        return self.request("POST", url, **options)

    def put(self, url: str, **options: Any) -> Any:
        return self.request("PUT", url, **options)

    def delete(self, url: str, **options: Any) -> Any:
        return self.request("DELETE", url, **options)


class LogCapture:
    """What plugins log while it is open (``harness.mock_logger()``): the engine's real
    log store, followed — entries as they arrive, filterable by plugin and level."""

    def __init__(self, engine: Engine) -> None:
        self.entries: list[LogEntry] = []
        self._stop = engine.logs.subscribe(self.entries.append)

    def messages(self, plugin_id: str | None = None, level: str | None = None) -> list[str]:
        return [
            e.message
            for e in self.entries
            if (plugin_id is None or e.plugin_id == plugin_id)
            and (level is None or e.level == level)
        ]

    def close(self) -> None:
        self._stop()
