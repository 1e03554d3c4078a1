"""The ledger: counts folded in batches stay exact, whoever reads and whichever thread fires."""

from __future__ import annotations

import threading

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
