"""A static security scan of a plugin (spec: Plugin Verification, ``SecurityScanResult``).

Nothing is executed. Python files are read with ``ast`` (see ``_pyscan``), templates
with patterns (``<script>``, ``javascript:``, inline ``on*=`` handlers — the spec's own
advice for sanitising markup), other files by kind (compiled code and archives cannot be
reviewed). What the code touches is then compared with the manifest's permissions: the
network without ``network.outbound``, writing files without ``filesystem.write``, a host
API call the host will refuse, a literal URL whose host is not on the allow-list.

Scoring (0 to 100): every issue costs its severity's weight — critical 40, high 20,
medium 8, low 2. Repeats of one type at one severity cost a quarter of the weight each,
at most four repeats, so one noisy habit cannot sink a plugin alone while two distinct
critical findings bring it down to 20. ``score = max(0, 100 - cost)``.
``safe`` means no critical and no high issue. Permissions declared but never used are
not issues; they become recommendations (least privilege).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

from ._blocked import blocked_imports
from ._pyscan import Finding, scan_python

if TYPE_CHECKING:
    from ..manifest import Manifest, Permissions
    from .bundle import Bundle

__all__ = [
    "WEIGHTS",
    "SecurityIssue",
    "SecurityScanResult",
    "scan_bundle",
    "scan_files",
    "scan_folder",
]

Severity = Literal["low", "medium", "high", "critical"]
WEIGHTS: dict[str, int] = {"critical": 40, "high": 20, "medium": 8, "low": 2}
_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}
MAX_REPEATS = 4

TEMPLATE_SUFFIXES = (
    ".html",
    ".htm",
    ".xhtml",
    ".jinja",
    ".jinja2",
    ".j2",
    ".svg",
    ".hbs",
    ".mustache",
    ".tpl",
    ".vue",
)
COMPILED_SUFFIXES = (".pyc", ".pyo", ".so", ".pyd", ".dll", ".dylib", ".exe", ".bin", ".o")
ARCHIVE_SUFFIXES = (".zip", ".whl", ".egg", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".jar")
STARTUP_FILES = ("sitecustomize.py", "usercustomize.py")
_TEMPLATE_RULES = (
    (re.compile(r"<\s*script\b", re.I), "template-script", "high", "a <script> element"),
    (re.compile(r"javascript\s*:", re.I), "template-script", "high", "a javascript: URL"),
    (
        re.compile(r"\son[a-z]+\s*=", re.I),
        "inline-event-handler",
        "medium",
        "an inline on*= handler",
    ),
)

#: One recommendation per issue type (the spec's ``SecurityIssue.recommendation``).
RECOMMENDATIONS: dict[str, str] = {
    "process-execution": "Do not start processes; do the work in Python or ask the host for it.",
    "blocked-module": "Remove the import, or the module from limits.blockedModules.",
    "native-code": "Do not load native code; it runs outside every Python-level check.",
    "unsafe-deserialization": "Use json (or yaml.safe_load); unpickling runs arbitrary code.",
    "dynamic-code": "Remove eval/exec/compile; call the code you mean directly.",
    "obfuscated-code": "Ship readable source; decoded-then-executed code cannot be reviewed.",
    "obfuscated-payload": "Ship data as readable files; encoded blobs hide what the plugin does.",
    "obfuscated-access": "Do not look up interpreter internals by name.",
    "dynamic-import": "Import modules by name at the top of the file.",
    "frame-introspection": "Do not inspect call frames; they expose the host's variables.",
    "sandbox-escape": "Remove the walk through interpreter internals (__subclasses__, "
    "__globals__, frames); it is how sandboxes are escaped.",
    "builtins-tampering": "Never replace builtins; it changes every plugin and the host.",
    "import-tampering": "Do not modify sys.modules/sys.path; declare requirements instead.",
    "wildcard-import": "Import the names you use explicitly.",
    "process-control": "Leave signals to the host.",
    "environment-access": "Read settings from the plugin configuration, not the environment "
    "(it holds the host's secrets).",
    "environment-change": "Do not change the host's environment.",
    "write-outside": "Write only through ctx.api.files, inside the plugin's data folder.",
    "sensitive-path": "Do not read system or user files; use ctx.api.files.",
    "undeclared-network": "Declare network.outbound with the hosts used, and call "
    "ctx.api.http so the host enforces the allow-list.",
    "undeclared-filesystem-write": "Declare filesystem.write and write through ctx.api.files.",
    "undeclared-filesystem-read": "Declare filesystem.read and read through ctx.api.files.",
    "direct-network": "Call ctx.api.http instead: a sandboxed plugin has no network of its own.",
    "direct-filesystem": "Use ctx.api.files instead: it is confined to the data folder.",
    "undeclared-permission": "Declare the permission in the manifest, or the host refuses "
    "the call at run time.",
    "undeclared-network-host": "Declare network.outbound listing this host, or remove the URL.",
    "host-not-allowed": "Add the host to network.outbound, or remove the URL.",
    "template-script": "Remove scripts from templates; render data, not code.",
    "inline-event-handler": "Remove inline on*= handlers from templates.",
    "compiled-code": "Ship source only; compiled files cannot be reviewed.",
    "nested-archive": "Ship files, not archives inside the bundle.",
    "startup-hook": "Remove interpreter start-up hooks (sitecustomize, .pth).",
    "unparsable-code": "Fix the file: it is not valid Python 3 source.",
    "inline-isolation": "Drop `isolation: inline`: where a plugin runs is the host's "
    "decision (its TrustPolicy: the plugin's id, its signing key or its folder); an "
    "untrusted bundle runs sandboxed whatever its manifest asks.",
    "broad-permission": "List the resources (hosts, paths, tables) instead of granting all.",
}


@dataclass(frozen=True, slots=True)
class SecurityIssue:
    """The spec's ``SecurityIssue``; ``location`` is ``file:line`` (or ``file``)."""

    severity: Severity
    type: str
    description: str
    location: str | None
    recommendation: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "type": self.type,
            "description": self.description,
            "location": self.location,
            "recommendation": self.recommendation,
        }


