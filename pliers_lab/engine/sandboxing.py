"""Sandbox operations on the engine: the process runtime, and the spec's
Performance Isolation (throttle, suspend, resume) and Runtime Security Monitoring
(quarantine, release) verbs.

The process runtime is created on first use, so ``import pliers_lab`` and engines that
only run trusted inline plugins never import the sandbox.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import EngineError, PluginError
from .base import EngineBase, S

if TYPE_CHECKING:
    from ..observe.metrics import PluginMetrics
    from ..plugin import Plugin
    from ..sandbox import ProcessRuntime
    from ..sandbox.report import IsolationReport


class SandboxOps(EngineBase):
    """``sandbox``, ``quarantine``/``release``, ``throttle``, ``suspend``/``resume``."""

    @property
    def sandbox(self) -> ProcessRuntime:
        """The engine's process runtime (created and registered on first use)."""
        runtime = self.runtimes.get("process")
        if runtime is None:
            from ..sandbox import ProcessRuntime

            runtime = ProcessRuntime()
            self.runtimes["process"] = runtime
            self.__dict__["_own_sandbox"] = runtime  # closed with the engine
        return runtime  # type: ignore[return-value]

    def _close_sandbox(self) -> None:
        """Close the process runtime this engine created (one registered by its caller
        is the caller's to close): its workers and its cgroup folders go with it."""
        runtime = self.__dict__.pop("_own_sandbox", None)
        if runtime is not None:
            runtime.close()
            if self.runtimes.get("process") is runtime:
                del self.runtimes["process"]

    def _quarantined(self) -> dict[str, str]:
        return self.__dict__.setdefault("_quarantine", {})  # type: ignore[no-any-return]

    def quarantined(self, plugin_id: str) -> str | None:
        """Why ``plugin_id`` is quarantined, or None."""
        return self._quarantined().get(plugin_id)

    def quarantine(self, plugin_id: str, reason: str) -> Plugin:
        """Stop the plugin and keep it stopped (no enable/restart) until ``release``."""
        plugin = self.plugin(plugin_id)
        self._quarantined()[plugin_id] = reason
        if plugin.state is S.ACTIVE:
            self.disable(plugin_id, f"quarantined: {reason}")
        self._stop_worker(plugin)
        return plugin

    def release(self, plugin_id: str, *, activate: bool = True) -> Plugin:
        """Lift a quarantine; the plugin is activated again (a fresh worker) by default."""
        plugin = self.plugin(plugin_id)
        self._quarantined().pop(plugin_id, None)
        if activate and plugin.state is not S.ACTIVE:
            self.activate(plugin_id)
        return plugin

    def suspend(self, plugin_id: str, reason: str = "suspended") -> Plugin:
        """Take the plugin out of dispatch and freeze its worker (SIGSTOP)."""
        plugin = self.plugin(plugin_id)
        if plugin.state is S.ACTIVE:
            self.disable(plugin_id, f"suspended: {reason}")
        process = self._process_of(plugin)
        if process is not None:
            process.set_stopped(True)
        return plugin

    def resume(self, plugin_id: str) -> Plugin:
        """Thaw a suspended plugin's worker and put it back in dispatch."""
        plugin = self.plugin(plugin_id)
        process = self._process_of(plugin)
        if process is not None:
            process.set_stopped(False)
        if plugin.state is not S.ACTIVE:
            self.activate(plugin_id)
        return plugin

    def throttle(
        self, plugin_id: str, reason: str = "throttled", cpu_fraction: float | None = 0.25
    ) -> bool:
        """Cap the plugin's worker at ``cpu_fraction`` of a core (None lifts the cap).

        Returns False when it cannot be done (inline plugin, no cgroup cpu controller).
        """
        plugin = self.plugin(plugin_id)
        process = self._process_of(plugin)
        done = process.throttle(cpu_fraction) if process is not None else False
        plugin.logger.warning(f"throttle to {cpu_fraction} of a core: {reason}", applied=done)
        return done

    def isolation_report(self) -> IsolationReport:
        """Which isolation layers hold on this host under this engine's sandbox policy,
        which are missing, whether workers run without them or are refused, and how to
        get each (``pliers doctor`` prints the same table). Probing starts no worker."""
        from ..sandbox.report import host_report

        runtime = self.runtimes.get("process")
        return host_report(getattr(runtime, "policy", None))

    def isolation(self, plugin_id: str) -> dict[str, Any]:
        """Mode and why (``placement``, ``trusted``: why the host trusts it, or None;
        ``warnings``: a refused inline request), active layers and worker usage of one
        plugin (for listings)."""
        plugin = self.plugin(plugin_id)
        process = self._process_of(plugin)
        return {
            "plugin_id": plugin.id,
            "isolation": plugin.isolation,
            "placement": plugin.placement,
            "origin": plugin.origin,
            "signer": plugin.signer,
            "trusted": plugin.trust_reason,
            "warnings": list(plugin.warnings),
            "layers": sorted(plugin.layers),
            "missing": self._missing_layers(plugin),
            "quarantined": self.quarantined(plugin_id),
            **(process.usage() if process is not None else {}),
        }

    def _missing_layers(self, plugin: Plugin) -> dict[str, str]:
        """For a sandboxed plugin, the layers its worker runs without, and why."""
        if plugin.isolation != "process":
            return {}
        from ..sandbox.layers import LAYERS, detect_all

        runtime = self.runtimes.get("process")
        status = getattr(runtime, "layer_status", None)
        detected = status() if callable(status) else detect_all()
        return {
            name: detected[name][1] if not detected[name][0] else "not applied"
            for name in LAYERS
            if name not in plugin.layers
        }

    def _add_resources(self, plugin: Plugin, metrics: PluginMetrics) -> PluginMetrics:
        """Fill the spec's ``resources`` from the plugin's worker (inline: left at zero)."""
        process = self._process_of(plugin)
        if process is None or not isinstance(metrics.resources, dict):
            return metrics
        usage = process.usage()
        memory = metrics.resources.setdefault("memoryUsage", {})
        memory["current"] = float(usage.get("memory_mb", 0.0))
        memory["peak"] = float(usage["peak_memory_mb"])
        cpu = metrics.resources.setdefault("cpuUsage", {})
        cpu["total"] = float(usage["cpu_ms"])
        return metrics

    def _process_of(self, plugin: Plugin) -> Any:
        prepared = plugin.prepared
        handle = getattr(prepared, "handle", None)
        return handle if hasattr(handle, "set_stopped") else None

    def _stop_worker(self, plugin: Plugin) -> None:
        process = self._process_of(plugin)
        if process is not None:
            process.stop()

    def _check_quarantine(self, plugin: Plugin) -> None:
        reason = self.quarantined(plugin.id)
        if reason is not None:
            raise EngineError(f"plugin {plugin.id!r} is quarantined ({reason}); release it first")

    def _sandbox_action(self, plugin: Plugin, error: PluginError) -> str | None:
        """Apply what the sandbox asked for after a violation; the action taken, if any."""
        action = error.metadata.get("sandbox_action")
        if action == "quarantine" and plugin.state is S.ACTIVE:
            self.quarantine(plugin.id, f"{error.type.value}: {error.message[:200]}")
            return "quarantine"
        if action == "disable" and plugin.state is S.ACTIVE:
            self.disable(plugin.id, error.message[:300])
            return "disable"
        return None
