"""Run every benchmark, whatever each one finds, and end with one summary table.

    python benchmarks/run_all.py [FOLDER] [-k TEXT] [--timeout S] [--quiet]

``./run bench`` used to stop at the first benchmark that missed its target, so one slow
figure hid every later one. Here each ``bench_*.py`` of FOLDER (default: this folder)
runs in its own interpreter, its output streamed as it goes under a ``[n/N]`` header,
and the table at the end gives each one's status, seconds and its own verdict:

- ``ok``: exit 0 and no ``RESULT ... FAIL`` line;
- ``missed``: a ``RESULT ... FAIL`` line, or exit 1 without a traceback (the benchmarks
  return 1 when a figure misses its target);
- ``error``: a traceback, another exit status, or the ``--timeout`` passed.

The verdict is the benchmark's ``RESULT`` line (DESIGN.md §4; the failing one first when
several) or, for an error, its last line of output. The exit status is 1 if any
benchmark missed or failed, 0 otherwise.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass
class Outcome:
    """One benchmark's run, as the summary table shows it."""

    name: str
    status: str
    seconds: float
    verdict: str


def verdict_of(lines: Sequence[str], status: str) -> str:
    """The one line that says how a benchmark did (see the module docstring)."""
    results = [line.strip().removeprefix("RESULT ") for line in lines if line.startswith("RESULT")]
    failed = [line for line in results if line.endswith("FAIL")]
    if failed:
        return failed[0] + (f" (+{len(failed) - 1} more FAIL)" if len(failed) > 1 else "")
    if status != "ok":  # an error, or exit 1 with no FAIL line: the last thing it said
        said = [line.strip() for line in lines if line.strip()]
        return said[-1] if said else ""
    if results:
        return results[-1] + (f" (+{len(results) - 1} more)" if len(results) > 1 else "")
    return ""


def classify(returncode: int | None, lines: Sequence[str]) -> str:
    """``ok``, ``missed`` or ``error`` (see the module docstring); None: timed out."""
    traceback = any(line.startswith("Traceback (most recent call last)") for line in lines)
    if returncode is None or traceback or returncode not in (0, 1):
        return "error"
    fail_line = any(line.startswith("RESULT") and line.rstrip().endswith("FAIL") for line in lines)
    if returncode == 1 or fail_line:
        return "missed"
    return "ok"


def run_one(script: Path, timeout: float | None, quiet: bool) -> Outcome:
    """Run ``script`` with this interpreter, streaming its output unless ``quiet``."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        bufsize=1,
    )
    lines: list[str] = []
    assert proc.stdout is not None

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if not quiet:
                print(f"  {line}", end="", flush=True)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        returncode: int | None = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        returncode = None
    except BaseException:  # Ctrl-C: never leave a benchmark running behind us
        proc.kill()
        proc.wait()
        raise
    reader.join(timeout=5)
    proc.stdout.close()
    seconds = time.perf_counter() - start
    status = classify(returncode, lines)
    verdict = verdict_of(lines, status)
    if returncode is None:
        verdict = f"timed out after {timeout:g} s"
    elif status == "error" and returncode not in (0, 1):
        verdict = f"exit {returncode}: {verdict}" if verdict else f"exit {returncode}"
    return Outcome(script.name, status, seconds, verdict)


def table(outcomes: Sequence[Outcome]) -> str:
    """The summary: one row per benchmark, then the counts."""
    width = max([len("benchmark"), *(len(o.name) for o in outcomes)])
    rows = [f"{'benchmark':<{width}}  {'status':<6}  {'seconds':>8}  verdict"]
    rows += [f"{o.name:<{width}}  {o.status:<6}  {o.seconds:>8.1f}  {o.verdict}" for o in outcomes]
    counts = {s: sum(o.status == s for o in outcomes) for s in ("ok", "missed", "error")}
    rows.append(", ".join(f"{n} {s}" for s, n in counts.items()) + f" of {len(outcomes)}")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "folder", nargs="?", type=Path, default=HERE, help="where the bench_*.py are"
    )
    parser.add_argument(
        "-k", dest="only", action="append", default=[], help="only benchmarks naming TEXT"
    )
    parser.add_argument("--timeout", type=float, default=None, help="seconds per benchmark")
    parser.add_argument("--quiet", action="store_true", help="only progress and the table")
    args = parser.parse_args(argv)
    scripts = sorted(args.folder.glob("bench_*.py"))
    scripts = [s for s in scripts if not args.only or any(k in s.name for k in args.only)]
    if not scripts:
        print(f"run_all: no bench_*.py in {args.folder}", file=sys.stderr)
        return 2
    outcomes: list[Outcome] = []
    try:
        for n, script in enumerate(scripts, 1):
            print(f"[{n}/{len(scripts)}] {script.name} ...", flush=True)
            outcome = run_one(script, args.timeout, args.quiet)
            outcomes.append(outcome)
            print(
                f"[{n}/{len(scripts)}] {script.name}: {outcome.status} in {outcome.seconds:.1f} s",
                flush=True,
            )
    except KeyboardInterrupt:
        print("\ninterrupted; the benchmarks run so far:")
        print(table(outcomes))
        return 130
    print()
    print(table(outcomes))
    return 0 if all(o.status == "ok" for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
