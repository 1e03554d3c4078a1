"""The manifests the benchmarks build are valid: a benchmark that cannot load its plugin
measures nothing (bench_web stopped at its manifest for a while after endpoints began to
need ``network.inbound``, and only ``./run bench`` would have said so)."""

import importlib
import sys
from pathlib import Path

import pytest

from pliers_lab.manifest import parse_manifest

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


@pytest.fixture(autouse=True)
def benchmarks_importable(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))


@pytest.mark.parametrize(
    ("module", "build"),
    [
        ("bench_web", lambda m: m.MANIFEST),
        ("bench_load", lambda m: m.manifest("inline-load")),
    ],
)
def test_a_benchmark_manifest_parses(module, build):
    bench = importlib.import_module(module)
    try:
        manifest = parse_manifest(build(bench), source=f"{module}.py")
    finally:
        sys.modules.pop(module, None)
    assert manifest.api is not None and manifest.api.endpoints
