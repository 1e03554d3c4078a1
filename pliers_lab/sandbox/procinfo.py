"""Reading a worker's usage from ``/proc`` (the kernel's word, not the plugin's).

Plain reads of ``/proc/<pid>/stat``, ``status`` and ``smaps_rollup``: a few microseconds
each, no dependency (psutil would parse the same files), and only done during long calls,
on metrics requests and in the benchmark.
"""

from __future__ import annotations

import os
import time

__all__ = ["StatReader", "cpu_stall_ms", "memory_kb", "recent_cpu_stall", "rlimits"]

_TICK_MS = 1000.0 / os.sysconf("SC_CLK_TCK")
#: How old a shared reading of the stall counter may be when a call starts.
STALL_SAMPLE_MAX_AGE_S = 0.02
_stall_sample: tuple[float, float | None] = (float("-inf"), None)


def cpu_stall_ms() -> float | None:
    """Milliseconds, since boot, during which some runnable task on this machine waited
    for a CPU (the kernel's pressure stall information, ``/proc/pressure/cpu``); None
    where the kernel does not report it. Its growth over a call says how much of the
    call's wall clock the machine's load took: what the host must not count against a
    plugin."""
    try:
        with open("/proc/pressure/cpu", "rb") as f:
            first = f.readline()
    except OSError:
        return None
    for field in first.split():
        if field.startswith(b"total="):
            return int(field[6:]) / 1000.0
    return None


def recent_cpu_stall(
    max_age_s: float = STALL_SAMPLE_MAX_AGE_S, now: float | None = None
) -> tuple[float, float] | None:
    """``(when, stall_ms)``: the stall counter (``cpu_stall_ms``) as read at most
    ``max_age_s`` ago, and the ``time.monotonic()`` of that reading; None where the kernel
    reports no pressure.

    Why shared: reading the file costs ~30 us, as much as a whole isolated call should.
    A call takes its baseline from here and measures the stall over ``[when, deadline]``,
    a window at most ``max_age_s`` longer than the call, so back-to-back calls read the
    file at most once per ``max_age_s`` between them. ``now``: the caller's own
    ``time.monotonic()`` read, if it has one.
    """
    global _stall_sample
    sample = _stall_sample  # the tuple itself is returned: no new one per call
    if now is None:
        now = time.monotonic()
    if now - sample[0] > max_age_s:
        sample = _stall_sample = (now, cpu_stall_ms())
    return None if sample[1] is None else sample  # type: ignore[return-value]


class StatReader:
    """CPU time of one process from a ``/proc/<pid>/stat`` descriptor kept open."""

    __slots__ = ("fd",)

    def __init__(self, pid: int) -> None:
        try:
            self.fd: int | None = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self.fd = None

    def cpu_ms(self) -> float | None:
        """User + system CPU time in ms, None once the process is gone."""
        if self.fd is None:
            return None
        try:
            text = os.pread(self.fd, 1024, 0)
        except OSError:
            return None
        fields = text[text.rfind(b")") + 2 :].split()
        if len(fields) < 13:
            return None
        return (int(fields[11]) + int(fields[12])) * _TICK_MS

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def memory_kb(pid: int) -> dict[str, int]:
    """``rss``, ``hwm`` (peak RSS), and where readable ``pss`` and ``uss`` in kB."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out["rss" if line.startswith("VmRSS") else "hwm"] = int(line.split()[1])
    except OSError:
        return out
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            private = 0
            for line in f:
                key, _, rest = line.partition(":")
                if key == "Pss":
                    out["pss"] = int(rest.split()[0])
                elif key in ("Private_Clean", "Private_Dirty"):
                    private += int(rest.split()[0])
            out["uss"] = private
    except OSError:
        pass
    return out


#: ``/proc/<pid>/limits`` rows by the ``setrlimit`` name the worker's init frame uses.
_LIMIT_ROWS = {
    "Max address space": "as",
    "Max cpu time": "cpu",
    "Max file size": "fsize",
    "Max open files": "nofile",
    "Max core file size": "core",
    "Max locked memory": "memlock",
    "Max msgqueue size": "msgqueue",
}


def rlimits(pid: int) -> dict[str, int | None]:
    """The soft resource limits the kernel applies to ``pid`` (``/proc/<pid>/limits``,
    readable by every user), by ``setrlimit`` name; None for unlimited. Empty when the
    process is gone."""
    try:
        with open(f"/proc/{pid}/limits") as f:
            lines = f.read().splitlines()
    except OSError:
        return {}
    out: dict[str, int | None] = {}
    for line in lines[1:]:
        name = line[:26].strip()
        key = _LIMIT_ROWS.get(name)
        fields = line[26:].split()
        if key is None or not fields:
            continue
        out[key] = None if fields[0] == "unlimited" else int(fields[0])
    return out
