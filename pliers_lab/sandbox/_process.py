"""One worker process and the wire to it: spawn, handshake, one exchange, kill, reap.

A worker's process is a child of the runtime's warm template when it has one up
(``_template_host``; the template reaps it and reports its end) or an interpreter the
host spawns itself (the engine's first worker, ``SandboxPolicy.warm_template=False``, or
a template that cannot start). Either way it runs the same ``worker.main``.

Everything here assumes the worker is hostile: every wait has a deadline, every frame is
checked (``wire.Channel``), and anything unexpected ends in ``Failure`` carrying an error
type and a message; the supervisor decides what follows (restart, quarantine, disable).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import PluginErrorType
from ._plugin_limits import carve
from ._seccomp_notify import Watch, listener_service
from ._template_host import BOOT, FLAGS, Child, Exit, Template, TemplateError
from ._usage import IoCounters, Measured, Meter, Reading, read_io
from .layers.cgroup import GroupOwner, WorkerGroup
from .policy import Grants, Limits, interpreter_paths, worker_sys_path
from .procinfo import STALL_SAMPLE_MAX_AGE_S, StatReader, cpu_stall_ms, recent_cpu_stall
from .wire import (
    DEFAULT_SPIN_S,
    DEFAULT_WORKER_SPIN_S,
    ORJSON_MARK,
    PROTOCOL_VERSION,
    Channel,
    WireClosed,
    WireError,
    encode,
)

__all__ = ["BOOT", "Failure", "Worker", "WorkerSpec", "base_environment"]

_SPAWN_TIMEOUT_S = 20.0
_CPU_FIRST_CHECK_S = 0.05
_CPU_CHECK_EVERY_S = 0.1
_seq = iter(range(1, 1 << 62))
_NONE: list[str] = []
T = PluginErrorType


class Failure(Exception):
    """A call or a start that went wrong, classified.

    ``crashed``: the worker died without being asked to; ``violation``: the plugin broke
    the sandbox's rules (protocol, security); the worker is gone in every case but a plain
    handler error (which is not a Failure at all).
    """

    def __init__(
        self,
        kind: PluginErrorType,
        message: str,
        *,
        crashed: bool = False,
        violation: bool = False,
        detail: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.crashed = crashed
        self.violation = violation
        self.detail = detail or {}


@dataclass
class WorkerSpec:
    """Everything needed to start one plugin's worker."""

    plugin: str
    version: str
    main: str
    root: str | None
    handlers: dict[str, str | None]
    grants: Grants
    limits: Limits
    layers: tuple[str, ...]
    accept_missing: frozenset[str]
    cgroup_owner: GroupOwner | None
    """The runtime's folder for worker cgroups; None where cgroups are not used."""
    inherit_stderr: bool = False
    command: list[str] | None = None
    """Tests: start this instead of the real worker (a fake speaking a broken protocol)."""
    extra_read: tuple[str, ...] = field(default_factory=tuple)
    host_spin_s: float = DEFAULT_SPIN_S
    worker_spin_s: float = DEFAULT_WORKER_SPIN_S
    template: Callable[[], Template | None] | None = None
    """The runtime's warm template (``_template``), started on first use; None (or a
    provider answering None) spawns the worker's interpreter directly."""
    data_fs: str | None = None
    """Where the worker finds its plugin's data file system to mount on the data folder
    (``layers.datafs``); None: the folder itself, measured by the host."""
    blocked_files: tuple[str, ...] = ()
    """Files and folders of the blocked modules (``_plugin_limits.module_files``): left out of
    the read rules, and refused (recorded) by the host's path check."""

    def init_frame(self, config: dict[str, Any]) -> dict[str, Any]:
        g, lim = self.grants, self.limits
        read = [*interpreter_paths(), *g.read_paths, *self.extra_read]
        if self.root:
            read.append(self.root)
        if self.blocked_files:  # folders on the way to them are listed only ("dir/")
            rules, listed = carve(read, self.blocked_files)
            read = [*rules, *(f"{d.rstrip('/')}/" for d in listed)]
        write = list(g.write_paths)
        if g.data_dir is not None:
            (read if g.data_access == "read" else write).append(str(g.data_dir))
        return {
            "t": "init",
            "v": PROTOCOL_VERSION,
            "plugin": {
                "name": self.plugin,
                "version": self.version,
                "main": self.main,
                "root": self.root,
                "data_dir": str(g.data_dir) if g.data_dir else None,
            },
            "handlers": self.handlers,
            "sys_path": list(worker_sys_path()),
            "read": read,
            "write": write,
            "layers": list(self.layers),
            "accept_missing": sorted(self.accept_missing),
            "rlimits": {
                "as": (lim.memory_mb + lim.address_space_headroom_mb) << 20,
                "cpu": lim.cpu_lifetime_s,
                "fsize": lim.disk_mb << 20,
                "nofile": lim.max_open_files,
                "core": 0,
                "memlock": 0,
                "msgqueue": 0,
            },
            "max_output": lim.max_output_bytes,
            **(
                {"datafs": {"source": self.data_fs, "target": str(g.data_dir)}}
                if self.data_fs and g.data_dir is not None
                else {}
            ),
            "spin_s": self.worker_spin_s,
            "config": config,
        }


