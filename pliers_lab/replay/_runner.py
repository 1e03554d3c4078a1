"""Replay on Dask: the log is read in byte blocks, each block replayed by its own engine.

Partitions are independent (each loads the plugins afresh), so Dask can run them on
threads, processes or a cluster. Each returns aggregates, not rows — counts and durations
per (plugin, hook, status), veto reasons, a bounded sample of errors — so a million
events never become a million Python objects in one place.

Where plugins run follows the engine's rule (issue 13 §1, ``pliers_lab.trust``): each
partition's engine sandboxes (``process``) every plugin that ``trust`` does not trust, in
a worker of the Dask worker; trusted plugins run where their manifest asks — inline, the
fast path, when it asks ``"isolation": "inline"``; one whose manifest asks nothing gets
the engine's default, its sandbox. Where a plugin cannot be loaded there — the sandbox's
layers are missing on that machine, say — the replay refuses it with ``ReplayError``,
naming the plugin and the reason, instead of replaying the log without it.

On a cluster (``scheduler=`` a ``distributed.Client`` or a scheduler's address) the
workers open the log and load the plugins themselves, at the paths the caller gave: both
must be there, at the same absolute paths (a shared filesystem, or the same copy on every
machine), and the workers need pliers_lab installed. The replay checks the paths on every
worker before it starts and names the workers that lack them.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import PliersError
from ..trust import TrustPolicy
from ._event_log import EventLogError, check_event, forms_of

if TYPE_CHECKING:  # distributed is imported only when a cluster is used
    from distributed import Client

__all__ = ["ReplayError", "ReplayReport", "replay", "replay_lines"]

#: Errors kept per partition in the report (the counts stay exact).
SAMPLE = 20

#: Seconds to reach a scheduler at an address (and for it to have a worker) before the
#: replay gives up with ``ReplayError``.
CONNECT_TIMEOUT = 5.0

Data = Callable[[dict[str, Any], dict[str, dict[str, Any]]], dict[str, Any]]


def _submission(event: dict[str, Any]) -> dict[str, Any]:
    p = event["payload"]
    return {
        "id": p.get("submissionId", event["aggregateId"]),
        "formId": p.get("formId"),
        "data": dict(p.get("data") or {}),
        "metadata": {},
        "status": p.get("status", "new"),
    }


def _form(event: dict[str, Any], forms: dict[str, dict[str, Any]]) -> dict[str, Any]:
    form_id = event["payload"].get("formId") or event["aggregateId"]
    return forms.get(form_id) or {
        "id": form_id,
        "name": form_id,
        "version": 1,
        "fields": [],
        "metadata": {},
    }


def _steps(
    event: dict[str, Any], forms: dict[str, dict[str, Any]]
) -> list[tuple[str, dict[str, Any]]]:
    """The hooks the platform fires for ``event``, with their data (first step's data;
    waterfall steps pass their output on)."""
    kind = event["type"]
    if kind == "submission.created":
        data = {"form": _form(event, forms), "submission": _submission(event)}
        hooks = ("submission.beforeValidate", "submission.sanitize", "submission.transform",
                 "submission.enrich", "submission.beforeSave", "submission.afterSave")  # fmt: skip
        return [(h, data) for h in hooks]
    if kind == "submission.status.changed":
        p = event["payload"]
        submission = {"id": event["aggregateId"], "formId": p.get("formId"), "data": {},
                      "metadata": {}, "status": p.get("to")}  # fmt: skip
        transition = {"from": p.get("from"), "to": p.get("to"), "by": p.get("changedBy")}
        data = {"form": _form(event, forms), "submission": submission, "transition": transition}
        return [("workflow.afterTransition", data)]
    hook = {"form.created": "form.afterCreate", "form.updated": "form.afterUpdate",
            "form.deleted": "form.afterDelete"}.get(kind)  # fmt: skip
    return [(hook, {"form": _form(event, forms)})] if hook else []


class ReplayError(PliersError):
    """Plugins the replay cannot load where it runs (named, with the reason)."""


#: (plugin folder, trust, thread) → (the replay it was loaded for, the engine).
_ENGINES: dict[tuple[str, TrustPolicy, int], tuple[str, Any]] = {}


def _engine(plugins: str, trust: TrustPolicy, run: str = "") -> Any:
    """One engine per worker process (or thread), plugin folder and trust policy, loaded
    once per replay (``run``): a partition then costs its events, not another start of
    every plugin. Another replay loads the folder again, closing the engine before it: a
    cluster's workers outlive a replay, and the plugins may have changed since."""
    import threading

    from ..engine import Engine

    key = (plugins, trust, threading.get_ident())
    cached = _ENGINES.get(key)
    if cached is not None and cached[0] == run:
        return cached[1]
    if cached is not None:
        del _ENGINES[key]
        cached[1].close()  # this thread's tasks run one at a time: no one is using it
    engine = Engine(default_isolation="process", trust=trust, max_observations=1000)
    engine.load_all(plugins)
    refused = {e.plugin_id or "?": e.message for e in engine.errors}
    if refused:
        engine.close()
        raise ReplayError(
            "cannot replay through "
            + "; ".join(f"plugin {name!r}: {why}" for name, why in sorted(refused.items()))
            + " (untrusted plugins are replayed in their sandbox; replay(..., "
            "trust=TrustPolicy(plugins={...})) replays trusted ones where they ask)"
        )
    _ENGINES[key] = (run, engine)
    return engine


