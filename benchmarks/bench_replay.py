"""Replaying a large event log through the example plugins on Dask: serially, with Dask's
``processes`` scheduler, and on a distributed ``LocalCluster`` of 1, 2 and 4 workers.

- **Cluster**: a log of one million events (400,000 submissions, each created and moved
  through one or two statuses; ``synthetic_log``, written once to a temporary file by a
  child process so its million dicts never sit in this one) is replayed serially
  (``synchronous``, the floor) and on a ``distributed.LocalCluster`` of 1, 2 and 4 worker
  processes (one thread each, started before the clock runs: ``replay(...,
  scheduler=client)``). Printed per run: seconds, events/s, the speed-up over serial and
  each worker's peak RSS — the dask worker process's resident set (``psutil``, read on
  every worker through ``client.run`` every 0.2 s while the replay runs, the largest
  sample kept; its idle RSS before the replay beside it). The plugins run inline in the
  worker process (below), so that is all the replay's memory; were any sandboxed, their
  processes' RSS would be printed too. Every run must count exactly what the serial run
  counts. Target: 2 workers at least 1.3 times faster than serial on this 2-core machine
  (4 workers cannot beat 2 on 2 cores: printed, no target).
- **Processes**: the former benchmark, kept as the local scheduler's figure: a log of
  about 100,000 events replayed with Dask's ``processes`` scheduler (one worker per core)
  and serially. Target: processes at least 1.3 times faster.

The plugins are the examples in ``extensions/``, copied with ``"isolation": "inline"`` in
their manifests and trusted (``TrustPolicy(folders=...)``): this measures replay itself.
Trust alone does not make them inline — a trusted plugin whose manifest asks nothing gets
the replay engine's default, its sandbox — and sandboxed, every hook call is a round trip
to a worker process (``bench_isolation.py`` measures that): about ten times slower here
(1,300 events/s serially against 12,600), so this benchmark would take most of an hour.
Until issue 17 the benchmark replayed them so, unawares, on 100,000 events.

Run: ``python benchmarks/bench_replay.py [EVENTS]`` (default 1,000,000; the 100,000-event
comparison is fixed). Prints tables, then one ``RESULT <name> <metric> <value> target <op>
<target> PASS|FAIL`` line per target (DESIGN.md §4). A figure this machine cannot measure
is printed as "not measured" with the reason, never as 0.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _timing import result_line

from pliers_lab import TrustPolicy
from pliers_lab.replay import ReplayReport, replay, synthetic_log

EXTENSIONS = Path(__file__).parents[1] / "extensions"
EVENTS = 1_000_000
WORKERS = (1, 2, 4)
BLOCK = 8 * 1024 * 1024  # ~45 partitions of the million-event log: four workers stay busy
SAMPLE_S = 0.2
MIB = 1024 * 1024


def inline_examples(root: Path) -> Path:
    """The example plugins, each manifest asking to run inline (trusted, they may)."""
    folder = root / "plugins"
    shutil.copytree(EXTENSIONS, folder, ignore=shutil.ignore_patterns("__pycache__", "*.md"))
    for manifest in folder.glob("*/manifest.json"):
        data = json.loads(manifest.read_text())
        data["isolation"] = "inline"
        manifest.write_text(json.dumps(data, indent=2))
    return folder


def write_log(path: Path, events: int) -> Path:
    """``synthetic_log`` with at least ``events`` events (one or two more), written by a
    child process."""
    submissions = max(math.ceil((events - 1) / 2.5), 1)  # 2.5 events each, and the form
    code = "import sys; from pliers_lab.replay import synthetic_log as s; s(sys.argv[1], int(sys.argv[2]))"  # noqa: E501
    subprocess.run([sys.executable, "-c", code, str(path), str(submissions)], check=True)
    return path


def _memory() -> tuple[int, int, int]:
    """On a worker: its process's RSS, its child processes' RSS summed, and their count."""
    import psutil

    me = psutil.Process()
    children = me.children(recursive=True)
    rss = 0
    for child in children:
        with contextlib.suppress(psutil.Error):  # gone between the listing and the read
            rss += child.memory_info().rss
    return me.memory_info().rss, rss, len(children)


class PeakMemory:
    """Samples every worker's memory (``_memory``) while a replay runs; keeps the peaks."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.idle: dict[str, int] = {w: m[0] for w, m in client.run(_memory).items()}
        self.peak: dict[str, int] = {}
        self.children_peak: dict[str, int] = {}
        self.samples = 0
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True, name="peak-memory")

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                seen = self.client.run(_memory)
            except Exception as exc:  # a worker busy restarting: said, never a 0
                self.error = f"{type(exc).__name__}: {exc}"
                return
            for worker, (rss, children, _n) in seen.items():
                self.peak[worker] = max(self.peak.get(worker, 0), rss)
                if children:
                    self.children_peak[worker] = max(self.children_peak.get(worker, 0), children)
            self.samples += 1
            self._stop.wait(SAMPLE_S)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def shown(self) -> str:
        """Peak RSS per worker in MiB (max over workers, and the range), or why not."""
        if self.error is not None or not self.peak:
            return f"not measured ({self.error or 'no sample taken'})"
        peaks = sorted(self.peak.values())
        text = f"{peaks[-1] / MIB:.0f}"
        if len(peaks) > 1:
            text += f" ({peaks[0] / MIB:.0f}-{peaks[-1] / MIB:.0f})"
        text += f", idle {max(self.idle.values()) / MIB:.0f}"
        if self.children_peak:
            text += f"; + sandboxed plugins {max(self.children_peak.values()) / MIB:.0f}"
        return text


