"""bench_pipeline's peer host (pluggy) fires what one real submission fired: the same
hook calls in order, with as many implementations each."""

import importlib
import sys
from pathlib import Path

from pliers_lab import Engine
from pliers_lab.host import Host
from pliers_lab.host import sample_forms as samples

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
bench = importlib.import_module("bench_pipeline")  # an import error fails, never skips


def test_the_peer_has_the_submissions_hooks_and_implementations(tmp_path):
    engine = Engine(default_isolation="inline")
    engine.load_all(ROOT / "extensions")
    host = Host(engine, tmp_path / "host.sqlite3")
    try:
        samples.install(host)
        trace = host.submit("contact", next(samples.synthetic("contact", 10, seed=1))).trace
        hooks = [s for s in trace if s.kind == "hook"]
        expected = [len(s.result.outcomes) if s.result else 0 for s in hooks]
        assert sum(expected) >= 8  # the example plugins ran: the peer is not empty

        manager, names = bench.peer_manager(trace)

        assert len(names) == len(hooks)
        assert [len(getattr(manager.hook, n).get_hookimpls()) for n in names] == expected
        data = {"submission": {}}
        for name, n in zip(names, expected, strict=True):
            assert getattr(manager.hook, name)(data=data) == [data] * n
    finally:
        host.close()
        engine.close()
