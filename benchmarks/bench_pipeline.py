"""Submissions per second through the host's whole pipeline, against the SQLite floor.

Ours: ``Host.submit`` with the six example plugins loaded inline (``extensions/``), on a
WAL database file, the three sample forms in turn (contact, job application, expense
claim), synthetic answers from ``samples.synthetic``. Every submission fires the issue's
hook sequence, validates, saves, follows its workflow, writes its outbox and event rows
and commits.

Floor: the same rows with no plugins and no host: one transaction per submission with
5 inserts (submission, status history, notification, and its two events, created and
status changed, each numbered in its aggregate's sequence as the host numbers them) and
1 update (the status), WAL, ``synchronous=NORMAL``, checkpoints from a thread as the
host does them (facts/hot-paths.md: about 32,000/s on this kind of machine without the
two events; until 2026-12-03 the floor left them out, so it wrote fewer rows than the
pipeline).

Both run interleaved, medians of several repeats. Targets (issue 17): 5,000/s and 5x the
floor's time (before, 2,000/s and 16x: the floor's 32,000/s over 2,000/s). A second
table attributes the pipeline's time (from the traces of 100 submissions timed apart,
after a warm batch): plugin code, engine dispatch around it, the host's own steps, event
delivery, the time between steps inside the operation (its set-up, the glue from one
step to the next) and what is left outside it. Last, a bound (printed, not a target):
the host's own statements for fresh submissions, recorded and replayed on a bare
connection, plus the plugins' own time; no host, however lean its own steps, can go
faster than that here; with, beside it, the same hook calls dispatched by pluggy (the
peer of bench_dispatch, implementations returning their argument): what a host built on
the peer would pay before doing anything of its own. Beside it, labelled, the same host
with no plugin loaded (every hook fires with nobody on it), interleaved with the rest:
what the host's own steps and SQL cost alone. Also printed, not a target: the latency of
3,000 submissions timed one by one (p50 to max: the checkpoint the writer finishes is the
largest wait a caller meets).
Run: ``python benchmarks/bench_pipeline.py``

Prints a table, then one ``RESULT <name> <metric> <value> target <op> <target> PASS|FAIL``
line per target (DESIGN.md §4).
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pluggy

sys.path.insert(0, str(Path(__file__).parent))
from _timing import Collector, result_line

from pliers_lab import Engine
from pliers_lab.host import Host
from pliers_lab.host import sample_forms as samples
from pliers_lab.host._checkpoint import SAFETY_NET_PAGES, Checkpointer
from pliers_lab.host._migrations import migrate
from pliers_lab.host._pipeline_trace import Trace

ROOT = Path(__file__).resolve().parent.parent
FORMS = ("contact", "job-application", "expense-claim")
BATCH = 300
FLOOR_BATCH = 3000
REPEATS = 15
#: Issue 17: at least 5,000 submissions/s, at most 5x the bare inserts' time.
TARGET = 5000.0
SLOWDOWN = 5.0
#: An event row as the host writes one (``host/_event_bus.py``): numbered in its
#: aggregate's gap-free sequence, no cause.
FLOOR_EVENT = (
    "INSERT INTO events (id, type, version, aggregate_type, aggregate_id, sequence,"
    " causation_id, correlation_id, source, timestamp, metadata, payload)"
    " VALUES (?, ?, 1, 'submission', ?, (SELECT COALESCE(MAX(sequence), 0) + 1 FROM events"
    " WHERE aggregate_type = 'submission' AND aggregate_id = ?), NULL, NULL, 'host', ?, ?, ?)"
)
#: Sizes of the host's: metadata 74 bytes, a status change's payload ~150.
EVENT_METADATA = json.dumps({"userId": None, "pluginId": None, "traceId": "t-0000000000000000"})
STATUS_PAYLOAD = json.dumps(
    {
        "submissionId": "s-0000000000000000",
        "formId": "contact",
        "from": "received",
        "to": "processed",
        "by": None,
        "reason": None,
        "category": "completed",
    }
)


def floor_db(path: Path) -> tuple[sqlite3.Connection, Checkpointer]:
    """The host's schema and the host's settings: WAL, synchronous=NORMAL, checkpoints
    from a thread that hands the last step to the writer (as ``Database`` does; the
    batches call ``Checkpointer.handoff``), so the ratio is the pipeline's."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA wal_autocheckpoint={SAFETY_NET_PAGES}")
    migrate(conn)
    return conn, Checkpointer(str(path))