def replay_lines(
    lines: Iterable[str],
    plugins: str,
    forms: dict[str, dict[str, Any]],
    strict: bool = False,
    trust: TrustPolicy | None = None,
    run: str = "",
) -> dict[str, Any]:
    """Replay some log lines through this worker's engine; aggregates (``ReplayReport``).

    ``trust`` is the host's ``TrustPolicy``: plugins it does not trust run sandboxed.
    ``run`` names the replay: the engine is loaded once per worker thread and run."""
    calls: Counter[tuple[str, str, str]] = Counter()
    durations: Counter[tuple[str, str]] = Counter()
    vetoes: Counter[tuple[str, str]] = Counter()
    by_type: Counter[str] = Counter()
    bad_lines: list[str] = []
    errors: list[tuple[str, str, str, str]] = []
    events = 0
    engine = _engine(plugins, trust or TrustPolicy(), run)
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            event = check_event(line, f"line {index + 1} of its block")
        except EventLogError as exc:
            if strict:
                raise
            bad_lines.append(str(exc))
            continue
        events += 1
        by_type[event["type"]] += 1
        current: Any = None
        user = event["payload"].get("submittedBy")
        for hook, first in _steps(event, forms):
            current = first if current is None else current
            result = engine.fire(hook, current, user_id=user)
            for o in result.outcomes:
                calls[(o.plugin_id, hook, o.status)] += 1
                durations[(o.plugin_id, hook)] += o.duration_ms
                if o.error is not None and len(errors) < SAMPLE:
                    errors.append((event["id"], o.plugin_id, hook, str(o.error)))
            if result.mode == "waterfall":
                current = result.value  # the next step sees what this one made
            elif result.mode == "veto" and not result.value.allowed:
                vetoes[(result.value.plugin or "?", result.value.reason or "")] += 1
                break  # a refused submission is not saved: no after-hooks
            elif result.mode == "validate" and not result.value["valid"]:
                first_error = result.value["errors"][0]
                vetoes[(first_error["plugin"], f"invalid: {first_error['message']}")] += 1
                break  # an invalid submission stops before it is sanitised
    return {"events": events, "calls": calls, "durations": durations, "vetoes": vetoes,
            "by_type": by_type, "bad_lines": bad_lines, "errors": errors}  # fmt: skip


