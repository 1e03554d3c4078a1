"""What a loaded plugin holds for its lifetime: parts made on first use, values shared.

Every object a plugin keeps is one more for each full garbage collection to visit while
it stays loaded (``benchmarks/bench_plugins.py``); these tests pin the behaviour that
keeps the count low, through a real engine: nothing is made before it is needed, shared
values stay correct, and a plugin that does use a part gets it as before.
"""

from __future__ import annotations

import pytest
from support import manifest

from pliers_lab import Engine, hook
from pliers_lab.engine._breaker import BreakerState
from pliers_lab.manifest import Manifest

HOOK = "integration.sync"


@hook(HOOK)
def sync(ctx):  # type: ignore[no-untyped-def]
    if ctx.data.get("fail"):
        raise RuntimeError("upstream down")
    return "synced"


def test_a_plugin_that_never_fails_has_no_breaker_and_reads_closed(engine: Engine) -> None:
    plugin = engine.add_plugin(manifest("calm", {HOOK: {}}), {"sync": sync})
    assert engine.fire(HOOK, {}).outcome("calm").status == "ok"
    assert plugin._breaker is None
    assert plugin.circuit is BreakerState.CLOSED
    assert plugin.metrics().health.circuit == "closed"
    engine.disable("calm")
    engine.enable("calm")  # a fresh start resets a breaker only if there is one
    assert plugin._breaker is None


def test_the_first_failure_makes_the_breaker_with_the_manifests_policy(engine: Engine) -> None:
    recovery = {"circuitBreaker": {"threshold": 2, "resetAfterMs": 5_000}}
    plugin = engine.add_plugin(manifest("shaky", {HOOK: {}}, recovery=recovery), {"sync": sync})
    for _ in range(2):
        assert engine.fire(HOOK, {"fail": True}).outcome("shaky").status == "error"
    assert plugin._breaker is not None and plugin.breaker.reset_s == 5.0
    assert plugin.circuit is BreakerState.OPEN
    assert engine.fire(HOOK, {}).outcome("shaky").status == "skipped"


def test_the_plugin_api_is_made_on_first_use_and_kept(engine: Engine) -> None:
    plugin = engine.add_plugin(manifest("quiet", {HOOK: {}}), {"sync": sync})
    assert plugin._api is None
    api = plugin.api
    assert api is plugin.api
    api.cache.set("k", 1)
    assert plugin.api.cache.get("k") == 1


def test_a_host_service_offered_after_load_reaches_the_plugin(engine: Engine) -> None:
    plugin = engine.add_plugin(manifest("late", {HOOK: {}}), {"sync": sync})
    engine.add_api_provider(lambda p: {"notes": f"notes for {p.id}"})
    assert plugin.api.notes == "notes for late"


def test_plugin_code_may_still_keep_its_own_attributes(engine: Engine) -> None:
    seen: list[object] = []

    def on_activate(plugin):  # type: ignore[no-untyped-def]
        plugin.connection = "open"
        seen.append(plugin.connection)

    plugin = engine.add_plugin(manifest("stateful"), {"on_activate": on_activate})
    assert seen == ["open"] and plugin.connection == "open"


def test_the_logger_is_made_on_first_use_and_logs_to_the_engine(engine: Engine) -> None:
    plugin = engine.add_plugin(manifest("talker", {HOOK: {}}), {"sync": sync})
    assert plugin._logger is None
    plugin.logger.info("hello from talker")
    assert plugin.logger is plugin.logger
    assert any(e.message == "hello from talker" for e in engine.logs.for_plugin("talker"))


def _parse(data: dict[str, object]) -> Manifest:
    return Manifest.model_validate(data)


def test_manifests_share_equal_engines_and_hook_settings() -> None:
    a = _parse(manifest("a", {HOOK: {"priority": 7}}))
    b = _parse(manifest("b", {HOOK: {"priority": 7}}))
    c = _parse(manifest("c", {HOOK: {"priority": 8}}))
    assert a.engines is b.engines
    assert a.hooks[HOOK] is b.hooks[HOOK]
    assert c.hooks[HOOK] is not a.hooks[HOOK] and c.hooks[HOOK].priority == 8


def test_sharing_keeps_what_each_manifest_wrote() -> None:
    """A priority written as 100 and one left to its default of 100 are equal values,
    but a dump of what was set must still tell them apart."""
    written = _parse(manifest("written", {HOOK: {"priority": 100}}))
    left = _parse(manifest("left", {HOOK: {}}))
    assert written.hooks[HOOK] == left.hooks[HOOK]
    assert written.hooks[HOOK] is not left.hooks[HOOK]
    assert written.hooks[HOOK].model_dump(exclude_unset=True) == {"priority": 100}
    assert left.hooks[HOOK].model_dump(exclude_unset=True) == {}


def test_left_out_blocks_are_one_shared_default_and_written_ones_are_not() -> None:
    a, b = _parse(manifest("a")), _parse(manifest("b"))
    assert a.permissions is b.permissions and a.configuration is b.configuration
    assert "permissions" not in a.model_fields_set
    granted = _parse(manifest("c", permissions={"events": ["publish"]}))
    assert granted.permissions is not a.permissions
    assert granted.permissions.allows("events", "publish")
    assert not a.permissions.allows("events", "publish")


@pytest.mark.parametrize("bad", [{"priority": "high"}, {"priority": 0}])
def test_a_shared_model_still_reports_bad_values_where_they_are(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"hooks\.integration\.sync\.priority|priority"):
        _parse(manifest("bad", {HOOK: bad}))
