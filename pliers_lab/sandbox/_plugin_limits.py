"""Per-plugin limits (issue 18 §2): the manifest asks, the host's policy caps, the worker
gets the result; and every limit a plugin hits is reported one way.

- ``plugin_limits``: a manifest's ``limits`` under ``SandboxPolicy.limits``. A figure over
  the host's cap is **refused at load** (LOAD_ERROR naming the plugin, the field path, the
  asked value and the cap): a plugin that says it needs 512 MB and would get 128 MB fails
  later in ways that look like its own bug; the operator raises the cap or the author
  asks for less. Blocked modules add to the host's (a union: the smaller permission).
- ``NetworkBudget``: bytes per second (a token bucket shared by the plugin's workers,
  calls are slowed to it) and bytes per call (a call moving more is refused) for the
  host's ``api.http``.
- Blocked modules: ``module_files`` finds their files, ``carve`` turns the worker's read
  rules into rules that leave those files unreadable (Landlock grants only, so a granted
  folder holding a blocked module is replaced by its other entries, and the folders on
  the way are listed only). A module the worker has imported before plugin code runs
  cannot be blocked (``worker_modules``): refused at load.
- ``LimitHit``/``LimitLog``: which plugin, which limit, the value measured, the cap and
  what the engine did; in the call's ``PluginError.metadata["limit"]``, the worker's
  ``usage()["limits_exceeded"]``, the activity feed (``plugin.limit.exceeded``) and
  ``PluginMetrics.limitsExceeded`` (``by_limit``: what the status endpoint and
  ``/v3/metrics`` show). The supervisor records kills (OOM, CPU, RLIMIT_CPU/FSIZE), wall-
  clock timeouts and ``MemoryError`` the same way; the data folder's quota (``_data_quota``)
  its ENOSPC.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.util
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import PluginError, PluginErrorType

if TYPE_CHECKING:
    from ..manifest import Manifest
    from .policy import Limits, SandboxPolicy

__all__ = [
    "LimitHit",
    "LimitLog",
    "NetworkBudget",
    "carve",
    "module_files",
    "plugin_limits",
    "worker_modules",
]

KB = 1024

# (manifest field, Limits attribute, unit shown, factor manifest unit → Limits unit)
_FIELDS = (
    ("memory", "memory_mb", "MB"),
    ("cpu", "cpu_ms", "ms"),
    ("disk", "disk_mb", "MB"),
    ("executionTime", "execution_time_ms", "ms"),
    ("network", "network_kbps", "KB/s"),
    ("networkPerCall", "network_call_kb", "KB"),
)


def plugin_limits(manifest: Manifest, policy: SandboxPolicy) -> Limits:
    """The limits of ``manifest``'s workers: what it asks, where at most the host's cap;
    LOAD_ERROR listing every figure over its cap and every module that cannot be blocked."""
    asked = manifest.limits
    cap = policy.limits
    problems: list[str] = []
    changes: dict[str, Any] = {}
    for key, attr, unit in _FIELDS:
        value = getattr(asked, _snake(key))
        if value is None:
            continue
        ceiling = getattr(cap, attr)
        if attr == "network_call_kb":
            ceiling = min(ceiling or policy.http_max_bytes // KB, policy.http_max_bytes // KB)
        if ceiling is not None and value > ceiling:
            problems.append(
                f"limits.{key} asks for {value} {unit}, over the host's cap of {ceiling} "
                f"{unit} (SandboxPolicy.limits.{attr})"
            )
        changes[attr] = value
    blocked = (*cap.blocked_modules, *asked.blocked_modules)
    if blocked:
        problems += _unblockable(blocked)
        changes["blocked_modules"] = tuple(dict.fromkeys(blocked))
    if problems:
        raise PluginError(
            PluginErrorType.LOAD_ERROR,
            f"plugin {manifest.name!r}: {len(problems)} limit"
            f"{'s' if len(problems) > 1 else ''} the host refuses:\n  " + "\n  ".join(problems),
            plugin_id=manifest.name,
            metadata={"problems": problems},
        )
    return dataclasses.replace(cap, **changes) if changes else cap


def _snake(key: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in key)


# ----------------------------------------------------------------------------- reporting
@dataclass(frozen=True, slots=True)
class LimitHit:
    """One limit a plugin exceeded, and what the engine did about it."""

    plugin: str
    limit: str
    """The field, as the manifest names it (``network``, ``networkPerCall``, ``disk``,
    ``blockedModules``)."""
    value: float | str
    """What was measured (bytes, bytes/s, a module's name)."""
    cap: float | str
    unit: str
    action: str
    """``throttled``, ``refused`` (the call or the request), ``killed``, ``timed out``,
    ``quarantined``; a short phrase, the same for every hit of its kind (counted by it)."""
    at: float = dataclasses.field(default_factory=time.time)
    detail: str = ""
    """What varies from hit to hit (how it was measured, what else was seen)."""

    @property
    def message(self) -> str:
        return (
            f"plugin {self.plugin!r} exceeded its {self.limit} limit: {self.value} "
            f"{self.unit} against {self.cap} {self.unit}; {self.action}"
            + (f" ({self.detail})" if self.detail else "")
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "plugin": self.plugin,
            "limit": self.limit,
            "value": self.value,
            "cap": self.cap,
            "unit": self.unit,
            "action": self.action,
            "at": self.at,
            "detail": self.detail,
        }


class LimitLog:
    """The limits one plugin hit: counted, the newest kept, each told to ``listener``
    (the engine's activity feed, bound at install)."""

    def __init__(self, keep: int = 100) -> None:
        self.hits: list[LimitHit] = []
        self.total = 0
        self.counts: Counter[tuple[str, str]] = Counter()
        self.last: dict[str, LimitHit] = {}
        """The newest hit of each limit."""
        self.listener: Callable[[LimitHit], None] | None = None
        self._keep = keep
        self._lock = threading.Lock()

    def record(self, hit: LimitHit) -> LimitHit:
        with self._lock:
            self.total += 1
            self.counts[hit.limit, hit.action] += 1
            self.last[hit.limit] = hit
            self.hits.append(hit)
            del self.hits[: -self._keep]
        listener = self.listener
        if listener is not None:
            with contextlib.suppress(Exception):  # a listener must never break the call
                listener(hit)
        return hit

    def since(self, total: int) -> list[LimitHit]:
        """Hits recorded after the log counted ``total`` (at most the kept ones)."""
        with self._lock:
            n = self.total - total
            return list(self.hits[-n:]) if n > 0 else []

    def by_limit(self) -> dict[str, dict[str, Any]]:
        """``PluginMetrics.limitsExceeded``: per limit, how many hits (``count``, and by
        ``actions``) and the newest (``last``, a ``LimitHit.to_dict``)."""
        with self._lock:
            out: dict[str, dict[str, Any]] = {}
            for (limit, action), n in sorted(self.counts.items()):
                entry = out.setdefault(limit, {"count": 0, "actions": {}, "last": None})
                entry["count"] += n
                entry["actions"][action] = n
            for limit, hit in self.last.items():
                out[limit]["last"] = hit.to_dict()
            return out

    def summary(self) -> dict[str, int]:
        """``{"network:throttled": 3, ...}``."""
        with self._lock:
            return {f"{limit}:{action}": n for (limit, action), n in self.counts.items()}


def activity_listener(activity: Any) -> Callable[[LimitHit], None]:
    """A ``LimitLog.listener`` emitting ``plugin.limit.exceeded`` on ``activity``."""

    def emit(hit: LimitHit) -> None:
        activity.emit("plugin.limit.exceeded", hit.plugin, **hit.to_dict())

    return emit


# ----------------------------------------------------------------------------- network
class NetworkBudget:
    """Bandwidth (bytes/s, shared by the plugin's workers) and bytes per call of one
    plugin's ``api.http``."""

    def __init__(self, plugin: str, rate: int | None, per_call: int | None, log: LimitLog) -> None:
        self.plugin = plugin
        self.rate = rate
        self.per_call = per_call
        self.log = log
        self._lock = threading.Lock()
        self._free_at = time.monotonic()
        self._sleep = time.sleep

    def _take(self, n: int) -> float:
        """Reserve ``n`` bytes of the rate; how long the caller must wait for them."""
        if not self.rate or n <= 0:
            return 0.0
        with self._lock:
            now = time.monotonic()
            start = max(self._free_at, now - 0.1)  # at most a 0.1 s burst saved up
            self._free_at = start + n / self.rate
            return max(0.0, self._free_at - now)

    def call(self) -> _Call:
        return _Call(self)

    def refuse(self, moved: int) -> PluginError:
        hit = self.log.record(
            LimitHit(
                self.plugin,
                "networkPerCall",
                moved,
                self.per_call or 0,
                "bytes",
                "refused (the http call failed, nothing returned to the plugin)",
            )
        )
        return PluginError(
            PluginErrorType.RESOURCE_ERROR,
            f"api.http: {hit.message}",
            plugin_id=self.plugin,
            metadata={"limit": hit.to_dict()},
        )


class _Call:
    """The bytes of one ``api.http`` call: counted against the per-call cap, paced."""

    def __init__(self, budget: NetworkBudget) -> None:
        self.budget = budget
        self.moved = 0
        self.waited = 0.0
        self.started = time.monotonic()

    def charge(self, n: int) -> None:
        budget = self.budget
        self.moved += n
        if budget.per_call is not None and self.moved > budget.per_call:
            raise budget.refuse(self.moved)
        wait = budget._take(n)
        if wait > 0:
            self.waited += wait
            budget._sleep(wait)

    def read(self, resp: Any, max_bytes: int) -> bytes:
        """The response body, read in pieces of at most a tenth of a second's rate."""
        rate = self.budget.rate
        piece = max(1024, min(64 * KB, rate // 10 if rate else 64 * KB))
        chunks: list[bytes] = []
        got = 0
        while got <= max_bytes:
            data = resp.read(min(piece, max_bytes + 1 - got))
            if not data:
                break
            chunks.append(data)
            got += len(data)
            self.charge(len(data))
        return b"".join(chunks)

    def done(self) -> None:
        """Record the throttle, once per call that had to wait."""
        budget = self.budget
        if self.waited > 0.01 and budget.rate:
            elapsed = max(time.monotonic() - self.started, 1e-6)
            budget.log.record(
                LimitHit(
                    budget.plugin,
                    "network",
                    round(self.moved / max(elapsed - self.waited, 1e-3)),
                    budget.rate,
                    "bytes/s",
                    "throttled",
                    detail=f"{self.moved} bytes paced over {elapsed:.2f} s, "
                    f"{self.waited:.2f} s of it waiting",
                )
            )


# ----------------------------------------------------------------------------- modules
_BOOT = (  # what ``_boot.py`` and ``worker.main`` import before the plugin's code
    "import os, sys, types\n"
    "pkg = types.ModuleType('pliers_lab')\n"
    "pkg.__path__ = [sys.argv[1]]\n"
    "sys.modules['pliers_lab'] = pkg\n"
    "from pliers_lab.sandbox import guest, guest_debug, selfpipe, worker\n"
    "from pliers_lab.sandbox.layers import caps, datafs, landlock, netns, rlimits, seccomp\n"
    "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
)


@functools.cache
def worker_modules() -> frozenset[str]:
    """Top-level modules a worker has imported before any plugin code runs (forked from
    the template or spawned: the same imports). Blocking one would be a lie: the plugin
    reaches it through ``sys.modules`` or the worker's own objects, whatever the files."""
    from ._template_host import FLAGS

    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        out = subprocess.run(
            [sys.executable, *FLAGS, "-c", _BOOT, package],
            capture_output=True,
            text=True,
            timeout=60,
            env={},
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        out = " ".join(sys.modules)  # the host's: a superset, so refusals stay on the safe side
    return frozenset({*out.split(), *sys.builtin_module_names})


def module_files(name: str) -> list[str]:
    """The files (a package's folder) of module ``name`` and of its C accelerator
    ``_name``, as the worker would import them; [] when neither is installed."""
    found: list[str] = []
    for candidate in (name, f"_{name}"):
        try:
            spec = importlib.util.find_spec(candidate)
        except (ImportError, ValueError):
            continue
        if spec is None:
            continue
        if spec.submodule_search_locations:
            found += [os.path.realpath(p) for p in spec.submodule_search_locations]
        elif spec.origin and os.path.isfile(spec.origin):
            found.append(os.path.realpath(spec.origin))
            cached = spec.cached
            if cached and os.path.exists(cached):
                found.append(os.path.realpath(cached))
    return found


def _unblockable(names: Iterable[str]) -> list[str]:
    problems = []
    needed = worker_modules()
    for name in dict.fromkeys(names):
        if name in sys.builtin_module_names:
            problems.append(
                f"limits.blockedModules: {name!r} is built into the interpreter: it has no "
                "files to make unreadable"
            )
        elif name in needed:
            problems.append(
                f"limits.blockedModules: {name!r} is imported by the sandbox's worker before "
                "plugin code runs, so the plugin could reach it whatever its files; it "
                "cannot be blocked"
            )
    return problems


def carve(read: Iterable[str], blocked: Iterable[str]) -> tuple[list[str], list[str]]:
    """``(read rules, list-only folders)``: ``read`` without the files under ``blocked``.

    A granted folder holding a blocked path is replaced by its entries (recursively along
    the way to the blocked path), and kept as a list-only folder: the import system can
    still list it (a folder it cannot list hides every module in it), but reads only
    the entries granted."""
    blocked = [os.path.realpath(b) for b in blocked]
    rules: list[str] = []
    listed: list[str] = []

    def inside(path: str, root: str) -> bool:
        return path == root or path.startswith(root.rstrip("/") + "/")

    def add(path: str) -> None:
        if any(inside(path, b) for b in blocked):
            return
        if not any(inside(b, path) for b in blocked) or not os.path.isdir(path):
            rules.append(path)
            return
        listed.append(path)
        try:
            entries = sorted(os.listdir(path))
        except OSError:
            return
        for entry in entries:
            add(os.path.join(path, entry))

    for path in dict.fromkeys(read):
        add(os.path.realpath(path))
    return rules, listed
