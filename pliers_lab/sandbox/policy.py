"""Limits and policy as typed records, and the grants compiled from a manifest.

Defaults are the specification's (``related-facts.md`` §4): memory 128 MB, CPU 1,000 ms,
disk 100 MB, execution time 30 s; one worker per plugin, and up to 64 callers waiting for
it (``concurrency``: the spec's 10 was a queue length whose overflow counted as the
plugin's failure; waiting is bounded by each call's timeout now, issue 14).
``compile_grants`` turns a manifest's ``permissions`` into what the layers and the host
API need, and refuses a manifest whose grants cannot be honoured (paths that do not
exist, malformed hosts) with one error listing every problem.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import sys
import sysconfig
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ..errors import PluginError, PluginErrorType

if TYPE_CHECKING:
    from ..manifest import Manifest

__all__ = [
    "REQUIRED_LAYERS",
    "Grants",
    "Limits",
    "SandboxPolicy",
    "compile_grants",
    "parse_host_pattern",
]

Mode = Literal["enforce", "audit"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits of one plugin's worker."""

    memory_mb: int = 128
    """Memory the worker may use (cgroup limit; RSS and page cache)."""
    cpu_ms: int = 1000
    """CPU time one call may use (all threads), checked by the supervisor during the call."""
    disk_mb: int = 100
    """Size of the plugin's data folder — a file system of its own where the host can
    make one (``layers.datafs``: the kernel refuses writes past it), else measured after
    calls (``data_quota``) — and of any one file (RLIMIT_FSIZE)."""
    execution_time_ms: int = 30_000
    """Wall-clock limit per call; a hook's own lower timeout wins. The worker is killed."""
    workers: int = 1
    """Worker processes one plugin may have: calls are spread over them, and the extra
    ones start when a call finds the running ones busy (``SandboxPolicy.plugin_workers``
    sets it per plugin). Each worker costs its memory (a warm one ~5 MB PSS)."""
    concurrency: int = 64
    """Callers that may wait for one plugin's workers at once. Each waits up to its call's
    timeout, then gets a host overload; one more caller than this is refused at once with
    a host overload. Either is the host's limit: never counted against the plugin."""
    max_threads: int = 32
    """Tasks (threads) in the worker's pids cgroup."""
    max_open_files: int = 64
    """RLIMIT_NOFILE of the worker."""
    address_space_headroom_mb: int = 512
    """RLIMIT_AS = memory_mb + this: a backstop that turns huge allocations into MemoryError."""
    max_output_bytes: int = 65_536
    """stdout/stderr characters forwarded per call; the rest is cut."""
    max_log_frames: int = 2000
    """Log frames accepted per call before the worker is stopped for flooding."""
    cpu_lifetime_s: int = 3600
    """RLIMIT_CPU of the worker process: a backstop against threads spinning between calls."""
    network_kbps: int | None = None
    """Bandwidth of a plugin's ``api.http``, KB/s (request and response bodies; calls are
    slowed to it); None: not limited unless the manifest asks (``limits.network``)."""
    network_call_kb: int | None = None
    """KB one ``api.http`` call may move (bodies, both ways; more is refused); None:
    ``SandboxPolicy.http_max_bytes`` only."""
    blocked_modules: tuple[str, ...] = ()
    """Modules no plugin's worker can read (the manifest's ``limits.blockedModules`` add
    to these); see ``sandbox._plugin_limits``."""

    def __post_init__(self) -> None:
        if self.workers < 1 or self.concurrency < 0:
            raise ValueError(
                f"Limits: workers must be at least 1 and concurrency at least 0, got "
                f"workers={self.workers}, concurrency={self.concurrency}"
            )


#: Never reachable through the host's HTTP client, whatever a manifest allows (deny wins).
DEFAULT_NETWORK_DENY: tuple[str, ...] = (
    "localhost",
    "*.localhost",
    "127.0.0.0/8",
    "0.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "100.64.0.0/10",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
    "metadata.google.internal",
)


REQUIRED_LAYERS = frozenset({"rlimits", "landlock", "seccomp"})
"""The layers that make the boundary: files (Landlock), system calls (seccomp: no exec,
fork, new sockets or namespaces), resources (rlimits). Each works for an ordinary user."""


def _default_data_root() -> Path:
    env = os.environ.get("PLIERS_LAB_DATA")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return Path(base) / "pliers_lab" / "data"


