"""``GET /v3/metrics``: the per-plugin figures in Prometheus' text format.

Written by ``prometheus_client`` (imported on the first scrape, never by the core) from a
``Collector`` over one engine: each scrape builds a registry of its own holding only that
collector, so several engines (and apps) in one process never share metric state, and
the library's global registry (the process's own metrics) is not served.

Names carry their unit (``_seconds``, ``_bytes``, ``_total``; ``_ratio``: CPU seconds per
second), every sample is labelled ``plugin``, and a figure that is not measured has no
sample at all (an inline plugin's memory, say): absent, never 0. Each family's help says
where its figures come from (``PluginMetrics.resources``; docs/isolation.md). Limit hits
(``PluginMetrics.limitsExceeded``) are labelled by limit, action and unit as well.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["FAMILIES", "LIMIT_FAMILIES", "exposition"]

_MIB = float(1 << 20)

#: (name, kind, help, figure of ``resources`` or of the execution record, scale to the
#: unit in the name). ``counter`` names get ``_total`` from the library.
FAMILIES: tuple[tuple[str, str, str, str, float], ...] = (
    ("pliers_plugin_cpu_seconds", "counter",
     "CPU time of the plugin's workers (user + system, every thread, summed over "
     "restarts; /proc/<pid>/stat, wait4 at a worker's end)", "cpuUsage.total", 1e-3),
    ("pliers_plugin_cpu_recent_ratio", "gauge",
     "CPU seconds per second of the plugin's workers over the last sampling interval "
     "(1 = one CPU busy)", "cpuUsage.current", 1e-2),
    ("pliers_plugin_cpu_peak_ratio", "gauge",
     "Highest sampled CPU rate of the plugin's workers since it loaded (1 = one CPU)",
     "cpuUsage.peak", 1e-2),
    ("pliers_plugin_memory_resident_bytes", "gauge",
     "Resident memory of the plugin's running workers (/proc/<pid>/status VmRSS)",
     "memoryUsage.current", _MIB),
    ("pliers_plugin_memory_peak_bytes", "gauge",
     "Peak resident memory of the plugin's workers (the kernel's VmHWM; all workers "
     "together as sampled)", "memoryUsage.peak", _MIB),
    ("pliers_plugin_memory_average_bytes", "gauge",
     "Mean of the sampled resident memory while a worker ran", "memoryUsage.average", _MIB),
    ("pliers_plugin_fs_read_bytes", "counter",
     "Bytes the plugin read through the file system (its workers' rchar less their wire "
     "to the host, plus the host's api.files reads for it)", "diskIO.read", 1.0),
    ("pliers_plugin_fs_written_bytes", "counter",
     "Bytes the plugin wrote through the file system (its workers' wchar less their wire "
     "to the host, plus the host's api.files writes for it)", "diskIO.write", 1.0),
    ("pliers_plugin_block_read_bytes", "counter",
     "Block I/O: bytes the plugin's workers made the storage layer fetch "
     "(/proc/<pid>/io read_bytes)", "diskIO.blockRead", 1.0),
    ("pliers_plugin_block_written_bytes", "counter",
     "Block I/O: page-cache bytes the plugin's workers dirtied for the storage layer "
     "(/proc/<pid>/io write_bytes)", "diskIO.blockWrite", 1.0),
    ("pliers_plugin_network_received_bytes", "counter",
     "Response-body bytes the host's fetch capability received for the plugin",
     "networkIO.bytesIn", 1.0),
    ("pliers_plugin_network_sent_bytes", "counter",
     "Request-body bytes the host's fetch capability sent for the plugin",
     "networkIO.bytesOut", 1.0),
    ("pliers_plugin_network_requests", "counter",
     "HTTP requests the host's fetch capability made for the plugin (redirects included)",
     "networkIO.requests", 1.0),
    ("pliers_plugin_calls", "counter",
     "Calls the plugin answered or failed (not the skipped or overloaded ones)",
     "execution.count", 1.0),
    ("pliers_plugin_errors", "counter", "Calls of the plugin that failed",
     "execution.errorCount", 1.0),
    ("pliers_plugin_call_seconds", "counter", "Time spent in the plugin's calls",
     "execution.totalDuration", 1e-3),
    ("pliers_plugin_restarts", "counter",
     "Restarts of the plugin (the engine's and its workers')", "health.restarts", 1.0),
    ("pliers_plugin_memory_limit_bytes", "gauge",
     "Memory limit of each of the plugin's workers (its cgroup's); no sample where none "
     "applies", "limits.memoryBytes", 1.0),
)  # fmt: skip


#: Limit hits (``PluginMetrics.limitsExceeded``), labelled by limit (and action): the
#: same record as the metrics and the status endpoint.
LIMIT_FAMILIES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("pliers_plugin_limit_hits", "counter",
     "Times the plugin hit a limit, by limit (as the manifest names it) and what the "
     "engine did (killed, timed out, throttled, refused...)", ("plugin", "limit", "action")),
    ("pliers_plugin_limit_last_hit_timestamp_seconds", "gauge",
     "When the plugin last hit each limit (Unix time)", ("plugin", "limit")),
    ("pliers_plugin_limit_last_value", "gauge",
     "The value measured at the plugin's last hit of each limit, in the limit's unit "
     "(label unit); no sample where it was not a number", ("plugin", "limit", "unit")),
    ("pliers_plugin_limit_last_cap", "gauge",
     "The cap the plugin's last hit of each limit was measured against (label unit)",
     ("plugin", "limit", "unit")),
)  # fmt: skip


class EngineCollector:
    """A ``prometheus_client`` collector over one engine's plugins, read at each scrape."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        families = {
            name: (CounterMetricFamily if kind == "counter" else GaugeMetricFamily)(
                name, text, labels=["plugin"]
            )
            for name, kind, text, _figure, _scale in FAMILIES
        }
        for name, kind, text, labels in LIMIT_FAMILIES:
            families[name] = (CounterMetricFamily if kind == "counter" else GaugeMetricFamily)(
                name, text, labels=list(labels)
            )
        for plugin in list(self.engine.plugins):
            try:
                figures, hits = _figures(self.engine, plugin.id)
            except Exception:  # unloaded meanwhile: it is simply not in this scrape
                continue
            for name, _kind, _text, figure, scale in FAMILIES:
                value = figures.get(figure)
                if value is not None:  # not measured: no sample, never a 0
                    families[name].add_metric([plugin.id], float(value) * scale)
            _add_hits(families, plugin.id, hits)
        yield from families.values()


