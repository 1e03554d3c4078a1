"""The dispatch loops, driven directly with hand-built HookImpls (no engine around them)."""

import asyncio
import itertools
import time

import pytest

from pliers_lab.catalog import ResultMode
from pliers_lab.engine._dispatch import HookImpl, HookTable, begin, run_async, run_sync
from pliers_lab.engine._ledger import Ledger
from pliers_lab.engine._modes import initial
from pliers_lab.engine.hook_results import Verdict, Veto
from pliers_lab.errors import PluginErrorType
from pliers_lab.observe.executions import ExecutionStore
from pliers_lab.recovery import BackoffStrategy, RecoveryPolicy, RecoveryStrategy


def start(mode, impls, data=None):
    """A table of ``impls``, its counters settled by a ledger as in an engine, and a
    new execution of it."""
    table = HookTable("test.hook", mode, impls)
    ledger = Ledger(ExecutionStore(1000, "t"))
    for stats in table.stats:
        stats.settle = ledger.settle
    return ledger, begin(table, "test.hook", data, ({}, "t"), 1)


class Failures:
    """Collects what dispatch reports as failed; may answer with a fallback value."""

    def __init__(self, answer=None):
        self.seen = []
        self.answer = answer

    def __call__(self, impl, error, ctx):
        self.seen.append((impl.plugin_id, error))
        return (self.answer is not None, self.answer)


def run(mode, impls, data=None, failures=None):
    ledger, res = start(mode, impls, data)
    res.value = run_sync(res, initial(mode, data), failures or Failures())
    ledger.keep(res)
    return res.value, res.rows, res


def run_async_loop(mode, impls, failures=None):
    ledger, res = start(mode, impls)
    res.value = asyncio.run(run_async(res, [], failures or Failures()))
    ledger.keep(res)
    return res.value, res.rows


def test_higher_priority_runs_first_and_ties_go_by_plugin_id():
    order = []

    def make(name):
        return lambda c: order.append(name)

    impls = [
        HookImpl("zeta", "test.hook", make("zeta"), priority=100),
        HookImpl("alpha", "test.hook", make("alpha"), priority=100),
        HookImpl("low", "test.hook", make("low"), priority=10),
        HookImpl("high", "test.hook", make("high"), priority=1000),
    ]
    run(ResultMode.COLLECT, impls)
    assert order == ["high", "alpha", "zeta", "low"]


def test_collect_keeps_non_none_answers_and_records_a_row_per_plugin():
    impls = [
        HookImpl("a", "test.hook", lambda c: 1, priority=3),
        HookImpl("b", "test.hook", lambda c: None, priority=2),
        HookImpl("c", "test.hook", lambda c: 3, priority=1),
    ]
    value, rows, _ = run(ResultMode.COLLECT, impls)
    assert value == [1, 3]
    assert [(r[0].plugin_id, r[3]) for r in rows] == [("a", "ok"), ("b", "ok"), ("c", "ok")]
    assert all(r[2] >= 0 for r in rows)
    assert impls[0].stats.count == 1


def test_waterfall_passes_each_output_to_the_next():
    impls = [
        HookImpl("first", "test.hook", lambda c: {**c.data, "x": c.data["x"] + 1}, priority=2),
        HookImpl("second", "test.hook", lambda c: {**c.data, "x": c.data["x"] * 10}, priority=1),
    ]
    value, _, _ = run(ResultMode.WATERFALL, impls, {"x": 1})
    assert value == {"x": 20}


def test_waterfall_wrong_shape_is_a_validation_error_and_data_is_kept():
    failures = Failures()
    impls = [
        HookImpl("bad", "test.hook", lambda c: ["not", "a", "dict"], priority=2),
        HookImpl("good", "test.hook", lambda c: {**c.data, "ok": True}, priority=1),
    ]
    value, rows, _ = run(ResultMode.WATERFALL, impls, {"x": 1}, failures)
    assert value == {"x": 1, "ok": True}
    ((plugin, error),) = failures.seen
    assert plugin == "bad"
    assert error.type is PluginErrorType.VALIDATION_ERROR
    assert "expected the new data" in error.message and "list" in error.message
    assert rows[0][3] == "error"