def floor_batch(
    conn: sqlite3.Connection,
    rows: list[tuple[str, str]],
    counter: itertools.count[int],
    checkpointer: Checkpointer,
) -> float:
    """Seconds per submission for the bare writes of one submission each: the rows the
    host writes for it (the events' payloads of the same sizes), checkpointed as the
    host's are (the writer finishes the thread's checkpoint before a transaction)."""
    execute, handoff = conn.execute, checkpointer.handoff
    start = time.perf_counter()
    for form_id, data in rows:
        n = next(counter)
        sid = f"s{n}"
        now = time.time()
        handoff(conn)
        execute("BEGIN IMMEDIATE")
        execute(
            "INSERT INTO submissions (id, form_id, form_version, data, metadata, status,"
            " submitted_by,"
            " created_at, updated_at) VALUES (?, ?, 1, ?, '{}', 'received', NULL, ?, ?)",
            (sid, form_id, data, now, now),
        )
        execute(
            "INSERT INTO status_history (submission_id, from_status, to_status, by, reason, at)"
            " VALUES (?, 'received', 'processed', NULL, NULL, ?)",
            (sid, now),
        )
        execute(
            "INSERT INTO notifications (submission_id, channel, recipient, subject, body, status,"
            " receipt, created_at) VALUES (?, 'email', 'support@pliers.dev', 'New message', ?,"
            " 'queued', NULL, ?)",
            (sid, data, now),
        )
        for i, (kind, payload) in enumerate(
            (("submission.created", data), ("submission.status.changed", STATUS_PAYLOAD))
        ):
            execute(FLOOR_EVENT, (f"e{n}-{i}", kind, sid, sid, now, EVENT_METADATA, payload))
        execute(
            "UPDATE submissions SET status = 'processed', updated_at = ? WHERE id = ?", (now, sid)
        )
        execute("COMMIT")
    return (time.perf_counter() - start) / len(rows)


def pipeline_batch(host: Host, rows: list[tuple[str, dict[str, object]]]) -> tuple[float, float]:
    """Wall-clock and CPU seconds per submission (CPU time shows the cost on a busy box)."""
    submit = host.submit
    start, cpu = time.perf_counter(), time.process_time()
    for form_id, answers in rows:
        submit(form_id, answers)
    return (time.perf_counter() - start) / len(rows), (time.process_time() - cpu) / len(rows)


def latencies(host: Host, rows: list[tuple[str, dict[str, object]]]) -> list[float]:
    """Seconds each submission took, one by one (what a caller waits, stalls included)."""
    submit, clock, out = host.submit, time.perf_counter, []
    for form_id, answers in rows:
        start = clock()
        submit(form_id, answers)
        out.append(clock() - start)
    return out


def attribution(host: Host, per_submission_us: float, gc_us: float) -> dict[str, float]:
    """Microseconds per submission by where the time went (the last traces kept)."""
    parts = {
        "plugin code": 0.0,
        "engine dispatch": 0.0,
        "host steps (validate, save, ...)": 0.0,
        "commit": 0.0,
        "event delivery": 0.0,
        "between steps (set-up, glue)": 0.0,
    }
    traces = [t for t in host.traces if t.operation == "submit"]
    for trace in traces:
        steps_ms = sum(step.duration_ms for step in trace.steps)
        parts["between steps (set-up, glue)"] += trace.duration_ms - steps_ms
        for step in trace.steps:
            if step.kind == "event":
                parts["event delivery"] += step.duration_ms
            elif step.name in ("commit", "checkpoint"):  # the writer's part of a checkpoint
                parts["commit"] += step.duration_ms
            elif step.kind == "host":
                parts["host steps (validate, save, ...)"] += step.duration_ms
            elif step.result is not None:
                plugins = sum(o.duration_ms for o in step.result.outcomes)
                parts["plugin code"] += plugins
                parts["engine dispatch"] += step.duration_ms - plugins
            else:
                parts["engine dispatch"] += step.duration_ms
    out = {k: v * 1000.0 / max(1, len(traces)) for k, v in parts.items()}
    out["garbage collection (all repeats)"] = gc_us
    out["outside the operation (intake, ids, old trace freed)"] = max(
        0.0, per_submission_us - sum(out.values())
    )
    return out