def _load_grace(
    stall_base: float | None, elapsed_s: float, timeout_s: float, granted_s: float
) -> float:
    """Seconds to add to a call's deadline for the machine's load, 0 for none.

    While the call ran, the kernel counted how long runnable tasks waited for a CPU
    (``cpu_stall_ms``). When that is at least a quarter of the call's wall clock, the
    worker may have been one of them: the deadline moves by the stall not yet granted,
    up to one more timeout in all, so a plugin that really hangs is still stopped, at
    twice its limit at the latest. Where the kernel does not report pressure: none.
    """
    if stall_base is None or granted_s >= timeout_s:
        return 0.0
    stall = cpu_stall_ms()
    if stall is None:
        return 0.0
    stalled_s = (stall - stall_base) / 1000.0
    if stalled_s < elapsed_s / 4:
        return 0.0
    return max(0.0, min(stalled_s - granted_s, timeout_s - granted_s))


def _timed_out(
    elapsed_s: float, timeout_s: float, cpu_ms: float | None, grace_s: float = 0.0
) -> dict[str, Any]:
    """The limit record of a call killed at its wall-clock limit. The CPU the worker used
    in the call says whether it computed or waited (for I/O, the host, a loaded machine):
    a timeout is never reported as the CPU limit."""
    if grace_s:
        cpu_ms_note = f"; {grace_s * 1000:.0f} ms were added for the machine's CPU load"
    else:
        cpu_ms_note = ""
    if cpu_ms is None:
        spent = "its CPU time in the call was not measured"
    else:
        spent = (
            f"it used {cpu_ms:.0f} ms of CPU in the call; the rest of the wall clock it "
            "waited (for I/O, the host or a loaded machine)"
        )
    return {
        "limit": "executionTime",
        "value": round(elapsed_s * 1000, 1),
        "cap": round(timeout_s * 1000, 1),
        "unit": "ms",
        "action": "timed out",
        "detail": f"the worker was killed at the wall-clock limit; {spent}{cpu_ms_note}",
    }