def test_validate_merges_and_tags_errors_with_their_plugin():
    impls = [
        HookImpl("a", "test.hook", lambda c: {"valid": True, "warnings": ["meh"]}, priority=2),
        HookImpl(
            "b",
            "test.hook",
            lambda c: {"valid": False, "errors": [{"field": "email", "message": "bad"}]},
        ),
        HookImpl("c", "test.hook", lambda c: None, priority=1),
    ]
    value, _, _ = run(ResultMode.VALIDATE, impls)
    assert value["valid"] is False
    assert value["errors"] == [{"field": "email", "code": "error", "message": "bad", "plugin": "b"}]
    assert value["warnings"][0]["plugin"] == "a" and value["warnings"][0]["message"] == "meh"


def test_veto_stops_the_chain_and_marks_the_rest_skipped():
    impls = [
        HookImpl("allow", "test.hook", lambda c: True, priority=3),
        HookImpl("guard", "test.hook", lambda c: Veto("spam"), priority=2),
        HookImpl("late", "test.hook", lambda c: pytest.fail("must not run"), priority=1),
    ]
    value, rows, _ = run(ResultMode.VETO, impls)
    assert value == Verdict(False, "spam", "guard")
    assert not value
    assert [r[3] for r in rows] == ["ok", "ok", "skipped"]


def test_veto_without_refusal_allows():
    value, _, _ = run(ResultMode.VETO, [HookImpl("a", "test.hook", lambda c: None)])
    assert value.allowed and bool(value)


def test_first_answer_wins():
    impls = [
        HookImpl("pass", "test.hook", lambda c: None, priority=3),
        HookImpl("csv", "test.hook", lambda c: "csv!", priority=2),
        HookImpl("other", "test.hook", lambda c: "other", priority=1),
    ]
    value, rows, _ = run(ResultMode.FIRST, impls)
    assert value == "csv!"
    assert rows[-1][3] == "skipped"


def test_a_raising_handler_is_reported_and_the_others_still_answer():
    failures = Failures()

    def boom(c):
        raise ZeroDivisionError("nope")

    impls = [
        HookImpl("boom", "test.hook", boom, priority=2),
        HookImpl("ok", "test.hook", lambda c: 42),
    ]
    value, rows, _ = run(ResultMode.COLLECT, impls, failures=failures)
    assert value == [42] and [(r[0].plugin_id, r[3]) for r in rows] == [
        ("ok", "ok"),
        ("boom", "error"),
    ]
    ((plugin, error),) = failures.seen
    assert plugin == "boom"
    assert error.type is PluginErrorType.RUNTIME_ERROR
    assert error.plugin_id == "boom" and error.hook == "test.hook" and error.execution_id == "t-1"
    assert isinstance(error.cause, ZeroDivisionError) and "ZeroDivisionError" in error.stack
    assert impls[0].stats.errors == 1 and impls[0].stats.consecutive_failures == 1


def test_retries_with_backoff_until_success():
    calls = []

    def flaky(c):
        calls.append(time.perf_counter())
        if len(calls) < 3:
            raise ConnectionError("try again")
        return "done"

    policy = RecoveryPolicy(backoff=BackoffStrategy.LINEAR, backoff_ms=5)
    impl = HookImpl("flaky", "test.hook", flaky, retries=3, policy=policy)
    value, rows, _ = run(ResultMode.COLLECT, [impl])
    assert value == ["done"]
    assert rows[0][3] == "ok" and rows[0][5] == 2
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert gaps[0] >= 0.005 and gaps[1] >= 0.010


def test_retry_policy_raises_the_attempts_and_exponential_backoff_grows():
    policy = RecoveryPolicy(strategy=RecoveryStrategy.RETRY, max_retries=4, backoff_ms=10)
    impl = HookImpl("p", "test.hook", lambda c: None, retries=1, policy=policy)
    assert impl.retries == 4
    assert [policy.delay(n) for n in (1, 2, 3)] == [0.01, 0.02, 0.04]


def test_a_slow_sync_handler_is_a_timeout_and_its_answer_discarded():
    failures = Failures()
    impl = HookImpl("slow", "test.hook", lambda c: time.sleep(0.02) or "late", timeout=0.005)
    value, rows, _ = run(ResultMode.COLLECT, [impl], failures=failures)
    assert value == []
    assert rows[0][3] == "timeout"
    assert failures.seen[0][1].type is PluginErrorType.TIMEOUT_ERROR
    assert impl.stats.timeouts == 1


