"""The ledger: counts folded in batches stay exact, whoever reads and whichever thread fires."""

from __future__ import annotations

import threading
import time

import pytest
from support import manifest

from pliers_lab import Engine, hook
from pliers_lab.engine._ledger import BATCH


def _engine_with(flaky_every: int = 0) -> Engine:
    engine = Engine(max_observations=50_000)
    calls = {"n": 0}

    @hook("form.afterCreate")
    def maybe_fail(ctx: object) -> int:
        calls["n"] += 1
        if flaky_every and calls["n"] % flaky_every == 0:
            raise ValueError("every so often")
        return 1

    @hook("form.afterCreate")
    def steady(ctx: object) -> int:
        return 2

    engine.add_plugin(manifest("steady", {"form.afterCreate": {}}), {"steady": steady})
    engine.add_plugin(manifest("flaky", {"form.afterCreate": {}}), {"maybe_fail": maybe_fail})
    return engine


def test_counts_are_exact_before_and_after_a_batch_is_settled() -> None:
    with _engine_with() as engine:
        for n in (1, BATCH - 1, BATCH, BATCH + 1, 3 * BATCH + 5):
            while engine.executions.total < n:
                engine.fire("form.afterCreate", {})
            assert engine.metrics("steady").execution.count == n
            assert engine.metrics("flaky").execution.count == n
            assert len(engine.executions.rows()) == 2 * n


def test_failures_between_successes_keep_counts_and_rows_in_order() -> None:
    with _engine_with(flaky_every=7) as engine:
        fired = [engine.fire("form.afterCreate", {}) for _ in range(300)]
        flaky = engine.metrics("flaky").execution
        assert (flaky.count, flaky.errorCount) == (300, 300 // 7)
        assert engine.metrics("steady").execution.count == 300
        rows = engine.executions.rows()
        assert [r[0] for r in rows[::2]] == [r.execution_id for r in fired]
        failed = [r for r in rows if r[7] == "error"]
        assert len(failed) == 300 // 7 and all(r[3] == "flaky" for r in failed)


def test_threads_firing_while_others_read_lose_no_call() -> None:
    with _engine_with(flaky_every=11) as engine:
        stop = threading.Event()
        seen: list[int] = []

        def fire(times: int) -> None:
            for _ in range(times):
                engine.fire("form.afterCreate", {})

        def read() -> None:
            while not stop.is_set():
                seen.append(engine.metrics("steady").execution.count)

        reader = threading.Thread(target=read)
        reader.start()
        workers = [threading.Thread(target=fire, args=(2_500,)) for _ in range(4)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
        stop.set()
        reader.join()
        assert engine.metrics("steady").execution.count == 10_000
        assert engine.metrics("flaky").execution.count == 10_000
        assert engine.executions.total == 10_000
        assert seen == sorted(seen)  # a reader never sees a count go back


def _by_plugin(rows: list[tuple[object, ...]]) -> dict[object, list[float]]:
    durations: dict[object, list[float]] = {}
    for row in rows:
        durations.setdefault(row[3], []).append(float(row[6]))  # type: ignore[arg-type]
    return durations


def test_durations_counted_in_batches_match_the_rows() -> None:
    """The ledger sums each handler's durations per batch: the metrics' total and
    longest call are those of the rows, for plain executions and for the plain calls
    of executions where another handler failed."""
    with _engine_with(flaky_every=9) as engine:
        slow_calls = {"n": 0}

        @hook("form.afterCreate")
        def sometimes_slow(ctx: object) -> int:
            slow_calls["n"] += 1
            if slow_calls["n"] % 50 == 0:
                time.sleep(0.004)
            return 3

        engine.add_plugin(
            manifest("slowish", {"form.afterCreate": {}}), {"sometimes_slow": sometimes_slow}
        )
        for _ in range(3 * BATCH + 7):
            engine.fire("form.afterCreate", {})
        durations = _by_plugin(engine.executions.rows())
        for plugin in ("steady", "slowish"):
            execution = engine.metrics(plugin).execution
            assert execution.count == len(durations[plugin]) == 3 * BATCH + 7
            assert execution.totalDuration == pytest.approx(sum(durations[plugin]), rel=1e-9)
            assert execution.maxDuration == pytest.approx(max(durations[plugin]), rel=1e-9)
        assert engine.metrics("slowish").execution.maxDuration >= 4.0
        assert engine.metrics("steady").execution.maxDuration < 4.0


def test_each_handler_starts_where_the_previous_one_ended() -> None:
    with _engine_with(flaky_every=5) as engine:
        for _ in range(40):
            engine.fire("form.afterCreate", {})
        rows = engine.executions.rows()
        for first, second in zip(rows[::2], rows[1::2], strict=True):
            assert first[0] == second[0]  # one execution, two handlers
            # wall-clock starts (epoch seconds: a float holds them to ~0.2 µs)
            assert second[5] == pytest.approx(first[5] + first[6] / 1000.0, abs=1e-6)
        result = engine.fire("form.afterCreate", {})
        (_, start0, took0, *_), (_, start1, *_) = result.rows
        assert start1 == pytest.approx(start0 + took0, abs=1e-12)


def test_a_full_store_drops_executions_of_hooks_no_plugin_handled() -> None:
    """Executions of a hook without handlers keep no rows; when the store is full they
    go first, and its bound holds (they once made the trim divide by zero)."""
    with _engine_with() as engine:
        engine.executions.capacity = 10
        for _ in range(5):
            engine.fire("form.beforeCreate", {})  # nobody handles it
        for _ in range(2 * BATCH):
            engine.fire("form.afterCreate", {})
        rows = engine.executions.rows()
        assert len(rows) == 10 and {r[1] for r in rows} == {"form.afterCreate"}
        assert engine.executions.total == 2 * BATCH + 5
