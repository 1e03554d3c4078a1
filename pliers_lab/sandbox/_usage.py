"""What a sandboxed plugin's workers use, as the kernel and the host count it.

Every figure is read from something the plugin cannot forge (``shared/facts/resources.md``
says what is readable here, as root and as an ordinary user):

- **CPU**: ``/proc/<pid>/stat`` utime + stime (every thread of the worker, in clock ticks
  of 10 ms) while it runs; at its end, the ``wait4`` usage its parent reports (the warm
  template for a forked worker, the host for a spawned one).
- **Memory**: ``/proc/<pid>/status`` VmRSS (resident now) and VmHWM (the kernel's
  high-water mark); a forked worker's end also reports ``ru_maxrss`` (its pages are the
  template's, so it means the same). Not ``ru_maxrss`` of a *spawned* worker: it counts
  the host's pages the child held between fork and exec.
- **File-system bytes**: ``/proc/<pid>/io`` rchar / wchar (what the worker's read and
  write system calls moved) less its wire to the host, which the host counts frame by
  frame (``wire.Channel.sent``/``received``); plus what the host's ``api.files`` read and
  wrote for the plugin. **Block I/O**: ``read_bytes`` / ``write_bytes`` of the same file
  (what the worker made the storage layer fetch, and the page-cache bytes it dirtied).
  A worker's I/O counters at its end come from its parent, which reads them from the
  zombie before reaping it. cgroup v1 ``blkio`` is not used: it counted nothing on this
  kind of VM (even a read after dropping the caches), and buffered writes reach the disk
  from the kernel's flusher threads, outside the worker's group, in v1.
- **Network**: the host's fetch capability (``_outbound.Outbound``) counts what it sent
  and received for the plugin: a worker has no network of its own.

An ordinary user cannot read a locked-down worker's ``/proc/<pid>/io``: the worker is
non-dumpable, so its ``/proc`` files belong to root (``stat`` and ``status`` stay
world-readable). Its disk figures are then *not measured*, with that reason, never 0.

Rates and the memory average need samples over time: one thread per runtime
(``Sampler``) samples each plugin every ``SandboxPolicy.usage_sample_s``. Nothing is
added to a call: totals are read when someone asks for them.
"""

from __future__ import annotations

import errno
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from ..observe.metrics import Resources, ResourceSheet

if TYPE_CHECKING:
    from ._outbound import Outbound
    from .vfs import DataFiles

__all__ = ["IoCounters", "Meter", "PluginUsage", "Reading", "Sampler", "read_io"]

_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")
_MIB = float(1 << 20)


class IoCounters(NamedTuple):
    """A process's ``/proc/<pid>/io`` counters, in bytes."""

    rchar: int
    wchar: int
    read_bytes: int
    write_bytes: int


class Reading(NamedTuple):
    """One worker's figures at one moment (or at its end)."""

    cpu_s: float
    rss: int
    """Resident bytes now (0 once it has ended)."""
    hwm: int
    """Peak resident bytes (the kernel's high-water mark)."""
    io: IoCounters | None
    """None where the counters cannot be read (see ``Meter.io_error``)."""