class StatementRecorder:
    """The host's own statements, with their parameters, while the block runs: the
    ``Database`` methods every write goes through, shadowed on the instance."""

    def __init__(self, host: Host) -> None:
        self.db = host.db
        self.statements: list[tuple[bool, str, tuple[object, ...]]] = []

    def __enter__(self) -> StatementRecorder:
        run, returning, keep = self.db.run, self.db.returning, self.statements.append

        def record_run(sql: str, params: Sequence[object] = ()) -> None:
            keep((False, sql, tuple(params)))
            run(sql, params)

        def record_returning(sql: str, params: Sequence[object] = ()) -> object:
            keep((True, sql, tuple(params)))
            return returning(sql, params)

        self.db.run = record_run  # type: ignore[method-assign]
        self.db.returning = record_returning  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        del self.db.run, self.db.returning


def peer_manager(trace: Trace) -> tuple[pluggy.PluginManager, list[str]]:
    """pluggy (the peer of bench_dispatch) holding one submission's hooks: one hook per
    hook call of ``trace``, in order, each with as many implementations as the trace ran,
    each returning its argument; and the hooks' names in calling order."""
    spec, impl = pluggy.HookspecMarker("peer"), pluggy.HookimplMarker("peer")

    def declared(data: object) -> object:  # read off the class: no ``self``
        """A hook of the pipeline."""

    def echo(self: object, data: object) -> object:
        return data

    handlers = [len(s.result.outcomes) if s.result else 0 for s in trace if s.kind == "hook"]
    names = [f"hook_{i}" for i in range(len(handlers))]
    manager = pluggy.PluginManager("peer")
    manager.add_hookspecs(type("Pipeline", (), {name: spec(declared) for name in names}))
    for j in range(max(handlers, default=0)):
        methods = {name: impl(echo) for name, n in zip(names, handlers, strict=True) if n > j}
        manager.register(type(f"Peer{j}", (), methods)(), name=f"peer-{j}")
    return manager, names


def peer_dispatch(trace: Trace) -> Callable[[object], None]:
    """One submission's hook calls through ``peer_manager``: what dispatch alone costs a
    host built on the peer."""
    manager, names = peer_manager(trace)
    calls = [getattr(manager.hook, name) for name in names]

    def submission(data: object) -> None:
        for call in calls:
            call(data=data)

    return submission


def peer_dispatch_us(trace: Trace, rounds: int = 3000, repeats: int = 5) -> tuple[float, int, int]:
    """Microseconds per submission of ``peer_dispatch`` (median of ``repeats``), with the
    numbers of hook calls and of implementations called per submission."""
    submission = peer_dispatch(trace)
    data: dict[str, object] = {"form": {}, "submission": {}}
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(rounds):
            submission(data)
        times.append((time.perf_counter() - start) / rounds)
    hooks = [s for s in trace if s.kind == "hook"]
    called = sum(len(s.result.outcomes) for s in hooks if s.result is not None)
    return statistics.median(times) * 1e6, len(hooks), called