@dataclass(frozen=True)
class SecurityScanResult:
    """The spec's ``SecurityScanResult`` plus what the scan saw (hosts, files, capabilities)."""

    safe: bool
    issues: tuple[SecurityIssue, ...]
    recommendations: tuple[str, ...]
    score: int
    hosts: tuple[str, ...] = ()
    files_scanned: int = 0
    capabilities: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "safe": self.safe,
            "issues": [i.to_dict() for i in self.issues],
            "recommendations": list(self.recommendations),
            "score": self.score,
            "hosts": list(self.hosts),
            "filesScanned": self.files_scanned,
        }

    def worst(self) -> str | None:
        return min((i.severity for i in self.issues), key=_ORDER.__getitem__, default=None)


def score_of(issues: Iterable[SecurityIssue]) -> int:
    """The documented score (module docstring) of a list of issues."""
    counts = Counter((i.type, i.severity) for i in issues)
    cost = 0.0
    for (_type, severity), n in counts.items():
        weight = WEIGHTS[severity]
        cost += weight + min(n - 1, MAX_REPEATS) * weight / 4
    return max(0, round(100 - cost))


def _issue(kind: str, severity: str, description: str, location: str | None) -> SecurityIssue:
    return SecurityIssue(
        severity,  # type: ignore[arg-type]
        kind,
        description,
        location,
        RECOMMENDATIONS.get(kind, "Review this code."),
    )


def _granted(permissions: Permissions | None, capability: str, resource: str = "*") -> bool:
    if permissions is None:
        return False
    if capability == "network":
        capability = "network.outbound"
    category, verb = capability.split(".")
    if resource == "*":
        grants: dict[str, tuple[str, ...]] = getattr(permissions, category)
        return bool(grants.get(verb))
    return permissions.allows(category, verb, resource)


def _host_allowed(permissions: Permissions | None, host: str) -> bool:
    bare = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return any(
        _granted(permissions, "network", candidate) for candidate in {host, bare, f"{bare}:*"}
    )


