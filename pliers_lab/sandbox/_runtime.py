"""``ProcessRuntime``: the engine's ``process`` isolation mode.

``prepare`` checks the host's layers (a missing one refuses the plugin, naming the layer,
unless the policy accepts weaker isolation explicitly), compiles the manifest's grants,
starts the plugin's worker warm and binds host-side proxies to the functions the worker
found — with the engine's own ``bind_handlers``, so a mismatch reads the same as inline.
"""

from __future__ import annotations

import itertools
import logging
import threading
import weakref
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..engine.loader import bind_handlers, bind_named
from ..engine.runtimes import Prepared
from ..errors import PluginError, PluginErrorType
from ._access import AccessLog
from ._audit import suggest_permissions
from ._data_quota import DataQuota, DataQuotas
from ._plugin_limits import NetworkBudget, module_files, plugin_limits
from ._process import WorkerSpec, base_environment
from ._supervisor import PluginProcess
from ._template_host import Template
from ._usage import Sampler
from .hostapi import HostApi
from .layers import detect_all
from .layers.cgroup import WorkerGroup
from .policy import Grants, Limits, SandboxPolicy, compile_grants
from .report import REMEDY, IsolationReport, host_report

if TYPE_CHECKING:
    from ..manifest import Manifest
    from ..plugin import Plugin

__all__ = ["ProcessRuntime"]

_WORKER_LAYERS = ("rlimits", "netns", "landlock", "capabilities", "seccomp")
_log = logging.getLogger("pliers_lab.sandbox")
_spares = itertools.count(1)


def _stub(attr: str, info: dict[str, Any]) -> Callable[..., Any]:
    """A stand-in with the worker function's name, hooks and arity, for ``bind_handlers``;
    an ``async def`` when the worker's function is one (``"async": false`` refuses it)."""
    fn = _shaped(info.get("one_arg", True), info.get("coroutine") is True)
    fn.__name__ = attr
    fn.__pliers_hooks__ = tuple(h for h in info.get("hooks", ()) if isinstance(h, str))  # type: ignore[attr-defined]
    return fn


def _shaped(one_arg: bool, coroutine: bool) -> Callable[..., Any]:
    """A new empty function: one argument or none, ``async def`` or plain."""
    if coroutine:
        if one_arg:

            async def one(ctx: Any) -> None: ...

            return one

        async def none() -> None: ...

        return none
    if one_arg:

        def plain_one(ctx: Any) -> None: ...

        return plain_one

    def plain_none() -> None: ...

    return plain_none


def _awaitable(proxy: Callable[[Any], Any]) -> Callable[[Any], Awaitable[Any]]:
    """``afire``'s variant of a hook proxy: the wait for the worker happens in a thread,
    so the event loop keeps serving while the plugin runs (the supervisor still enforces
    the timeout by killing the worker)."""

    async def aproxy(ctx: Any) -> Any:
        import asyncio  # loaded already: an event loop is running

        return await asyncio.to_thread(proxy, ctx)

    aproxy.__name__ = proxy.__name__
    aproxy.__qualname__ = proxy.__qualname__
    return aproxy


def _endpoint_functions(manifest: Manifest) -> set[str]:
    """Names of the handlers and middleware ``api.endpoints`` run."""
    return {n for e in manifest.api.endpoints for n in (e.handler, *e.middleware)}