def _environment(grants: Grants | None) -> dict[str, str]:
    # Never the host's environment: it holds the host's secrets (API keys, tokens). HOME,
    # TMPDIR and USER answer what the standard library would otherwise look up where the
    # worker may not (``expanduser`` and ``getpass.getuser`` ask the user database,
    # ``tempfile`` tries /tmp first): refusals the host would count against the plugin.
    writable = str(grants.data_dir) if grants and grants.data_access == "write" else None
    return {
        "HOME": writable or "/",
        "USER": "pliers-plugin",
        "LOGNAME": "pliers-plugin",
        **({"TMPDIR": writable} if writable else {}),
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "MALLOC_ARENA_MAX": "2",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def base_environment() -> dict[str, str]:
    """The environment of the warm template: a worker's, without a plugin's folders."""
    return _environment(None)


class Worker:
    """A running worker process (one per plugin at a time)."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.proc: subprocess.Popen[bytes] | None = None
        """The worker's process when the host spawned it (its parent: ``wait4`` reaps it)."""
        self.template: Template | None = None
        """The template that forked it (its parent: it reports the exit status)."""
        self.pidfd = -1
        """With a template: a pidfd for the worker, to signal it without racing a reused
        pid (the template, not the host, reaps it)."""
        self.pid = 0
        self.channel: Channel | None = None
        self.group: WorkerGroup | None = None
        self.layers: dict[str, str] = {}
        self.functions: dict[str, Any] = {}
        self.spawn_ms = 0.0
        self.marks: dict[str, float] = {}
        self.lockdown_ms = 0.0
        self.codec: str | None = None
        """The worker's fast JSON codec (``wire.fast_codec``), or None: the stdlib's."""
        self.killed_by_us: str | None = None
        self.exit: tuple[int, Any] | None = None
        self.last_attempt: str | None = None
        self._stat: StatReader | None = None
        self.meter: Meter | None = None
        """The kernel's figures of the live worker (``_usage``); closed once it is gone."""
        self.last: Reading | None = None
        """Its latest figures while it ran (peak memory kept as the highest seen)."""
        self.exit_io: IoCounters | None = None
        """A spawned worker's I/O counters, read from its zombie before the host reaped it
        (a forked one's come with the template's ``Exit``)."""
        self.io_error: str | None = None
        self._wire = (0, 0)  # bytes host → worker, worker → host, once the wire is closed
        self._seq = 0
        self.logs_in_call = 0
        """``log`` frames received during the call in flight (the flood limit's count)."""
        self.oom_before = 0
        self.watch: Watch | None = None
        """What the host's seccomp listener saw this worker refused (``notify``)."""

    @property
    def denials(self) -> list[str]:
        """Refusals the kernel reported to the host (empty where it cannot report)."""
        return self.watch.denials if self.watch is not None else _NONE

    @property
    def host_sees_refusals(self) -> bool:
        """Whether refused calls reach the host (the worker's filter handed its listener)."""
        return self.watch is not None and self.watch.listening

    # ------------------------------------------------------------------ start
    def start(self, config: dict[str, Any]) -> None:
        """Spawn, handshake, lock down, import. Raises ``Failure`` (LOAD_ERROR or other)."""
        t0 = time.perf_counter()
        t_spawn = time.monotonic()
        spec = self.spec
        child = self._child()
        memory, tasks = spec.limits.memory_mb << 20, spec.limits.max_threads + 1
        spare_group = False
        if child is not None and child.group is not None:  # a spare, in its groups already
            try:
                child.group.limit(memory, tasks)
                self.group, child.group, spare_group = child.group, None, True
            except OSError:
                child.discard()  # its groups go with it; a fresh start instead
                child = None
        if self.group is None and spec.cgroup_owner is not None:
            # Before the spawn: mkdir in cgroupfs takes ms.
            self.group = WorkerGroup(
                f"{spec.plugin}-{next(_seq)}", memory, tasks, spec.cgroup_owner
            )
        frame = spec.init_frame(config)
        to_worker, worker_in = os.pipe()  # worker_in is the worker's end (read)
        worker_out, from_worker = os.pipe()  # worker_out is the worker's end (write)
        # The seccomp filter's listener comes back over a socket (pipes carry no fds).
        handoff = socket.socketpair() if "seccomp" in spec.layers else None
        fds = (to_worker, from_worker, *(() if handoff is None else (handoff[1].fileno(),)))
        try:
            self._launch(child, fds, handoff is not None)
        except BaseException:
            os.close(worker_in)
            os.close(worker_out)
            if handoff is not None:
                handoff[0].close()
            if self.group is not None:
                self.group.remove()
            raise
        finally:
            os.close(to_worker)
            os.close(from_worker)
            if handoff is not None:
                handoff[1].close()
        if handoff is not None:
            self.watch = Watch.for_worker(self.pid, frame["read"], frame["write"])
            self.watch.blocked = spec.blocked_files
            listener_service().watch(handoff[0], self.watch)
        self.channel = Channel(worker_out, worker_in, spin_s=spec.host_spin_s)
        deadline = time.monotonic() + _SPAWN_TIMEOUT_S
        forked = self.template is not None
        placed = forked and spare_group  # (a spare that failed to become it was replaced)
        try:
            if forked:
                # A forked child is its worker already (no exec to come): its memory can
                # be opened and ``init`` sent at once. Unless it was placed in its cgroups
                # ahead (a spare), it locks down while we place it (a move can wait ms
                # for the kernel), then waits for ``go`` before it reads plugin code.
                frame["go"] = self.group is not None and not placed
                if self.watch is not None:
                    self.watch.open_memory()
                self.channel.send(encode(frame), deadline)
            if placed:
                assert self.group is not None
                self.layers["cgroup"] = self.group.describe()
            elif self.group is not None:
                # It joins while it starts (a spawned worker runs no plugin code before
                # it gets ``init``, a forked one none before ``go``).
                self._join_group()
                if forked:
                    self.channel.send(encode({"t": "go"}), deadline)
            hello = self._expect("hello", deadline)
            if hello.get("v") != PROTOCOL_VERSION:
                raise Failure(
                    T.LOAD_ERROR,
                    f"protocol version mismatch: the worker speaks "
                    f"{hello.get('v')!r}, this host speaks {PROTOCOL_VERSION}",
                    violation=True,
                )
            if not forked:
                if self.watch is not None:
                    self.watch.open_memory()  # before the lockdown makes it root's alone
                self.channel.send(encode(frame), deadline)
            ready = self._expect("ready", deadline)
        except Failure:
            self.kill()
            raise
        except (WireClosed, WireError, OSError, TimeoutError) as exc:
            self.kill()
            raise self.classify_death(f"while starting: {exc}") from None
        if not ready.get("ok"):
            self.kill()
            failed = ready.get("failed") or {}
            if failed:
                names = ", ".join(f"{k} ({v})" for k, v in failed.items())
                raise Failure(
                    T.LOAD_ERROR,
                    f"isolation layer missing: {names}",
                    detail={"missing_layers": sorted(failed)},
                )
            err = ready.get("error") or {}
            raise Failure(
                PluginErrorType(err.get("type", "load_error")),
                str(err.get("message", "the plugin failed to load")),
                detail={"trace": err.get("trace", "")},
            )
        self.layers.update(ready.get("layers") or {})
        if self.watch is not None and "seccomp" in self.layers:
            self.watch.arrived.wait(1.0)  # sent before the plugin's first file was opened
            if not self.watch.listening:
                self.layers["seccomp"] += " (refusals NOT reported: no listener arrived)"
        self.functions = ready.get("functions") or {}
        self.lockdown_ms = float(ready.get("lockdown_ms") or 0)
        codec = ready.get("codec")
        self.codec = codec[:100] if isinstance(codec, str) else None
        self.marks = {
            k: (v - t_spawn) * 1000
            for k, v in (ready.get("marks") or {}).items()
            if isinstance(v, float)
        }
        self._stat = StatReader(self.pid)
        self.meter = Meter(self.pid)
        self.io_error = self.meter.io_error
        self.reading()
        if self.group is not None:
            self.oom_before = self.group.oom_kills()
        self.spawn_ms = (time.perf_counter() - t0) * 1000

    def _join_group(self) -> None:
        assert self.group is not None
        try:
            self.group.add(self.pid)
        except OSError as exc:
            raise Failure(T.LOAD_ERROR, f"cannot place the worker in its cgroup: {exc}") from None
        self.layers["cgroup"] = self.group.describe()

    def _child(self) -> Child | None:
        """A child of the runtime's warm template to become this worker, if it has one up
        (a spare placed in its cgroups ahead when there is one)."""
        spec = self.spec
        template = spec.template() if spec.template is not None and spec.command is None else None
        if template is None:
            return None
        try:
            return template.take(_SPAWN_TIMEOUT_S)
        except TemplateError:
            return None  # the runtime notices the template is gone and says why, once

    def _launch(self, child: Child | None, fds: tuple[int, ...], handoff: bool) -> None:
        """Start the worker's process on ``fds``: ``child`` of the warm template becomes
        it when there is one, else a fresh interpreter runs ``_boot.py``."""
        spec = self.spec
        env = _environment(spec.grants)
        if child is not None:
            try:
                child.become(list(fds), env, handoff=handoff, stderr=spec.inherit_stderr)
                self.pid, self.pidfd, self.template = child.pid, child.pidfd, child.template
                return
            except TemplateError:
                child.discard()
        command = spec.command or [sys.executable, *FLAGS, BOOT]
        self.proc = subprocess.Popen(
            [*command, *map(str, fds)],
            pass_fds=fds,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=None if spec.inherit_stderr else subprocess.DEVNULL,
            env=env,
            cwd="/",
            start_new_session=True,
        )
        self.pid = self.proc.pid

    def _expect(self, kind: str, deadline: float) -> dict[str, Any]:
        assert self.channel is not None
        msg = self.channel.recv(deadline)
        if msg is None:
            raise Failure(
                T.LOAD_ERROR, f"the worker sent no {kind!r} within {_SPAWN_TIMEOUT_S:.0f} s"
            )
        if msg["t"] == "attempt":
            self.last_attempt = str(msg.get("what"))[:300]
            return self._expect(kind, deadline)
        if msg["t"] != kind:
            raise Failure(
                T.SECURITY_ERROR,
                f"protocol violation: expected {kind!r}, got {msg['t']!r}",
                violation=True,
            )
        return msg

    # ------------------------------------------------------------------ calls
    @property
    def alive(self) -> bool:
        return self.channel is not None and self.exit is None

    def exchange(
        self,
        msg: dict[str, Any],
        timeout_s: float,
        cpu_limit_ms: float,
        on_frame: Callable[[dict[str, Any], Worker, Any], None],
        encoder: Any = None,
        call: Any = None,
    ) -> dict[str, Any]:
        """Send one call and return its ``done`` frame; other frames go to
        ``on_frame(frame, self, call)`` (``logs_in_call`` counts the ``log`` ones).

        Raises ``Failure``: TIMEOUT_ERROR at the wall-clock limit, RESOURCE_ERROR past the
        CPU limit, SECURITY_ERROR for protocol violations, and whatever the worker's death
        means (``classify_death``). In each case the worker has been killed.
        """
        channel = self.channel
        if channel is None:
            raise Failure(T.RUNTIME_ERROR, "the worker is not running", crashed=True)
        self._seq += 1
        call_id = msg["id"] = self._seq
        self.logs_in_call = 0
        start = time.monotonic()
        deadline = start + timeout_s
        check_at = start + _CPU_FIRST_CHECK_S
        cpu_base: float | None = None
        # The machine's CPU pressure from (at most 20 ms) before the call: load is not
        # the plugin's. Measured over [since, deadline].
        sample = recent_cpu_stall(STALL_SAMPLE_MAX_AGE_S, start)
        since, stall_base = sample if sample is not None else (start, None)
        grace_s = 0.0
        try:
            data = encode(msg, encoder=encoder, mark=ORJSON_MARK)
        except WireError as exc:  # host data over the cap: the worker is not at fault
            raise Failure(
                T.VALIDATION_ERROR, f"the call's data cannot cross to the worker: {exc}"
            ) from None
        try:
            channel.send(data, deadline)
        except (WireClosed, BrokenPipeError):
            # Died while idle: this call never reached it (the supervisor may retry it).
            failure = self.classify_death("before the call", when="between calls")
            failure.detail["undelivered"] = True
            raise failure from None
        try:
            while True:
                frame = channel.recv(min(deadline, check_at))
                if frame is None:
                    now = time.monotonic()
                    cpu = self._stat.cpu_ms() if self._stat else None
                    if now >= deadline:
                        more = _load_grace(stall_base, now - since, timeout_s, grace_s)
                        if more > 0:  # the machine's load took part of the wall clock
                            grace_s += more
                            deadline += more
                            check_at = min(check_at, deadline)
                            continue
                        used = cpu - cpu_base if cpu is not None and cpu_base is not None else None
                        self.kill("timeout")
                        raise Failure(
                            T.TIMEOUT_ERROR,
                            f"no answer within {timeout_s * 1000:.0f} ms"
                            + (
                                f" (+{grace_s * 1000:.0f} ms the machine's CPU load took)"
                                if grace_s
                                else ""
                            )
                            + "; the worker was killed (threads included)",
                            detail={
                                "limit_kill": _timed_out(now - start, timeout_s, used, grace_s)
                            },
                        )
                    if cpu is not None:
                        if cpu_base is None:
                            cpu_base = cpu
                        elif cpu - cpu_base > cpu_limit_ms:
                            self.kill("cpu")
                            raise Failure(
                                T.RESOURCE_ERROR,
                                f"CPU limit: used over "
                                f"{cpu_limit_ms:.0f} ms of CPU in one call; the worker "
                                "was killed",
                                detail={
                                    "limit_kill": {
                                        "limit": "cpu",
                                        "value": round(cpu - cpu_base, 1),
                                        "cap": cpu_limit_ms,
                                        "unit": "ms",
                                        "action": "killed",
                                        "detail": "CPU time the worker used in the "
                                        "call, read from /proc/<pid>/stat",
                                    }
                                },
                            )
                    check_at = now + _CPU_CHECK_EVERY_S
                    continue
                kind = frame["t"]
                if kind == "done":
                    if frame.get("id") != call_id:
                        raise WireError(
                            f"answer for call {frame.get('id')!r} while call {call_id} "
                            "was pending (answered twice?)"
                        )
                    # Frames read along with the answer (a forged second answer, say);
                    # anything later is caught at the next call, without a poll per call.
                    while channel._buf:  # buffered(), without a call per answer
                        extra = channel.recv(time.monotonic())
                        if extra is None:
                            break
                        if extra["t"] not in ("log", "attempt"):
                            raise WireError(
                                f"extra {extra['t']!r} frame after the answer (answered twice?)"
                            )
                        if extra["t"] == "log":
                            self.logs_in_call += 1
                        on_frame(extra, self, call)
                    return frame
                if kind == "attempt":
                    self.last_attempt = str(frame.get("what"))[:300]
                    continue
                if kind == "log":
                    self.logs_in_call += 1
                    on_frame(frame, self, call)
                    continue
                if kind == "api":
                    on_frame(frame, self, call)
                    continue
                raise WireError(f"unexpected frame type {kind!r} during a call")
        except WireError as exc:
            self.kill("protocol")
            raise Failure(
                T.SECURITY_ERROR,
                f"protocol violation: {exc}; the worker was killed",
                violation=True,
            ) from None
        except (WireClosed, OSError) as exc:
            raise self.classify_death(str(exc)) from None
        except TimeoutError:
            self.kill("timeout")
            raise Failure(
                T.TIMEOUT_ERROR,
                f"the worker stopped reading its wire; killed after {timeout_s * 1000:.0f} ms",
                detail={"limit_kill": _timed_out(time.monotonic() - start, timeout_s, None)},
            ) from None

    def reply(self, frame: dict[str, Any], encoder: Any = None) -> None:
        """Answer an ``api`` frame (the worker is waiting for it)."""
        assert self.channel is not None
        try:
            data = encode(frame, encoder=encoder, mark=ORJSON_MARK)
        except (TypeError, ValueError, WireError) as exc:
            data = encode(
                {
                    "t": "ret",
                    "id": frame.get("id"),
                    "ok": False,
                    "error": {
                        "type": "validation_error",
                        "message": f"the host's answer cannot cross: {exc}",
                    },
                }
            )
        self.channel.send(data, time.monotonic() + 5.0)

    # ------------------------------------------------------------------ death
    def classify_death(self, context: str, when: str = "mid-call") -> Failure:
        """Why did the worker die? Reap it and turn its end into a classified Failure."""
        status = self.reap(timeout=2.0)
        # What the worker said it was about to do: a hint for the message, never a verdict.
        attempted = f" (the worker reported: {self.last_attempt})" if self.last_attempt else ""
        if self.killed_by_us:
            return Failure(T.RUNTIME_ERROR, f"the worker was stopped ({self.killed_by_us})")
        if status is None:
            self.kill()
            return Failure(
                T.RUNTIME_ERROR, f"the worker stopped answering ({context}); killed", crashed=True
            )
        code = os.waitstatus_to_exitcode(status)
        if code < 0:
            sig = -code
            name = (
                signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
            )
            if sig == signal.SIGSYS:
                return Failure(
                    T.SECURITY_ERROR,
                    "forbidden system call: seccomp killed the worker"
                    f"{attempted or ' (exec, fork, ptrace, namespaces or similar)'}",
                    crashed=True,
                    violation=True,
                )
            if (
                sig == signal.SIGKILL
                and self.group is not None
                and self.group.oom_kills() > self.oom_before
            ):
                return Failure(
                    T.RESOURCE_ERROR,
                    f"memory limit: the worker used over "
                    f"{self.spec.limits.memory_mb} MB and the kernel's OOM killer "
                    "ended it",
                    crashed=True,
                    detail={"limit_kill": self._death_limit("memory")},
                )
            # RLIMIT_CPU is set soft = hard: the kernel sends SIGKILL at it (SIGXCPU only
            # below a higher hard limit); the CPU time its parent reports says which. That
            # figure comes out up to ~6 % under the kernel's own count (measured: 0.94 s
            # at a 1 s limit), so 90 % of the budget.
            lifetime_ms = self.spec.limits.cpu_lifetime_s * 1000
            if sig == signal.SIGXCPU or (
                sig == signal.SIGKILL and self.cpu_ms() >= lifetime_ms * 0.9
            ):
                return Failure(
                    T.RESOURCE_ERROR,
                    "CPU limit: the worker exhausted its lifetime CPU budget (RLIMIT_CPU)",
                    crashed=True,
                    detail={"limit_kill": self._death_limit("cpuLifetime")},
                )
            if sig == signal.SIGXFSZ:
                return Failure(
                    T.RESOURCE_ERROR,
                    "disk limit: file size limit exceeded",
                    crashed=True,
                    detail={"limit_kill": self._death_limit("disk")},
                )
            return Failure(
                T.RUNTIME_ERROR,
                f"the worker died {when} ({name}){attempted}",
                crashed=True,
            )
        return Failure(
            T.RUNTIME_ERROR,
            f"the worker exited {when} with status {code}{attempted}",
            crashed=True,
        )

    def _death_limit(self, limit: str) -> dict[str, Any]:
        """The limit record of a worker the kernel ended for ``limit`` (its figures are
        its last: the peak memory seen, its CPU time from its parent's report)."""
        lim = self.spec.limits
        if limit == "memory":
            peak, source = self.peak_memory_bytes(), "the peak resident memory the host saw"
            if self.group is not None:
                with contextlib.suppress(OSError, ValueError):
                    peak = self.group.peak_memory()
                    source = "its cgroup's peak memory (the kernel's, page cache included)"
            return {
                "limit": "memory",
                "value": peak or None,
                "cap": lim.memory_mb << 20,
                "unit": "bytes",
                "action": "killed",
                "detail": "by the kernel's OOM killer, in the worker's cgroup; the value "
                f"is {source}",
            }
        if limit == "cpuLifetime":
            return {
                "limit": "cpuLifetime",
                "value": round(self.cpu_ms(), 1),
                "cap": lim.cpu_lifetime_s * 1000,
                "unit": "ms",
                "action": "killed",
                "detail": "RLIMIT_CPU: the kernel ended the worker at its lifetime CPU "
                "budget; the value is its CPU time as its parent's wait4 reports it (the "
                "kernel's own check counts a little more)",
            }
        return {
            "limit": "disk",
            "value": lim.disk_mb << 20,
            "cap": lim.disk_mb << 20,
            "unit": "bytes",
            "action": "killed",
            "detail": "RLIMIT_FSIZE: SIGXFSZ when one file reached the cap",
        }

    def kill(self, reason: str | None = None) -> None:
        """SIGKILL the worker (and anything in its cgroup), reap it, close the wire."""
        if reason and not self.killed_by_us:
            self.killed_by_us = reason
        if self.pid and self.exit is None:
            self.reading()  # its last figures: memory is gone with it
            with contextlib.suppress(ProcessLookupError):
                self.signal(signal.SIGKILL)
            if self.group is not None:
                self.group.kill_all()
            self.reap(timeout=5.0)
        self._close()

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the worker (through its pidfd when the template forked it);
        raises ``ProcessLookupError`` when it is gone."""
        if self.exit is not None:
            raise ProcessLookupError(self.pid)
        if self.pidfd >= 0:
            try:
                signal.pidfd_send_signal(self.pidfd, sig)
            except ProcessLookupError:
                raise
            except OSError as exc:
                raise ProcessLookupError(self.pid) from exc
        elif self.pid:
            os.kill(self.pid, sig)

    def reap(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` for the worker to exit; its wait status or None."""
        if self.exit is not None:
            return int(self.exit[0])
        if self.template is not None:
            ended = self.template.wait_exit(self.pid, self.pidfd, timeout)
            if ended is None:
                return None
            self.exit = (ended.status, ended)
            self._close_pidfd()
            return ended.status
        if self.proc is None:
            return None
        end = time.monotonic() + timeout
        while True:
            try:
                # Exited, not yet reaped: its I/O counters are final and still readable.
                exited = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                self.exit = (0, None)
                return 0
            if exited is not None:
                self.exit_io = read_io(self.pid)
                _pid, status, usage = os.wait4(self.pid, 0)
                self.exit = (status, usage)
                self.proc.returncode = os.waitstatus_to_exitcode(status)
                return status
            if time.monotonic() >= end:
                return None
            time.sleep(0.001)

    def _close_pidfd(self) -> None:
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1

    def stop(self, grace_s: float) -> None:
        """Ask the worker to stop, kill it after ``grace_s`` (it may ignore SIGTERM)."""
        if self.alive and self.channel is not None:
            self.reading()  # its last figures before it goes
            with contextlib.suppress(Exception):
                self.channel.send(encode({"t": "stop"}), time.monotonic() + 0.2)
            if self.reap(timeout=grace_s) is None:
                self.kill("stopped")
        self.killed_by_us = self.killed_by_us or "stopped"
        self.kill()

    def _close(self) -> None:
        if self.watch is not None:
            listener_service().forget(self.watch)
        if self.channel is not None:
            self._wire = (self.channel.sent, self.channel.received)
            self.channel.close()
            self.channel = None
        if self._stat is not None:
            self._stat.close()
            self._stat = None
        if self.meter is not None:
            self.meter.close()
        if self.group is not None and (self.exit is not None or not self.pid):
            self.group.remove()

    # ------------------------------------------------------------------ usage
    def reading(self) -> Reading | None:
        """Its figures now while it runs (``last`` is updated), its final ones once it has
        ended (``_final``); None before it started."""
        if self.exit is not None:
            return self._final()
        meter = self.meter
        now = meter.read() if meter is not None else None
        if now is None:
            return self.last
        if meter is not None and meter.io_error:
            self.io_error = meter.io_error
        last = self.last
        if last is not None and last.hwm > now.hwm:
            now = now._replace(hwm=last.hwm)
        self.last = now
        return now

    def _final(self) -> Reading:
        """Its figures at its end: CPU and I/O from its parent's report (the ``wait4``
        usage; the counters read from its zombie), else the last ones seen; the peak is
        the highest seen, and a forked worker's ``ru_maxrss`` (its pages are the
        template's: not a spawned one's, which counts the host's pages before exec)."""
        last = self.last
        cpu_s = last.cpu_s if last is not None else 0.0
        hwm = last.hwm if last is not None else 0
        io = last.io if last is not None else None
        usage = self.exit[1] if self.exit is not None else None
        if isinstance(usage, Exit):
            cpu_s = max(cpu_s, usage.ru_utime + usage.ru_stime)
            hwm = max(hwm, usage.ru_maxrss << 10)
            if usage.io is not None:
                io = IoCounters(*usage.io)
        elif usage is not None:
            cpu_s = max(cpu_s, float(usage.ru_utime + usage.ru_stime))
            io = self.exit_io or io
        return Reading(cpu_s, 0, hwm, io)

    def measured(self) -> Measured | None:
        """What it contributes to its plugin's figures: its reading and the bytes of its
        wire (in its I/O counters, not its file system's); None before it started."""
        reading = self.reading()
        if reading is None:
            return None
        channel = self.channel
        wire = (channel.sent, channel.received) if channel is not None else self._wire
        return Measured(reading, wire[0], wire[1])

    def cpu_ms(self) -> float:
        """CPU time used so far (live) or in total (reaped)."""
        reading = self.reading()
        return reading.cpu_s * 1000.0 if reading is not None else 0.0

    def peak_memory_bytes(self) -> int:
        """Peak resident memory of the worker (``reading``'s), remembered after it is gone."""
        reading = self.reading()
        return reading.hwm if reading is not None else 0