@dataclass
class ReplayReport:
    """What the plugins did with the log: per (plugin, hook, status) call counts and time,
    why submissions were stopped (``vetoes``: (plugin, reason) → count, refusals and
    validation failures), event types, bad lines and a sample of errors."""

    events: int = 0
    seconds: float = 0.0
    partitions: int = 0
    scheduler: str = ""
    calls: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    durations: Counter[tuple[str, str]] = field(default_factory=Counter)
    vetoes: Counter[tuple[str, str]] = field(default_factory=Counter)
    by_type: Counter[str] = field(default_factory=Counter)
    bad_lines: list[str] = field(default_factory=list)
    errors: list[tuple[str, str, str, str]] = field(default_factory=list)

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def merge(self, part: dict[str, Any]) -> None:
        self.events += part["events"]
        for name in ("calls", "durations", "vetoes", "by_type"):
            getattr(self, name).update(part[name])
        self.bad_lines.extend(part["bad_lines"][: SAMPLE - len(self.bad_lines)])
        self.errors.extend(part["errors"][: SAMPLE - len(self.errors)])

    def frame(self) -> Any:
        """One row per (plugin, hook): calls by status and total/mean milliseconds."""
        from ..observe.frames import require_pandas

        pd = require_pandas()
        rows = [
            {"plugin_id": p, "hook": h, "status": s, "calls": n}
            for (p, h, s), n in self.calls.items()
        ]
        if not rows:
            return pd.DataFrame(columns=["plugin_id", "hook", "calls", "total_ms", "mean_ms"])
        table = pd.DataFrame(rows).pivot_table(
            index=["plugin_id", "hook"],
            columns="status",
            values="calls",
            aggfunc="sum",
            fill_value=0,
        )
        table["calls"] = table.sum(axis=1)
        table["total_ms"] = [self.durations[key] for key in table.index]
        table["mean_ms"] = table["total_ms"] / table["calls"]
        return table.reset_index()


#: ``progress(done, total, events)``: partitions finished, partitions, events replayed.
Progress = Callable[[int, int, int], None]


class _Counted:
    """Counts our partitions as Dask finishes them, and tells ``progress``."""

    def __init__(self, name: str, total: int, progress: Progress | None) -> None:
        self.name, self.total, self.progress = name, total, progress
        self.done = self.events = 0

    def report(self, done: int, events: int) -> None:
        self.done, self.events = done, events
        if self.progress is not None:
            self.progress(done, self.total, events)

    def posttask(self, key: Any, result: Any, _dsk: Any, _state: Any, _worker: Any) -> None:
        """Dask's callback after each task: ours are keyed ``(name, partition)``."""
        if isinstance(key, tuple) and key and key[0] == self.name:
            self.report(self.done + 1, self.events + sum(part["events"] for part in result))


#: Dask's own scheduler names (``dask.base.named_schedulers``, and the default client's).
_DASK_NAMES = ("sync", "synchronous", "single-threaded", "threads", "threading", "processes",
               "multiprocessing", "distributed", "dask.distributed")  # fmt: skip


def _probe(address: str, timeout: float) -> str:
    """The kind of Dask server answering at ``address`` (``Scheduler``, ``Worker``…).

    ``distributed.Client(address, timeout=...)`` bounds the TCP connection but not the
    handshake after it: a port that accepts and never answers (another service) would
    hang it for ever. One ``identity`` call under a deadline of our own comes first; it
    runs on an event loop of its own in a helper thread, so a caller inside a running
    loop (a notebook) can use it too."""
    from distributed.comm.core import connect

    async def identity() -> Any:
        comm = await connect(address, timeout=timeout)  # type: ignore[no-untyped-call]
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    async def bounded() -> Any:
        return await asyncio.wait_for(identity(), timeout)

    with ThreadPoolExecutor(1, thread_name_prefix="pliers-replay-probe") as pool:
        answer = pool.submit(asyncio.run, bounded()).result()
    return str(answer.get("type", "?")) if isinstance(answer, dict) else "?"


