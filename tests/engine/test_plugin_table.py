"""``PluginTable``: lookups, the listed record, dependents."""

from __future__ import annotations

import pytest
from engine_parts import Parts

from pliers_lab.errors import PluginError, UnknownPluginError
from pliers_lab.lifecycle import PluginState


@pytest.fixture
def parts():
    built = Parts()
    yield built
    built.close()


def test_an_unknown_id_is_refused_with_the_ids_there_are(parts):
    parts.record("alpha")
    with pytest.raises(UnknownPluginError, match="alpha"):
        parts.plugins.require("alhpa")
    assert parts.plugins.get("alhpa") is None


def test_only_the_listed_record_is_current_and_can_be_discarded(parts):
    old = parts.record("alpha")
    new = parts.record("alpha")  # a reload's record takes the id
    assert parts.plugins.current(new) and not parts.plugins.current(old)
    assert parts.plugins.discard(old) is False and parts.plugins.require("alpha") is new
    assert parts.plugins.discard(new) is True and "alpha" not in parts.plugins


def test_dependents_are_transitive_and_leave_out_optional_and_failed_ones(parts):
    parts.record("base")
    parts.record("mid", dependencies={"base": "^1.0.0"})
    parts.record("top", dependencies={"mid": "^1.0.0"})
    parts.record("maybe", optionalDependencies={"base": "^1.0.0"})
    _broken(parts, "broken", dependencies={"base": "^1.0.0"})
    assert parts.plugins.dependents("base") == ["mid", "top"]
    assert parts.plugins.dependents("top") == []


def test_versions_can_leave_out_plugins_that_cannot_serve(parts):
    parts.record("alpha", version="1.2.0")
    _broken(parts, "beta", version="2.0.0")
    assert parts.plugins.versions() == {"alpha": "1.2.0", "beta": "2.0.0"}
    assert parts.plugins.versions(usable=True) == {"alpha": "1.2.0"}


def _broken(parts, name, **extra):
    """A listed plugin whose activation failed (state ERROR)."""
    plugin = parts.record(name, **extra)

    def on_activate(_plugin):
        raise RuntimeError("cannot start")

    plugin.lifecycle_handlers = {"on_activate": on_activate}
    with pytest.raises(PluginError):
        parts.activation.activate(plugin)
    assert plugin.state is PluginState.ERROR


def test_a_replacing_record_brings_its_own_dependencies(parts):
    parts.record("base")
    parts.record("needs-base", dependencies={"base": "^1.0.0"})
    assert parts.plugins.dependents("base") == ["needs-base"]
    parts.record("needs-base")  # a reload whose new version no longer needs base
    assert parts.plugins.dependents("base") == []
    assert [(p.id, r, s) for p, r, s in parts.plugins.needing("base")] == []


def test_needing_lists_every_scope_with_its_range(parts):
    parts.record("base")
    parts.record("a", dependencies={"base": "^1.0.0"})
    parts.record("b", optionalDependencies={"base": "~1.2"})
    needing = [(p.id, r, s) for p, r, s in parts.plugins.needing("base")]
    assert needing == [("a", "^1.0.0", "runtime"), ("b", "~1.2", "optional")]
    parts.plugins.discard(parts.plugins.require("a"))
    assert [p.id for p, _r, _s in parts.plugins.needing("base")] == ["b"]