def replay(
    conn: sqlite3.Connection,
    checkpointer: Checkpointer,
    statements: list[tuple[bool, str, tuple[object, ...]]],
    count: int,
) -> tuple[float, float]:
    """Seconds per submission to run the host's recorded statements on a bare connection
    (the floor's settings), and of that the ``COMMIT``s."""
    cursor = conn.cursor()
    execute, handoff = cursor.execute, checkpointer.handoff
    commits = 0.0
    start = time.perf_counter()
    for rows, sql, params in statements:
        if sql.startswith("BEGIN"):
            handoff(conn)
            execute(sql)
        elif sql == "COMMIT":
            t0 = time.perf_counter()
            execute(sql)
            commits += time.perf_counter() - t0
        elif rows:
            execute(sql, params).fetchall()
        else:
            execute(sql, params)
    return (time.perf_counter() - start) / count, commits / count


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(default_isolation="inline")
        loaded = engine.load_all(ROOT / "extensions")
        host = Host(engine, Path(tmp) / "host.sqlite3")
        samples.install(host)
        bare_engine = Engine(default_isolation="inline")
        bare_host = Host(bare_engine, Path(tmp) / "bare.sqlite3")
        samples.install(bare_host)
        generators = {f: samples.synthetic(f, 10**7, seed=7) for f in FORMS}
        rows = [(f, next(generators[f])) for _ in range(BATCH // len(FORMS)) for f in FORMS]
        floor_rows = [(f, json.dumps(a)) for f, a in rows] * (FLOOR_BATCH // len(rows) + 1)
        floor_rows = floor_rows[:FLOOR_BATCH]
        conn, checkpointer = floor_db(Path(tmp) / "floor.sqlite3")
        counter = itertools.count()

        # Warm up until the engine's bounded observation store is full (about 1,700
        # submissions of ~12 plugin calls fill its 20,000 rows): steady state from then on.
        for _ in range(8):
            pipeline_batch(host, [(f, next(generators[f])) for f, _a in rows])
            pipeline_batch(bare_host, [(f, next(generators[f])) for f, _a in rows])
        floor_batch(conn, floor_rows[:500], counter, checkpointer)
        ours, cpu, floor, bare = [], [], [], []
        with Collector() as timer:
            for _ in range(REPEATS):
                fresh = [(f, next(generators[f])) for f, _a in rows]
                wall, used = pipeline_batch(host, fresh)
                ours.append(wall)
                cpu.append(used)
                floor.append(floor_batch(conn, floor_rows, counter, checkpointer))
                timer.pause()
                bare.append(
                    pipeline_batch(bare_host, [(f, next(generators[f])) for f, _a in rows])[0]
                )
                timer.resume()
        gc_us = timer.seconds * 1e6 / (REPEATS * len(rows))
        # Attributed: after a batch, as many more submissions as the host keeps traces,
        # timed by themselves, so that "outside the operation" (their time per submission
        # minus the traces' spans) compares the same submissions (the traces of a batch's
        # end against the whole batch's mean gave 0 or 170 µs by which part was slower).
        kept = host.traces.maxlen or 100
        pipeline_batch(host, [(f, next(generators[f])) for f, _a in rows])
        attributed = [(FORMS[i % len(FORMS)], next(generators[FORMS[i % len(FORMS)]]))
                      for i in range(kept)]  # fmt: skip
        where = attribution(host, pipeline_batch(host, attributed)[0] * 1e6, gc_us)
        peer_us, hook_calls, handler_calls = peer_dispatch_us(host.traces[-1])
        # One by one: ten batches' worth, so that the log is handed off a time or two.
        checkpoints = host.db.checkpointer
        assert checkpoints is not None  # a file database
        before = checkpoints.handoffs, checkpoints.handoff_s
        waits = sorted(
            latencies(host, [(f, next(generators[f])) for _ in range(10) for f, _a in rows])
        )
        handoffs = checkpoints.handoffs - before[0]
        handoff_ms = (checkpoints.handoff_s - before[1]) * 1e3 / max(1, handoffs)
        samples_by_form: dict[str, list[float]] = {form: [] for form in FORMS}
        for _ in range(5):
            for form in FORMS:
                only = [(form, next(generators[form])) for _ in range(BATCH // 3)]
                samples_by_form[form].append(pipeline_batch(host, only)[0])
        per_form = {form: 1.0 / statistics.median(v) for form, v in samples_by_form.items()}
        # The bound: the host's own statements for fresh submissions, recorded, then
        # replayed on a bare connection, plus the plugins' own time from the traces.
        sql_seconds, commit_seconds = [], []
        replay_conn, replay_checkpointer = floor_db(Path(tmp) / "replay.sqlite3")
        for _ in range(5):
            fresh = [(f, next(generators[f])) for f, _a in rows]
            with StatementRecorder(host) as recorder:
                pipeline_batch(host, fresh)
            sql_s, commit_s = replay(
                replay_conn, replay_checkpointer, recorder.statements, len(fresh)
            )
            sql_seconds.append(sql_s)
            commit_seconds.append(commit_s)
        statements_each = len(recorder.statements) / len(fresh)
        replay_checkpointer.close()
        replay_conn.close()
        ok_states = all(p.state.value == "active" for p in loaded)
        bare_host.close()
        bare_engine.close()
        host.close()
        checkpointer.close()
        conn.close()
        engine.close()

    ours_rate = 1.0 / statistics.median(ours)
    cpu_rate = 1.0 / statistics.median(cpu)
    floor_rate = 1.0 / statistics.median(floor)
    bare_rate = 1.0 / statistics.median(bare)
    slowdown = floor_rate / ours_rate
    print(
        f"plugins: {', '.join(f'{p.id} ({p.isolation})' for p in loaded)}; all active: {ok_states}"
    )
    print(f"load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'case':<34} {'submissions/s':>14} {'µs/submission':>14}")
    print(f"{'pipeline, 3 sample forms mixed':<34} {ours_rate:>14,.0f} {1e6 / ours_rate:>14.1f}")
    print(f"{'  same, by CPU time used':<34} {cpu_rate:>14,.0f} {1e6 / cpu_rate:>14.1f}")
    for form, rate in per_form.items():
        print(f"{'  only ' + form:<34} {rate:>14,.0f} {1e6 / rate:>14.1f}")
    print(
        f"{'floor: 5 inserts + 1 update, WAL':<34} {floor_rate:>14,.0f} {1e6 / floor_rate:>14.1f}"
    )
    print(
        f"{'the host with no plugin loaded':<34} {bare_rate:>14,.0f} {1e6 / bare_rate:>14.1f}"
        "  (not a target: its own steps and SQL)"
    )
    print(f"ratio: the pipeline takes {slowdown:.1f}x the floor's time per submission")
    print()
    print(
        f"latency of one submission, {len(waits):,} one by one (not a target; the log was"
        f" handed to the writer {handoffs} times, {handoff_ms:.1f} ms each): "
        + ", ".join(
            f"{name} {waits[min(len(waits) - 1, int(q * len(waits)))] * 1e3:.2f} ms"
            for name, q in (("p50", 0.5), ("p99", 0.99), ("p99.9", 0.999), ("max", 1.0))
        )
    )
    print()
    total = sum(where.values())
    print(f"{'where a submission spends its time':<56} {'µs':>8} {'share':>7}")
    for part, micros in where.items():
        print(f"{'  ' + part:<56} {micros:>8.1f} {micros / total:>7.0%}")
    print()
    sql_us = statistics.median(sql_seconds) * 1e6
    commit_us = statistics.median(commit_seconds) * 1e6
    plugin_us = where["plugin code"]
    print("a bound, not a target: what a host with no overhead of its own could reach here")
    print(
        f"  the host's own SQL ({statements_each:.0f} statements per submission, recorded and"
        f" replayed bare): {sql_us:.1f} µs, of which COMMIT {commit_us:.1f} µs"
    )
    print(f"  the plugins' own code (the traces above): {plugin_us:.1f} µs")
    print(
        f"  SQL + plugin code: {sql_us + plugin_us:.1f} µs per submission,"
        f" at most {1e6 / (sql_us + plugin_us):,.0f} submissions/s"
    )
    floor_host_us = sql_us + plugin_us + peer_us
    print(
        f"  a peer's dispatch (pluggy: the same {hook_calls} hook calls, {handler_calls}"
        f" implementations returning their argument): {peer_us:.1f} µs"
    )
    print(
        f"  SQL + plugin code + the peer's dispatch: {floor_host_us:.1f} µs, at most"
        f" {1e6 / floor_host_us:,.0f} submissions/s for a host that did nothing else"
        f" (leaving {1e6 / TARGET - floor_host_us:.1f} µs of the target's"
        f" {1e6 / TARGET:.0f} µs for its validation, workflow, events and trace)"
    )
    print()
    lines = [
        result_line("pipeline_throughput", "submissions_per_s", ours_rate, ">=", TARGET),
        result_line("pipeline_vs_floor", "slowdown_x", slowdown, "<=", SLOWDOWN),
    ]
    print("\n".join(lines))
    return 0 if all(line.endswith("PASS") for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