def same_counts(report: ReplayReport, serial: ReplayReport, where: str) -> None:
    if (report.events, report.calls, report.vetoes, report.by_type) != (
        serial.events, serial.calls, serial.vetoes, serial.by_type
    ):  # fmt: skip
        raise SystemExit(f"{where} counted differently from the serial run: a broken replay")


def on_cluster(
    log: Path, plugins: Path, trust: TrustPolicy, serial: ReplayReport
) -> dict[int, tuple[ReplayReport, str]]:
    """Each worker count's report and its workers' peak memory (``PeakMemory.shown``)."""
    import distributed

    runs: dict[int, tuple[ReplayReport, str]] = {}
    for n in WORKERS:
        with (
            distributed.LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",  # a free port (None means 8787)
                silence_logs=40,
            ) as cluster,
            distributed.Client(cluster, set_as_default=False) as client,
        ):
            client.wait_for_workers(n, timeout=60)
            with PeakMemory(client) as memory:
                report = replay(log, plugins, scheduler=client, blocksize=BLOCK, trust=trust)
        same_counts(report, serial, f"a LocalCluster of {n} workers")
        runs[n] = (report, memory.shown())
        print(f"  {n} worker(s): {report.seconds:.1f} s ({memory.samples} memory samples)")
    return runs


def main() -> int:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else EVENTS
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        plugins = inline_examples(root)
        trust = TrustPolicy(folders=[plugins])

        # The local processes scheduler on ~100,000 events (the former benchmark).
        small = synthetic_log(root / "small.jsonl", 40_000)
        block = max(small.stat().st_size // (2 * (os.cpu_count() or 2)), 64 * 1024)
        small_serial = replay(small, plugins, scheduler="synchronous", blocksize=block, trust=trust)
        processes = replay(small, plugins, scheduler="processes", blocksize=block, trust=trust)
        same_counts(processes, small_serial, "the processes scheduler")
        print(f"{small_serial.events:,} events ({small.stat().st_size / 1e6:.0f} MB) in "
              f"{processes.partitions} partitions, Dask's local schedulers")  # fmt: skip
        print(f"{'scheduler':14} {'seconds':>8} {'events/s':>9}")
        for name, r in (("processes", processes), ("synchronous", small_serial)):
            print(f"{name:14} {r.seconds:8.2f} {r.events_per_second:9,.0f}")
        print()

        # A million events: serially, then on LocalClusters.
        log = write_log(root / "events.jsonl", events)
        size = log.stat().st_size
        serial = replay(log, plugins, scheduler="synchronous", blocksize=BLOCK, trust=trust)
        print(f"serial: {serial.seconds:.1f} s")
        runs = on_cluster(log, plugins, trust, serial)
    print()
    print(f"{serial.events:,} events ({size / 1e6:.0f} MB) in {serial.partitions} partitions "
          f"of {BLOCK // MIB} MiB; the example plugins inline, trusted; "
          f"{os.cpu_count()} cores")  # fmt: skip
    print(f"{'where':22} {'seconds':>8} {'events/s':>9} {'speed-up':>9}  "
          "peak RSS per worker, MiB (range; idle)")  # fmt: skip
    print(f"{'serial (synchronous)':22} {serial.seconds:8.1f} {serial.events_per_second:9,.0f} "
          f"{1.0:8.2f}x  not sampled (it runs in this process)")  # fmt: skip
    for n, (r, memory) in runs.items():
        where = f"LocalCluster, {n} worker" + ("s" if n > 1 else "")
        print(f"{where:22} {r.seconds:8.1f} {r.events_per_second:9,.0f} "
              f"{serial.seconds / r.seconds:8.2f}x  {memory}")  # fmt: skip
    print()
    lines = [
        result_line("replay_dask_processes", "speedup_vs_serial",
                    small_serial.seconds / processes.seconds, ">=", 1.3),
        result_line("replay_cluster_2_workers", "speedup_vs_serial",
                    serial.seconds / runs[2][0].seconds, ">=", 1.3),
    ]  # fmt: skip
    print("\n".join(lines))
    return 0 if all(line.endswith("PASS") for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
