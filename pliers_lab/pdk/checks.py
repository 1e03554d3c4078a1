"""``pliers validate``: everything the engine would refuse, found before anyone loads it.

Checks run in order and each adds to one report; a failing check does not hide the
others that can still run (a broken manifest stops the code checks, nothing else).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PliersError

__all__ = ["CheckReport", "check_plugin"]


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
    (report.passed if result.safe else report.errors).append(f"security scan: score {result.score}")
    report.warnings.extend(
        f"{i.severity} {i.type}: {i.description} ({i.location})" for i in result.issues
    )
    return report
