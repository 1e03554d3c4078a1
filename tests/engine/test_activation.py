"""``Activation``: lifecycle moves, lifecycle handlers, quarantine."""

from __future__ import annotations

import pytest
from engine_parts import HOOK, Parts

from pliers_lab.errors import EngineError, PluginError, PluginErrorType
from pliers_lab.lifecycle import PluginState as S


@pytest.fixture
def parts():
    built = Parts()
    yield built
    built.close()


def test_activating_registers_the_handlers_with_the_manifests_timeout(parts):
    plugin = parts.activation.activate(parts.record("alpha", hooks={HOOK: {"timeout": 250}}))
    assert plugin.state is S.ACTIVE
    assert [i.plugin_id for i in parts.hooks.handlers(HOOK)] == ["alpha"]
    assert plugin.impls[0].timeout == 0.25


def test_a_failing_on_activate_leaves_the_plugin_in_error_with_nothing_registered(parts):
    plugin = parts.record("alpha")

    def on_activate(_plugin):
        raise RuntimeError("no database")

    plugin.lifecycle_handlers = {"on_activate": on_activate}
    with pytest.raises(PluginError, match="on_activate raised RuntimeError: no database") as info:
        parts.activation.activate(plugin)
    assert info.value.type is PluginErrorType.INIT_ERROR
    assert plugin.state is S.ERROR and parts.hooks.handlers(HOOK) == ()
    assert list(parts.journal.errors) == [info.value]


def test_a_quarantined_plugin_is_refused_until_released(parts):
    plugin = parts.record("alpha")
    parts.activation.quarantined["alpha"] = "tried to read /etc/shadow"
    with pytest.raises(EngineError, match=r"'alpha' is quarantined \(tried to read /etc/shadow\)"):
        parts.activation.activate(plugin)
    assert plugin.state is S.LOADED
    del parts.activation.quarantined["alpha"]
    assert parts.activation.activate(plugin).state is S.ACTIVE


def test_restart_runs_the_handlers_again_and_counts(parts):
    calls = []
    plugin = parts.record("alpha")
    plugin.lifecycle_handlers = {
        "on_activate": lambda p: calls.append("activate"),
        "on_deactivate": lambda p: calls.append("deactivate"),
    }
    parts.activation.activate(plugin)
    parts.activation.restart(plugin, "by the test")
    assert calls == ["activate", "deactivate", "activate"]
    assert plugin.stats.restarts == 1 and plugin.state is S.ACTIVE


def test_async_lifecycle_handlers_are_awaited(parts):
    seen = []
    plugin = parts.record("alpha")

    async def on_activate(_plugin):
        seen.append("awaited")

    plugin.lifecycle_handlers = {"on_activate": on_activate}
    parts.activation.activate(plugin)
    assert seen == ["awaited"]
