"""The ``hook`` decorator plugin authors use, and ``Plugin``: the engine's record of one plugin."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from .catalog import HOOK_NAME_PATTERN
from .engine._breaker import BreakerState, CircuitBreaker
from .errors import EngineError, PluginError
from .lifecycle import Lifecycle, PluginState, Transition
from .observe.logs import LogStore, PluginLogger
from .observe.metrics import (
    PluginMetrics,
    PluginStats,
    Resources,
    empty_resources,
    inline_resources,
    snapshot,
)
from .recovery import RecoveryPolicy

if TYPE_CHECKING:
    from .config import ConfigSource
    from .engine._dispatch import HookImpl
    from .engine.runtimes import Prepared, Runtime
    from .manifest import Manifest

__all__ = ["LIFECYCLE_HANDLERS", "Plugin", "hook"]

F = TypeVar("F", bound=Callable[..., Any])

#: Held while a plugin's breaker or API is made on first use, so two threads get one.
_MAKING = threading.Lock()

#: Module-level functions a plugin may define, called at lifecycle transitions.
LIFECYCLE_HANDLERS = (
    "on_load",
    "on_activate",
    "on_deactivate",
    "on_unload",
    "on_error",
    "on_config_change",
)


def hook(name: str) -> Callable[[F], F]:
    """Mark a function as the plugin's handler for hook ``name``.

    The manifest still declares the hook (priority, timeout, retries); the decorator only
    binds code to it, so a typo on either side is a clear load error, not a silent no-op.
    """
    if not isinstance(name, str) or not HOOK_NAME_PATTERN.match(name):
        raise EngineError(f"@hook({name!r}): not a hook name (expected e.g. 'form.validate')")

    def mark(fn: F) -> F:
        marked = getattr(fn, "__pliers_hooks__", ())
        if name not in marked:
            fn.__pliers_hooks__ = (*marked, name)  # type: ignore[attr-defined]
        return fn

    return mark


class Plugin:
    """One loaded plugin: manifest, code, state, configuration and metrics.

    This object is also what lifecycle handlers receive (``on_activate(plugin)``), so
    plugin code can read ``plugin.id``, ``plugin.config`` and ``plugin.logger``.

    Slots: an instance dictionary of 30 keys is past what CPython keeps inline, so it
    would be one more object per plugin that every full garbage collection visits.
    """

    __slots__ = (
        "__dict__",  # attributes plugin code adds itself
        "__weakref__",
        "_api",
        "_breaker",
        "_logger",
        "_logs",
        "config",
        "config_changes",
        "config_overrides",
        "config_source",
        "config_updated_at",
        "disabled_reason",
        "handlers",
        "id",
        "impls",
        "isolation",
        "last_error",
        "lifecycle",
        "lifecycle_handlers",
        "loaded_at",
        "manifest",
        "module",
        "origin",
        "placement",
        "policy",
        "prepared",
        "root",
        "runtime",
        "signer",
        "stats",
        "trust_reason",
        "warnings",
    )

    def __init__(
        self,
        manifest: Manifest,
        *,
        root: Path | None,
        logs: LogStore,
        on_transition: Callable[[Transition], None] | None = None,
        isolation: str = "inline",
    ) -> None:
        self.manifest = manifest
        self.id: str = manifest.name
        self.root = root
        self.isolation = isolation
        self.lifecycle = Lifecycle(self.id, on_transition)
        self._logs = logs
        self._logger: PluginLogger | None = None
        self.stats = PluginStats()
        self.policy = RecoveryPolicy.from_manifest(manifest.recovery)
        self._breaker: CircuitBreaker | None = None
        self.module: ModuleType | None = None
        self.handlers: dict[str, Callable[..., Any]] = {}
        self.lifecycle_handlers: dict[str, Callable[..., Any]] = {}
        self.impls: tuple[HookImpl, ...] = ()
        self.config: dict[str, Any] = {}
        #: What the user set with ``Engine.configure`` (defaults apply underneath).
        self.config_overrides: dict[str, Any] = {}
        #: The last configuration change, human-readable (``a.b: 1 -> 2``).
        self.config_changes: Sequence[str] = ()
        #: When the configuration was last applied (epoch seconds; None: never changed).
        self.config_updated_at: float | None = None
        self.config_source: ConfigSource | None = None
        self.last_error: PluginError | None = None
        self.disabled_reason: str | None = None
        self.loaded_at = time.time()
        self._api: Any = None
        self.runtime: Runtime | None = None
        self.prepared: Prepared | None = None
        #: Where its folder came from: ``local`` (the host named it) or ``bundle``
        #: (marketplace, HTTP upload or path install); see ``pliers_lab.trust``.
        self.origin = "local"
        #: The verified signing key id of its bundle, if any.
        self.signer: str | None = None
        #: Why the host trusts it (``"trusted id"``, ...), or None: it does not.
        self.trust_reason: str | None = None
        #: Why it runs where it does (``isolation``), in a phrase.
        self.placement = ""
        #: What its users should know about how it was loaded (a refused inline request).
        self.warnings: tuple[str, ...] = ()

    # Empty tuples and a logger made on first use: every container a plugin holds for its
    # lifetime is one more object each full collection of the garbage collector visits.
    @property
    def api(self) -> Any:
        """What its code reaches the host through (``PluginAPI``: ``api.cache`` and the
        services an attached host offers), made on first use when the engine attached
        none at load."""
        api = self._api
        if api is None:
            from .engine._plugin_api import PluginAPI

            with _MAKING:
                api = self._api
                if api is None:
                    api = self._api = PluginAPI(self)
        return api

    @api.setter
    def api(self, api: Any) -> None:
        self._api = api

    @property
    def breaker(self) -> CircuitBreaker:
        """Opened by the engine after ``policy.breaker_threshold`` failures in a row of the
        plugin's own; it always half-opens again (``pliers_lab.engine._breaker``). Made
        when first needed: a plugin that never fails holds none."""
        breaker = self._breaker
        if breaker is None:
            with _MAKING:
                breaker = self._breaker
                if breaker is None:
                    reset_s = self.policy.breaker_reset_ms / 1000.0
                    breaker = self._breaker = CircuitBreaker(reset_s)
        return breaker

    @property
    def circuit(self) -> BreakerState:
        """Its breaker's state (closed when it has none yet), without making one."""
        breaker = self._breaker
        return BreakerState.CLOSED if breaker is None else breaker.state

    def reset_breaker(self) -> None:
        """Close its breaker, if it has one."""
        breaker = self._breaker
        if breaker is not None:
            breaker.reset()

    @property
    def logger(self) -> PluginLogger:
        """Its log (entries land in the engine's log store), made on first use."""
        logger = self._logger
        if logger is None:
            logger = self._logger = PluginLogger(self.id, self._logs)
        return logger

    @property
    def state(self) -> PluginState:
        return self.lifecycle.state

    @property
    def version(self) -> str:
        return str(self.manifest.version)

    @property
    def key(self) -> str:
        """Identity across versions: ``name@version``."""
        return f"{self.id}@{self.version}"

    @property
    def layers(self) -> dict[str, str]:
        """Isolation layers in force for this plugin (empty when it runs inline)."""
        return dict(self.prepared.layers) if self.prepared else {}

    @property
    def activated_at(self) -> float | None:
        return self.lifecycle.entered_at(PluginState.ACTIVE)

    @property
    def transitions(self) -> list[Transition]:
        return list(self.lifecycle.history)

    def metrics(self) -> PluginMetrics:
        """The spec's ``PluginMetrics`` for this plugin, now (``resources``: what its
        runtime measured, ``not measured`` with the reason for the rest)."""
        active = self.state is PluginState.ACTIVE
        return snapshot(
            self.id,
            self.stats,
            state_ok=self.state not in (PluginState.ERROR,),
            active_since=self.activated_at if active else None,
            circuit=self.circuit.value,
            resources=self.resources(),
            limits_exceeded=self.limits_exceeded(),
        )

    def limits_exceeded(self) -> dict[str, dict[str, Any]]:
        """The limits it hit, per limit (its runtime's record: a sandboxed plugin's
        ``LimitLog``); empty where its runtime applies no per-plugin limits."""
        prepared = self.prepared
        read = getattr(prepared.handle, "limits_exceeded", None) if prepared else None
        if callable(read):
            hits: dict[str, dict[str, Any]] = read()
            return hits
        return {}

    def resources(self) -> Resources:
        """Its resource figures: its runtime's measurements (a sandboxed plugin's workers:
        ``sandbox/_usage.py``), every figure not measured where the runtime has none."""
        prepared = self.prepared
        if prepared is None:
            return empty_resources()
        measure = getattr(prepared.handle, "resources", None)
        if callable(measure):
            measured: Resources = measure()
            return measured
        return inline_resources(self.runtime.name if self.runtime is not None else "inline")

    def __repr__(self) -> str:
        warned = f", {len(self.warnings)} warning(s)" if self.warnings else ""
        return f"<Plugin {self.key} {self.state.value} {self.isolation}{warned}>"
