"""The records behaviour is judged from, gathered from what the engine already keeps:
the sandbox's access log (and the monitor's own, for ``log_access``), the execution
rows, the error store, and worker resource samples the monitor takes.

Each record is a small dict with a ``timestamp`` (epoch seconds) and a ``source``; the
same dicts become an anomaly's evidence, unchanged.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..sandbox import AccessLog

#: ``pliers_lab.Engine``; not imported, not even for type checking: the engine imports
#: this package, and the other way would close an import cycle (tests/test_layering.py).
Engine = Any

__all__ = ["ResourceSamples", "accesses", "calls", "errors"]


def _logs(engine: Engine, own: AccessLog) -> list[AccessLog]:
    logs = [own]
    runtime = engine.runtimes.get("process")
    log = getattr(runtime, "access_log", None)
    if log is not None and log is not own:
        logs.append(log)
    return logs


def accesses(engine: Engine, own: AccessLog, plugin_id: str) -> list[dict[str, Any]]:
    """The plugin's capability requests and the host's verdicts, oldest first."""
    rows = [row for log in _logs(engine, own) for row in log.rows(plugin_id)]
    rows.sort(key=lambda r: r.timestamp)
    return [
        {
            "source": "access_log",
            "timestamp": r.timestamp,
            "hook": r.hook,
            "executionId": r.execution_id,
            "permission": f"{r.category}.{r.verb}",
            "resource": r.resource,
            "operation": r.operation,
            "verdict": r.verdict,
            **({"detail": r.detail} if r.detail else {}),
        }
        for r in rows
    ]


def calls(engine: Engine, plugin_id: str) -> list[tuple[float, str, str]]:
    """``(start, hook, status)`` of the plugin's calls the execution store still holds."""
    return [(row[5], row[1], row[7]) for row in engine.executions.rows() if row[3] == plugin_id]


def errors(engine: Engine, plugin_id: str) -> list[dict[str, Any]]:
    """The plugin's recorded errors, oldest first."""
    return [
        {
            "source": "errors",
            "timestamp": e.timestamp,
            "errorId": e.id,
            "type": e.type.value,
            "hook": e.hook,
            "executionId": e.execution_id,
            "message": e.message[:300],
        }
        for e in engine.errors.for_plugin(plugin_id)
    ]


class ResourceSamples:
    """Worker figures sampled over time (the engine keeps only the latest): memory now
    (MiB), CPU time so far (ms) and calls so far, per plugin, the newest ``keep``."""

    def __init__(self, keep: int = 500) -> None:
        self._keep = keep
        self._rows: dict[str, deque[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def take(self, engine: Engine, plugin_id: str, version: str) -> dict[str, Any] | None:
        """Sample the plugin now; None when its resources are not measured (inline)."""
        resources = engine.metrics(plugin_id).resources
        memory = (resources.get("memoryUsage") or {}).get("current")
        cpu = (resources.get("cpuUsage") or {}).get("total")
        if memory is None and cpu is None:
            return None
        count = engine.plugin(plugin_id).stats.count
        sample = {
            "source": "resources",
            "timestamp": time.time(),
            "version": version,
            "memoryMiB": memory,
            "cpuTotalMs": cpu,
            "calls": count,
        }
        self.add(plugin_id, sample)
        return sample

    def add(self, plugin_id: str, sample: dict[str, Any]) -> None:
        with self._lock:
            self._rows.setdefault(plugin_id, deque(maxlen=self._keep)).append(sample)

    def of(self, plugin_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._rows.get(plugin_id, ()))
