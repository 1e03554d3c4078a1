"""cgroups: memory and process-count limits per worker, applied by the supervisor.

Layouts are detected at run time: cgroup v1 (one hierarchy per controller under
``/sys/fs/cgroup/<controller>``, as on this kind of machine) or v2 (one unified tree with
``memory``/``pids`` in ``cgroup.controllers``). Worker groups are created *under the
supervisor's own group* (``<own>/pliers_lab/<owner>/<worker>``), so whatever limits the
host's own group has still apply to the workers on top of ours.

Several engines share one machine (two notebooks, ``pliers dev``, CI jobs), so every group
belongs to one owner folder named after the runtime that made it: its pid namespace, pid
and the pid's start time (a reused pid has another). ``sweep_stale`` removes an owner's
folder, killing what is left in it, only when that owner is provably dead: same pid
namespace, and the pid is gone or started at another time. Another engine's groups, empty
or not, are never touched.

Why this layer as well as RLIMIT_AS: the address-space limit counts reservations, not
memory used, and NPROC is ignored for uid 0; the memory controller OOM-kills a worker at
its real usage and counts it (``oom_kill``), and ``pids.max`` caps threads for root too.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
from pathlib import Path

__all__ = ["GroupOwner", "WorkerGroup", "detect", "layout", "sweep_stale"]

ROOT = Path("/sys/fs/cgroup")
_layout_cache: tuple[str, dict[str, Path]] | None = None


def _own_paths() -> dict[str, str]:
    paths: dict[str, str] = {}
    try:
        text = Path("/proc/self/cgroup").read_text()
    except OSError:
        return paths
    for line in text.splitlines():
        _hid, controllers, path = line.split(":", 2)
        for c in controllers.split(",") if controllers else [""]:
            paths[c] = path
    return paths


def _writable_dir(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK) and (path / "cgroup.procs").exists()


def layout() -> tuple[str, dict[str, Path]]:
    """``("v1"|"v2"|"", {controller: base folder for our worker groups})`` (cached)."""
    global _layout_cache
    if _layout_cache is not None:
        return _layout_cache
    own = _own_paths()
    found: tuple[str, dict[str, Path]] = ("", {})
    v1 = {}
    for controller in ("memory", "pids", "cpu"):
        base = ROOT / controller / own.get(controller, "/").lstrip("/")
        if _writable_dir(base):
            v1[controller] = base / "pliers_lab"
    if "memory" in v1 and "pids" in v1:
        found = ("v1", v1)
    elif (ROOT / "cgroup.controllers").exists():
        base = ROOT / own.get("", "/").lstrip("/")
        controllers = (ROOT / "cgroup.controllers").read_text().split()
        if {"memory", "pids"} <= set(controllers) and _writable_dir(base):
            found = ("v2", {"memory": base / "pliers_lab"})
    _layout_cache = found
    return found


def detect() -> tuple[bool, str]:
    """Available when memory and pids controllers are mounted and writable for us."""
    kind, bases = layout()
    if not kind:
        return False, "no writable memory+pids cgroup controllers (v1 or v2) for this process"
    return True, f"cgroup {kind} at {bases['memory'].parent}"


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (``/proc/<pid>/stat`` field 22),
    None when there is no such process: with the pid, it names one process for good."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rfind(b")") + 2 :].split()
    return fields[19].decode() if len(fields) > 19 else None


def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "0"


_OWNER_PREFIX = "engine-"
_owner_seq = itertools.count(1)


def owner_alive(name: str) -> bool:
    """Whether the runtime that named an owner folder ``name`` may still be running.

    True unless provably dead: a folder from another pid namespace (its pids mean nothing
    here) or a name we cannot read counts as alive, and is left alone.
    """
    parts = name.split("-")
    if name.startswith(_OWNER_PREFIX) and len(parts) == 5:
        _prefix, pidns, pid, start, _seq = parts
        if pidns != _pid_namespace() or not pid.isdigit():
            return True
        return _start_time(int(pid)) == start
    # A worker group of the layout before owner folders: ``<plugin>-<pid>-<seq>``.
    if len(parts) >= 3 and parts[-2].isdigit() and parts[-1].isdigit():
        return _start_time(int(parts[-2])) is not None
    return True


class GroupOwner:
    """The folder (in each controller) holding one runtime's worker groups.

    Created with the first worker group and removed by ``release`` when the runtime
    closes; if the process dies first, another engine's ``sweep_stale`` removes it.
    """

    def __init__(self) -> None:
        pid = os.getpid()
        self.name = f"{_OWNER_PREFIX}{_pid_namespace()}-{pid}-{_start_time(pid)}-{next(_owner_seq)}"

    def folders(self) -> list[Path]:
        _kind, bases = layout()
        return [base / self.name for base in dict.fromkeys(bases.values())]

    def release(self) -> None:
        """Remove the owner folders (only succeeds once every worker group is gone)."""
        for folder in self.folders():
            with contextlib.suppress(OSError):
                folder.rmdir()


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


class WorkerGroup:
    """The cgroups of one worker process: created, limited, joined, measured, removed."""

    def __init__(self, name: str, memory_bytes: int, max_tasks: int, owner: GroupOwner) -> None:
        self.kind, bases = layout()
        if not self.kind:
            raise OSError(95, "cgroups are not available")
        self.dirs: dict[str, Path] = {}
        for controller, base in bases.items():
            parent = base / owner.name
            for folder in (base, parent):
                if not folder.exists():
                    folder.mkdir(exist_ok=True)
                    if self.kind == "v2":  # children get the controllers only if enabled
                        with contextlib.suppress(OSError):
                            _write(folder / "cgroup.subtree_control", "+memory +pids +cpu")
            path = parent / name
            path.mkdir(exist_ok=True)
            self.dirs[controller] = path
        self.memory_bytes = 0
        self.max_tasks = 0
        self.pid = 0
        self.limit(memory_bytes, max_tasks)

    def limit(self, memory_bytes: int, max_tasks: int) -> None:
        """Set the memory and task limits (a few writes; nothing when they are set)."""
        if (memory_bytes, max_tasks) == (self.memory_bytes, self.max_tasks):
            return
        mem = self.dirs["memory"]
        if self.kind == "v1":
            _write(mem / "memory.limit_in_bytes", str(memory_bytes))
            with contextlib.suppress(OSError):  # absent without swap accounting
                _write(mem / "memory.memsw.limit_in_bytes", str(memory_bytes))
            _write(self.dirs["pids"] / "pids.max", str(max_tasks))
        else:
            _write(mem / "memory.max", str(memory_bytes))
            with contextlib.suppress(OSError):
                _write(mem / "memory.swap.max", "0")
            _write(mem / "pids.max", str(max_tasks))
        self.memory_bytes, self.max_tasks = memory_bytes, max_tasks

    def applied(self) -> dict[str, int | float | None]:
        """The limits the kernel holds for this group, read back from its files:
        ``memory`` (bytes), ``pids`` and ``cpu_quota`` (a fraction of one CPU while
        throttled), each None where no limit is set (or the file is missing)."""
        mem = self.dirs["memory"]
        v1 = self.kind == "v1"
        memory = _read(mem / ("memory.limit_in_bytes" if v1 else "memory.max")).strip()
        pids = _read(self.dirs.get("pids", mem) / "pids.max").strip()
        quota: float | None = None
        if v1 and "cpu" in self.dirs:
            cpu = self.dirs["cpu"]
            value = _read(cpu / "cpu.cfs_quota_us").strip()
            period = _read(cpu / "cpu.cfs_period_us").strip()
            if value.isdigit() and period.isdigit() and int(period):
                quota = int(value) / int(period)
        elif not v1:
            value, _, period = _read(mem / "cpu.max").strip().partition(" ")
            if value.isdigit() and period.isdigit() and int(period):
                quota = int(value) / int(period)
        # v1 writes "no limit" as the largest page-aligned number, v2 as "max".
        unlimited = memory.isdigit() and int(memory) >= 1 << 62
        return {
            "memory": int(memory) if memory.isdigit() and not unlimited else None,
            "pids": int(pids) if pids.isdigit() else None,
            "cpu_quota": quota,
        }

    def describe(self) -> str:
        return f"cgroup {self.kind}: memory {self.memory_bytes >> 20}MB, pids {self.max_tasks}"

    def add(self, pid: int) -> None:
        """Move ``pid`` into the memory and pids groups (before it runs plugin code).

        Not the cpu group: group scheduling adds ~10 us to every wake-up of the worker
        (measured), so a worker joins its cpu group only when it is throttled.
        """
        self.pid = pid
        for controller, path in self.dirs.items():
            if controller != "cpu" or self.kind == "v2":
                _write(path / "cgroup.procs", str(pid))

    def peak_memory(self) -> int:
        """Peak memory use of the group in bytes (0 when the kernel does not say)."""
        mem = self.dirs["memory"]
        name = "memory.max_usage_in_bytes" if self.kind == "v1" else "memory.peak"
        value = _read(mem / name).strip()
        return int(value) if value.isdigit() else 0

    def oom_kills(self) -> int:
        """How many processes the OOM killer took from this group."""
        mem = self.dirs["memory"]
        text = _read(mem / ("memory.oom_control" if self.kind == "v1" else "memory.events"))
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def task_limit_hits(self) -> int:
        """How many fork/clone attempts the pids limit refused."""
        path = self.dirs.get("pids", self.dirs["memory"]) / "pids.events"
        for line in _read(path).splitlines():
            key, _, value = line.partition(" ")
            if key == "max":
                return int(value)
        return 0

    def throttle(self, cpu_fraction: float | None) -> bool:
        """Cap CPU at ``cpu_fraction`` of one core (None lifts it); False if impossible."""
        period = 100_000
        try:
            if self.kind == "v1":
                cpu = self.dirs.get("cpu")
                if cpu is None:
                    return False
                _write(cpu / "cpu.cfs_period_us", str(period))
                quota = -1 if cpu_fraction is None else max(1000, int(period * cpu_fraction))
                _write(cpu / "cpu.cfs_quota_us", str(quota))
                if cpu_fraction is not None and self.pid:
                    _write(cpu / "cgroup.procs", str(self.pid))
            else:
                value = (
                    "max" if cpu_fraction is None else str(max(1000, int(period * cpu_fraction)))
                )
                _write(self.dirs["memory"] / "cpu.max", f"{value} {period}")
        except OSError:
            return False
        return True

    def pids(self) -> list[int]:
        out = []
        for path in dict.fromkeys(self.dirs.values()):
            out += [int(p) for p in _read(path / "cgroup.procs").split() if p.isdigit()]
        return sorted(set(out))

    def kill_all(self) -> None:
        """SIGKILL every process left in the group."""
        if self.kind == "v2":
            with contextlib.suppress(OSError):
                _write(self.dirs["memory"] / "cgroup.kill", "1")
                return
        for pid in self.pids():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    def remove(self) -> None:
        """Remove the group folders (killing stragglers first); best effort."""
        for path in dict.fromkeys(self.dirs.values()):
            for _attempt in range(50):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    self.kill_all()
                    time.sleep(0.005)


def _remove_group(path: Path) -> bool:
    """Kill what is left in one group of a dead owner and remove the folder."""
    for _attempt in range(50):
        try:
            path.rmdir()
            return True
        except FileNotFoundError:
            return False
        except OSError:
            for pid in _read(path / "cgroup.procs").split():
                with contextlib.suppress(OSError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            time.sleep(0.005)
    return False


def sweep_stale() -> int:
    """Remove the groups of runtimes that died without closing; how many were removed.

    Only owners proven dead (``owner_alive``) are touched: their leftover workers are
    killed first (they have no supervisor), then their folders removed.
    """
    _kind, bases = layout()
    removed = 0
    for base in dict.fromkeys(bases.values()):
        try:
            entries = [entry for entry in base.iterdir() if entry.is_dir()]
        except OSError:
            continue
        for entry in entries:
            if owner_alive(entry.name):
                continue
            if entry.name.startswith(_OWNER_PREFIX):
                with contextlib.suppress(OSError):
                    for child in [c for c in entry.iterdir() if c.is_dir()]:
                        removed += _remove_group(child)
            removed += _remove_group(entry)
    return removed
