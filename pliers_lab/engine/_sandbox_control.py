"""Where plugin code runs, and what the host can do to a sandboxed plugin's worker: the
runtimes (the process sandbox created on first use, so engines that only run trusted
inline plugins never import it), the spec's Performance Isolation verbs (throttle,
suspend, resume) and Runtime Security Monitoring verbs (quarantine, release).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import PluginError
from ..lifecycle import PluginState as S
from ._activation import Activation
from ._journal import Journal
from .runtimes import Runtime

if TYPE_CHECKING:
    from ..plugin import Plugin
    from ..sandbox import ProcessRuntime
    from ..sandbox.report import IsolationReport
    from ..security import QuarantineStore

__all__ = ["SandboxControl"]


class SandboxControl:
    """The engine's runtimes and the verbs that act on a plugin's worker."""

    def __init__(
        self,
        activation: Activation,
        inline: Runtime,
        journal: Journal | None = None,
        store: QuarantineStore | None = None,
    ) -> None:
        self._activation = activation
        self._journal = journal
        self.runtimes: dict[str, Runtime] = {inline.name: inline}
        self._own: Runtime | None = None  # the process runtime this engine created
        #: Where quarantines outlast the engine (``Engine(security_store=...)``), if set.
        self.store = store
        if store is not None:
            activation.quarantined.update(store.reasons())

    # ------------------------------------------------------------------ runtimes
    @property
    def sandbox(self) -> ProcessRuntime:
        """The process runtime (created and registered on first use)."""
        runtime = self.runtimes.get("process")
        if runtime is None:
            from ..sandbox import ProcessRuntime

            runtime = self._own = ProcessRuntime()
            self.runtimes["process"] = runtime
        return runtime  # type: ignore[return-value]

    def runtime(self, name: str) -> Runtime | None:
        """The runtime called ``name``; the process sandbox is created when asked for."""
        if name == "process":
            return self.sandbox
        return self.runtimes.get(name)

    def close(self) -> None:
        """Close the process runtime this engine created (one registered by its caller
        is the caller's to close): its workers and its cgroup folders go with it."""
        runtime, self._own = self._own, None
        if runtime is not None:
            runtime.close()  # type: ignore[attr-defined]
            if self.runtimes.get("process") is runtime:
                del self.runtimes["process"]
        if self.store is not None:
            self.store.close()

    # ------------------------------------------------------------------ workers
    def worker(self, plugin: Plugin) -> Any:
        """The worker process of a sandboxed plugin (None for one running inline)."""
        handle = getattr(plugin.prepared, "handle", None)
        return handle if hasattr(handle, "set_stopped") else None

    def quarantine(
        self,
        plugin: Plugin,
        reason: str,
        *,
        source: str = "engine",
        evidence: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (),
    ) -> Plugin:
        """Stop the plugin and keep it stopped (no enable/restart) until ``release``;
        kept in the store (when there is one) and told to the activity feed
        (``plugin.quarantined``: reason, source, version, evidence)."""
        self._activation.quarantined[plugin.id] = reason
        if self.store is not None:
            self.store.quarantine(
                plugin.id, reason, version=plugin.version, source=source, evidence=evidence
            )
        if plugin.state is S.ACTIVE:
            self._activation.disable(plugin, f"quarantined: {reason}")
        process = self.worker(plugin)
        if process is not None:
            process.stop()
        if self._journal is not None:
            self._journal.activity.emit(
                "plugin.quarantined",
                plugin.id,
                version=plugin.version,
                reason=reason,
                source=source,
                evidence=list(evidence),
            )
        return plugin

    def release(
        self,
        plugin: Plugin,
        *,
        activate: bool = True,
        source: str = "engine",
        reason: str = "released",
    ) -> Plugin:
        """Lift a quarantine; the plugin is activated again (a fresh worker) by default.
        Recorded like ``quarantine`` (``plugin.released``)."""
        was = self._activation.quarantined.pop(plugin.id, None)
        if self.store is not None:
            self.store.release(plugin.id, version=plugin.version, source=source, reason=reason)
        if was is not None and self._journal is not None:
            self._journal.activity.emit(
                "plugin.released",
                plugin.id,
                version=plugin.version,
                reason=reason,
                source=source,
                quarantinedFor=was,
            )
        if activate and plugin.state is not S.ACTIVE:
            self._activation.activate(plugin)
        return plugin

    def suspend(self, plugin: Plugin, reason: str) -> Plugin:
        """Take the plugin out of dispatch and freeze its worker (SIGSTOP)."""
        if plugin.state is S.ACTIVE:
            self._activation.disable(plugin, f"suspended: {reason}")
        process = self.worker(plugin)
        if process is not None:
            process.set_stopped(True)
        return plugin

    def resume(self, plugin: Plugin) -> Plugin:
        """Thaw a suspended plugin's worker and put it back in dispatch."""
        process = self.worker(plugin)
        if process is not None:
            process.set_stopped(False)
        if plugin.state is not S.ACTIVE:
            self._activation.activate(plugin)
        return plugin

    def throttle(self, plugin: Plugin, reason: str, cpu_fraction: float | None) -> bool:
        """Cap the plugin's worker at ``cpu_fraction`` of a core (None lifts the cap);
        False when it cannot be done (inline plugin, no cgroup cpu controller)."""
        process = self.worker(plugin)
        done = bool(process.throttle(cpu_fraction)) if process is not None else False
        plugin.logger.warning(f"throttle to {cpu_fraction} of a core: {reason}", applied=done)
        return done

    def act_on(self, plugin: Plugin, error: PluginError) -> str | None:
        """Apply what the sandbox asked for after a violation; the action taken, if any."""
        action = error.metadata.get("sandbox_action")
        if action == "quarantine" and plugin.state is S.ACTIVE:
            self.quarantine(
                plugin,
                f"{error.type.value}: {error.message[:200]}",
                source="sandbox",
                evidence=[
                    {
                        "source": "errors",
                        "timestamp": error.timestamp,
                        "errorId": error.id,
                        "type": error.type.value,
                        "hook": error.hook,
                        "executionId": error.execution_id,
                        "message": error.message[:300],
                    }
                ],
            )
            return "quarantine"
        if action == "disable" and plugin.state is S.ACTIVE:
            self._activation.disable(plugin, error.message[:300])
            return "disable"
        return None

    # ------------------------------------------------------------------ reports
    def report(self) -> IsolationReport:
        """The host's isolation layers under this engine's sandbox policy."""
        from ..sandbox.report import host_report

        return host_report(getattr(self.runtimes.get("process"), "policy", None))

    def isolation(self, plugin: Plugin) -> dict[str, Any]:
        """Mode and why, active and missing layers and worker usage of one plugin."""
        process = self.worker(plugin)
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
            "quarantined": self._activation.quarantined.get(plugin.id),
            "limits": self.limits(plugin),
            **(process.usage() if process is not None else {}),
        }

    def _missing_layers(self, plugin: Plugin) -> dict[str, str]:
        """For a sandboxed plugin, the layers its worker runs without, and why."""
        if plugin.isolation != "process":
            return {}
        from ..sandbox.layers import LAYERS, detect_all

        status = getattr(self.runtimes.get("process"), "layer_status", None)
        detected = status() if callable(status) else detect_all()
        return {
            name: detected[name][1] if not detected[name][0] else "not applied"
            for name in LAYERS
            if name not in plugin.layers
        }

    def limits(self, plugin: Plugin) -> dict[str, Any]:
        """The limits applied to the plugin: its workers' (read back from the kernel where
        a worker runs) and its hooks' timeouts; ``applied: False`` and why for a plugin
        without workers, which has only the timeouts."""
        timeouts = {hook: float(cfg.timeout) for hook, cfg in plugin.manifest.hooks.items()}
        process = self.worker(plugin)
        if process is not None:
            limits: dict[str, Any] = process.applied_limits()
            cap = float(limits["executionTimeMs"])
            limits["hookTimeoutsMs"] = {hook: min(ms, cap) for hook, ms in timeouts.items()}
            return limits
        where = plugin.isolation if plugin.isolation != "process" else "inline"
        return {
            "applied": False,
            "reason": (
                f"runs {where}, in the engine's own process: no per-plugin memory, CPU, "
                "thread or file limit applies; its hooks' timeouts are its only bounds (a "
                "sync handler past its timeout is counted as timed out when it returns, an "
                "async one is cancelled)"
                if where == "inline"
                else f"runs in the {where!r} runtime, which applies no per-plugin limits here"
            ),
            "hookTimeoutsMs": timeouts,
        }