@dataclass(frozen=True)
class SandboxPolicy:
    """How the process runtime isolates plugins (one policy per runtime)."""

    limits: Limits = field(default_factory=Limits)
    data_root: Path = field(default_factory=_default_data_root)
    """Each plugin's data folder is ``data_root/<plugin name>``."""
    require: frozenset[str] = REQUIRED_LAYERS
    """Layers without which no worker starts. The others (a network namespace, cgroups)
    add defence in depth: where the host lacks them the plugin runs without them, and
    ``ProcessRuntime.report()`` says so (``pliers doctor``, ``engine.isolation_report()``)."""
    accept_missing: frozenset[str] = frozenset()
    """Required layers whose absence is accepted (``"*"`` for any): weaker isolation,
    explicitly."""
    network_deny: tuple[str, ...] = DEFAULT_NETWORK_DENY
    """Hosts, host patterns or IP networks the HTTP capability never reaches."""
    http_timeout_s: float = 10.0
    http_max_redirects: int = 3
    http_max_bytes: int = 4 << 20
    restart_backoff_s: tuple[float, ...] = (0.0, 0.25, 1.0)
    """Wait before the n-th restart within the crash window."""
    crash_loop: tuple[int, float] = (3, 300.0)
    """(crashes, seconds): that many crashes in that window disable the plugin."""
    stop_grace_s: float = 1.0
    """How long a stopping worker may take before it is killed."""
    disk_check_interval_s: float = 1.0
    data_quota: bool = True
    """Give each plugin that writes its data folder a file system of ``disk_mb`` of its
    own (``layers.datafs``: a loop-mounted ext4 image), so the kernel refuses writes past
    it. Where the host cannot (an ordinary user, no loop devices) or with False, the
    folder is measured after calls only, and the plugin's limits say so."""
    usage_sample_s: float = 1.0
    """How often each plugin's workers are sampled for the figures that need time: the
    recent and peak CPU rates, the memory average and the peak of all workers together
    (totals are read when asked). One thread per runtime; a few /proc reads per worker."""
    inherit_stderr: bool = False
    """Debugging: let the worker's fd 2 reach the host's stderr."""
    warm_template: bool = True
    """Fork workers from a warm template process (one per runtime, started once its
    first worker is ready) instead of starting an interpreter for each: the same
    lockdown, a fraction of the start time (docs/isolation.md). Where the template
    cannot start, workers are spawned as before."""
    host_spin_us: int = 100
    """How long a caller spins (yielding) for a worker's answer before sleeping (wire doc)."""
    worker_spin_us: int = 50
    """How long a worker spins (yielding) for its next call before sleeping; 0 saves idle
    CPU where hooks are rare, at ~20 us per call on a VM."""
    quarantine_after: int = 1
    """Security violations the host establishes before it quarantines the plugin (each
    call refused by the kernel or the host API, a SIGSYS death, a protocol violation)."""
    simulate_missing: frozenset[str] = frozenset()
    """Tests: behave as if these layers were missing on this host."""
    plugin_workers: Mapping[str, int] = field(default_factory=dict)
    """Worker processes for these plugin ids instead of ``limits.workers`` (the host's
    choice: a plugin cannot ask for more)."""

    def accepts_missing(self, layer: str) -> bool:
        """Whether a worker may start without ``layer`` (not required, or accepted)."""
        if layer not in self.require:
            return True
        return "*" in self.accept_missing or layer in self.accept_missing

    def workers_for(self, plugin_id: str) -> int:
        """How many workers ``plugin_id`` may have (at least 1)."""
        return max(1, int(self.plugin_workers.get(plugin_id, self.limits.workers)))


@dataclass(frozen=True)
class Grants:
    """What one plugin may touch, compiled from its manifest for the layers and host API."""

    data_dir: Path | None
    data_access: Literal["none", "read", "write"]
    read_paths: tuple[str, ...]
    write_paths: tuple[str, ...]
    outbound: tuple[tuple[str, int | None], ...]
    """(host pattern, port or None for any) pairs."""


_HOST = re.compile(
    r"^(\*|\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*$"
)
_FORBIDDEN_ROOTS = ("/", "/proc", "/sys", "/dev", "/boot", "/root")


