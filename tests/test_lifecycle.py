"""The transition table and its history."""

import pytest

from pliers_lab.errors import IllegalTransition
from pliers_lab.lifecycle import TRANSITIONS, Lifecycle, PluginState

S = PluginState


def test_every_state_has_a_row_and_all_targets_are_states():
    assert set(TRANSITIONS) == set(PluginState)
    assert len(PluginState) == 9
    for targets in TRANSITIONS.values():
        assert targets <= set(PluginState)


def test_the_happy_path_is_recorded_with_times():
    seen = []
    life = Lifecycle("p", listener=seen.append)
    path = [
        S.LOADING,
        S.LOADED,
        S.INITIALIZING,
        S.ACTIVE,
        S.STOPPING,
        S.STOPPED,
        S.UNLOADING,
        S.UNLOADED,
    ]
    for state in path:
        life.move(state, reason=f"to {state}")
    assert [t.target for t in life.history] == path
    assert [t.source for t in life.history] == [S.UNLOADED, *path[:-1]]
    times = [t.timestamp for t in life.history]
    assert times == sorted(times)
    assert seen == life.history
    assert life.entered_at(S.ACTIVE) == life.history[3].timestamp
    assert life.entered_at(S.ERROR) is None


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ([], S.ACTIVE),
        ([S.LOADING], S.ACTIVE),
        ([S.LOADING, S.LOADED, S.INITIALIZING, S.ACTIVE], S.UNLOADED),
        ([S.LOADING, S.LOADED, S.INITIALIZING, S.ACTIVE], S.LOADING),
    ],
    ids=["unloaded->active", "loading->active", "active->unloaded", "active->loading"],
)
def test_illegal_transitions_raise_and_change_nothing(path, illegal):
    life = Lifecycle("p")
    for state in path:
        life.move(state)
    before = (life.state, len(life.history))
    with pytest.raises(IllegalTransition) as info:
        life.move(illegal)
    assert (life.state, len(life.history)) == before
    message = str(info.value)
    assert "'p'" in message and illegal.value in message and "allowed" in message


def test_error_state_can_be_left_by_reload_restart_or_unload():
    assert TRANSITIONS[S.ERROR] == {S.LOADING, S.INITIALIZING, S.UNLOADING}


def test_the_history_is_kept_in_objects_the_garbage_collector_stops_visiting():
    # Four transitions per loaded plugin, for as long as it is loaded: kept as plain
    # tuples, which a collection untracks, every full collection skips them.
    import gc

    life = Lifecycle("p")
    for state in (S.LOADING, S.LOADED, S.INITIALIZING, S.ACTIVE):
        life.move(state, reason=f"to {state.value}")
    gc.collect()
    assert not any(gc.is_tracked(move) for move in life._moves)
    assert [t.reason for t in life.history] == [
        "to loading",
        "to loaded",
        "to initializing",
        "to active",
    ]
