"""``Engine``: the facade that ties manifests, lifecycle, dispatch, recovery and observations.

Every operation a notebook, a command line or an HTTP API can do is a method here; the
lab layer holds no state of its own (DESIGN.md §5). The methods live in small mixins:
``loading`` (in and out), ``states`` (activate, disable, configure), ``recovering``
(after a failure); this module holds the hot path (``fire``) and the observations.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..catalog import HookSpec
from ..context import HookContext
from ..errors import PliersError, UnknownPluginError
from ..observe.activity import Activity
from ..observe.history import ErrorStore, ExecutionStore, RecoveryStore, TransitionStore
from ..observe.logs import LogStore
from ..observe.metrics import PluginMetrics
from ..plugin import Plugin
from ..trust import TrustPolicy
from ._aio import LoopThread
from ._cache import CodeCache
from ._dispatch import HookImpl, run_async, run_collect, run_sync
from ._hook_table import HookRegistry
from ._modes import initial
from .hook_results import HookResult
from .loading import LoadingOps
from .recovering import RecoveryOps
from .runtimes import InlineRuntime, Runtime
from .sandboxing import SandboxOps
from .states import StatesOps

if TYPE_CHECKING:
    from ..config.hotreload import HotReloader
    from ..observe.optimize import ResourceOptimizer
    from .attachments import PluginDebugger

__all__ = ["Engine"]


class Engine(LoadingOps, StatesOps, RecoveryOps, SandboxOps):
    """The plugin engine. Load plugins, fire hooks, watch what happened.

    Args:
        environment: ``development``, ``staging`` or ``production``: which configuration
            overlay applies.
        max_observations: plugin calls kept for inspection, across executions (the
            oldest executions are dropped first; metrics stay exact).
        max_errors: plugin errors (and transitions, recoveries) kept.
        default_timeout_ms: used for hooks whose manifest gives none.
        default_isolation: runtime for local plugins the host has not trusted:
            ``process`` (a locked-down worker, issue 8) or ``inline``. Plugins from
            bundles run in ``process`` unless trusted, whatever this says.
        trust: what the host trusts to run where its manifest asks, inline included
            (plugin ids, signing keys, folders; ``pliers_lab.trust``). A plugin can never
            trust itself: its manifest's ``isolation: inline`` is only a request.
        resolution_strategy: how ``load_all`` resolves dependencies (``manual``,
            ``strict`` or ``latest``; see ``pliers_lab.dependencies``).
    """

    def __init__(
        self,
        *,
        environment: str = "development",
        max_observations: int = 20_000,
        max_errors: int = 1000,
        max_logs: int = 5000,
        default_timeout_ms: float = 30_000,
        default_isolation: str = "process",
        resolution_strategy: str = "manual",
        trust: TrustPolicy | None = None,
    ) -> None:
        from ..config import ENVIRONMENTS

        if environment not in ENVIRONMENTS:
            raise ValueError(
                f"environment must be one of {', '.join(ENVIRONMENTS)}, got {environment!r}"
            )
        self.tag = os.urandom(3).hex()
        self.environment = environment
        self.default_timeout_ms = default_timeout_ms
        self.default_isolation = default_isolation
        self.resolution_strategy = resolution_strategy
        self.resolution = None
        self.executions = ExecutionStore(max_observations)
        self.errors = ErrorStore(max_errors)
        self.transitions = TransitionStore(max_errors)
        self.recoveries = RecoveryStore(max_errors)
        self.logs = LogStore(max_logs)
        self.activity = Activity()
        self._plugins: dict[str, Plugin] = {}
        self._failure = self._on_hook_failure  # bound once, not per fire
        self._registry = HookRegistry()
        self._tables = self._registry.tables  # read without a call on the hot path
        self._code_cache = CodeCache()
        self.runtimes: dict[str, Runtime] = {"inline": InlineRuntime(self._code_cache)}
        self.trust_policy = trust if trust is not None else TrustPolicy()
        self._trusted: set[str] = set()
        self._chosen_isolation: dict[str, str] = {}
        self._api_providers: list[Callable[[Plugin], Mapping[str, Any]]] = []
        self._seq = itertools.count(1)
        self._loop = LoopThread()
        self._lock = threading.RLock()
        self._reloader: HotReloader | None = None
        self._debugger: PluginDebugger | None = None
        self._optimizer: ResourceOptimizer | None = None

    # ------------------------------------------------------------------ plugins
    @property
    def plugins(self) -> list[Plugin]:
        return list(self._plugins.values())

    def plugin(self, plugin_id: str) -> Plugin:
        try:
            return self._plugins[plugin_id]
        except KeyError:
            raise UnknownPluginError(plugin_id, list(self._plugins)) from None

    def __contains__(self, plugin_id: object) -> bool:
        return plugin_id in self._plugins

    # ------------------------------------------------------------------ hooks
    def hooks(self) -> list[HookSpec]:
        """Every hook this engine knows: the core catalog and custom hooks of plugins."""
        return self._registry.specs()

    def hook_spec(self, name: str) -> HookSpec:
        return self._registry.spec(name)

    def handlers(self, hook: str) -> tuple[HookImpl, ...]:
        """The active handlers of ``hook`` in the order they run."""
        return self._registry.handlers(hook)

    def in_loop_thread(self) -> bool:
        """True in the engine's loop thread, where async handlers run when ``fire`` is
        called inside a running event loop (the host refuses to start an operation there
        while another is open: it would wait for itself)."""
        return self._loop.in_loop_thread()

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
        table = self._tables.get(hook)
        if table is None:
            table = self._registry.table(hook)
        if table.has_async:
            return self._loop.run(
                self.afire(
                    hook,
                    data,
                    user_id=user_id,
                    session_id=session_id,
                    event=event,
                    request_id=request_id,
                    trace_id=trace_id,
                )
            )
        extra = (
            (user_id, session_id, event, request_id, trace_id)
            if user_id or session_id or event is not None or request_id or trace_id
            else None
        )
        ctx = HookContext(hook, data, self._plugins, self.tag, next(self._seq), extra)
        if table.collect:
            value, record = run_collect(table, ctx, [], self._failure)
        else:
            value, record = run_sync(table, ctx, initial(table.mode, data), self._failure)
        result = HookResult(ctx, table.mode_name, data, value, table.impls, record)
        self.executions.append(result)
        return result

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
        table = self._registry.table(hook)
        extra = (user_id, session_id, event, request_id, trace_id)
        ctx = HookContext(hook, data, self._plugins, self.tag, next(self._seq), extra)
        value, record = await run_async(table, ctx, initial(table.mode, data), self._failure)
        result = HookResult(ctx, table.mode_name, data, value, table.impls, record)
        self.executions.append(result)
        return result

    # ------------------------------------------------------------------ dependencies
    def dependency_graph(self) -> Any:
        """The plugins as a networkx DiGraph (edge: dependency → dependent): the loaded
        ones, and those the last ``load_all`` left out (state ``excluded``).

        Node attributes: ``version``, ``state``, ``isolation``, ``load_order``,
        ``conflict``, ``reason``; edge attributes: ``scope``, ``range``, ``satisfied``,
        ``conflict``, ``reason``.
        """
        from ..dependencies import Catalog, PluginSpec, resolve

        catalog = Catalog(PluginSpec.from_manifest(p.manifest) for p in self._plugins.values())
        resolution = resolve(catalog, strategy="manual", installed=self._versions())
        graph = resolution.graph
        for name, data in graph.nodes(data=True):
            plugin = self._plugins[name]
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

    def _versions(self) -> dict[str, str]:
        return {p.id: p.version for p in self._plugins.values()}

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
        """The spec's ``PluginMetrics`` of one plugin (sandboxed: with its worker's memory
        and CPU in ``resources``)."""
        plugin = self.plugin(plugin_id)
        return self._add_resources(plugin, plugin.metrics())

    def metrics_frame(self) -> Any:
        """One row per plugin: state, counts, durations (ms), health, uptime, restarts;
        calls the host did not run (``overloaded``, ``skipped`` by an open breaker) and
        the breaker's state (``circuit``)."""
        from ..observe.frames import frame

        rows = []
        for p in self._plugins.values():
            m = self.metrics(p.id)
            e, h = m.execution, m.health
            rows.append((
                p.id, p.version, p.state.value, p.isolation, e.count, e.successCount,
                e.errorCount, e.avgDuration, e.maxDuration, e.totalDuration, h.status,
                h.uptime, h.restarts, p.stats.timeouts, ",".join(sorted(p.layers)),
                e.overloadedCount, e.skippedCount, h.circuit,
            ))  # fmt: skip
        columns = (
            "plugin_id", "version", "state", "isolation", "count", "success_count",
            "error_count", "avg_ms", "max_ms", "total_ms", "health", "uptime_ms",
            "restarts", "timeouts", "layers", "overloaded", "skipped", "circuit",
        )  # fmt: skip
        return frame(rows, columns)

    def close(self) -> None:
        """Stop watching, unload every plugin (dependents first), stop the loop thread."""
        self.watch(False)
        for plugin in reversed(list(self._plugins.values())):
            if plugin.id not in self._plugins:
                continue
            try:
                self.unload(plugin.id, cascade=True)
            except PliersError:
                self._forget(plugin)
        self._close_sandbox()
        self._loop.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        states = ", ".join(f"{p.id}={p.state.value}" for p in self._plugins.values())
        return f"<Engine {self.tag} plugins=[{states}]>"
