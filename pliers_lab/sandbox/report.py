"""Which isolation layers hold on this host, which are missing, and what that means.

The engine degrades in the open: a layer the host lacks is either required by the
policy (no worker starts, and the error says how to get it) or defence in depth (workers
run without it, and this report says what is lost). ``pliers doctor``, the lab and
``Engine.isolation_report()`` all show this one table.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .layers import LAYERS, detect_all

if TYPE_CHECKING:
    from .policy import SandboxPolicy

__all__ = ["PURPOSE", "REMEDY", "WITHOUT", "IsolationReport", "LayerStatus", "host_report"]

#: What each layer stops: the reason it exists.
PURPOSE = {
    "rlimits": "caps memory, CPU time, file size and open files per worker",
    "netns": "an empty network namespace: no route out even for a socket that got through",
    "landlock": "confines files: reads to the plugin's folder and Python, writes to its data",
    "capabilities": "drops every capability: no raising limits, no overriding permissions",
    "seccomp": "refuses exec, fork, new sockets, namespaces and ptrace; the host sees each",
    "cgroup": "a memory and task limit for the worker's group; memory peak and CPU throttle",
}

#: What is lost without the layer (the plugin still runs if the policy allows).
WITHOUT = {
    "rlimits": "a plugin could exhaust the machine's memory or CPU",
    "netns": "new sockets are still refused by seccomp; the worker keeps the host's network view",
    "landlock": "no kernel confinement of paths: a plugin reads what this user can read",
    "capabilities": "a root worker keeps root's capabilities",
    "seccomp": "exec, fork, sockets and namespaces are open to the plugin",
    "cgroup": "memory is capped by RLIMIT_AS per process, not per group; no memory peak, "
    "no CPU throttle (fork is refused by seccomp anyway)",
}

#: How to get the layer on a Linux host.
REMEDY = {
    "rlimits": "a POSIX system (always there on Linux)",
    "netns": "run as root, or allow unprivileged user namespaces (sysctl "
    "kernel.unprivileged_userns_clone=1 and user.max_user_namespaces>0; in a container, a "
    "seccomp profile that allows unshare(CLONE_NEWUSER))",
    "landlock": "Linux >= 5.13 with CONFIG_SECURITY_LANDLOCK=y and landlock in the lsm= "
    "boot list (in a container, a runtime whose seccomp profile allows landlock_*)",
    "capabilities": "a Linux kernel (always there)",
    "seccomp": "Linux with CONFIG_SECCOMP_FILTER on x86-64",
    "cgroup": "run as root, or delegate a cgroup v2 subtree to this user (systemd-run "
    "--user --scope -p Delegate=yes ...)",
}


@dataclass(frozen=True)
class LayerStatus:
    """One layer on this host, as the policy sees it."""

    layer: str
    active: bool
    required: bool
    detail: str
    """How the layer is reached, or why it is missing."""
    purpose: str
    without: str
    remedy: str

    @property
    def verdict(self) -> str:
        """``active``, ``missing (runs without)`` or ``missing (refuses workers)``."""
        if self.active:
            return "active"
        return "missing: workers refused" if self.required else "missing: runs without"


@dataclass(frozen=True)
class IsolationReport:
    """Every layer on this host, and whether process isolation can start."""

    layers: tuple[LayerStatus, ...]
    data_quota: tuple[bool, str] = (False, "not reported")
    """Whether each plugin's data folder gets a file system of its own, so the kernel
    keeps it to its ``disk`` limit (``layers.datafs``), and how — or why it is measured
    after calls only. Not a layer: no worker is refused without it."""

    @property
    def data_quota_line(self) -> str:
        kernel, detail = self.data_quota
        return f"data folder quota: {'kernel' if kernel else 'measured only'} ({detail})"

    def __iter__(self) -> Iterator[LayerStatus]:
        return iter(self.layers)

    def __getitem__(self, layer: str) -> LayerStatus:
        for status in self.layers:
            if status.layer == layer:
                return status
        raise KeyError(f"no isolation layer {layer!r} (layers: {', '.join(LAYERS)})")

    @property
    def active(self) -> list[str]:
        return [s.layer for s in self.layers if s.active]

    @property
    def missing(self) -> list[str]:
        return [s.layer for s in self.layers if not s.active]

    @property
    def blocking(self) -> list[str]:
        """Missing layers the policy requires: with any, no worker starts."""
        return [s.layer for s in self.layers if not s.active and s.required]

    @property
    def can_isolate(self) -> bool:
        return not self.blocking

    def summary(self) -> str:
        """One line: can untrusted plugins run isolated here, and how well."""
        if self.blocking:
            return (
                f"process isolation refused: required layer{'s' if len(self.blocking) > 1 else ''}"
                f" missing ({', '.join(self.blocking)})"
            )
        if self.missing:
            return f"process isolation works without {', '.join(self.missing)} (degraded)"
        return f"process isolation works with every layer ({len(self.layers)})"

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "layer": s.layer,
                "status": s.verdict,
                "required": s.required,
                "detail": s.detail,
                "what it stops": s.purpose,
                "without it": "" if s.active else s.without,
                "how to get it": "" if s.active else s.remedy,
            }
            for s in self.layers
        ]

    def to_frame(self) -> Any:
        """The report as a pandas DataFrame (pandas is imported here, not before)."""
        import pandas as pd

        return pd.DataFrame(self.rows()).set_index("layer")

    def __str__(self) -> str:
        width = max(len(s.layer) for s in self.layers)
        lines = [self.summary()]
        for s in self.layers:
            lines.append(f"  {s.layer:<{width}}  {s.verdict:<24} {s.detail}")
            if not s.active:
                lines.append(f"  {'':<{width}}  without it: {s.without}")
                lines.append(f"  {'':<{width}}  to get it: {s.remedy}")
        lines.append(f"  {self.data_quota_line}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(
            f"<th>{html.escape(c)}</th>"
            for c in ("layer", "status", "detail", "without it", "how to get it")
        )
        body = []
        for s in self.layers:
            colour = "#1a7f37" if s.active else ("#cf222e" if s.required else "#9a6700")
            cells = (s.layer, s.verdict, s.detail, "" if s.active else s.without,
                     "" if s.active else s.remedy)  # fmt: skip
            tds = "".join(f"<td style='text-align:left'>{html.escape(c)}</td>" for c in cells)
            body.append(
                f"<tr data-layer='{s.layer}' data-active='{str(s.active).lower()}' "
                f"style='color:{colour}'>{tds}</tr>"
            )
        return (
            f"<div class='pliers-isolation-report' style='overflow-x:auto'>"
            f"<p><b>{html.escape(self.summary())}</b></p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            f"<p class='pliers-data-quota'>{html.escape(self.data_quota_line)}</p></div>"
        )


def host_report(policy: SandboxPolicy | None = None) -> IsolationReport:
    """This host's layers under ``policy`` (the default policy when None)."""
    from .policy import SandboxPolicy

    policy = policy or SandboxPolicy()
    detected = dict(detect_all())
    for name in policy.simulate_missing:
        detected[name] = (False, "simulated as missing by the policy")
    from .layers import datafs

    quota = datafs.detect() if policy.data_quota else (False, "SandboxPolicy.data_quota is False")
    return IsolationReport(
        tuple(
            LayerStatus(
                layer=name,
                active=detected[name][0],
                required=not policy.accepts_missing(name),
                detail=detected[name][1],
                purpose=PURPOSE[name],
                without=WITHOUT[name],
                remedy=REMEDY[name],
            )
            for name in LAYERS
        ),
        data_quota=quota,
    )
