"""``Engine``: the one object a host, a notebook, a command line or the HTTP API talks to.

It is a facade. Its state lives in collaborators that each own theirs (DESIGN.md §5):

- ``PluginTable`` (``_plugin_table``): the loaded plugins by id, and the lock for changes;
- ``HookRegistry`` (``_hook_table``): hook specs and the sorted table of each hook;
- ``Journal`` (``_journal``): executions, errors, transitions, recoveries, logs, activity;
- ``Dispatcher`` (``_dispatcher``): ``fire`` and ``afire``, the hot path;
- ``Activation`` (``_activation``): lifecycle moves, lifecycle handlers, quarantine;
- ``Circuits`` (``_circuits``): circuit breakers as the hook tables see them;
- ``Recoverer`` (``_recoverer``): a failed handler's recovery policy;
- ``SandboxControl`` (``_sandbox_control``): runtimes, and the verbs on a worker;
- ``Configurator`` (``_configurator``): validate and apply configurations;
- ``Installer`` (``_installer``): load, reload, unload, and where each plugin runs.

Everything public is in this file, grouped as the spec groups it; each method says what
it does and hands the work to the collaborator that owns it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..catalog import HookSpec
from ..errors import PliersError, PluginError
from ..plugin import Plugin
from ..trust import TrustPolicy
from ._activation import Activation
from ._aio import LoopThread
from ._cache import CodeCache
from ._circuits import Circuits
from ._configurator import Configurator
from ._dispatch import HookImpl
from ._dispatcher import Dispatcher
from ._hook_table import HookRegistry
from ._installer import Installer
from ._journal import Journal
from ._plugin_table import PluginTable
from ._recoverer import Recoverer
from ._sandbox_control import SandboxControl
from .runtimes import InlineRuntime, Runtime

if TYPE_CHECKING:
    from ..config.hotreload import HotReloader
    from ..dependencies import Resolution
    from ..manifest import Manifest
    from ..observe.metrics import PluginMetrics
    from ..observe.optimize import ResourceOptimizer
    from ..sandbox import ProcessRuntime
    from ..sandbox.report import IsolationReport
    from ..security import SecurityMonitor
    from .attachments import PluginDebugger
    from .hook_results import HookResult

__all__ = ["Engine"]


class Engine:
    """The plugin engine. Load plugins, fire hooks, watch what happened.

    Args:
        environment: ``development``, ``staging`` or ``production``: which configuration
            overlay applies.
        max_observations: plugin calls kept for inspection, across executions (the
            oldest executions are dropped first; metrics stay exact).
        max_errors: plugin errors (and transitions, recoveries) kept.
        max_logs: plugin log entries kept.
        max_results: executions whose full ``HookResult`` is kept (values, data,
            outcomes) for the debugger's replay and the PDK harness; older executions
            keep only their rows. Small on purpose: every kept result holds its values
            and clock reads, and a ring of 1,000 made each hook call ~5-10 % slower
            (evicting cold results); the PDK harness keeps 10,000.
        default_timeout_ms: used for hooks whose manifest gives none.
        default_isolation: runtime for local plugins the host has not trusted:
            ``process`` (a locked-down worker, issue 8) or ``inline``. Plugins from
            bundles run in ``process`` unless trusted, whatever this says.
        trust: what the host trusts to run where its manifest asks, inline included
            (plugin ids, signing keys, folders; ``pliers_lab.trust``). A plugin can never
            trust itself: its manifest's ``isolation: inline`` is only a request.
        resolution_strategy: how ``load_all`` resolves dependencies (``manual``,
            ``strict`` or ``latest``; see ``pliers_lab.dependencies``).
        security_store: a SQLite file where quarantines (and the record of quarantines
            and releases) outlast this engine: an engine started on the same file keeps
            those plugins quarantined, loaded but not activated, until released.
    """

    def __init__(
        self,
        *,
        environment: str = "development",
        max_observations: int = 20_000,
        max_errors: int = 1000,
        max_logs: int = 5000,
        max_results: int = 100,
        default_timeout_ms: float = 30_000,
        default_isolation: str = "process",
        resolution_strategy: str = "manual",
        trust: TrustPolicy | None = None,
        security_store: str | Path | None = None,
    ) -> None:
        from ..config import ENVIRONMENTS

        if environment not in ENVIRONMENTS:
            raise ValueError(
                f"environment must be one of {', '.join(ENVIRONMENTS)}, got {environment!r}"
            )
        self._loop = LoopThread()
        self._plugins = PluginTable()
        self._journal = Journal(
            self._loop,
            max_observations=max_observations,
            max_errors=max_errors,
            max_logs=max_logs,
            max_results=max_results,
        )
        self._hooks = HookRegistry(settle=self._journal.ledger.settle)
        self._circuits = Circuits(self._plugins, self._hooks, self._journal)
        self._activation = Activation(
            self._plugins,
            self._hooks,
            self._journal,
            self._circuits,
            self._loop,
            default_timeout_ms=default_timeout_ms,
        )
        store = None
        if security_store is not None:
            from ..security import QuarantineStore

            store = QuarantineStore(security_store)
        self._sandbox = SandboxControl(
            self._activation, InlineRuntime(CodeCache()), self._journal, store
        )
        self._recoverer = Recoverer(
            self._plugins,
            self._journal,
            self._activation,
            self._circuits,
            self._sandbox,
            self._loop,
        )
        self._configurator = Configurator(self._journal, self._activation, environment)
        self._installer = Installer(
            self._plugins,
            self._hooks,
            self._journal,
            self._activation,
            self._sandbox,
            self._configurator,
            default_isolation=default_isolation,
            resolution_strategy=resolution_strategy,
            trust=trust if trust is not None else TrustPolicy(),
        )
        self._dispatcher = Dispatcher(
            self._plugins, self._hooks, self._journal, self._loop, self._recoverer.on_hook_failure
        )
        # The hot path: ``fire`` is the dispatcher's own method, without a hop here.
        self.fire = self._dispatcher.fire  # type: ignore[method-assign]
        self.handlers = self._hooks.handlers  # type: ignore[method-assign]  # as hot
        self._reloader: HotReloader | None = None
        self._debugger: PluginDebugger | None = None
        self._optimizer: ResourceOptimizer | None = None
        self._security: SecurityMonitor | None = None
        #: Identifies this engine in execution ids (several engines may share a machine).
        self.tag = self._dispatcher.tag
        #: The engine's records (``pliers_lab.observe``): bounded, newest last.
        self.executions = self._journal.executions
        self.errors = self._journal.errors
        self.transitions = self._journal.transitions
        self.recoveries = self._journal.recoveries
        self.logs = self._journal.logs
        #: The activity feed: listeners hear of installs, state changes, errors.
        self.activity = self._journal.activity
        #: Where plugin code can run, by name (``inline``; ``process`` once used).
        self.runtimes = self._sandbox.runtimes

    # ------------------------------------------------------------------ settings
    @property
    def environment(self) -> str:
        """Which configuration overlay applies (``development``, ``staging``...)."""
        return self._configurator.environment

    @property
    def default_timeout_ms(self) -> float:
        """The timeout of hooks whose manifest gives none (from the next activation)."""
        return self._activation.default_timeout_ms

    @default_timeout_ms.setter
    def default_timeout_ms(self, value: float) -> None:
        self._activation.default_timeout_ms = value

    @property
    def default_isolation(self) -> str:
        """The runtime of local plugins the host has not trusted (from the next load)."""
        return self._installer.default_isolation

    @default_isolation.setter
    def default_isolation(self, value: str) -> None:
        self._installer.default_isolation = value

    @property
    def trust_policy(self) -> TrustPolicy:
        """What the host trusts (``Engine(trust=...)``); decided again on each reload."""
        return self._installer.trust_policy

    @trust_policy.setter
    def trust_policy(self, value: TrustPolicy) -> None:
        self._installer.trust_policy = value

    @property
    def resolution_strategy(self) -> str:
        """How ``load_all`` resolves dependencies (``manual``, ``strict``, ``latest``)."""
        return self._installer.resolution_strategy

    @resolution_strategy.setter
    def resolution_strategy(self, value: str) -> None:
        self._installer.resolution_strategy = value

    @property
    def resolution(self) -> Resolution | None:
        """What the last ``load_all`` chose, ordered and left out (None before one)."""
        return self._installer.resolution

    # ------------------------------------------------------------------ plugins
    @property
    def plugins(self) -> list[Plugin]:
        """The loaded plugins, in load order."""
        return list(self._plugins)

    def plugin(self, plugin_id: str) -> Plugin:
        """The plugin called ``plugin_id`` (``UnknownPluginError`` names those there are)."""
        return self._plugins.require(plugin_id)

    def __contains__(self, plugin_id: object) -> bool:
        return plugin_id in self._plugins

    def load(
        self,
        path: str | Path,
        *,
        config: Mapping[str, Any] | None = None,
        activate: bool = True,
        isolation: str | None = None,
        origin: str = "local",
        signer: str | None = None,
    ) -> Plugin:
        """Load the plugin in folder ``path`` (or its ``manifest.json``) and activate it.

        ``isolation`` (``"process"``, ``"inline"``...) is the caller's choice for this
        plugin, over its manifest's and the engine's default; reloads keep it.

        ``origin`` says where the folder came from: ``"local"`` (the host's code or user
        named it) or ``"bundle"`` (a marketplace install, an HTTP upload: third-party
        code, sandboxed unless ``trust_policy`` trusts it). ``signer`` is the key id of
        the bundle's signature, given only by a caller that verified it. Reloads keep
        both. Where the plugin runs is decided by ``pliers_lab.trust.decide_isolation``;
        its manifest's ``isolation`` is a request, never a decision.

        Raises ``ManifestError`` for a bad manifest and ``PluginError`` for a plugin that
        fails to load or start; in the second case the plugin stays listed in ERROR.
        """
        return self._installer.load(
            path,
            config=config,
            activate=activate,
            isolation=isolation,
            origin=origin,
            signer=signer,
        )

    def add_plugin(
        self,
        manifest: Mapping[str, Any] | Manifest,
        code: Any,
        *,
        config: Mapping[str, Any] | None = None,
        activate: bool = True,
    ) -> Plugin:
        """Define a plugin from code: a manifest (dict or Manifest) and a module, mapping
        of functions or object holding its handlers (notebooks, tests, entry points)."""
        return self._installer.add_plugin(manifest, code, config=config, activate=activate)

    def load_all(
        self,
        folder: str | Path,
        *,
        strategy: str | None = None,
        pins: Mapping[str, str] | None = None,
    ) -> list[Plugin]:
        """Resolve every plugin under ``folder`` (flat or ``<name>/<version>/`` layout)
        and load the chosen versions, dependencies first.

        ``strategy`` (default: the engine's) is ``manual`` — conflicting plugins are left
        out and recorded as DEPENDENCY_ERROR, the rest load — ``strict`` or ``latest``,
        which raise ``DependencyError`` instead. A plugin that fails to load is recorded
        (``engine.errors``) and does not stop the others.
        """
        return self._installer.load_all(folder, strategy=strategy, pins=pins)

    def load_entry_points(
        self, group: str | None = None, names: Collection[str] | None = None
    ) -> list[Plugin]:
        """Load plugins that installed distributions expose in ``pliers_lab.plugins``
        (only those called ``names`` when given)."""
        return self._installer.load_entry_points(group, names)

    def reload(
        self,
        plugin_id: str,
        path: str | Path | None = None,
        *,
        origin: str | None = None,
        signer: str | None = None,
    ) -> Plugin:
        """Load the plugin's folder again and swap it in, keeping its configuration.

        The new version is loaded, checked and activated beside the old one; only then
        does it take the old one's place in every hook table, in one step. A broken edit
        (syntax error, invalid manifest, unmet dependency) raises, is recorded as the
        plugin's error, and leaves the old version serving. Executions already running
        finish on the old version.

        ``path`` loads another folder of the same plugin instead of its own: another
        version kept side by side in a store (a marketplace update or rollback).
        ``origin`` and ``signer`` (see ``load``) describe that folder; by default the
        plugin keeps those it was loaded with, so where it runs is decided again by the
        same rule (``trust_policy`` may have changed since).
        """
        return self._installer.reload(plugin_id, path, origin=origin, signer=signer)

    def unload(self, plugin_id: str, *, cascade: bool = False) -> list[str]:
        """Stop and forget a plugin; returns the ids unloaded.

        Refused while other loaded plugins depend on it, naming them — unless
        ``cascade``, which unloads those dependents first.
        """
        return self._installer.unload(plugin_id, cascade=cascade)

    def dependents(self, plugin_id: str) -> list[str]:
        """Loaded plugins that need ``plugin_id`` (directly or not), dependents last."""
        return self._plugins.dependents(plugin_id)

    def trust(self, plugin_name: str) -> None:
        """Trust ``plugin_name``: it runs inline, whatever its manifest asks and wherever
        it comes from (from its next load or reload). Adds it to ``trust_policy``."""
        self._installer.trust(plugin_name)

    def register_runtime(self, runtime: Runtime) -> None:
        """Offer another place to run plugin code (the process sandbox registers itself)."""
        self._installer.register_runtime(runtime)

    def add_api_provider(self, provider: Callable[[Plugin], Mapping[str, Any]]) -> None:
        """Offer services on every plugin's ``context.api`` (the host registers here)."""
        self._installer.add_api_provider(provider)

    # ------------------------------------------------------------------ lifecycle
    def activate(self, plugin_id: str) -> Plugin:
        """LOADED/STOPPED/ERROR → INITIALIZING → ACTIVE: run on_activate, register handlers."""
        return self._activation.activate(self._plugins.require(plugin_id))

    def disable(self, plugin_id: str, reason: str = "disabled by user") -> Plugin:
        """ACTIVE → STOPPING → STOPPED: unregister handlers, run on_deactivate."""
        return self._activation.disable(self._plugins.require(plugin_id), reason)

    def enable(self, plugin_id: str) -> Plugin:
        """Re-activate a STOPPED (or failed) plugin; an ACTIVE one whose circuit breaker
        is open or half-open has it closed (the operator's reset)."""
        return self._activation.enable(self._plugins.require(plugin_id))

    def restart(self, plugin_id: str, reason: str = "restart") -> Plugin:
        """Deactivate and activate again; counted in the plugin's metrics."""
        return self._activation.restart(self._plugins.require(plugin_id), reason)

    # ------------------------------------------------------------------ configuration
    def validate_config(
        self, plugin_id: str, config: Mapping[str, Any], *, merge: bool = False
    ) -> list[str]:
        """The problems ``config`` would have (a dry run: nothing changes)."""
        return self._configurator.problems(self._plugins.require(plugin_id), config, merge=merge)

    def configure(
        self, plugin_id: str, config: Mapping[str, Any], *, merge: bool = False
    ) -> dict[str, Any]:
        """Validate and apply a configuration; ``on_config_change`` sees the result.

        ``config`` replaces what the user set before (``merge=True``: is merged into it);
        defaults and the environment's overlay always apply underneath. An invalid
        configuration raises CONFIG_ERROR, listing every violation with its path, and the
        old one stays active. Returns the configuration now in force.
        """
        plugin = self._plugins.require(plugin_id)
        return self._configurator.configure(plugin, config, merge=merge)

    def reload_config(self, plugin_id: str) -> dict[str, Any]:
        """Read the plugin's configuration files again (schema, defaults, overlays) and
        apply them under the user's settings; a broken file leaves the old config."""
        return self._configurator.reload(self._plugins.require(plugin_id))

    # ------------------------------------------------------------------ hooks
    def hooks(self) -> list[HookSpec]:
        """Every hook this engine knows: the core catalog and custom hooks of plugins."""
        return self._hooks.specs()

    def hook_spec(self, name: str) -> HookSpec:
        """The spec of hook ``name`` (``UnknownHookError`` suggests near names)."""
        return self._hooks.spec(name)

    def handlers(self, hook: str) -> tuple[HookImpl, ...]:
        """The active handlers of ``hook`` in the order they run."""
        return self._hooks.handlers(hook)

    def fire(
        self,
        hook: str,
        data: Any = None,
        *,
        user_id: str | None = None,
        session_id: str | None = None,
        event: Any = None,
        request_id: str | None = None,
        trace_id: str | None = None,
    ) -> HookResult:
        """Run ``hook``'s handlers and return the combined result.

        Works in plain code and inside a running event loop (a Jupyter cell): async
        handlers then run on the engine's own loop thread.
        """
        return self._dispatcher.fire(
            hook,
            data,
            user_id=user_id,
            session_id=session_id,
            event=event,
            request_id=request_id,
            trace_id=trace_id,
        )

    async def afire(
        self,
        hook: str,
        data: Any = None,
        *,
        user_id: str | None = None,
        session_id: str | None = None,
        event: Any = None,
        request_id: str | None = None,
        trace_id: str | None = None,
    ) -> HookResult:
        """The async form of ``fire``: async handlers run on the caller's loop."""
        return await self._dispatcher.afire(
            hook,
            data,
            user_id=user_id,
            session_id=session_id,
            event=event,
            request_id=request_id,
            trace_id=trace_id,
        )

    def in_loop_thread(self) -> bool:
        """True in the engine's loop thread, where async handlers run when ``fire`` is
        called inside a running event loop (the host refuses to start an operation there
        while another is open: it would wait for itself)."""
        return self._loop.in_loop_thread()

    # ------------------------------------------------------------------ errors
    def record_error(self, error: PluginError) -> None:
        """Keep an error found outside hook dispatch (a plugin's HTTP endpoint, say): it is
        stored, logged to its plugin and passed to that plugin's ``on_error``; what the
        sandbox asked for (quarantine after a violation) is applied as for hooks."""
        plugin = self._plugins.get(error.plugin_id or "")
        self._journal.record_error(plugin, error)
        if plugin is not None:
            action = self._sandbox.act_on(plugin, error)
            if action is not None:
                error.recovery = action

    # ------------------------------------------------------------------ sandbox
    @property
    def sandbox(self) -> ProcessRuntime:
        """The engine's process runtime (created and registered on first use)."""
        return self._sandbox.sandbox

    def worker(self, plugin_id: str) -> Any:
        """The worker process of a sandboxed plugin, None for one running inline (for
        tools that act on it: the debugger, the optimizer)."""
        return self._sandbox.worker(self._plugins.require(plugin_id))

    def quarantined(self, plugin_id: str) -> str | None:
        """Why ``plugin_id`` is quarantined, or None."""
        return self._activation.quarantined.get(plugin_id)

    def quarantine(
        self,
        plugin_id: str,
        reason: str,
        *,
        source: str = "engine",
        evidence: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (),
    ) -> Plugin:
        """Stop the plugin and keep it stopped (no enable/restart) until ``release``.

        ``source`` says who decided (``lab``, ``cli``, ``api``, ``policy``...) and
        ``evidence`` why (the threat's records); both go to the activity feed
        (``plugin.quarantined``) and, with ``security_store``, to its file."""
        return self._sandbox.quarantine(
            self._plugins.require(plugin_id), reason, source=source, evidence=evidence
        )

    def release(
        self,
        plugin_id: str,
        *,
        activate: bool = True,
        source: str = "engine",
        reason: str = "released",
    ) -> Plugin:
        """Lift a quarantine; the plugin is activated again (a fresh worker) by default.
        Recorded like ``quarantine`` (``plugin.released``)."""
        return self._sandbox.release(
            self._plugins.require(plugin_id), activate=activate, source=source, reason=reason
        )

    def security_actions(self, plugin_id: str | None = None) -> list[dict[str, Any]]:
        """Quarantines and releases, oldest first: from ``security_store`` (across
        restarts) when there is one, else from the activity feed's kept events."""
        if self._sandbox.store is not None:
            return self._sandbox.store.actions(plugin_id)
        kinds = {"plugin.quarantined": "quarantine", "plugin.released": "release"}
        return [
            {
                "at": e["timestamp"],
                "action": kinds[e["type"]],
                "plugin_id": e["pluginId"],
                **e["data"],
            }
            for e in list(self.activity.recent)
            if e["type"] in kinds and (plugin_id is None or e["pluginId"] == plugin_id)
        ]

    def suspend(self, plugin_id: str, reason: str = "suspended") -> Plugin:
        """Take the plugin out of dispatch and freeze its worker (SIGSTOP)."""
        return self._sandbox.suspend(self._plugins.require(plugin_id), reason)

    def resume(self, plugin_id: str) -> Plugin:
        """Thaw a suspended plugin's worker and put it back in dispatch."""
        return self._sandbox.resume(self._plugins.require(plugin_id))

    def throttle(
        self, plugin_id: str, reason: str = "throttled", cpu_fraction: float | None = 0.25
    ) -> bool:
        """Cap the plugin's worker at ``cpu_fraction`` of a core (None lifts the cap).

        Returns False when it cannot be done (inline plugin, no cgroup cpu controller).
        """
        return self._sandbox.throttle(self._plugins.require(plugin_id), reason, cpu_fraction)

    def isolation_report(self) -> IsolationReport:
        """Which isolation layers hold on this host under this engine's sandbox policy,
        which are missing, whether workers run without them or are refused, and how to
        get each (``pliers doctor`` prints the same table). Probing starts no worker."""
        return self._sandbox.report()

    def isolation(self, plugin_id: str) -> dict[str, Any]:
        """Mode and why (``placement``, ``trusted``: why the host trusts it, or None;
        ``warnings``: a refused inline request), active layers, worker usage and the
        ``limits`` applied (see ``limits``) of one plugin (for listings)."""
        return self._sandbox.isolation(self._plugins.require(plugin_id))

    def limits(self, plugin_id: str) -> dict[str, Any]:
        """The limits applied to a plugin: a sandboxed one's workers' (memory, address
        space, CPU per call and per lifetime, threads, file size, open files, data
        folder, wall clock, workers, queue; read back from the kernel where a worker
        runs, ``enforcedBy`` saying what applies each), its hooks' timeouts; for an
        inline plugin ``applied: False`` and why (only its hooks' timeouts bound it)."""
        return self._sandbox.limits(self._plugins.require(plugin_id))

    # ------------------------------------------------------------------ attachments
    @contextmanager
    def handlers_swapped(
        self, plugin_id: str, wrap: Callable[[HookImpl], HookImpl]
    ) -> Iterator[Plugin]:
        """While the block is open, the plugin's handlers answer through ``wrap`` (behind
        its circuit breaker, as they are): how the debugger traces and profiles. Unless
        the plugin was reloaded or stopped meanwhile, its own handlers are back after."""
        plugin = self._plugins.require(plugin_id)
        originals = plugin.impls
        self._circuits.swap(plugin, [wrap(impl) for impl in originals])
        try:
            yield plugin
        finally:
            if plugin.impls is originals:
                self._circuits.swap(plugin, originals)

    def dependency_graph(self) -> Any:
        """The plugins as a networkx DiGraph (edge: dependency → dependent): the loaded
        ones, and those the last ``load_all`` left out (state ``excluded``).

        Node attributes: ``version``, ``state``, ``isolation``, ``load_order``,
        ``conflict``, ``reason``; edge attributes: ``scope``, ``range``, ``satisfied``,
        ``conflict``, ``reason``.
        """
        from ..dependencies import Catalog, PluginSpec, resolve

        catalog = Catalog(PluginSpec.from_manifest(p.manifest) for p in self._plugins)
        resolution = resolve(catalog, strategy="manual", installed=self._plugins.versions())
        graph = resolution.graph
        for name, data in graph.nodes(data=True):
            plugin = self._plugins.require(name)
            data.update(state=plugin.state.value, isolation=plugin.isolation)
        conflicts = [c.to_dict() for c in resolution.conflicts]
        last = self.resolution
        if last is not None and last.excluded:
            left = last.graph.subgraph(
                set(last.excluded) | {n for x in last.excluded for n in last.graph.predecessors(x)}
            )
            for name, data in left.nodes(data=True):
                if name not in graph:
                    graph.add_node(name, **data, state="excluded", isolation=None)
                    graph.nodes[name]["reason"] = last.excluded[name]
            for u, v, data in left.edges(data=True):
                if not graph.has_edge(u, v):
                    graph.add_edge(u, v, **data)
            conflicts += [c.to_dict() for c in last.conflicts if c.to_dict() not in conflicts]
        graph.graph["conflicts"] = conflicts
        return graph

    # ------------------------------------------------------------------ hot reload
    def watch(self, enabled: bool = True, **options: Any) -> HotReloader | None:
        """Switch hot reload on (or off): plugin folders are watched and edits reloaded.

        ``options`` go to ``HotReloader`` (``debounce_ms``, ``step_ms``).
        """
        from ..config.hotreload import HotReloader

        if not enabled:
            if self._reloader is not None:
                self._reloader.stop()
                self._reloader = None
            return None
        if self._reloader is None:
            self._reloader = HotReloader(self, **options)
            self._reloader.start()
        return self._reloader

    @property
    def reloader(self) -> HotReloader | None:
        return self._reloader

    @property
    def optimizer(self) -> ResourceOptimizer:
        """Memory, CPU priority, batching and query merging (``pliers_lab.observe.optimize``)."""
        if self._optimizer is None:
            from ..observe.optimize import ResourceOptimizer

            self._optimizer = ResourceOptimizer(self)
        return self._optimizer

    @property
    def security(self) -> SecurityMonitor:
        """The spec's SecurityMonitor (``pliers_lab.security``): behaviour baselines,
        anomalies, threats, quarantine and release. Made on first use; its policy is
        ``engine.security.policy``."""
        if self._security is None:
            from ..security import SecurityMonitor

            self._security = SecurityMonitor(self)
        return self._security

    @property
    def debugger(self) -> PluginDebugger:
        """Trace, step, profile, explain errors, replay: the spec's PluginDebugger, made
        by the installed ``debugger`` tool (``engine.attachments``; pliers-lab's own is
        ``pliers_lab.debug.Debugger``)."""
        if self._debugger is None:
            from .attachments import factory

            self._debugger = factory("debugger")(self)
        return self._debugger

    # ------------------------------------------------------------------ observations
    def metrics(self, plugin_id: str) -> PluginMetrics:
        """The spec's ``PluginMetrics`` of one plugin. ``resources`` holds measured figures
        only (a sandboxed plugin's workers: CPU, memory, disk and network, each with its
        unit and source); what is not measured is None, the reason in
        ``resources["notMeasured"]`` (an inline plugin's, mostly)."""
        return self._plugins.require(plugin_id).metrics()

    def metrics_frame(self) -> Any:
        """One row per plugin: state, counts, durations (ms), health, uptime, restarts;
        calls the host did not run (``overloaded``, ``skipped`` by an open breaker) and
        the breaker's state (``circuit``); then its resource figures, one column each
        (``RESOURCE_COLUMNS``: the unit in the name; NaN where not measured, and
        ``not_measured`` lists those figures: ``metrics(id).resources`` says why)."""
        from ..observe.frames import frame
        from ..observe.metrics import RESOURCE_COLUMNS, RESOURCE_FIGURES

        rows = []
        for p in self._plugins:
            m = self.metrics(p.id)
            e, h = m.execution, m.health
            figures = [(m.resources.get(g) or {}).get(n) for g, n, _u in RESOURCE_FIGURES]
            missing = sorted(m.resources.get("notMeasured") or {})
            rows.append((
                p.id, p.version, p.state.value, p.isolation, e.count, e.successCount,
                e.errorCount, e.avgDuration, e.maxDuration, e.totalDuration, h.status,
                h.uptime, h.restarts, p.stats.timeouts, ",".join(sorted(p.layers)),
                e.overloadedCount, e.skippedCount, h.circuit,
                *(float("nan") if v is None else v for v in figures), ",".join(missing),
            ))  # fmt: skip
        columns = (
            "plugin_id", "version", "state", "isolation", "count", "success_count",
            "error_count", "avg_ms", "max_ms", "total_ms", "health", "uptime_ms",
            "restarts", "timeouts", "layers", "overloaded", "skipped", "circuit",
            *RESOURCE_COLUMNS, "not_measured",
        )  # fmt: skip
        return frame(rows, columns)

    # ------------------------------------------------------------------ closing
    def close(self) -> None:
        """Stop watching, unload every plugin (dependents first), stop the loop thread."""
        self.watch(False)
        for plugin in reversed(self.plugins):
            if plugin.id not in self._plugins:
                continue
            try:
                self.unload(plugin.id, cascade=True)
            except PliersError:
                self._installer.forget(plugin)
        if self._security is not None:
            self._security.close()
        self._sandbox.close()
        self._loop.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        states = ", ".join(f"{p.id}={p.state.value}" for p in self._plugins)
        return f"<Engine {self.tag} plugins=[{states}]>"


#: The mixins ``Engine`` was assembled from before it became a facade (c6d1737).
_RETIRED = ("EngineBase", "LoadingOps", "StatesOps", "RecoveryOps", "SandboxOps")


def __getattr__(name: str) -> Any:
    if name in _RETIRED:
        warnings.warn(
            f"{name} is retired: Engine is one facade over collaborators now; "
            "use pliers_lab.Engine instead",
            DeprecationWarning,
            stacklevel=2,
        )
        return Engine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
