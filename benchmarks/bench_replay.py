"""Replaying a large event log through the example plugins on Dask.

The same log (about 100,000 events: 40,000 submissions, each created and moved through one
or two statuses) is replayed with Dask's ``processes`` scheduler (one worker per core) and
serially (``synchronous``, the floor) in the same run. Target: processes at least 1.3 times
faster on this 2-core machine. Run: ``python benchmarks/bench_replay.py``

Prints a table, then one ``RESULT <name> <metric> <value> target <op> <target> PASS|FAIL``
line per target (DESIGN.md §4).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _timing import result_line

from pliers_lab import TrustPolicy
from pliers_lab.replay import replay, synthetic_log

EXTENSIONS = Path(__file__).parents[1] / "extensions"
#: The examples are ours, trusted: this measures replay itself, inline (untrusted plugins
#: would be replayed in their sandbox, issue 13 §1).
TRUSTED = TrustPolicy(folders=[EXTENSIONS])


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        log = synthetic_log(Path(tmp) / "events.jsonl", 40_000)
        size = log.stat().st_size
        block = max(size // (2 * (os.cpu_count() or 2)), 64 * 1024)
        serial = replay(log, EXTENSIONS, scheduler="synchronous", blocksize=block, trust=TRUSTED)
        parallel = replay(log, EXTENSIONS, scheduler="processes", blocksize=block, trust=TRUSTED)
    assert parallel.calls == serial.calls and parallel.events == serial.events
    print(f"{serial.events} events ({size / 1e6:.1f} MB) in {parallel.partitions} partitions")
    print(f"{'scheduler':14} {'seconds':>8} {'events/s':>9}")
    for name, r in (("processes", parallel), ("synchronous", serial)):
        print(f"{name:14} {r.seconds:8.2f} {r.events_per_second:9.0f}")
    speedup = serial.seconds / parallel.seconds
    print()
    line = result_line("replay_dask_processes", "speedup_vs_serial", speedup, ">=", 1.3)
    print(line)
    return 0 if line.endswith("PASS") else 1


if __name__ == "__main__":
    sys.exit(main())
