"""``pliers test``: a plugin's tests in a fresh pytest process, read back from JUnit XML.

A subprocess keeps the plugin's imports and our fixtures out of the caller's process; the
spec's ``TestResult`` (counts, duration, coverage, per test) comes from the XML report and,
when coverage.py is installed, from its JSON report restricted to the plugin's folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PliersError

__all__ = ["PluginTestResult", "run_plugin_tests"]

#: The coverage a plugin needs before it is published (the spec's publishing facts).
COVERAGE_THRESHOLD = 80.0


@dataclass
class PluginTestResult:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    duration: float = 0.0
    coverage: float | None = None
    tests: list[dict[str, object]] = field(default_factory=list)
    output: str = ""

    def render(self) -> str:
        cov = (
            "n/a (coverage.py not installed)" if self.coverage is None else f"{self.coverage:.0f}%"
        )
        lines = [f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped in "
                 f"{self.duration:.2f}s; coverage {cov}"]  # fmt: skip
        for t in self.tests:
            if t["status"] == "failed":
                lines.append(f"  FAILED {t['name']}: {str(t.get('error', '')).splitlines()[0:1]}")
        if self.coverage is not None and self.coverage < COVERAGE_THRESHOLD:
            lines.append(f"  coverage below the {COVERAGE_THRESHOLD:.0f}% needed to publish")
        return "\n".join(lines)


def _coverage_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("coverage") is not None


def run_plugin_tests(folder: str | Path, pytest_args: Sequence[str] = ()) -> PluginTestResult:
    root = Path(folder).resolve()
    tests = root / "tests"
    if not tests.is_dir():
        raise PliersError(f"{root}: no tests/ folder to run")
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        pytest_cmd = ["-m", "pytest", str(tests), f"--junitxml={junit}", "-q",
                      "-p", "no:cacheprovider",
                      f"--rootdir={root}", *pytest_args]  # fmt: skip
        cov = _coverage_available()
        if cov:
            data = Path(tmp) / ".coverage"
            cmd = [sys.executable, "-m", "coverage", "run", f"--data-file={data}",
                   f"--include={root}/*", f"--omit={tests}/*", *pytest_cmd]  # fmt: skip
        else:
            cmd = [sys.executable, *pytest_cmd]
        proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=600)
        if not junit.is_file():
            raise PliersError(
                f"pytest did not run the tests of {root}:\n"
                f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
            )
        result = _read_junit(junit)
        result.output = proc.stdout
        if cov:
            report = Path(tmp) / "coverage.json"
            cmd = [sys.executable, "-m", "coverage", "json", f"--data-file={data}",
                   "-o", str(report), "-q"]  # fmt: skip
            subprocess.run(cmd, cwd=root, capture_output=True, timeout=120)
            if report.is_file():
                result.coverage = json.loads(report.read_text())["totals"]["percent_covered"]
    return result


def _read_junit(path: Path) -> PluginTestResult:
    result = PluginTestResult()
    for case in ET.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        duration = float(case.get("time", 0))
        result.duration += duration
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        if failure is not None:
            result.failed += 1
            entry: dict[str, object] = {"name": name, "status": "failed", "duration": duration,
                                        "error": failure.get("message", "")}  # fmt: skip
        elif case.find("skipped") is not None:
            result.skipped += 1
            entry = {"name": name, "status": "skipped", "duration": duration}
        else:
            result.passed += 1
            entry = {"name": name, "status": "passed", "duration": duration}
        result.tests.append(entry)
    return result