def _add_hits(families: dict[str, Any], plugin: str, hits: dict[str, dict[str, Any]]) -> None:
    for limit, entry in sorted(hits.items()):
        for action, n in sorted(entry["actions"].items()):
            families["pliers_plugin_limit_hits"].add_metric([plugin, limit, action], n)
        last = entry.get("last")
        if not isinstance(last, dict):
            continue
        families["pliers_plugin_limit_last_hit_timestamp_seconds"].add_metric(
            [plugin, limit], float(last["at"])
        )
        unit = str(last.get("unit") or "")
        for key, name in (
            ("value", "pliers_plugin_limit_last_value"),
            ("cap", "pliers_plugin_limit_last_cap"),
        ):
            figure = last.get(key)
            if isinstance(figure, (int, float)) and not isinstance(figure, bool):
                families[name].add_metric([plugin, limit, unit], float(figure))


def _figures(
    engine: Engine, plugin_id: str
) -> tuple[dict[str, float | None], dict[str, dict[str, Any]]]:
    """The plugin's figures by ``"group.field"`` (resources, execution, health, limits),
    and its limit hits (``PluginMetrics.limitsExceeded``)."""
    metrics = engine.metrics(plugin_id)
    out: dict[str, float | None] = {}
    for group, fields in metrics.resources.items():
        if group in ("units", "sources", "notMeasured"):
            continue
        for name, value in fields.items():
            out[f"{group}.{name}"] = value
    e, h = metrics.execution, metrics.health
    out["execution.count"] = e.count
    out["execution.errorCount"] = e.errorCount
    out["execution.totalDuration"] = e.totalDuration
    out["health.restarts"] = h.restarts
    limits = engine.limits(plugin_id)
    out["limits.memoryBytes"] = limits.get("memoryBytes")
    return out, metrics.limitsExceeded


def exposition(engine: Engine, accept: str | None) -> tuple[bytes, str]:
    """The scrape's body and content type (the text format, or OpenMetrics when the
    scraper's ``Accept`` asks for it)."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.exposition import choose_encoder

    registry = CollectorRegistry(auto_describe=False)  # this scrape's own
    registry.register(EngineCollector(engine))
    encode, content_type = choose_encoder(accept or "")
    return encode(registry), content_type
