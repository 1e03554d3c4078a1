"""Getting plugins in and out: load, define inline, resolve a folder, load entry points,
reload (the new version checked beside the old, then swapped in one step), unload.

Where a plugin runs is decided here, by ``pliers_lab.trust.decide_isolation``: the host's
choice, then its trust policy, then the plugin's origin and request.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..catalog import ResultMode
from ..config import ConfigSource
from ..errors import (
    EngineError,
    PliersError,
    PluginError,
    PluginErrorType,
    must_propagate,
    raised_text,
)
from ..lifecycle import PluginState as S
from ..plugin import Plugin
from ..trust import ORIGINS, Placement, TrustPolicy, decide_isolation
from ._activation import Activation
from ._configurator import Configurator
from ._hook_table import HookRegistry
from ._journal import Journal
from ._plugin_table import PluginTable
from ._sandbox_control import SandboxControl
from .loader import check_environment
from .runtimes import Prepared, Runtime

if TYPE_CHECKING:
    from ..dependencies import Resolution
    from ..manifest import Manifest

__all__ = ["Installer"]

#: How plugins defined by the host's own code run (``add_plugin``, entry points): the
#: host imported that code itself, so it is in the host process already.
_HOST_CODE = Placement("inline", "defined by the host's code", "defined by the host's code")


class Installer:
    """Loads, reloads and unloads plugins, and decides where each runs."""

    def __init__(
        self,
        plugins: PluginTable,
        hooks: HookRegistry,
        journal: Journal,
        activation: Activation,
        sandbox: SandboxControl,
        configurator: Configurator,
        *,
        default_isolation: str,
        resolution_strategy: str,
        trust: TrustPolicy,
    ) -> None:
        self._plugins = plugins
        self._hooks = hooks
        self._journal = journal
        # One bound method for every plugin's lifecycle (one per plugin would be one more
        # object per plugin for the garbage collector to visit).
        self._transitioned = journal.transitioned
        self._activation = activation
        self._sandbox = sandbox
        self._configurator = configurator
        self.default_isolation = default_isolation
        self.resolution_strategy = resolution_strategy
        self.trust_policy = trust
        self.resolution: Resolution | None = None
        self._trusted: set[str] = set()
        self._chosen_isolation: dict[str, str] = {}
        self._api_providers: list[Callable[[Plugin], Mapping[str, Any]]] = []

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
        from ..manifest import load_manifest

        if origin not in ORIGINS:
            raise EngineError(f"origin must be one of {', '.join(ORIGINS)}, got {origin!r}")
        manifest = load_manifest(path, known_hooks=self._hooks.custom_names())
        if isolation is not None:
            self._chosen_isolation[manifest.name] = isolation
        runtime, placement = self._runtime_for(manifest, origin, signer)
        prepare = partial(runtime.prepare, manifest, manifest.root)
        return self._install(manifest, prepare, runtime, config, activate, placement)

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
        from ..manifest import Manifest, parse_manifest

        if not isinstance(manifest, Manifest):
            manifest = parse_manifest(
                manifest, source="<inline manifest>", known_hooks=self._hooks.custom_names()
            )
        inline = self._sandbox.runtimes["inline"]
        prepare = partial(inline.prepare, manifest, manifest.root, code)
        return self._install(manifest, prepare, inline, config, activate, _HOST_CODE)

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
        from ..dependencies import Catalog, PluginSpec, resolve

        catalog = Catalog().scan(folder, known_hooks=self._all_declared_hooks(folder))
        for problem in catalog.problems:
            if isinstance(problem, PluginError):
                self._journal.errors.append(problem)
        for plugin in self._plugins:
            if plugin.state is not S.ERROR:
                catalog.add(PluginSpec.from_manifest(plugin.manifest))
        installed = {p.id: p.version for p in self._plugins if p.state is not S.ERROR}
        resolution = resolve(
            catalog,
            strategy=strategy or self.resolution_strategy,
            pins=pins,
            installed=installed,
        )
        self.resolution = resolution
        for name, reason in resolution.excluded.items():
            self._journal.errors.append(
                PluginError(
                    PluginErrorType.DEPENDENCY_ERROR, f"not loaded: {reason}", plugin_id=name
                )
            )
        loaded = []
        for name in resolution.order:
            current = self._plugins.get(name)
            if current is not None and current.state is not S.ERROR:
                loaded.append(current)
                continue
            manifest = resolution.chosen[name].source
            try:
                loaded.append(self.load(manifest.root))
            except PliersError as exc:
                if isinstance(exc, PluginError) and exc not in list(self._journal.errors):
                    self._journal.errors.append(exc)
                failed = self._plugins.get(name)
                if failed is not None:
                    loaded.append(failed)
        return loaded

    def _all_declared_hooks(self, folder: str | Path) -> set[str]:
        """Custom hooks declared by any manifest under ``folder``: siblings may use them.

        The manifests the catalog will load, read the way ``load_manifest`` reads them
        (``manifest.paths``: never through a link out of the plugin folder, never a FIFO,
        at most ``MANIFEST_LIMIT`` bytes); whatever cannot be read is skipped here and
        reported by the catalog's scan, naming its path.
        """
        from ..dependencies.candidates import manifest_files
        from ..manifest.plugin_files import MANIFEST_LIMIT, Unreadable, escape, read_file

        names = set(self._hooks.custom_names())
        for manifest_file in manifest_files(Path(folder)):
            if escape(manifest_file.parent, manifest_file.name) is not None:
                continue
            try:
                data = json.loads(read_file(manifest_file, MANIFEST_LIMIT))
            except (Unreadable, ValueError, RecursionError):
                continue
            custom = data.get("customHooks") if isinstance(data, dict) else None
            if isinstance(custom, dict):
                names.update(k for k in custom if isinstance(k, str))
        return names

    def load_entry_points(
        self, group: str | None = None, names: Collection[str] | None = None
    ) -> list[Plugin]:
        """Load plugins that installed distributions expose in ``pliers_lab.plugins``
        (only those called ``names`` when given)."""
        from ..manifest import load_manifest, parse_manifest
        from .loader import ENTRY_POINT_GROUP, iter_entry_points

        loaded = []
        for ep in iter_entry_points(group or ENTRY_POINT_GROUP):
            if names is not None and ep.name not in names:
                continue
            where = f"entry point {ep.name!r} ({ep.value})"
            try:
                code = ep.load()
            except BaseException as exc:  # sys.exit() at import must not end the caller
                if must_propagate(exc):
                    raise
                raise EngineError(f"{where} failed to import: it {raised_text(exc)}") from exc
            file = getattr(code, "__file__", None)
            folder = Path(file).parent if file else None
            if folder is not None and (folder / "manifest.json").is_file():
                manifest = load_manifest(folder, known_hooks=self._hooks.custom_names())
            elif isinstance(getattr(code, "MANIFEST", None), Mapping):
                manifest = parse_manifest(code.MANIFEST, source=f"{where}: MANIFEST")
            else:
                raise EngineError(
                    f"{where}: no manifest.json next to the module and no MANIFEST dict in it"
                )
            inline = self._sandbox.runtimes["inline"]
            prepare = partial(inline.prepare, manifest, manifest.root, code)
            loaded.append(self._install(manifest, prepare, inline, None, True, _HOST_CODE))
        return loaded

    def _runtime_for(
        self, manifest: Manifest, origin: str, signer: str | None
    ) -> tuple[Runtime, Placement]:
        """Where the plugin runs (``pliers_lab.trust.decide_isolation``: the host's
        choice, then its trust policy, then the plugin's origin and request)."""
        placement = decide_isolation(
            manifest.name,
            asked=manifest.isolation,
            default=self.default_isolation,
            policy=self.trust_policy,
            origin=origin,
            signer=signer,
            root=manifest.root,
            chosen=self._chosen_isolation.get(manifest.name),
            forced_inline=manifest.name in self._trusted,
        )
        name = placement.isolation
        runtime = self._sandbox.runtime(name)
        if runtime is None:
            raise EngineError(
                f"plugin {manifest.name!r} asks for isolation {name!r}, which this engine does "
                f"not offer (available: {', '.join(sorted(self._sandbox.runtimes))})"
            )
        return runtime, placement

    def register_runtime(self, runtime: Runtime) -> None:
        """Offer another place to run plugin code (the process sandbox registers itself)."""
        self._sandbox.runtimes[runtime.name] = runtime

    def trust(self, plugin_name: str) -> None:
        """Trust ``plugin_name``: it runs inline, whatever its manifest asks and wherever
        it comes from (from its next load or reload). Adds it to ``trust_policy``."""
        self._trusted.add(plugin_name)
        self.trust_policy = self.trust_policy.with_plugins(plugin_name)

    def add_api_provider(self, provider: Callable[[Plugin], Mapping[str, Any]]) -> None:
        """Offer services on every plugin's ``context.api`` (the host registers here)."""
        self._api_providers.append(provider)
        for plugin in self._plugins:
            for name, service in provider(plugin).items():
                plugin.api.attach(name, service)

    def _limit_listener(self, hit: Any) -> None:
        """A sandboxed plugin hit a limit (``sandbox._plugin_limits.LimitHit``): on the feed."""
        self._journal.activity.emit("plugin.limit.exceeded", hit.plugin, **hit.to_dict())

    def _build(
        self,
        manifest: Manifest,
        prepare: Callable[[], Prepared],
        runtime: Runtime,
        overrides: Mapping[str, Any] | None,
        *,
        register: bool,
        placement: Placement = _HOST_CODE,
    ) -> Plugin:
        """A new plugin record taken to LOADED (or ERROR, raising its PluginError).

        With ``register`` the record is listed in the engine from the start, so a failure
        stays visible; a reload builds unregistered, so the old version keeps serving.
        """
        plugin = Plugin(
            manifest,
            root=manifest.root,
            logs=self._journal.logs,
            on_transition=self._transitioned,
            isolation=runtime.name,
        )
        plugin.origin, plugin.signer = placement.origin, placement.signer
        plugin.trust_reason, plugin.placement = placement.trust, placement.reason
        if placement.warning is not None:
            plugin.warnings += (placement.warning,)
            plugin.logger.warning(placement.warning)
        if runtime.name != "process" and manifest.limits.model_fields_set:
            unlimited = (  # limits are the sandbox's: trusted code runs with the host's
                f"manifest.json: limits: not applied to {manifest.name!r}, which runs "
                f"{runtime.name} (trusted by the host): a worker of the process sandbox "
                "applies them"
            )
            plugin.warnings += (unlimited,)
            plugin.logger.warning(unlimited)
        for provider in self._api_providers:
            for name, service in provider(plugin).items():
                plugin.api.attach(name, service)
        plugin.config_overrides = dict(overrides or {})
        if register:
            self._plugins.add(plugin)
        plugin.lifecycle.move(S.LOADING)
        try:
            check_environment(manifest)
            self._check_dependencies(manifest)
            plugin.runtime = runtime
            plugin.prepared = prepared = prepare()
            limits = getattr(prepared.handle, "limit_log", None)  # a sandboxed plugin's
            if limits is not None:
                limits.listener = self._limit_listener
            plugin.module = prepared.module
            plugin.handlers = prepared.handlers
            plugin.lifecycle_handlers = prepared.lifecycle_handlers
            plugin.config_source = ConfigSource.from_manifest(
                plugin.id, manifest.root, manifest.configuration
            )
            environment = self._configurator.environment
            plugin.config = plugin.config_source.resolve(plugin.config_overrides, environment)
            for name, custom in manifest.custom_hooks.items():
                self._hooks.declare(plugin.id, name, ResultMode(custom.mode), custom.description)
            self._activation.run_handler(plugin, "on_load", PluginErrorType.LOAD_ERROR)
        except PliersError as exc:
            error = (
                exc
                if isinstance(exc, PluginError)
                else PluginError(
                    PluginErrorType.LOAD_ERROR, str(exc), plugin_id=plugin.id, cause=exc
                )
            )
            self._activation.fail(plugin, error)
            if not register and plugin.runtime is not None and plugin.prepared is not None:
                plugin.runtime.stop(plugin, plugin.prepared)
            raise error from None
        plugin.lifecycle.move(S.LOADED)
        return plugin

    def _install(
        self,
        manifest: Manifest,
        prepare: Callable[[], Prepared],
        runtime: Runtime,
        config: Mapping[str, Any] | None,
        activate: bool,
        placement: Placement,
    ) -> Plugin:
        with self._plugins.lock:
            existing = self._plugins.get(manifest.name)
            if existing is not None and existing.state not in (S.ERROR, S.UNLOADED):
                raise EngineError(
                    f"plugin {manifest.name!r} is already loaded ({existing.key}, "
                    f"{existing.state.value}); reload or unload it first"
                )
            if existing is not None:
                self.forget(existing)
            plugin = self._build(
                manifest, prepare, runtime, config, register=True, placement=placement
            )
        self._journal.activity.emit(
            "plugin.installed",
            plugin.id,
            version=plugin.version,
            isolation=plugin.isolation,
            warnings=list(plugin.warnings),
        )
        if activate and plugin.id not in self._activation.quarantined:
            self._activation.activate(plugin)  # a quarantined plugin stays LOADED
        return plugin

    def _check_dependencies(self, manifest: Manifest) -> None:
        """The plugin's dependencies are loaded at matching versions, and (on a reload)
        every loaded dependent still accepts this version."""
        from ..versions import satisfies

        problems = []
        for name, rng, scope in manifest.all_dependencies():
            if scope == "optional":
                continue
            dep = self._plugins.get(name)
            if dep is None or dep.state in (S.ERROR, S.UNLOADED):
                problems.append(f"{scope} dependency {name} {rng} is not loaded")
            elif not satisfies(dep.version, rng):
                problems.append(f"{scope} dependency {name} {rng}: loaded version is {dep.version}")
        name, version = manifest.name, str(manifest.version)
        for other, wanted, kind in self._plugins.needing(name):
            if other.id != name and not satisfies(version, wanted):
                problems.append(f"{other.key} needs {name} {wanted} ({kind}), not {version}")
        if problems:
            raise PluginError(
                PluginErrorType.DEPENDENCY_ERROR, "; ".join(problems), plugin_id=manifest.name
            )

    def unload(self, plugin_id: str, *, cascade: bool = False) -> list[str]:
        """Stop and forget a plugin; returns the ids unloaded.

        Refused while other loaded plugins depend on it, naming them — unless
        ``cascade``, which unloads those dependents first.
        """
        plugin = self._plugins.require(plugin_id)
        dependents = self._plugins.dependents(plugin_id)
        if dependents and not cascade:
            raise EngineError(
                f"cannot unload {plugin_id!r}: {', '.join(sorted(dependents))} depend on it; "
                "unload them first or pass cascade=True"
            )
        done = []
        for dependent in reversed(dependents):
            if dependent in self._plugins:
                done.extend(self.unload(dependent, cascade=True))
        with self._plugins.lock:
            if plugin.state is S.ACTIVE:
                self._activation.disable(plugin, "unloading")
            self._retire(plugin, "unloading")
        self._journal.activity.emit("plugin.uninstalled", plugin_id, version=plugin.version)
        return [*done, plugin_id]

    def _retire(self, plugin: Plugin, reason: str) -> None:
        """→ UNLOADING → on_unload → UNLOADED, then release its code."""
        plugin.lifecycle.move(S.UNLOADING, reason)
        if self._plugins.current(plugin):
            self._hooks.remove(plugin.id)
        try:
            self._activation.run_handler(plugin, "on_unload", PluginErrorType.RUNTIME_ERROR)
        except PluginError as exc:
            self._activation.fail(plugin, exc)
            self.forget(plugin)
            raise
        plugin.lifecycle.move(S.UNLOADED, reason)
        self.forget(plugin)

    def forget(self, plugin: Plugin) -> None:
        if self._plugins.discard(plugin):
            self._hooks.remove(plugin.id)
            self._hooks.forget_custom(plugin.id)
        if plugin.runtime is not None and plugin.prepared is not None:
            plugin.runtime.stop(plugin, plugin.prepared)
            plugin.prepared = None

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
        from ..manifest import load_manifest

        old = self._plugins.require(plugin_id)
        reason = self._activation.quarantined.get(plugin_id)
        if reason is not None:  # checked before a new version's worker is started
            raise EngineError(
                f"plugin {plugin_id!r} is quarantined ({reason}); release it before "
                "reloading or updating it"
            )
        if origin is None:
            origin, signer = old.origin, old.signer
        elif origin not in ORIGINS:
            raise EngineError(f"origin must be one of {', '.join(ORIGINS)}, got {origin!r}")
        root = Path(path) if path is not None else old.root
        if root is None:
            raise EngineError(
                f"plugin {plugin_id!r} was defined inline; it has no folder to reload"
            )
        try:
            manifest = load_manifest(root, known_hooks=self._hooks.custom_names())
            if manifest.name != old.id:
                raise EngineError(
                    f"{root}: the manifest now names {manifest.name!r}, not {old.id!r}; "
                    "load it as a new plugin instead"
                )
            runtime, placement = self._runtime_for(manifest, origin, signer)
            new = self._build(
                manifest,
                partial(runtime.prepare, manifest, manifest.root),
                runtime,
                old.config_overrides,
                register=False,
                placement=placement,
            )
        except PliersError as exc:
            error = (
                exc
                if isinstance(exc, PluginError)
                else PluginError(
                    PluginErrorType.LOAD_ERROR, str(exc), plugin_id=plugin_id, cause=exc
                )
            )
            if error not in list(self._journal.errors):
                self._journal.record_error(old, error)
            raise error from None
        new.stats = old.stats
        new.stats.restarts += 1
        was_stopped = old.state is S.STOPPED
        self._activation.activate(new, replacing=old)
        if old.state is S.ACTIVE:
            self._activation.deactivate(old, "replaced by a reload")
        self._retire(old, "replaced by a reload")
        if was_stopped:  # a disabled plugin stays disabled on its new code
            self._activation.deactivate(new, old.disabled_reason or "disabled before the reload")
        self._journal.activity.emit("plugin.updated", plugin_id, old=old.version, new=new.version)
        return new