def _judge(finding: Finding, where: str, permissions: Permissions | None) -> SecurityIssue | None:
    """An issue for ``finding``, its severity decided by the permissions when it is
    about a capability; ``None`` when the manifest covers it."""
    cap = finding.capability
    detail = finding.detail
    if cap is None:
        return _issue(finding.rule, finding.severity, _describe(finding), where)
    if finding.rule == "network-host":
        host = finding.host or "?"
        if not _granted(permissions, "network"):
            return _issue(
                "undeclared-network-host",
                "medium",
                f"names host {host} ({detail}) but declares no network permission",
                where,
            )
        if not _host_allowed(permissions, host):
            return _issue(
                "host-not-allowed",
                "medium",
                f"names host {host} ({detail}), which network.outbound does not allow",
                where,
            )
        return None
    granted = _granted(permissions, cap)
    if not finding.direct:  # the host checks it at run time
        if granted:
            return None
        return _issue(
            "undeclared-permission",
            "medium",
            f"calls {detail}, which needs the {cap} permission the manifest does not declare",
            where,
        )
    if cap == "network":
        if granted:
            return _issue(
                "direct-network", "low", f"talks to the network directly ({detail})", where
            )
        return _issue(
            "undeclared-network",
            "high",
            f"uses the network ({detail}) without a network.outbound permission",
            where,
        )
    if granted:
        return _issue("direct-filesystem", "low", f"touches files directly ({detail})", where)
    if cap == "filesystem.write":
        return _issue(
            "undeclared-filesystem-write",
            "high",
            f"writes files ({detail}) without a filesystem.write permission",
            where,
        )
    return _issue(
        "undeclared-filesystem-read",
        "medium",
        f"reads files ({detail}) without a filesystem.read permission",
        where,
    )


def _describe(finding: Finding) -> str:
    return {
        "process-execution": "starts processes",
        "native-code": "loads native code",
        "unsafe-deserialization": "deserializes with an unsafe format",
        "dynamic-code": "executes dynamically built code",
        "obfuscated-code": "executes decoded (hidden) code",
        "obfuscated-payload": "carries an encoded payload",
        "obfuscated-access": "names an interpreter internal as a string",
        "dynamic-import": "imports modules dynamically",
        "frame-introspection": "inspects call frames",
        "sandbox-escape": "reaches interpreter internals",
        "builtins-tampering": "replaces a builtin",
        "import-tampering": "touches the import system",
        "wildcard-import": "star-imports a sensitive module",
        "process-control": "handles process signals",
        "environment-access": "reads environment variables",
        "environment-change": "changes environment variables",
        "write-outside": "writes outside the plugin's data folder",
        "sensitive-path": "reads a system or user file",
    }.get(finding.rule, finding.rule) + f" ({finding.detail})"


def _text(data: bytes) -> str | None:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _scan_file(
    name: str, data: bytes, permissions: Permissions | None
) -> tuple[list[SecurityIssue], list[Finding]]:
    lower = name.lower()
    base = PurePosixPath(lower).name
    if lower.endswith(COMPILED_SUFFIXES) or data[:4] == b"\x7fELF" or data[:2] == b"MZ":
        return [_issue("compiled-code", "high", "compiled or binary code", name)], []
    if lower.endswith(ARCHIVE_SUFFIXES):
        return [
            _issue("nested-archive", "medium", "an archive inside the bundle (not scanned)", name)
        ], []
    if base in STARTUP_FILES or lower.endswith(".pth"):
        return [_issue("startup-hook", "high", "an interpreter start-up hook", name)], []
    if lower.endswith((".py", ".pyw")):
        source = _text(data)
        try:
            if source is None:
                raise SyntaxError("not UTF-8 text")
            findings = scan_python(source, name)
        except (SyntaxError, ValueError, RecursionError) as exc:
            line = getattr(exc, "lineno", None)
            where = f"{name}:{line}" if line else name
            return [_issue("unparsable-code", "high", f"cannot be parsed: {exc}", where)], []
        issues = [
            issue
            for f in findings
            if (issue := _judge(f, f"{name}:{f.line}", permissions)) is not None
        ]
        return issues, findings
    if lower.endswith(TEMPLATE_SUFFIXES):
        text = _text(data) or ""
        issues = []
        for number, line in enumerate(text.splitlines(), 1):
            for pattern, kind, severity, what in _TEMPLATE_RULES:
                if pattern.search(line):
                    issues.append(
                        _issue(kind, severity, f"template contains {what}", f"{name}:{number}")
                    )
        return issues, []
    return [], []