def _connect(address: str, timeout: float) -> Client:
    """A client of the scheduler at ``address``, or ``ReplayError`` saying why not."""
    try:
        from distributed import Client
    except ImportError:
        raise ReplayError(
            f"scheduler {address!r}: replaying on a Dask cluster needs the distributed "
            "package (pip install 'pliers-lab[replay]')"
        ) from None
    try:
        kind = _probe(address, timeout)
    except TimeoutError:
        raise ReplayError(
            f"scheduler {address!r}: no Dask scheduler answered within {timeout:g} s"
        ) from None
    except Exception as exc:  # a bad scheme or port, a refused or dropped connection…
        raise ReplayError(
            f"scheduler {address!r}: cannot connect ({type(exc).__name__}: {exc})"
        ) from None
    if kind != "Scheduler":
        raise ReplayError(
            f"scheduler {address!r}: a Dask {kind} answers there, not a scheduler "
            "(the scheduler's address is the one its workers were given)"
        )
    try:
        return Client(address, timeout=timeout, set_as_default=False)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as exc:
        raise ReplayError(f"scheduler {address!r}: cannot connect ({exc})") from None


def _check_workers(client: Client, where: str, paths: dict[str, str], timeout: float) -> None:
    """Every worker of ``client`` sees ``paths`` (what → absolute path), or ReplayError
    naming the workers that do not: they open the log and load the plugins themselves."""
    try:
        client.wait_for_workers(1, timeout=timeout)
    except TimeoutError:
        raise ReplayError(f"scheduler {where}: no worker joined it within {timeout:g} s") from None
    for what, path in paths.items():
        seen: dict[str, bool] = client.run(os.path.exists, path)
        missing = sorted(worker for worker, found in seen.items() if not found)
        if missing:
            raise ReplayError(
                f"scheduler {where}: the {what} {path} is not on worker(s) "
                + ", ".join(missing)
                + " (the workers read the log and load the plugins at the caller's paths: "
                "a shared filesystem, or the same copy at the same path on every machine)"
            )


def _on_cluster(
    client: Client, parts: Any, counted: _Counted, where: str, paths: dict[str, str],
    timeout: float,
) -> list[Any]:  # fmt: skip
    """The partitions' aggregates computed on ``client``'s cluster, in partition order,
    ``counted`` told as each one finishes (in this thread)."""
    from distributed import as_completed

    _check_workers(client, where, paths, timeout)
    futures = client.compute(parts.to_delayed())  # type: ignore[no-untyped-call]
    order = {future.key: n for n, future in enumerate(futures)}
    results: list[Any] = [None] * len(futures)
    try:
        for future in as_completed(futures, loop=client.loop):  # type: ignore[no-untyped-call]
            part = future.result()
            results[order[future.key]] = part
            counted.report(counted.done + 1, counted.events + sum(p["events"] for p in part))
    except BaseException:  # an error, or Ctrl-C: nothing left running for us
        client.cancel(futures)  # type: ignore[no-untyped-call]
        raise
    return [part for partition in results for part in partition]


