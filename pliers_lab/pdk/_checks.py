"""``pliers validate``: everything the engine would refuse, found before anyone loads it.

Checks run in order and each adds to one report; a failing check does not hide the
others that can still run (a broken manifest stops the code checks, nothing else).
A plugin folder is loaded and scanned; a bundle (``.zip``) is opened as the marketplace
opens it, its signature checked against the trusted keys given, and scanned.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import PliersError

if TYPE_CHECKING:
    from ..market.scan import SecurityScanResult
    from ..market.signing import PublicKey

__all__ = ["CheckReport", "check_bundle", "check_plugin"]


@dataclass
class CheckReport:
    """The spec's ``ValidationResult`` for a plugin folder."""

    folder: Path
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors

    def render(self) -> str:
        lines = [f"{self.folder}: {'valid' if self.valid else 'INVALID'}"]
        lines += [f"  ok    {p}" for p in self.passed]
        lines += [f"  warn  {w}" for w in self.warnings]
        lines += [f"  error {e}" for e in self.errors]
        return "\n".join(lines)


def check_plugin(folder: str | Path) -> CheckReport:
    """Manifest, code and handlers, configuration, tests and docs of one plugin folder."""
    from ..engine import Engine
    from ..manifest import load_manifest

    report = CheckReport(Path(folder))
    try:
        manifest = load_manifest(folder)
    except PliersError as exc:
        report.errors.append(str(exc))
        return report
    report.passed.append("manifest")
    root = manifest.root or Path(folder)
    with Engine(default_isolation="inline") as engine:
        try:
            plugin = engine.load(root)
            report.passed.append(f"code loads; {len(plugin.handlers)} hook handler(s) bound")
            report.passed.append("configuration defaults satisfy the schema")
        except PliersError as exc:
            report.errors.append(str(exc))
    if not any((root / "tests").glob("test_*.py")):
        report.warnings.append("no tests/test_*.py: `pliers test` has nothing to run")
    if not (root / "README.md").is_file():
        report.warnings.append("no README.md (`pliers docs` can write DOCS.md from the manifest)")
    from ..market.scan import scan_folder

    try:
        result = scan_folder(root)
    except Exception as exc:  # the scan must not hide the other results
        report.warnings.append(f"security scan failed to run: {exc}")
        return report
    _add_scan(report, result)
    return report


def check_bundle(path: str | Path, trusted_keys: Iterable[PublicKey] = ()) -> CheckReport:
    """Package, manifest, signature (against ``trusted_keys``) and scan of a bundle.

    A forged or tampered signature is an error; an unsigned bundle or an unknown key is
    a warning saying what it means for where the plugin will run (issue 13 §1).
    """
    from ..manifest import ManifestError
    from ..market.bundle import open_bundle
    from ..market.scan import scan_bundle
    from ..market.signing import verify_bundle
    from ..market.validate import trust_warnings

    report = CheckReport(Path(path))
    try:
        bundle = open_bundle(path)
    except PliersError as exc:
        report.errors.append(str(exc))
        return report
    report.passed.append(f"package: {len(bundle.names())} files, {bundle.checksum}")
    manifest = None
    try:
        manifest = bundle.manifest
        report.passed.append(f"manifest ({manifest.key})")
    except ManifestError as exc:
        report.errors.append(str(exc))
    verification = verify_bundle(bundle, trusted_keys)
    if verification.status == "invalid":
        report.errors.append(f"signature: {verification.reason}")
    elif verification.status == "verified":
        report.passed.append(f"signature: {verification.reason}")
    report.warnings.extend(
        w for w in trust_warnings(verification, manifest) if not w.startswith("invalid")
    )
    _add_scan(report, scan_bundle(bundle))
    return report


def _add_scan(report: CheckReport, result: SecurityScanResult) -> None:
    (report.passed if result.safe else report.errors).append(f"security scan: score {result.score}")
    report.warnings.extend(
        f"{i.severity} {i.type}: {i.description} ({i.location})" for i in result.issues
    )