def _manifest_issues(manifest: Manifest | None) -> list[SecurityIssue]:
    if manifest is None:
        return []
    issues = []
    if manifest.isolation == "inline":  # issue 13 §1: a bundle may not unsandbox itself
        issues.append(
            _issue(
                "inline-isolation",
                "high",
                'asks to run inside the host process (isolation: "inline"); a bundle is '
                "untrusted unless the host trusts its signer, its id or its folder",
                "manifest.json",
            )
        )
    for category, verb in (
        ("network", "outbound"),
        ("filesystem", "write"),
        ("database", "write"),
        ("database", "execute"),
    ):
        grants: dict[str, tuple[str, ...]] = getattr(manifest.permissions, category)
        if "*" in grants.get(verb, ()):
            issues.append(
                _issue(
                    "broad-permission",
                    "low",
                    f"{category}.{verb} is granted on every resource",
                    "manifest.json",
                )
            )
    return issues


def _unused(manifest: Manifest | None, used: set[str]) -> list[str]:
    if manifest is None:
        return []
    out = []
    for category, verb in manifest_rows(manifest):
        capability = f"{category}.{verb}"
        if capability == "events.subscribe" and manifest.hooks:
            continue  # implementing hooks is subscribing to the host's events
        if capability not in used and not (capability == "network.outbound" and "network" in used):
            out.append(
                f"{capability} is declared but the code never uses it: drop it (least privilege)."
            )
    return out


def manifest_rows(manifest: Manifest) -> list[tuple[str, str]]:
    return list(dict.fromkeys((c, v) for c, v, _r in manifest.permissions.as_rows()))


def scan_files(files: Mapping[str, bytes], manifest: Manifest | None = None) -> SecurityScanResult:
    """Scan plugin files given as ``{posix path: bytes}`` against ``manifest``'s permissions."""
    permissions = manifest.permissions if manifest is not None else None
    issues: list[SecurityIssue] = _manifest_issues(manifest)
    used: set[str] = set()
    hosts: dict[str, None] = {}
    for name in sorted(files):
        found, findings = _scan_file(name, files[name], permissions)
        issues += found
        for f in findings:
            if f.capability:
                used.add(f.capability)
            if f.host:
                hosts[f.host] = None
    issues += [
        _issue(
            "blocked-module",
            "high",
            f"imports {module}, which the manifest's limits.blockedModules blocks: the "
            "import fails in its sandbox (the module's files are unreadable there)",
            where,
        )
        for module, where in blocked_imports(files, manifest)
    ]
    issues.sort(key=lambda i: (_ORDER[i.severity], i.location or "", i.type))
    recommendations = list(dict.fromkeys(i.recommendation for i in issues))
    recommendations += _unused(manifest, used)
    return SecurityScanResult(
        safe=not any(i.severity in ("critical", "high") for i in issues),
        issues=tuple(issues),
        recommendations=tuple(recommendations),
        score=score_of(issues),
        hosts=tuple(hosts),
        files_scanned=len(files),
        capabilities=tuple(sorted(used)),
    )


def scan_bundle(bundle: Bundle) -> SecurityScanResult:
    """Scan an opened bundle (its files are read from the zip, never extracted).

    A manifest that does not validate is scanned as if it granted nothing.
    """
    from ..manifest import ManifestError

    try:
        manifest: Manifest | None = bundle.manifest
    except ManifestError:
        manifest = None
    return scan_files(bundle.files(), manifest)


def scan_folder(
    folder: str | os.PathLike[str], *, include_tests: bool = False
) -> SecurityScanResult:
    """Scan a plugin folder as it would be packaged (same files as ``build_bundle``)."""
    from ..manifest import load_manifest
    from ._package import _walk

    root = Path(folder)
    manifest = load_manifest(root)
    files = {name: path.read_bytes() for name, path in _walk(root, include_tests)}
    return scan_files(files, manifest)
