"""``Engine``: the facade that ties manifests, lifecycle, dispatch, recovery and observations.

Every operation a notebook, a command line or an HTTP API can do is a method here; the
lab layer holds no state of its own (DESIGN.md §5).
"""

from __future__ import annotations

import inspect
import itertools
import os
import threading
import time
from collections.abc import Callable, Collection, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from ._aio import LoopThread
from .api import PluginAPI
from .cache import CodeCache
from .catalog import HookSpec, ResultMode
from .config import ConfigSource
from .context import HookContext
from .dispatch import HookImpl, run_async, run_collect, run_sync
from .errors import EngineError, PliersError, PluginError, PluginErrorType, UnknownPluginError
from .lifecycle import PluginState
from .loader import check_environment
from .modes import initial
from .observe.logs import LogStore
from .observe.metrics import PluginMetrics
from .observe.records import ErrorStore, ExecutionStore, RecoveryStore, TransitionStore
from .plugin import Plugin
from .recovery import RecoveryRecord, RecoveryStrategy
from .registry import HookRegistry
from .results import HookResult
from .runtime import InlineRuntime, Prepared, Runtime

__all__ = ["Engine"]

S = PluginState


class Engine:
    """The plugin engine. Load plugins, fire hooks, watch what happened.

    Args:
        max_observations: plugin calls kept for inspection, across executions (the
            oldest executions are dropped first; metrics stay exact).
        max_errors: plugin errors kept.
        default_timeout_ms: used for hooks whose manifest gives none.
        default_isolation: runtime for plugins whose manifest names none.
    """

    def __init__(
        self,
        *,
        max_observations: int = 20_000,
        max_errors: int = 1000,
        max_logs: int = 5000,
        default_timeout_ms: float = 30_000,
        default_isolation: str = "inline",
    ) -> None:
        self.tag = os.urandom(3).hex()
        self.default_timeout_ms = default_timeout_ms
        self.executions = ExecutionStore(max_observations)
        self.errors = ErrorStore(max_errors)
        self.transitions = TransitionStore(max_errors)
        self.recoveries = RecoveryStore(max_errors)
        self.logs = LogStore(max_logs)
        self._plugins: dict[str, Plugin] = {}
        self._failure = self._on_hook_failure  # bound once, not per fire
        self._registry = HookRegistry()
        self._tables = self._registry.tables  # read without a call on the hot path
        self._code_cache = CodeCache()
        self.default_isolation = default_isolation
        self.runtimes: dict[str, Runtime] = {"inline": InlineRuntime(self._code_cache)}
        self._trusted: set[str] = set()
        self._api_providers: list[Callable[[Plugin], Mapping[str, Any]]] = []
        self._seq = itertools.count(1)
        self._loop = LoopThread()
        self._lock = threading.RLock()

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

    def load(
        self, path: str | Path, *, config: Mapping[str, Any] | None = None, activate: bool = True
    ) -> Plugin:
        """Load the plugin in folder ``path`` (or its ``manifest.json``) and activate it.

        Raises ``ManifestError`` for a bad manifest and ``PluginError`` for a plugin that
        fails to load or start; in the second case the plugin stays listed in ERROR.
        """
        from .manifest import load_manifest

        manifest = load_manifest(path, known_hooks=self._registry.custom_names())
        runtime = self._runtime_for(manifest)
        return self._install(
            manifest, lambda: runtime.prepare(manifest, manifest.root), runtime, config, activate
        )

    def add_plugin(
        self,
        manifest: Mapping[str, Any] | Any,
        code: Any,
        *,
        config: Mapping[str, Any] | None = None,
        activate: bool = True,
    ) -> Plugin:
        """Define a plugin from code: a manifest (dict or Manifest) and a module, mapping
        of functions or object holding its handlers (notebooks, tests, entry points)."""
        from .manifest import Manifest, parse_manifest

        if not isinstance(manifest, Manifest):
            manifest = parse_manifest(
                manifest, source="<inline manifest>", known_hooks=self._registry.custom_names()
            )
        inline = self.runtimes["inline"]
        return self._install(
            manifest,
            lambda: inline.prepare(manifest, manifest.root, code),
            inline,
            config,
            activate,
        )

    def load_all(self, folder: str | Path) -> list[Plugin]:
        """Load every plugin folder under ``folder``, dependencies first.

        A plugin that fails is recorded (``engine.errors``) and does not stop the others.
        """
        from graphlib import CycleError, TopologicalSorter

        from .manifest import ManifestError, load_manifest

        manifests = {}
        for child in sorted(Path(folder).iterdir()):
            if (child / "manifest.json").is_file():
                try:
                    m = load_manifest(child, known_hooks=self._all_declared_hooks(folder))
                except ManifestError as exc:
                    self.errors.append(exc)
                    continue
                manifests[m.name] = m
        graph = {
            name: {
                d for d, _r, scope in m.all_dependencies() if d in manifests and scope != "optional"
            }
            for name, m in manifests.items()
        }
        try:
            order = list(TopologicalSorter(graph).static_order())
        except CycleError as exc:
            cycle = " -> ".join(exc.args[1])
            raise EngineError(f"{folder}: dependency cycle between plugins: {cycle}") from None
        loaded = []
        for name in order:
            if name in self._plugins and self._plugins[name].state is not S.ERROR:
                loaded.append(self._plugins[name])
                continue
            try:
                loaded.append(self.load(manifests[name].root or folder))
            except PliersError as exc:
                if isinstance(exc, PluginError) and exc not in list(self.errors):
                    self.errors.append(exc)
                if name in self._plugins:
                    loaded.append(self._plugins[name])
        return loaded

    def _all_declared_hooks(self, folder: str | Path) -> set[str]:
        """Custom hooks declared by any manifest in ``folder``: siblings may implement them."""
        import json

        names = set(self._registry.custom_names())
        for manifest_file in Path(folder).glob("*/manifest.json"):
            try:
                custom = json.loads(manifest_file.read_text("utf-8")).get("customHooks", {})
                names.update(k for k in custom if isinstance(k, str))
            except (OSError, ValueError, AttributeError):
                continue
        return names

    def load_entry_points(
        self, group: str | None = None, names: Collection[str] | None = None
    ) -> list[Plugin]:
        """Load plugins that installed distributions expose in ``pliers_lab.plugins``
        (only those called ``names`` when given)."""
        from .loader import ENTRY_POINT_GROUP, iter_entry_points
        from .manifest import load_manifest, parse_manifest

        loaded = []
        for ep in iter_entry_points(group or ENTRY_POINT_GROUP):
            if names is not None and ep.name not in names:
                continue
            where = f"entry point {ep.name!r} ({ep.value})"
            try:
                code = ep.load()
            except Exception as exc:
                raise EngineError(f"{where} failed to import: {type(exc).__name__}: {exc}") from exc
            file = getattr(code, "__file__", None)
            folder = Path(file).parent if file else None
            if folder is not None and (folder / "manifest.json").is_file():
                manifest = load_manifest(folder, known_hooks=self._registry.custom_names())
            elif isinstance(getattr(code, "MANIFEST", None), Mapping):
                manifest = parse_manifest(code.MANIFEST, source=f"{where}: MANIFEST")
            else:
                raise EngineError(
                    f"{where}: no manifest.json next to the module and no MANIFEST dict in it"
                )
            inline = self.runtimes["inline"]
            prepare = partial(inline.prepare, manifest, manifest.root, code)
            loaded.append(self._install(manifest, prepare, inline, None, True))
        return loaded

    def _runtime_for(self, manifest: Any) -> Runtime:
        """The runtime a plugin asks for (``isolation``), else the engine's default."""
        name = manifest.isolation or self.default_isolation
        if name in self._trusted and "inline" in self.runtimes:
            name = "inline"
        runtime = self.runtimes.get(name)
        if runtime is None:
            raise EngineError(
                f"plugin {manifest.name!r} asks for isolation {name!r}, which this engine does "
                f"not offer (available: {', '.join(sorted(self.runtimes))})"
            )
        return runtime

    def register_runtime(self, runtime: Runtime) -> None:
        """Offer another place to run plugin code (the process sandbox registers itself)."""
        self.runtimes[runtime.name] = runtime

    def trust(self, plugin_name: str) -> None:
        """Run ``plugin_name`` inline whatever isolation its manifest asks for."""
        self._trusted.add(plugin_name)

    def add_api_provider(self, provider: Callable[[Plugin], Mapping[str, Any]]) -> None:
        """Offer services on every plugin's ``context.api`` (the host registers here)."""
        self._api_providers.append(provider)
        for plugin in self._plugins.values():
            for name, service in provider(plugin).items():
                plugin.api.attach(name, service)

    def _install(
        self,
        manifest: Any,
        prepare: Callable[[], Prepared],
        runtime: Runtime,
        config: Mapping[str, Any] | None,
        activate: bool,
    ) -> Plugin:
        with self._lock:
            existing = self._plugins.get(manifest.name)
            if existing is not None and existing.state not in (S.ERROR, S.UNLOADED):
                raise EngineError(
                    f"plugin {manifest.name!r} is already loaded ({existing.key}, "
                    f"{existing.state.value}); reload or unload it first"
                )
            if existing is not None:
                self._forget(existing)
            root = manifest.root
            plugin = Plugin(
                manifest,
                root=root,
                logs=self.logs,
                on_transition=self.transitions.append,
                isolation=runtime.name,
            )
            plugin.api = PluginAPI(plugin)
            for provider in self._api_providers:
                for name, service in provider(plugin).items():
                    plugin.api.attach(name, service)
            self._plugins[plugin.id] = plugin
            plugin.lifecycle.move(S.LOADING)
            try:
                check_environment(manifest)
                self._check_dependencies(manifest)
                plugin.runtime = runtime
                plugin.prepared = prepared = prepare()
                plugin.module = prepared.module
                plugin.handlers = prepared.handlers
                plugin.lifecycle_handlers = prepared.lifecycle_handlers
                cfg = manifest.configuration
                plugin.config_source = ConfigSource.from_files(
                    plugin.id,
                    root,
                    cfg.schema_file if cfg else None,
                    cfg.default_file if cfg else None,
                )
                plugin.config = plugin.config_source.resolve(config)
                for name, custom in manifest.custom_hooks.items():
                    self._registry.declare(
                        plugin.id, name, ResultMode(custom.mode), custom.description
                    )
                self._call(plugin, "on_load", PluginErrorType.LOAD_ERROR)
            except PliersError as exc:
                error = (
                    exc
                    if isinstance(exc, PluginError)
                    else PluginError(
                        PluginErrorType.LOAD_ERROR, str(exc), plugin_id=plugin.id, cause=exc
                    )
                )
                self._fail(plugin, error)
                raise error from None
            plugin.lifecycle.move(S.LOADED)
        if activate:
            self.activate(plugin.id)
        return plugin

    def _check_dependencies(self, manifest: Any) -> None:
        from .versions import satisfies

        problems = []
        for name, rng, scope in manifest.all_dependencies():
            if scope == "optional":
                continue
            dep = self._plugins.get(name)
            if dep is None or dep.state in (S.ERROR, S.UNLOADED):
                problems.append(f"{scope} dependency {name} {rng} is not loaded")
            elif not satisfies(dep.version, rng):
                problems.append(f"{scope} dependency {name} {rng}: loaded version is {dep.version}")
        if problems:
            raise PluginError(
                PluginErrorType.DEPENDENCY_ERROR, "; ".join(problems), plugin_id=manifest.name
            )

    def activate(self, plugin_id: str) -> Plugin:
        """LOADED/STOPPED/ERROR → INITIALIZING → ACTIVE: run on_activate, register handlers."""
        plugin = self.plugin(plugin_id)
        with self._lock:
            plugin.lifecycle.move(S.INITIALIZING)
            try:
                self._call(plugin, "on_activate", PluginErrorType.INIT_ERROR)
            except PluginError as exc:
                self._fail(plugin, exc)
                raise
            plugin.impls = self._impls_for(plugin)
            self._registry.add(plugin.impls)
            plugin.disabled_reason = None
            plugin.stats.reset_streak()
            plugin.lifecycle.move(S.ACTIVE)
        return plugin

    def _impls_for(self, plugin: Plugin) -> list[HookImpl]:
        impls = []
        sync_checked = plugin.prepared.sync_timeouts if plugin.prepared else True
        for name, fn in plugin.handlers.items():
            cfg = plugin.manifest.hooks[name]
            timeout_ms = cfg.timeout if cfg.timeout is not None else self.default_timeout_ms
            impls.append(
                HookImpl(
                    plugin.id,
                    name,
                    fn,
                    priority=cfg.priority,
                    # A runtime that enforces timeouts itself (a killed worker) needs no
                    # after-the-fact check in the dispatch loop.
                    timeout=timeout_ms / 1000.0 if sync_checked else float("inf"),
                    retries=cfg.retries,
                    is_async=inspect.iscoroutinefunction(fn),
                    stats=plugin.stats,
                    policy=plugin.policy,
                )
            )
        return impls

    def disable(self, plugin_id: str, reason: str = "disabled by user") -> Plugin:
        """ACTIVE → STOPPING → STOPPED: unregister handlers, run on_deactivate."""
        plugin = self.plugin(plugin_id)
        with self._lock:
            if plugin.state is S.STOPPED:
                return plugin
            plugin.lifecycle.move(S.STOPPING, reason)
            self._registry.remove(plugin.id)
            try:
                self._call(plugin, "on_deactivate", PluginErrorType.RUNTIME_ERROR)
            except PluginError as exc:
                self._fail(plugin, exc)
                raise
            plugin.disabled_reason = reason
            plugin.lifecycle.move(S.STOPPED, reason)
        return plugin

    def enable(self, plugin_id: str) -> Plugin:
        """Re-activate a STOPPED (or failed) plugin."""
        plugin = self.plugin(plugin_id)
        if plugin.state is S.ACTIVE:
            return plugin
        return self.activate(plugin_id)

    def restart(self, plugin_id: str, reason: str = "restart") -> Plugin:
        """Deactivate and activate again; counted in the plugin's metrics."""
        plugin = self.plugin(plugin_id)
        if plugin.state is S.ACTIVE:
            self.disable(plugin_id, reason)
        plugin.stats.restarts += 1
        return self.activate(plugin_id)

    def unload(self, plugin_id: str) -> None:
        """Stop and forget a plugin; refused while other loaded plugins depend on it."""
        plugin = self.plugin(plugin_id)
        dependents = sorted(
            p.id
            for p in self._plugins.values()
            if p.id != plugin_id
            and p.state not in (S.ERROR, S.UNLOADED)
            and any(
                d == plugin_id and s != "optional" for d, _r, s in p.manifest.all_dependencies()
            )
        )
        if dependents:
            raise EngineError(
                f"cannot unload {plugin_id!r}: {', '.join(dependents)} depend on it; "
                "unload them first"
            )
        with self._lock:
            if plugin.state is S.ACTIVE:
                self.disable(plugin_id, "unloading")
            plugin.lifecycle.move(S.UNLOADING)
            self._registry.remove(plugin.id)
            try:
                self._call(plugin, "on_unload", PluginErrorType.RUNTIME_ERROR)
            except PluginError as exc:
                self._fail(plugin, exc)
                raise
            plugin.lifecycle.move(S.UNLOADED)
            self._forget(plugin)

    def _forget(self, plugin: Plugin) -> None:
        self._registry.remove(plugin.id)
        self._registry.forget_custom(plugin.id)
        if plugin.runtime is not None and plugin.prepared is not None:
            plugin.runtime.stop(plugin, plugin.prepared)
            plugin.prepared = None
        self._plugins.pop(plugin.id, None)

    def reload(self, plugin_id: str) -> Plugin:
        """Load the plugin's folder again, keeping its configuration.

        The new code is imported and checked before the old version stops, so a broken
        edit leaves the old version serving (the failure is recorded as LOAD_ERROR).
        """
        from .manifest import load_manifest

        old = self.plugin(plugin_id)
        if old.root is None:
            raise EngineError(
                f"plugin {plugin_id!r} was defined inline; it has no folder to reload"
            )
        try:
            manifest = load_manifest(old.root, known_hooks=self._registry.custom_names())
            runtime = self._runtime_for(manifest)
            prepared = runtime.prepare(manifest, old.root)
        except PluginError as exc:
            self._record_error(old, exc)
            raise
        config = {k: v for k, v in old.config.items()}
        if old.state is S.ACTIVE:
            self.disable(plugin_id, "reloading")
        with self._lock:
            old.lifecycle.move(S.UNLOADING, "reloading")
            self._call(old, "on_unload", PluginErrorType.RUNTIME_ERROR)
            old.lifecycle.move(S.UNLOADED, "reloading")
            self._forget(old)
        return self._install(manifest, lambda: prepared, runtime, config, True)

    def configure(self, plugin_id: str, config: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and apply a new configuration; on_config_change sees it.

        An invalid configuration raises CONFIG_ERROR and the old one stays active.
        """
        plugin = self.plugin(plugin_id)
        source = plugin.config_source or ConfigSource(plugin.id, None, {})
        try:
            resolved = source.resolve(config)
        except PluginError as exc:
            self._record_error(plugin, exc)
            raise
        previous, plugin.config = plugin.config, resolved
        try:
            self._call(plugin, "on_config_change", PluginErrorType.CONFIG_ERROR, resolved)
        except PluginError as exc:
            plugin.config = previous
            self._registry.remove(plugin.id)
            self._fail(plugin, exc)
            raise
        return resolved

    # ------------------------------------------------------------------ handlers
    def _call(self, plugin: Plugin, name: str, kind: PluginErrorType, *args: Any) -> None:
        fn = plugin.lifecycle_handlers.get(name)
        if fn is None:
            return
        try:
            outcome = fn(plugin, *args)
            if inspect.isawaitable(outcome):
                self._loop.run(_awaited(outcome))
        except Exception as exc:
            raise PluginError(
                kind, f"{name} raised {type(exc).__name__}: {exc}", plugin_id=plugin.id, cause=exc
            ) from exc

    def _record_error(self, plugin: Plugin | None, error: PluginError) -> None:
        self.errors.append(error)
        if plugin is None:
            return
        plugin.last_error = error
        plugin.logger.bind(error.hook, error.execution_id).error(str(error))
        handler = plugin.lifecycle_handlers.get("on_error")
        if handler is not None:
            try:
                outcome = handler(plugin, error)
                if inspect.isawaitable(outcome) and not self._loop.in_loop_thread():
                    self._loop.run(_awaited(outcome))
            except Exception as exc:  # on_error itself failing must not recurse
                self.errors.append(
                    PluginError(
                        PluginErrorType.RUNTIME_ERROR,
                        f"on_error raised {type(exc).__name__}: {exc}",
                        plugin_id=plugin.id,
                        cause=exc,
                    )
                )

    def _fail(self, plugin: Plugin, error: PluginError) -> None:
        """Record ``error`` and put the plugin in ERROR (its handlers stop answering)."""
        self._registry.remove(plugin.id)
        if plugin.lifecycle.can_move(S.ERROR):
            plugin.lifecycle.move(S.ERROR, error.message, error.id)
        self._record_error(plugin, error)

    def _on_hook_failure(
        self, impl: HookImpl, error: PluginError, ctx: HookContext
    ) -> tuple[bool, Any]:
        """Record a handler's failure and apply its plugin's recovery policy."""
        plugin = self._plugins.get(impl.plugin_id)
        self._record_error(plugin, error)
        if plugin is None:
            return False, None
        policy = plugin.policy
        has_value, value = False, None
        strategy = policy.strategy
        detail = ""
        try:
            if strategy is RecoveryStrategy.FALLBACK:
                has_value, value, detail = self._fallback(impl, ctx, policy.fallback_plugin)
            elif strategy is RecoveryStrategy.DISABLE and plugin.state is S.ACTIVE:
                self.disable(plugin.id, f"disabled by recovery policy after {error.type.value}")
                detail = "plugin disabled"
            elif strategy is RecoveryStrategy.RESTART and plugin.state is S.ACTIVE:
                self.restart(plugin.id, f"restart after {error.type.value}")
                detail = f"plugin restarted ({plugin.stats.restarts} restarts)"
            elif strategy is RecoveryStrategy.RETRY:
                detail = f"gave up after {impl.retries} retries"
            else:
                detail = "error ignored; other plugins continue"
        except PliersError as exc:
            detail = f"recovery failed: {exc}"
        error.recovery = strategy.value
        self._recovered(plugin, error, strategy.value, detail)
        streak = plugin.stats.consecutive_failures
        if streak >= policy.breaker_threshold and plugin.state is S.ACTIVE:
            self.disable(plugin.id, f"circuit breaker opened after {streak} consecutive failures")
            self._recovered(plugin, error, "circuit_open", f"{streak} consecutive failures")
            if policy.breaker_reset_ms is not None:
                timer = threading.Timer(
                    policy.breaker_reset_ms / 1000, self._half_open, [plugin.id]
                )
                timer.daemon = True
                timer.start()
        return has_value, value

    def _fallback(
        self, impl: HookImpl, ctx: HookContext, fallback_id: str | None
    ) -> tuple[bool, Any, str]:
        fallback = self._plugins.get(fallback_id or "")
        if fallback is None or fallback.state is not S.ACTIVE:
            return False, None, f"fallback plugin {fallback_id!r} is not active"
        handler = fallback.handlers.get(impl.hook)
        if handler is None:
            return False, None, f"fallback plugin {fallback_id!r} has no handler for {impl.hook!r}"
        failed_id, ctx.plugin_id = ctx.plugin_id, fallback.id
        try:
            value = handler(ctx)
            if inspect.isawaitable(value) and not self._loop.in_loop_thread():
                value = self._loop.run(_awaited(value))
        except Exception as exc:
            return False, None, f"fallback {fallback_id!r} failed too: {type(exc).__name__}: {exc}"
        finally:
            ctx.plugin_id = failed_id
        return True, value, f"answered by fallback plugin {fallback_id!r}"

    def _half_open(self, plugin_id: str) -> None:
        plugin = self._plugins.get(plugin_id)
        if plugin is not None and plugin.state is S.STOPPED:
            try:
                self.enable(plugin_id)
                self._recovered(
                    plugin, None, "circuit_half_open", "re-enabled after the reset delay"
                )
            except PliersError:
                pass

    def _recovered(
        self, plugin: Plugin, error: PluginError | None, action: str, detail: str
    ) -> None:
        self.recoveries.append(
            RecoveryRecord(
                time.time(),
                plugin.id,
                error.id if error else None,
                error.hook if error else None,
                action,
                detail,
                plugin.policy.notify_admin,
            )
        )

    # ------------------------------------------------------------------ hooks
    def hooks(self) -> list[HookSpec]:
        """Every hook this engine knows: the core catalog and custom hooks of plugins."""
        return self._registry.specs()

    def hook_spec(self, name: str) -> HookSpec:
        return self._registry.spec(name)

    def handlers(self, hook: str) -> tuple[HookImpl, ...]:
        """The active handlers of ``hook`` in the order they run."""
        return self._registry.handlers(hook)

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

    # ------------------------------------------------------------------ observations
    def metrics(self, plugin_id: str) -> PluginMetrics:
        """The spec's ``PluginMetrics`` of one plugin."""
        return self.plugin(plugin_id).metrics()

    def metrics_frame(self) -> Any:
        """One row per plugin: state, counts, durations (ms), health, uptime, restarts."""
        from .observe.frames import frame

        rows = []
        for p in self._plugins.values():
            m = self.metrics(p.id)
            e, h = m.execution, m.health
            rows.append(
                (
                    p.id,
                    p.version,
                    p.state.value,
                    p.isolation,
                    e.count,
                    e.successCount,
                    e.errorCount,
                    e.avgDuration,
                    e.maxDuration,
                    e.totalDuration,
                    h.status,
                    h.uptime,
                    h.restarts,
                    p.stats.timeouts,
                )
            )
        columns = (
            "plugin_id",
            "version",
            "state",
            "isolation",
            "count",
            "success_count",
            "error_count",
            "avg_ms",
            "max_ms",
            "total_ms",
            "health",
            "uptime_ms",
            "restarts",
            "timeouts",
        )
        return frame(rows, columns)

    def close(self) -> None:
        """Unload every plugin (dependents first) and stop the engine's loop thread."""
        for plugin in reversed(list(self._plugins.values())):
            if plugin.id not in self._plugins:
                continue
            try:
                self.unload(plugin.id)
            except PliersError:
                self._forget(plugin)
        self._loop.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _repr_html_(self) -> str:
        from .lab.displays import engine_html  # the core never imports the lab eagerly

        return engine_html(self)

    def __repr__(self) -> str:
        states = ", ".join(f"{p.id}={p.state.value}" for p in self._plugins.values())
        return f"<Engine {self.tag} plugins=[{states}]>"


async def _awaited(awaitable: Any) -> Any:
    return await awaitable
