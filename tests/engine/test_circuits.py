"""``Circuits``: a tripped breaker gates the plugin's handlers in the hook tables, closing
it ungates them, and whoever swaps handlers keeps the gate in front."""

from __future__ import annotations

import pytest
from engine_parts import HOOK, Parts, _Ctx

from pliers_lab.errors import CircuitOpen, PluginError, PluginErrorType


@pytest.fixture
def parts():
    built = Parts()
    yield built
    built.close()


def _failure(plugin_id: str) -> PluginError:
    return PluginError(PluginErrorType.RUNTIME_ERROR, "boom", plugin_id=plugin_id, hook=HOOK)


def test_a_tripped_breaker_skips_calls_and_closing_it_lets_them_through(parts):
    plugin = parts.activation.activate(parts.record("alpha"))
    assert parts.answers() == ["alpha"]
    parts.circuits.trip(plugin, "3 consecutive failures", _failure("alpha"))
    (gated,) = parts.hooks.handlers(HOOK)
    with pytest.raises(CircuitOpen, match="circuit breaker open \\(3 consecutive failures\\)"):
        gated.fn(_Ctx())
    parts.circuits.close(plugin, "closed by the test")
    assert parts.answers() == ["alpha"]
    actions = [r.action for r in parts.journal.recoveries]
    assert actions == ["circuit_open", "circuit_closed"]


def test_tripping_an_open_breaker_again_records_nothing_new(parts):
    plugin = parts.activation.activate(parts.record("alpha"))
    parts.circuits.trip(plugin, "first", _failure("alpha"))
    parts.circuits.trip(plugin, "second", _failure("alpha"))
    assert [r.action for r in parts.journal.recoveries] == ["circuit_open"]


def test_swapped_handlers_stay_behind_an_open_breaker(parts):
    plugin = parts.activation.activate(parts.record("alpha"))
    parts.circuits.trip(plugin, "tripped", _failure("alpha"))
    wrapped = [impl.with_fn(lambda ctx: "wrapped") for impl in plugin.impls]
    assert parts.circuits.swap(plugin, wrapped) is True
    with pytest.raises(CircuitOpen):
        parts.answers()
    parts.circuits.close(plugin, "closed")
    assert parts.circuits.swap(plugin, wrapped) is True
    assert parts.answers() == ["wrapped"]


def test_a_plugin_that_no_longer_serves_keeps_the_tables_it_has(parts):
    old = parts.activation.activate(parts.record("alpha"))
    parts.activation.disable(old, "stopped by the test")
    wrapped = [impl.with_fn(lambda ctx: "wrapped") for impl in old.impls]
    assert parts.circuits.swap(old, wrapped) is False
    assert parts.answers() == []
