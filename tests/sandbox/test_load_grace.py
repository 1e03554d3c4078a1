"""A call's deadline moves for the machine's CPU load, measured by the kernel, never
for the plugin: the grace is the stall the kernel counted (``/proc/pressure/cpu``), at
most one more timeout, and none where the kernel does not report pressure."""

from __future__ import annotations

import time

import pytest

from pliers_lab.sandbox._process import _load_grace, _timed_out
from pliers_lab.sandbox.procinfo import cpu_stall_ms, recent_cpu_stall

needs_psi = pytest.mark.skipif(
    cpu_stall_ms() is None,
    reason="this kernel reports no CPU pressure: see test_no_pressure_no_grace",
)


def stall_now() -> float:
    """The kernel's stall counter now (ms): a call that started at ``stall_now() - x``
    saw x ms of stall, plus the few microseconds until ``_load_grace`` reads it again
    (at most as many, even on a loaded machine: the counter runs at most at wall speed)."""
    stall = cpu_stall_ms()
    assert stall is not None
    return stall


@needs_psi
def test_a_stall_over_a_quarter_of_the_call_moves_the_deadline_by_the_stall() -> None:
    grace = _load_grace(stall_now() - 800.0, elapsed_s=1.0, timeout_s=1.0, granted_s=0.0)
    assert 0.8 <= grace < 0.85


@needs_psi
def test_a_stall_under_a_quarter_of_the_call_gives_no_grace() -> None:
    assert _load_grace(stall_now() - 200.0, elapsed_s=1.0, timeout_s=1.0, granted_s=0.0) == 0.0


@needs_psi
def test_the_grace_is_capped_at_one_more_timeout() -> None:
    base = stall_now() - 5000.0
    assert _load_grace(base, elapsed_s=2.0, timeout_s=1.0, granted_s=0.0) == 1.0
    assert _load_grace(base, elapsed_s=2.0, timeout_s=1.0, granted_s=0.5) == 0.5
    assert _load_grace(base, elapsed_s=2.0, timeout_s=1.0, granted_s=1.0) == 0.0


@needs_psi
def test_only_the_stall_not_yet_granted_is_added() -> None:
    grace = _load_grace(stall_now() - 900.0, elapsed_s=1.6, timeout_s=1.0, granted_s=0.6)
    assert 0.3 <= grace < 0.35


def test_no_pressure_no_grace() -> None:
    # stall_base None: the kernel gave no pressure figure when the call started.
    assert _load_grace(None, elapsed_s=5.0, timeout_s=1.0, granted_s=0.0) == 0.0


def test_the_limit_record_says_what_was_added_for_load() -> None:
    record = _timed_out(1.5, 1.0, 12.0, grace_s=0.5)
    assert record["limit"] == "executionTime" and record["action"] == "timed out"
    assert "500 ms were added for the machine's CPU load" in record["detail"]
    assert "were added" not in _timed_out(1.0, 1.0, 12.0)["detail"]


@needs_psi
def test_calls_share_one_reading_of_the_stall_counter_per_interval() -> None:
    # Reading /proc/pressure/cpu costs as much as a whole isolated call: back-to-back
    # calls take their baseline from one reading, at most max_age_s old.
    first = recent_cpu_stall(max_age_s=60.0)
    assert first is not None and first[0] <= time.monotonic()
    assert recent_cpu_stall(max_age_s=60.0) == first
    fresh = recent_cpu_stall(max_age_s=0.0)
    assert fresh is not None and fresh[0] > first[0] and fresh[1] >= first[1]