def parse_host_pattern(text: str) -> tuple[str, int | None]:
    """``host[:port]`` → (lowercase host pattern, port or None); ValueError if malformed.

    Hosts are DNS names (a leading ``*.`` matches subdomains), ``*``, IPv4 addresses or
    bracketed IPv6 addresses; ports are 1-65535 or ``*``.
    """
    if not isinstance(text, str) or not text or text != text.strip() or "/" in text or "@" in text:
        raise ValueError(f"{text!r} is not host[:port]")
    host, port_text = text, None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"{text!r}: unclosed IPv6 bracket")
        host, rest = text[1:end], text[end + 1 :]
        ipaddress.IPv6Address(host)
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"{text!r} is not host[:port]")
            port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif ":" in text:
        raise ValueError(f"{text!r}: IPv6 addresses must be bracketed, e.g. [::1]:443")
    if host != "*" and not text.startswith("[") and not _HOST.match(host):
        raise ValueError(f"{text!r}: {host!r} is not a host name or address")
    port: int | None = None
    if port_text is not None and port_text != "*":
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"{text!r}: port must be 1-65535 or *")
        port = int(port_text)
    return host.lower(), port


@functools.cache
def interpreter_paths() -> list[str]:
    """Folders the worker must read to run Python: stdlib, extensions, site-packages, libs."""
    paths = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    paths |= {p for p in sys.path if p and os.path.isdir(p) and "site-packages" in p}
    paths.add(os.path.realpath(os.path.join(sys.base_prefix, "lib")))
    for lib in (
        "/lib",
        "/lib64",
        "/usr/lib",
        "/usr/lib64",
        "/usr/local/lib",
        "/usr/share/zoneinfo",
    ):
        if os.path.isdir(lib):
            paths.add(lib)
    # Public files the runtime and the standard library read by themselves: the loader's
    # cache, the time zone, OpenSSL's config and CA certificates (``import ssl``, which
    # asyncio does, and ``ssl.create_default_context``), the online CPUs (``os.cpu_count``,
    # so every ThreadPoolExecutor) and the MIME table (``mimetypes``). Refusing them would
    # only turn ordinary library calls into refusals the host counts against the plugin.
    paths |= {
        "/etc/ld.so.cache",
        "/etc/localtime",
        "/etc/ssl/openssl.cnf",
        "/etc/ssl/certs",
        "/usr/share/ca-certificates",
        "/etc/mime.types",
        "/sys/devices/system/cpu/online",
        "/sys/devices/system/cpu/possible",
    }
    return sorted(os.path.realpath(p) for p in paths if os.path.exists(p))


@functools.cache
def worker_sys_path() -> list[str]:
    """The host's import path minus anything that is not the interpreter's or a venv's.

    The project folder (an editable install puts it on ``sys.path``) and the current
    directory are left out: the worker must not read the engine's tree or other plugins.
    """
    keep = []
    for p in sys.path:
        if not p or not os.path.exists(p):
            continue
        real = os.path.realpath(p)
        interpreter = real.startswith(os.path.realpath(sys.base_prefix))
        if interpreter or "site-packages" in real or real.endswith(".zip"):
            keep.append(real)
    return list(dict.fromkeys(keep))


def compile_grants(manifest: Manifest, policy: SandboxPolicy) -> Grants:
    """Check and compile ``manifest.permissions``; LOAD_ERROR listing every problem."""
    perms = manifest.permissions
    problems: list[str] = []
    absolute: dict[str, list[str]] = {"read": [], "write": []}
    for verb in ("read", "write"):
        for pattern in perms.filesystem.get(verb, ()):
            if not pattern.startswith("/"):
                continue
            if any(ch in pattern for ch in "*?["):
                problems.append(
                    f"permissions.filesystem.{verb}: {pattern!r}: absolute grants must be "
                    "existing paths, not patterns"
                )
            elif os.path.realpath(pattern) in _FORBIDDEN_ROOTS:
                problems.append(f"permissions.filesystem.{verb}: {pattern!r} cannot be granted")
            elif not os.path.exists(pattern):
                problems.append(f"permissions.filesystem.{verb}: {pattern!r} does not exist")
            else:
                absolute[verb].append(os.path.realpath(pattern))
    outbound = []
    for pattern in perms.network.get("outbound", ()):
        try:
            outbound.append(parse_host_pattern(pattern))
        except ValueError as exc:
            problems.append(f"permissions.network.outbound: {exc}")
    if problems:
        raise PluginError(
            PluginErrorType.LOAD_ERROR,
            f"{len(problems)} permission problem{'s' if len(problems) > 1 else ''}:\n  "
            + "\n  ".join(problems),
            plugin_id=manifest.name,
            metadata={"problems": problems},
        )
    fs = perms.filesystem
    access: Literal["none", "read", "write"] = (
        "write" if fs.get("write") else "read" if fs.get("read") else "none"
    )
    data_dir = Path(policy.data_root) / manifest.name if access != "none" else None
    return Grants(
        data_dir, access, tuple(absolute["read"]), tuple(absolute["write"]), tuple(outbound)
    )