def replay(
    log: str | Path,
    plugins: str | Path,
    *,
    scheduler: str | Client = "processes",
    blocksize: str | int = "4MiB",
    strict: bool = False,
    trust: TrustPolicy | None = None,
    progress: Progress | None = None,
    connect_timeout: float = CONNECT_TIMEOUT,
) -> ReplayReport:
    """Replay the event log at ``log`` through the plugins in folder ``plugins``.

    ``scheduler`` is where the partitions run: one of Dask's schedulers by name
    (``processes``, ``threads``, ``synchronous``…), a ``distributed.Client``, or the
    address of a Dask scheduler (``"tcp://host:8786"``: a client is connected for this
    replay and closed after it). A cluster's workers read the log and load the plugins
    at the same absolute paths as here (checked before the replay starts). An address
    nothing answers at within ``connect_timeout`` seconds, or a scheduler without
    workers, raises ``ReplayError`` naming it. ``blocksize`` sets how the file is split.
    A bad line is counted and sampled, or raises ``EventLogError`` with ``strict``.

    ``trust`` (a ``TrustPolicy``, shipped to the workers) says which plugins may run
    where their manifest asks; the others are replayed in their sandbox. A plugin that
    cannot be loaded raises ``ReplayError`` naming it and why.

    ``progress(done, total, events)`` is called before the first partition (0 done)
    and as each partition finishes, in the calling thread, with the events replayed so
    far: a large log shows how far it is (the lab's ``ReplayProgress`` is such a
    callable). Dask's local schedulers, a ``Client`` and an address report every
    partition; the name ``distributed`` (Dask's default client) reports once, at the end.
    """
    import dask.bag as db  # a few hundred ms: only when replaying
    from dask.callbacks import Callback

    path, folder = Path(log), str(Path(plugins).resolve())
    if not path.is_file():
        raise EventLogError(f"{path}: no such event log")
    source = str(path.resolve())  # a cluster's workers open it: not relative to our cwd
    client, opened = _client_of(scheduler, connect_timeout)
    try:
        with open(path, encoding="utf-8") as handle:  # forms first: every partition needs them
            forms = forms_of(
                check_event(line, f"{path}:{n}") for n, line in enumerate(handle, 1)
                if '"form.created"' in line or '"form.updated"' in line
            )  # fmt: skip
        started = time.perf_counter()
        bag = db.read_text(source, blocksize=blocksize)  # type: ignore[no-untyped-call]
        policy, run = trust or TrustPolicy(), uuid.uuid4().hex  # this replay's engines
        parts = bag.map_partitions(
            lambda lines: [replay_lines(lines, folder, forms, strict, policy, run)]
        )
        where = scheduler if isinstance(scheduler, str) else _address_of(scheduler)
        report = ReplayReport(partitions=bag.npartitions, scheduler=where)
        counted = _Counted(parts.name, bag.npartitions, progress)
        counted.report(0, 0)
        if client is not None:
            paths = {"event log": source, "plugins folder": folder}
            results = _on_cluster(client, parts, counted, where, paths, connect_timeout)
        else:
            # Dask's local schedulers call posttask in the thread that computes, as each
            # task ends.
            watch = Callback(posttask=counted.posttask)  # type: ignore[no-untyped-call]
            # chunksize=1: Dask's local schedulers batch six tasks per worker by default,
            # which puts a handful of coarse partitions on a single process, one after
            # another.
            with watch:
                results = parts.compute(scheduler=scheduler, chunksize=1)
    finally:
        if opened and client is not None:
            client.close()  # type: ignore[no-untyped-call]
    for part in results:
        report.merge(part)
    report.seconds = time.perf_counter() - started
    if counted.done < counted.total:  # a scheduler that calls no callbacks (distributed)
        counted.report(counted.total, report.events)
    return report


def _address_of(client: Client) -> str:
    return str(getattr(client.scheduler, "address", None) or "distributed")


def _client_of(scheduler: str | Client, timeout: float) -> tuple[Client | None, bool]:
    """The cluster ``scheduler`` names (a client, and whether we opened it), or None for
    Dask's local schedulers (and the name ``distributed``: Dask's default client)."""
    if isinstance(scheduler, str):
        if ":" in scheduler:  # no name of Dask's has one; every address does
            return _connect(scheduler, timeout), True
        if scheduler not in _DASK_NAMES:
            raise ReplayError(
                f"scheduler {scheduler!r}: not one of Dask's ({', '.join(_DASK_NAMES)}), "
                "nor a scheduler's address such as 'tcp://host:8786'"
            )
        return None, False
    from distributed import Client  # the caller made one: already imported

    if not isinstance(scheduler, Client):
        raise ReplayError(
            f"scheduler: expected a Dask scheduler's name or address or a "
            f"distributed.Client, got {type(scheduler).__name__}"
        )
    return scheduler, False
