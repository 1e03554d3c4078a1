"""The engine and dependencies: load_all by strategy, versioned stores, cascades, reloads."""

import json

import pytest
from support import manifest, write_plugin

from pliers_lab import EngineError, PluginError, PluginErrorType, PluginState
from pliers_lab.dependencies import DependencyError

CODE = "from pliers_lab import hook\n"


def store(tmp_path, entries):
    """A versioned store: entries are (name, version, dependencies)."""
    root = tmp_path / "store"
    for name, version, deps in entries:
        folder = root / name / version
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text(
            json.dumps(manifest(name, version=version, dependencies=deps))
        )
        (folder / "plugin.py").write_text(f"VERSION = {version!r}\n")
    return root


def test_load_all_manual_loads_what_fits_and_records_the_rest(engine, tmp_path):
    write_plugin(tmp_path, "core", CODE, {}, version="2.0.0")
    write_plugin(tmp_path, "fits", CODE, {}, dependencies={"core": "^2.0.0"})
    write_plugin(tmp_path, "old", CODE, {}, dependencies={"core": "^1.0.0"})
    write_plugin(tmp_path, "needs-old", CODE, {}, dependencies={"old": "*"})
    loaded = engine.load_all(tmp_path)
    assert sorted(p.id for p in loaded) == ["core", "fits"]
    errors = {e.plugin_id: e for e in engine.errors}
    assert errors["old"].type is PluginErrorType.DEPENDENCY_ERROR and "core ^1.0.0" in str(
        errors["old"]
    )
    assert "depends on old" in str(errors["needs-old"])
    assert engine.resolution.excluded.keys() == {"old", "needs-old"}


def test_load_all_strict_refuses_any_conflict(engine, tmp_path):
    write_plugin(tmp_path, "core", CODE, {}, version="2.0.0")
    write_plugin(tmp_path, "old", CODE, {}, dependencies={"core": "^1.0.0"})
    with pytest.raises(DependencyError):
        engine.load_all(tmp_path, strategy="strict")
    assert engine.plugins == []


def test_load_all_latest_picks_versions_from_a_store(engine, tmp_path):
    engine.default_isolation = "inline"  # reads plugin.module, which only inline plugins have
    root = store(
        tmp_path,
        [
            ("core", "1.9.0", {}),
            ("core", "2.0.0", {}),
            ("legacy", "1.0.0", {"core": "~1.9.0"}),
        ],
    )
    engine.load_all(root, strategy="latest")
    assert engine.plugin("core").version == "1.9.0"
    assert engine.plugin("core").module.VERSION == "1.9.0"
    assert engine.plugin("legacy").state is PluginState.ACTIVE


def test_a_dependency_cycle_in_a_folder_is_reported_with_its_path(engine, tmp_path):
    write_plugin(tmp_path, "a", CODE, {}, dependencies={"b": "*"})
    write_plugin(tmp_path, "b", CODE, {}, dependencies={"a": "*"})
    with pytest.raises(DependencyError, match=r"dependency cycle: (a -> b -> a|b -> a -> b)"):
        engine.load_all(tmp_path)


def test_unload_refuses_with_the_dependents_or_cascades(engine):
    engine.add_plugin(manifest("base"), {})
    engine.add_plugin(manifest("mid", dependencies={"base": "^1.0.0"}), {})
    engine.add_plugin(manifest("top", peerDependencies={"mid": "*"}), {})
    engine.add_plugin(manifest("loose", optionalDependencies={"base": "*"}), {})
    with pytest.raises(EngineError, match="mid, top depend on it"):
        engine.unload("base")
    assert engine.unload("base", cascade=True) == ["top", "mid", "base"]
    assert [p.id for p in engine.plugins] == ["loose"]


def test_dependency_graph_carries_state_version_order_and_conflicts(engine):
    engine.add_plugin(manifest("base", version="1.5.0"), {})
    engine.add_plugin(manifest("addon", dependencies={"base": "^1.0.0"}), {})
    engine.disable("addon")
    g = engine.dependency_graph()
    assert g.nodes["base"] == {
        "version": "1.5.0",
        "load_order": 0,
        "conflict": False,
        "reason": None,
        "state": "active",
        "isolation": "inline",
    }
    assert g.nodes["addon"]["state"] == "stopped" and g.nodes["addon"]["load_order"] == 1
    assert g.edges["base", "addon"]["range"] == "^1.0.0" and g.graph["conflicts"] == []


def test_a_reload_that_would_break_a_dependent_is_refused(engine, tmp_path):
    folder = write_plugin(
        tmp_path, "base", "from pliers_lab import hook\nV = 1\n", {}, version="1.0.0"
    )
    engine.load(folder)
    engine.add_plugin(manifest("addon", dependencies={"base": "^1.0.0"}), {})
    (folder / "manifest.json").write_text(json.dumps(manifest("base", version="2.0.0")))
    with pytest.raises(PluginError) as info:
        engine.reload("base")
    assert info.value.type is PluginErrorType.DEPENDENCY_ERROR
    assert "addon@1.0.0 needs base ^1.0.0" in str(info.value)
    assert (
        engine.plugin("base").version == "1.0.0"
        and engine.plugin("base").state is PluginState.ACTIVE
    )


def test_reload_swaps_versions_keeps_config_and_a_disabled_plugin_stays_disabled(engine, tmp_path):
    code = (
        "from pliers_lab import hook\n"
        "@hook('form.render')\ndef render(ctx):\n    return {'v': %d}\n"
    )
    folder = write_plugin(tmp_path, "swap", code % 1, {"form.render": {}})
    engine.load(folder, config={"color": "blue"})
    (folder / "plugin.py").write_text(code % 2)
    new = engine.reload("swap")
    assert engine.fire("form.render", {}).value == {"v": 2}
    assert new.config == {"color": "blue"} and new.metrics().health.restarts == 1
    old_targets = [t.target.value for t in engine.transitions if t.plugin_id == "swap"]
    assert old_targets[-2:] == ["unloading", "unloaded"] and "active" in old_targets
    engine.disable("swap")
    (folder / "plugin.py").write_text(code % 3)
    assert engine.reload("swap").state is PluginState.STOPPED


def test_the_graph_shows_what_load_all_left_out_and_why(engine, tmp_path):
    write_plugin(tmp_path, "core", CODE, {}, version="2.0.0")
    write_plugin(tmp_path, "old", CODE, {}, dependencies={"core": "^1.0.0"})
    engine.load_all(tmp_path)
    g = engine.dependency_graph()
    assert g.nodes["core"]["state"] == "active" and g.nodes["old"]["state"] == "excluded"
    assert "core ^1.0.0" in g.nodes["old"]["reason"]
    edge = g.edges["core", "old"]
    assert edge["conflict"] and "needs core ^1.0.0" in edge["reason"]
    assert g.graph["conflicts"][0]["plugin1"] == "old"