def parse_io(text: bytes) -> IoCounters | None:
    """``/proc/<pid>/io``'s text as counters (None if a field is missing)."""
    found: dict[bytes, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(b":")
        if value.strip().isdigit():
            found[key] = int(value)
    try:
        return IoCounters(
            found[b"rchar"], found[b"wchar"], found[b"read_bytes"], found[b"write_bytes"]
        )
    except KeyError:
        return None


def read_io(pid: int) -> IoCounters | None:
    """The I/O counters of process ``pid`` (a zombie's too), None where unreadable."""
    try:
        fd = os.open(f"/proc/{pid}/io", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return parse_io(os.read(fd, 4096))
    except OSError:
        return None
    finally:
        os.close(fd)


def _why_unreadable(pid: int, exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return (
            f"/proc/{pid}/io is not readable by this user ({exc.strerror}): the worker is "
            "non-dumpable once locked down, so its I/O counters are root's to read "
            "(CAP_SYS_PTRACE)"
        )
    return f"/proc/{pid}/io cannot be read: {exc.strerror or exc}"


class Meter:
    """The kernel's figures of one live worker, from ``/proc`` descriptors opened once.

    A descriptor names the process, not its pid: once the worker is reaped, a read fails
    (ESRCH) instead of returning another process's figures under a reused pid. Reads and
    ``close`` hold a lock, so a sampler never reads a descriptor number reused meanwhile.
    """

    __slots__ = ("_fds", "_lock", "io_error", "pid")

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._lock = threading.Lock()
        self.io_error: str | None = None
        """Why the I/O counters cannot be read (None while they can)."""
        self._fds: dict[str, int] = {}
        for name in ("stat", "status", "io"):
            try:
                self._fds[name] = os.open(f"/proc/{pid}/{name}", os.O_RDONLY | os.O_CLOEXEC)
            except OSError as exc:
                if name == "io":
                    self.io_error = _why_unreadable(pid, exc)

    def read(self) -> Reading | None:
        """The worker's figures now; None once it is gone (or the meter closed)."""
        with self._lock:
            stat, status = self._fds.get("stat"), self._fds.get("status")
            if stat is None or status is None:
                return None
            try:
                stat_text = os.pread(stat, 1024, 0)
                status_text = os.pread(status, 4096, 0)
            except OSError:
                return None
            io = None
            io_fd = self._fds.get("io")
            if io_fd is not None:
                try:
                    io = parse_io(os.pread(io_fd, 4096, 0))
                except OSError as exc:
                    if exc.errno == errno.ESRCH:
                        return None
                    self.io_error = _why_unreadable(self.pid, exc)
                    os.close(self._fds.pop("io"))
        fields = stat_text[stat_text.rfind(b")") + 2 :].split()
        if len(fields) < 13:
            return None
        cpu_s = (int(fields[11]) + int(fields[12])) * _TICK_S
        rss = hwm = 0
        for line in status_text.splitlines():
            if line.startswith(b"VmRSS:"):
                rss = int(line.split()[1]) << 10
            elif line.startswith(b"VmHWM:"):
                hwm = int(line.split()[1]) << 10
        return Reading(cpu_s, rss, max(hwm, rss), io)

    def close(self) -> None:
        with self._lock:
            fds, self._fds = self._fds, {}
        for fd in fds.values():
            os.close(fd)


class Measured(NamedTuple):
    """What one worker contributes: its reading and its wire's bytes (host → worker,
    worker → host), which its I/O counters include and the figures leave out."""

    reading: Reading
    wire_in: int
    wire_out: int


class _Totals:
    """The figures of workers that ended (retired), kept for the plugin's totals."""

    __slots__ = ("blk_read", "blk_write", "cpu_s", "fs_read", "fs_write", "io_error", "peak")

    def __init__(self) -> None:
        self.cpu_s = 0.0
        self.fs_read = self.fs_write = self.blk_read = self.blk_write = 0
        self.peak = 0
        self.io_error: str | None = None

    def add(self, part: Measured, io_error: str | None) -> None:
        reading = part.reading
        self.cpu_s += reading.cpu_s
        self.peak = max(self.peak, reading.hwm)
        io = reading.io
        if io is None:
            self.io_error = self.io_error or io_error or "a worker's I/O counters were not read"
            return
        self.fs_read += max(0, io.rchar - part.wire_in)
        self.fs_write += max(0, io.wchar - part.wire_out)
        self.blk_read += io.read_bytes
        self.blk_write += io.write_bytes


class PluginUsage:
    """The resource figures of one plugin's workers, across worker restarts.

    ``measure`` returns what each worker in the plugin's slots contributes now (a live
    worker's reading, or an ended one's final figures) with the reason its I/O counters
    are unreadable, if they are; ``retire`` folds an ended worker into the totals (call
    it under ``lock``, with the worker taken out of its slot in the same step).
    """

    def __init__(
        self,
        measure: Callable[[], Sequence[tuple[Measured, str | None]]],
        files: DataFiles | None,
        outbound: Outbound,
        sample_s: float,
    ) -> None:
        self.lock = threading.RLock()
        self._measure = measure
        self._files = files
        self._outbound = outbound
        self.sample_s = sample_s
        self._retired = _Totals()
        self._samples = 0
        self._memory_sum = 0.0
        self._memory_peak = 0
        self._cpu_at: tuple[float, float] | None = None  # (monotonic time, CPU seconds)
        self._rate_now: float | None = None
        self._rate_peak: float | None = None

    def retire(self, part: Measured, io_error: str | None) -> None:
        """Fold the final figures of a worker that ended into the plugin's totals."""
        with self.lock:
            self._retired.add(part, io_error)

    def sample(self, now: float | None = None) -> None:
        """Take one sample: the CPU rate since the previous one, memory for the average
        and the peak of all workers together."""
        now = time.monotonic() if now is None else now
        with self.lock:
            parts = self._measure()
            cpu = self._retired.cpu_s + sum(p.reading.cpu_s for p, _ in parts)
            memory = sum(p.reading.rss for p, _ in parts)
            if memory:  # the average is of the time a worker ran
                self._samples += 1
                self._memory_sum += memory
                self._memory_peak = max(self._memory_peak, memory)
            if self._cpu_at is not None and now > self._cpu_at[0]:
                rate = max(0.0, cpu - self._cpu_at[1]) / (now - self._cpu_at[0])
                self._rate_now = rate
                self._rate_peak = rate if self._rate_peak is None else max(self._rate_peak, rate)
            self._cpu_at = (now, cpu)

    def resources(self) -> Resources:
        """The spec's ``resources`` of the plugin, measured now (``ResourceSheet``)."""
        with self.lock:
            parts = self._measure()
            retired = self._retired
            sheet = ResourceSheet()
            self._cpu(sheet, retired.cpu_s + sum(p.reading.cpu_s for p, _ in parts))
            self._memory(sheet, parts, retired.peak)
            self._disk(sheet, parts, retired)
        self._network(sheet)
        return sheet.to_dict()

    def _cpu(self, sheet: ResourceSheet, total_s: float) -> None:
        sheet.measured(
            "cpuUsage.total",
            total_s * 1000.0,
            "/proc/<pid>/stat utime+stime of each worker (every thread, 10 ms ticks); an "
            "ended worker's from wait4 (its parent's rusage); summed over restarts",
        )
        every = f"sampled every {self.sample_s:g} s"
        if self._rate_now is None or self._rate_peak is None:
            why = f"a rate needs two samples ({every}); none is complete yet"
            sheet.not_measured("cpuUsage.current", why)
            sheet.not_measured("cpuUsage.peak", why)
            return
        source = f"CPU time of the workers over the last interval ({every}), of one CPU"
        sheet.measured("cpuUsage.current", self._rate_now * 100.0, source)
        sheet.measured(
            "cpuUsage.peak",
            self._rate_peak * 100.0,
            f"highest of those rates since the plugin loaded ({every})",
        )

    def _memory(
        self, sheet: ResourceSheet, parts: Sequence[tuple[Measured, str | None]], retired: int
    ) -> None:
        current = sum(p.reading.rss for p, _ in parts)
        running = sum(1 for p, _ in parts if p.reading.rss)
        sheet.measured(
            "memoryUsage.current",
            current / _MIB,
            "/proc/<pid>/status VmRSS, summed over the running workers"
            if running
            else "no worker running: none holds memory",
        )
        peak = max([retired, self._memory_peak, *(p.reading.hwm for p, _ in parts)])
        sheet.measured(
            "memoryUsage.peak",
            peak / _MIB,
            "the kernel's high-water mark of each worker (/proc/<pid>/status VmHWM; a "
            "forked worker's ru_maxrss at its end), and of all workers together as sampled",
        )
        if self._samples:
            sheet.measured(
                "memoryUsage.average",
                self._memory_sum / self._samples / _MIB,
                f"mean of VmRSS samples (every {self.sample_s:g} s) while a worker ran: "
                f"{self._samples} sample{'s' if self._samples != 1 else ''}",
            )
        else:
            sheet.not_measured(
                "memoryUsage.average",
                f"no sample taken while a worker ran yet (every {self.sample_s:g} s)",
            )

    def _disk(
        self, sheet: ResourceSheet, parts: Sequence[tuple[Measured, str | None]], retired: _Totals
    ) -> None:
        unreadable = retired.io_error
        fs_read, fs_write = retired.fs_read, retired.fs_write
        blk_read, blk_write = retired.blk_read, retired.blk_write
        for part, io_error in parts:
            io = part.reading.io
            if io is None:
                unreadable = unreadable or io_error or "a worker's I/O counters were not read"
                continue
            fs_read += max(0, io.rchar - part.wire_in)
            fs_write += max(0, io.wchar - part.wire_out)
            blk_read += io.read_bytes
            blk_write += io.write_bytes
        if unreadable is not None:
            for name in ("read", "write", "blockRead", "blockWrite"):
                sheet.not_measured(f"diskIO.{name}", unreadable)
            return
        files_read, files_written = self._files.moved() if self._files is not None else (0, 0)
        through = (
            "bytes the workers' read/write system calls moved (/proc/<pid>/io {}) less "
            "their wire to the host, plus what the host's api.files {} for the plugin"
        )
        sheet.measured("diskIO.read", fs_read + files_read, through.format("rchar", "read"))
        sheet.measured("diskIO.write", fs_write + files_written, through.format("wchar", "wrote"))
        sheet.measured(
            "diskIO.blockRead",
            blk_read,
            "block I/O: bytes the workers made the storage layer fetch (/proc/<pid>/io "
            "read_bytes; a read the page cache served counts 0)",
        )
        sheet.measured(
            "diskIO.blockWrite",
            blk_write,
            "block I/O: page-cache bytes the workers dirtied for the storage layer "
            "(/proc/<pid>/io write_bytes)",
        )

    def _network(self, sheet: ResourceSheet) -> None:
        sent, received, requests = self._outbound.moved()
        where = "the host's fetch capability (api.http) for this plugin: "
        sheet.measured(
            "networkIO.bytesIn", received, where + "response bodies received (headers not counted)"
        )
        sheet.measured(
            "networkIO.bytesOut", sent, where + "request bodies sent (headers not counted)"
        )
        sheet.measured(
            "networkIO.requests", requests, where + "HTTP requests sent, redirects included"
        )


class Sampler:
    """One thread per process runtime sampling its plugins' usage every ``interval_s``.

    Started with the first plugin it watches, ended by ``close`` (or once it watches none);
    a process forked from the host has no sampler thread, and starts its own when it
    watches a plugin.
    """

    def __init__(self, interval_s: float) -> None:
        if interval_s <= 0:
            raise ValueError(f"SandboxPolicy.usage_sample_s must be positive, got {interval_s}")
        self.interval_s = interval_s
        self._watched: weakref.WeakSet[PluginUsage] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._owner = 0

    def watch(self, usage: PluginUsage) -> None:
        """Sample ``usage`` now, then every interval until ``forget`` or ``close``."""
        usage.sample()
        with self._lock:
            self._watched.add(usage)
            if self._stop.is_set():
                return
            alive = self._thread is not None and self._thread.is_alive()
            if not alive or self._owner != os.getpid():
                self._owner = os.getpid()
                self._thread = threading.Thread(
                    target=self._run, name="pliers-usage-sampler", daemon=True
                )
                self._thread.start()

    def forget(self, usage: PluginUsage) -> None:
        with self._lock:
            self._watched.discard(usage)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            with self._lock:
                watched = list(self._watched)
                if not watched:  # nothing left (a runtime never closed): the next watch
                    self._thread = None  # starts another
                    return
            now = time.monotonic()
            for usage in watched:
                try:
                    usage.sample(now)
                except Exception:  # a plugin stopping meanwhile: its next sample says
                    continue

    def close(self) -> None:
        """Stop sampling (the thread ends within one read of every plugin)."""
        self._stop.set()
        with self._lock:
            thread, self._thread = self._thread, None
            self._watched = weakref.WeakSet()
        if thread is not None and thread is not threading.current_thread():
            thread.join(5.0)