class ProcessRuntime:
    """Runs each plugin in its own locked-down worker process.

    Args:
        policy: limits, data folders, accepted missing layers, network deny list.
        access_log: where capability requests are recorded (one per runtime by default).
    """

    name = "process"

    def __init__(
        self, policy: SandboxPolicy | None = None, access_log: AccessLog | None = None
    ) -> None:
        from ._bytecode import compile_sandbox
        from .layers.cgroup import GroupOwner, sweep_stale

        compile_sandbox()  # the workers' imports, compiled once here (bytecode.py)

        sweep_stale()  # groups of engines that died without closing (never a live one's)
        self.cgroup_owner = GroupOwner()
        self.policy = policy or SandboxPolicy()
        self._owns_log = access_log is None
        self.access_log = access_log if access_log is not None else AccessLog()
        self.modes: dict[str, str] = {}
        self.processes: dict[str, PluginProcess] = {}
        self._lock = threading.Lock()
        self._template: Template | None = None
        self._template_lock = threading.Lock()
        self.quotas = DataQuotas(self.policy.data_quota)
        """Each plugin's data file system, where the kernel keeps the folder's size."""
        self.sampler = Sampler(self.policy.usage_sample_s)
        """Samples each plugin's workers for rates and averages (``_usage``)."""
        self.template_off: str | None = None if self.policy.warm_template else "off by policy"
        """Why workers are not forked from a warm template (None while they are)."""

    # ------------------------------------------------------------------ layers
    def layer_status(self) -> dict[str, tuple[bool, str]]:
        """This host's layers as the policy sees them (simulated misses included)."""
        status = dict(detect_all())
        for name in self.policy.simulate_missing:
            status[name] = (False, "simulated as missing by the policy")
        return status

    def missing_layers(self) -> dict[str, str]:
        return {name: detail for name, (ok, detail) in self.layer_status().items() if not ok}

    def report(self) -> IsolationReport:
        """Every layer on this host under this runtime's policy: active, missing (and then
        whether workers run without it or are refused), and how to get it."""
        return host_report(self.policy)

    # ------------------------------------------------------------------ template
    @property
    def template(self) -> Template | None:
        """The warm template (starting, up, or dead until replaced); None before the
        engine's first worker and after ``close``."""
        return self._template

    def worker_template(self, start: bool = True) -> Template | None:
        """The warm template to fork the next worker from, once it is up; None while it
        starts (that worker is spawned directly: no start waits for the template) and
        where it cannot run (``template_off`` says why; logged once).

        ``start``: start it if it never was. ``prepare`` starts it once the engine's
        first worker is ready, so that worker's start does not share the CPUs with the
        template's; a template that died is replaced whenever it is asked for.
        """
        with self._template_lock:
            template = self._template
            if template is not None and template.usable:
                return template if template.state == "up" else None
            if template is None and not start:
                return None
            if self.template_off is not None:
                return None
            if template is not None:  # it died, or belongs to the process we forked from
                template.close()
                if not template.pid:  # it never came up: spawn workers directly from now on
                    self.template_off = template.reason or "the template did not start"
                    _log.warning(
                        "pliers_lab sandbox: workers start without a warm template (%s)",
                        self.template_off,
                    )
                    return None
            place = weakref.WeakMethod(self._place_spare)  # the template's thread must
            template = self._template = Template(  # not keep an unclosed runtime alive
                base_environment(),
                inherit_stderr=self.policy.inherit_stderr,
                place=lambda pid: method(pid) if (method := place()) is not None else None,
            )
            weakref.finalize(self, template.close)
            return None

    def _template_if_started(self) -> Template | None:
        return self.worker_template(start=False)

    def _place_spare(self, pid: int) -> WorkerGroup | None:
        """Put the template's spare child in cgroups of its own, with this runtime's
        limits, while no worker start waits for it (see ``_template_host``)."""
        if "cgroup" in self.missing_layers():
            return None
        limits = self.policy.limits
        group = WorkerGroup(
            f"spare-{next(_spares)}",
            limits.memory_mb << 20,
            limits.max_threads + 1,
            self.cgroup_owner,
        )
        try:
            group.add(pid)
        except OSError:
            group.remove()
            raise
        return group

    # ------------------------------------------------------------------ runtime protocol
    def prepare(self, manifest: Manifest, root: Path | None, code: Any = None) -> Prepared:
        """Start the plugin's worker and bind proxies; raises ``PluginError``."""
        name = manifest.name
        if code is not None or root is None:
            raise PluginError(
                PluginErrorType.LOAD_ERROR,
                "process isolation needs a plugin "
                "folder; plugins defined from code run inline (trusted)",
                plugin_id=name,
            )
        missing = self.missing_layers()
        refused = [layer for layer in missing if not self.policy.accepts_missing(layer)]
        if refused:
            detail = "; ".join(
                f"{layer}: {missing[layer]} (to get it: {REMEDY[layer]})" for layer in refused
            )
            raise PluginError(
                PluginErrorType.LOAD_ERROR,
                f"cannot isolate {name!r}: required isolation layer"
                f"{'s' if len(refused) > 1 else ''} missing on this host — {detail}. "
                "`pliers doctor` shows every layer. Accept weaker isolation explicitly with "
                f"SandboxPolicy(accept_missing={{{', '.join(repr(r) for r in refused)}}}), "
                "or trust the plugin to run it inline",
                plugin_id=name,
                metadata={"missing_layers": refused},
            )
        grants = compile_grants(manifest, self.policy)
        limits = plugin_limits(manifest, self.policy)  # the manifest's, under the host's cap
        if grants.data_dir is not None:
            grants.data_dir.mkdir(parents=True, exist_ok=True)
        quota = self.quotas.acquire(name, grants, limits.disk_mb << 20)
        try:
            return self._prepare(manifest, root, name, grants, limits, missing, quota)
        except BaseException:
            self.quotas.release(quota)
            raise

    def _prepare(
        self,
        manifest: Manifest,
        root: Path,
        name: str,
        grants: Grants,
        limits: Limits,
        missing: dict[str, str],
        quota: DataQuota,
    ) -> Prepared:
        spec = WorkerSpec(
            plugin=name,
            version=str(manifest.version),
            main=manifest.main,
            root=str(Path(root).resolve()),
            handlers={
                **{hook: cfg.handler for hook, cfg in manifest.hooks.items()},
                **{f"endpoint:{n}": n for n in _endpoint_functions(manifest)},
            },
            grants=grants,
            limits=limits,
            layers=tuple(layer for layer in _WORKER_LAYERS if layer not in missing),
            accept_missing=frozenset(missing),
            cgroup_owner=None if "cgroup" in missing else self.cgroup_owner,
            inherit_stderr=self.policy.inherit_stderr,
            host_spin_s=self.policy.host_spin_us / 1e6,
            worker_spin_s=self.policy.worker_spin_us / 1e6,
            template=self._template_if_started,
            blocked_files=tuple(f for m in limits.blocked_modules for f in module_files(m)),
            data_fs=quota.image.source if quota.image is not None else None,
        )
        host_api = HostApi(
            manifest, grants, self.policy, self.access_log, lambda: self.modes.get(name, "enforce")
        )
        if host_api.files is not None and quota.image is not None:
            host_api.files.root_fd = quota.image.fd
        process = PluginProcess(spec, self.policy, host_api, self.policy.workers_for(name))
        process.quota = quota
        if limits.network_kbps or limits.network_call_kb:
            host_api.outbound.budget = NetworkBudget(
                name,
                limits.network_kbps and limits.network_kbps * 1024,
                limits.network_call_kb and limits.network_call_kb * 1024,
                process.limit_log,
            )
        worker = process.start({})
        self.sampler.watch(process.account)
        self.worker_template()  # started once the engine's first worker is ready
        try:
            namespace = {attr: _stub(attr, info) for attr, info in worker.functions.items()}
            stubs, lifecycle = bind_handlers(
                manifest, namespace, f"{manifest.main} (in its worker)"
            )
            named = {
                fn: self._endpoint_proxy(process, manifest, fn)
                for fn in bind_named(manifest, namespace, f"{manifest.main} (in its worker)")
            }
        except PluginError:
            self.sampler.forget(process.account)
            process.stop()
            raise
        handlers = {
            hook: self._hook_proxy(process, manifest, hook, fn.__name__)
            for hook, fn in stubs.items()
        }
        awaited = {hook: _awaitable(proxy) for hook, proxy in handlers.items()}
        life = {n: self._life_proxy(process, n) for n in lifecycle}
        with self._lock:
            self.processes[name] = process
        return Prepared(
            handlers,
            life,
            module=None,
            layers=dict(process.layers),
            handle=process,
            sync_timeouts=False,
            named=named,
            async_handlers=awaited,
        )

    def _hook_proxy(
        self, process: PluginProcess, manifest: Manifest, hook: str, fn: str
    ) -> Callable[[Any], Any]:
        timeout_ms = manifest.hooks[hook].timeout
        limit_ms = process.spec.limits.execution_time_ms
        timeout_s = min(timeout_ms, limit_ms) / 1000.0
        call = process.call_hook

        def proxy(ctx: Any) -> Any:
            return call(ctx, hook, fn, timeout_s)

        proxy.__name__ = fn
        proxy.__qualname__ = f"{manifest.name}:{fn} (process)"
        return proxy

    def _endpoint_proxy(
        self, process: PluginProcess, manifest: Manifest, fn: str
    ) -> Callable[[Any], Any]:
        timeout_s = process.spec.limits.execution_time_ms / 1000.0
        call = process.call_endpoint

        def proxy(request: Any) -> Any:
            return call(request, fn, timeout_s)

        proxy.__name__ = fn
        proxy.__qualname__ = f"{manifest.name}:{fn} (process)"
        return proxy

    @staticmethod
    def _life_proxy(process: PluginProcess, name: str) -> Callable[..., None]:
        def proxy(plugin: Any, *args: Any) -> None:
            wire_args = [a.to_dict() if hasattr(a, "to_dict") else a for a in args]
            process.call_lifecycle(plugin, name, wire_args)

        proxy.__name__ = name
        return proxy

    def stop(self, plugin: Plugin, prepared: Prepared) -> None:
        """Stop the plugin's worker (killed after the grace period if it lingers)."""
        process = prepared.handle
        if isinstance(process, PluginProcess):
            self.sampler.forget(process.account)
            process.stop()
            with self._lock:
                if self.processes.get(plugin.id) is process:
                    del self.processes[plugin.id]
            self.quotas.release(process.quota)

    # ------------------------------------------------------------------ control
    def process(self, plugin_id: str) -> PluginProcess:
        try:
            return self.processes[plugin_id]
        except KeyError:
            raise PluginError(
                PluginErrorType.RUNTIME_ERROR,
                "no worker: the plugin does not run in process isolation",
                plugin_id=plugin_id,
            ) from None

    def set_mode(self, plugin_id: str, mode: str) -> None:
        """``enforce`` (refuse what the manifest does not grant) or ``audit`` (log it)."""
        if mode not in ("enforce", "audit"):
            raise ValueError(f"mode must be 'enforce' or 'audit', not {mode!r}")
        self.modes[plugin_id] = mode

    def suggest_permissions(self, plugin_id: str) -> dict[str, Any]:
        """The ``permissions`` block the plugin's logged requests needed."""
        return suggest_permissions(self.access_log, plugin_id)

    def usage(self, plugin_id: str) -> dict[str, Any]:
        """Peak memory, CPU time, restarts and layers of a plugin's worker(s)."""
        return self.process(plugin_id).usage()

    def data_path(self, plugin_id: str) -> Path | None:
        """Where the host reaches the plugin's data now: its data file system (through the
        host's descriptor, ``/proc/<pid>/fd/<n>``) while the plugin is loaded with one, else
        its data folder; None when it has no data folder."""
        path = self.quotas.path(plugin_id)
        if path is not None:
            return path
        with self._lock:
            process = self.processes.get(plugin_id)
        return process.spec.grants.data_dir if process is not None else None

    def close(self) -> None:
        self.sampler.close()
        for process in list(self.processes.values()):
            process.stop()
        self.processes.clear()
        self.quotas.close()
        with self._template_lock:
            template, self._template = self._template, None
        if template is not None:
            template.close()
        self.cgroup_owner.release()
        if self._owns_log:
            self.access_log.close()
