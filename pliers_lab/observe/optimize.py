"""Resource optimisation (spec: Resource Optimization, ``ResourceOptimizer``).

``engine.optimizer`` acts on plugins, mostly on sandboxed ones, whose worker processes
the host can measure and steer:

- ``garbage_collect(id)``: ``gc.collect()`` where the plugin runs (its worker; for an
  inline plugin the host process, which all inline plugins share) and the memory before
  and after.
- ``optimize_memory(id)``: collect, empty the plugin's ``api.cache``, and replace a
  worker whose resident memory stays above ``recycle_above_mb`` (default: half its
  memory limit) by a fresh one: an interpreter keeps freed memory in its pools, a new
  process does not.
- ``schedule_execution(id, priority)``: the worker's CPU priority, 100 (normal) down to 0
  (nice 19), kept across restarts. Under contention the kernel favours the others.
- ``optimize_cpu(id)``: a priority from measured use — a plugin whose CPU time per call
  is above the median of the sandboxed plugins gets a lower priority, in proportion.
- ``batch_operations(ops)``: many hook firings at once (threads), one ``BatchResult``.
- ``optimize_queries(queries)``: database reads merged — identical ``(table, where)``
  reads become one, reading the union of their fields, each answer mapped back.

Inline plugins share the host's process: CPU scheduling does not apply to them, and
that is said rather than pretended.
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import EngineError

if TYPE_CHECKING:
    from ..engine import Engine
    from ..engine.hook_results import HookResult

__all__ = ["BatchResult", "OptimizedQuery", "ResourceOptimizer"]


@dataclass
class BatchResult:
    """What ``batch_operations`` did: one result per operation, in order."""

    results: list[HookResult | None]
    errors: list[str | None]
    duration_ms: float

    @property
    def succeeded(self) -> int:
        return sum(1 for r, e in zip(self.results, self.errors, strict=True) if e is None and r)

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": len(self.results),
            "succeeded": self.succeeded,
            "failed": len(self.results) - self.succeeded,
            "durationMs": self.duration_ms,
            "errors": [e for e in self.errors if e is not None],
        }


@dataclass
class OptimizedQuery:
    """One read standing for several: ``serves`` are the indexes of the queries it
    answers; ``fields`` is the union they asked for (None: every field)."""

    table: str
    where: dict[str, Any]
    fields: list[str] | None
    serves: list[int] = field(default_factory=list)


def _rss_mb(pid: int) -> float:
    from ..sandbox.procinfo import memory_kb

    return float(memory_kb(pid).get("rss", 0)) / 1024


class ResourceOptimizer:
    """The spec's ``ResourceOptimizer`` over one engine (``engine.optimizer``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.priorities: dict[str, int] = {}

    def _process(self, plugin_id: str, action: str) -> Any:
        plugin = self.engine.plugin(plugin_id)
        process = self.engine.worker(plugin.id)
        if process is None:
            raise EngineError(
                f"{action}: plugin {plugin_id!r} runs inline, in the host's own process; "
                "only a sandboxed plugin has a worker to act on"
            )
        return process

    # ------------------------------------------------------------------ memory
    def garbage_collect(self, plugin_id: str) -> dict[str, Any]:
        """``gc.collect()`` where the plugin runs; memory before and after (MB)."""
        plugin = self.engine.plugin(plugin_id)
        process = self.engine.worker(plugin.id)
        if process is None:
            before = _rss_mb(os.getpid())
            collected = gc.collect()
            return {
                "pluginId": plugin_id,
                "where": "host process (shared by every inline plugin)",
                "collected": collected,
                "rssBeforeMb": before,
                "rssAfterMb": _rss_mb(os.getpid()),
            }
        pid = process.usage()["pid"]
        before = _rss_mb(pid) if pid else 0.0
        done = process.collect_garbage()
        pid = process.usage()["pid"]
        return {
            "pluginId": plugin_id,
            "where": "worker process",
            "collected": done.get("collected", 0),
            "rssBeforeMb": before,
            "rssAfterMb": _rss_mb(pid) if pid else 0.0,
        }

    def optimize_memory(
        self, plugin_id: str, *, recycle_above_mb: float | None = None
    ) -> dict[str, Any]:
        """Collect, empty ``api.cache``, and recycle a worker still above the threshold."""
        plugin = self.engine.plugin(plugin_id)
        process = self.engine.worker(plugin.id)
        if process is None:
            dropped = plugin.api.cache.invalidate("*")
            report = self.garbage_collect(plugin_id)
            return {**report, "cacheEntriesDropped": dropped, "recycled": False}
        pid = process.usage()["pid"]
        before = _rss_mb(pid) if pid else 0.0
        done = process.collect_garbage(clear_cache=True)
        pid = process.usage()["pid"]
        after = _rss_mb(pid) if pid else 0.0
        limit = process.spec.limits.memory_mb
        threshold = recycle_above_mb if recycle_above_mb is not None else limit / 2
        recycled = after > threshold
        if recycled:
            pid = process.recycle()
            after = _rss_mb(pid)
        return {
            "pluginId": plugin_id,
            "where": "worker process",
            "collected": done.get("collected", 0),
            "cacheEntriesDropped": done.get("cacheEntriesDropped", 0),
            "rssBeforeMb": before,
            "rssAfterMb": after,
            "recycleAboveMb": threshold,
            "recycled": recycled,
        }

    # ------------------------------------------------------------------ CPU
    def schedule_execution(self, plugin_id: str, priority: int) -> dict[str, Any]:
        """Set the worker's CPU priority: 100 normal … 0 lowest (nice 19)."""
        if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 100:
            raise ValueError(f"priority must be an integer from 0 to 100, got {priority!r}")
        process = self._process(plugin_id, "schedule_execution")
        nice = round((100 - priority) * 19 / 100)
        try:
            process.set_nice(nice)
        except PermissionError:
            raise EngineError(
                f"schedule_execution: this host may not raise {plugin_id!r}'s priority back "
                f"to {priority} (nice {nice}) without CAP_SYS_NICE"
            ) from None
        self.priorities[plugin_id] = priority
        return {"pluginId": plugin_id, "priority": priority, "nice": nice}

    def optimize_cpu(self, plugin_id: str) -> dict[str, Any]:
        """Priority from use: CPU per call against the median of the sandboxed plugins."""
        self._process(plugin_id, "optimize_cpu")
        per_call = {}
        for plugin in list(self.engine.plugins):
            process = self.engine.worker(plugin.id)
            calls = plugin.stats.count
            if process is None or not calls:
                continue
            per_call[plugin.id] = process.usage()["cpu_ms"] / calls
        mine = per_call.get(plugin_id)
        if mine is None or len(per_call) < 2:
            return {
                **self.schedule_execution(plugin_id, 100),
                "reason": "not enough measured calls to compare",
            }
        median = statistics.median(per_call.values())
        priority = 100 if mine <= median else max(0, round(100 * median / mine))
        return {
            **self.schedule_execution(plugin_id, priority),
            "cpuMsPerCall": mine,
            "medianCpuMsPerCall": median,
        }

    # ------------------------------------------------------------------ I/O
    def batch_operations(
        self, operations: Iterable[Mapping[str, Any]], *, max_workers: int = 4
    ) -> BatchResult:
        """Fire ``{"hook": name, "data": {...}}`` operations, ``max_workers`` at a time
        (sandboxed plugins answer from their own processes in parallel)."""
        ops = list(operations)
        problems: list[str | None] = [None] * len(ops)
        for i, op in enumerate(ops):
            if not isinstance(op, Mapping) or not isinstance(op.get("hook"), str):
                problems[i] = f"operation {i}: expected {{'hook': name, 'data': ...}}, got {op!r}"

        def run(index: int) -> HookResult | None:
            if problems[index] is not None:
                return None
            op = ops[index]
            try:
                return self.engine.fire(op["hook"], op.get("data"))
            except Exception as exc:  # an unknown hook, say: that operation fails alone
                problems[index] = f"operation {index} ({op['hook']}): {exc}"
                return None

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
            results = list(pool.map(run, range(len(ops))))
        for i, result in enumerate(results):
            if result is not None and not result.ok and problems[i] is None:
                problems[i] = f"operation {i} ({ops[i]['hook']}): {result.summary()}"
        return BatchResult(results, problems, (time.perf_counter() - started) * 1000)

    @staticmethod
    def optimize_queries(queries: Sequence[Mapping[str, Any]]) -> list[OptimizedQuery]:
        """Merge reads ``{"table", "where", "fields"}``: one per ``(table, where)``."""
        merged: dict[tuple[str, str], OptimizedQuery] = {}
        for index, query in enumerate(queries):
            table = query.get("table")
            if not isinstance(table, str) or not table:
                raise ValueError(f"query {index}: 'table' must be a table name, got {table!r}")
            where = dict(query.get("where") or {})
            fields = query.get("fields")
            key = (table, repr(sorted(where.items(), key=lambda kv: str(kv[0]))))
            found = merged.get(key)
            if found is None:
                found = merged[key] = OptimizedQuery(
                    table, where, None if fields is None else list(fields)
                )
            elif found.fields is not None:
                found.fields = (
                    None if fields is None else list(dict.fromkeys([*found.fields, *fields]))
                )
            found.serves.append(index)
        return list(merged.values())