def test_a_fallback_answer_takes_the_failed_plugins_place():
    def boom(c):
        raise RuntimeError("down")

    value, rows, _ = run(
        ResultMode.FIRST, [HookImpl("p", "test.hook", boom)], failures=Failures("backup")
    )
    assert value == "backup"
    assert rows[0][6] == "backup"


def test_shared_state_is_visible_to_later_plugins():
    def write(c):
        c.state["seen_by"] = c.plugin_id

    impls = [
        HookImpl("w", "test.hook", write, priority=2),
        HookImpl("r", "test.hook", lambda c: c.state["seen_by"], priority=1),
    ]
    value, _, _ = run(ResultMode.COLLECT, impls)
    assert value == ["w"]


def test_async_handlers_run_under_their_timeout_and_hangs_are_cancelled():
    cancelled = []

    async def hang(c):
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def quick(c):
        await asyncio.sleep(0)
        return "quick"

    impls = [
        HookImpl("hang", "test.hook", hang, timeout=0.02, is_async=True, priority=2),
        HookImpl("quick", "test.hook", quick, is_async=True, priority=1),
        HookImpl("sync", "test.hook", lambda c: "sync", priority=0),
    ]
    failures = Failures()
    started = time.perf_counter()
    value, rows = run_async_loop(ResultMode.COLLECT, impls, failures)
    assert time.perf_counter() - started < 1
    assert value == ["quick", "sync"]
    assert cancelled == [True]
    assert rows[0][3] == "timeout"
    assert failures.seen[0][1].type is PluginErrorType.TIMEOUT_ERROR
    assert "cancelled" in failures.seen[0][1].message


def test_failure_streak_counts_consecutive_failures_only():
    state = {"fail": True}

    def sometimes(c):
        if state["fail"]:
            raise ValueError("x")

    impl = HookImpl("p", "test.hook", sometimes)
    for _ in range(3):
        run(ResultMode.COLLECT, [impl])
    assert impl.stats.consecutive_failures == 3
    state["fail"] = False
    run(ResultMode.COLLECT, [impl])
    assert impl.stats.consecutive_failures == 0
    state["fail"] = True
    run(ResultMode.COLLECT, [impl])
    assert impl.stats.consecutive_failures == 1
    assert impl.stats.count == 5 and impl.stats.errors == 4


def _overloaded(c):
    from pliers_lab.errors import HostOverload

    raise HostOverload("host overload: no worker in time", plugin_id="busy")


@pytest.mark.parametrize("mode", [ResultMode.COLLECT, ResultMode.WATERFALL])
def test_a_host_overload_is_recorded_but_never_retried_or_counted(mode):
    calls = itertools.count()

    def busy(c):
        next(calls)
        _overloaded(c)

    policy = RecoveryPolicy(strategy=RecoveryStrategy.RETRY, max_retries=3, backoff_ms=0)
    impl = HookImpl("busy", "test.hook", busy, policy=policy)
    failures = Failures()
    _value, rows, _c = run(mode, [impl], data={}, failures=failures)
    assert next(calls) == 1  # not retried: the call's budget was spent waiting
    (row,) = rows
    assert row[3] == "overloaded" and row[4].metadata["cause"] == "host_overload"
    assert row[7] == row[4].message
    stats = impl.stats
    assert (stats.count, stats.errors, stats.overloaded, stats.consecutive_failures) == (0, 0, 1, 0)
    assert [e for _p, e in failures.seen] == [row[4]]  # handed over only to be recorded


def test_a_retry_the_host_could_not_run_ends_with_the_plugins_own_failure():
    attempts = itertools.count()

    def flaky(c):
        if next(attempts) == 0:
            raise ValueError("real failure")
        _overloaded(c)

    policy = RecoveryPolicy(strategy=RecoveryStrategy.RETRY, max_retries=3, backoff_ms=0)
    impl = HookImpl("flaky", "test.hook", flaky, policy=policy)
    _value, (row,), _c = run(ResultMode.COLLECT, [impl])
    assert row[3] == "error" and "real failure" in row[4].message and row[5] == 0
    assert (impl.stats.errors, impl.stats.overloaded) == (1, 0)


def test_an_overload_in_the_async_loop_is_not_counted_either():
    impl = HookImpl("busy", "test.hook", _overloaded, retries=2)
    _value, (row,) = run_async_loop(ResultMode.COLLECT, [impl])
    assert row[3] == "overloaded" and (impl.stats.errors, impl.stats.overloaded) == (0, 1)
