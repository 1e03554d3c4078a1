"""``./run bench`` (benchmarks/run_all.py) runs every benchmark even after one misses its
target, shows progress, ends with one table, and exits non-zero if any missed (issue 15
§5.5)."""

import subprocess
import sys
from pathlib import Path

RUNNER = Path(__file__).parents[1] / "benchmarks" / "run_all.py"

PASSING = """
print("a table of figures")
print("RESULT fast_thing ratio 0.50 target <= 1 PASS")
"""
MISSING = """
import sys
print("RESULT slow_thing ratio 2.00 target <= 1 FAIL")
sys.exit(1)
"""
QUIET_MISS = """
print("RESULT quiet_thing ratio 3.00 target <= 1 FAIL")
"""
BROKEN = """
raise RuntimeError("no such server")
"""


def run(folder, *args):
    return subprocess.run(
        [sys.executable, str(RUNNER), str(folder), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_miss_does_not_stop_the_run_and_the_table_says_it(tmp_path):
    (tmp_path / "bench_a_misses.py").write_text(MISSING)  # runs first: sorted by name
    (tmp_path / "bench_b_passes.py").write_text(PASSING)
    (tmp_path / "not_a_bench.py").write_text("raise SystemExit(3)")
    done = run(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "[1/2] bench_a_misses.py ..." in out and "[2/2] bench_b_passes.py ..." in out
    assert "  a table of figures" in out  # each benchmark's own output, as it goes
    table = out[out.index("benchmark  ") :].splitlines()
    assert table[0].split() == ["benchmark", "status", "seconds", "verdict"]
    missed, passed = table[1].split(), table[2].split()
    assert missed[:2] == ["bench_a_misses.py", "missed"] and float(missed[2]) >= 0
    assert table[1].endswith("slow_thing ratio 2.00 target <= 1 FAIL")
    assert passed[:2] == ["bench_b_passes.py", "ok"]
    assert table[2].endswith("fast_thing ratio 0.50 target <= 1 PASS")
    assert table[3] == "1 ok, 1 missed, 0 error of 2"


def test_all_passing_exits_0_and_errors_and_silent_fails_count(tmp_path):
    (tmp_path / "bench_ok.py").write_text(PASSING)
    assert run(tmp_path, "--quiet").returncode == 0
    (tmp_path / "bench_quiet.py").write_text(QUIET_MISS)  # exits 0 but prints FAIL
    (tmp_path / "bench_broken.py").write_text(BROKEN)
    done = run(tmp_path, "--quiet")
    assert done.returncode == 1
    rows = {line.split()[0]: line for line in done.stdout.splitlines() if line.startswith("bench_")}
    assert rows["bench_broken.py"].split()[1] == "error"
    assert rows["bench_broken.py"].endswith("RuntimeError: no such server")
    assert rows["bench_quiet.py"].split()[1] == "missed"
    assert "a table of figures" not in done.stdout  # --quiet: progress and the table only


def test_an_empty_folder_is_a_mistake(tmp_path):
    done = run(tmp_path)
    assert done.returncode == 2 and f"no bench_*.py in {tmp_path}" in done.stderr


def test_run_bench_goes_through_the_runner():
    """The old `bench)` line looped with `set -e`: the first miss ended the run."""
    script = (Path(__file__).parents[1] / "run").read_text()
    (line,) = [line for line in script.splitlines() if line.strip().startswith("bench)")]
    assert "benchmarks/run_all.py" in line and "for b in" not in line
