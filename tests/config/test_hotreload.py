"""Hot reload with a real watcher thread (watchfiles) on real files."""

import json
import threading
import time

import pytest
from support import write_plugin

from pliers_lab import Engine, PluginErrorType

CODE = "from pliers_lab import hook\n@hook('form.render')\ndef render(ctx):\n    return {'v': %r}\n"


def until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def start(tmp_path, isolation, *, hot_reload):
    folder = write_plugin(
        tmp_path,
        "live",
        CODE % 1,
        {"form.render": {}},
        configuration={"schema": "schema.json", "default": "default.json", "hotReload": hot_reload},
        files={"schema.json": {"type": "object"}, "default.json": {"n": 1}},
    )
    engine = Engine(default_isolation=isolation)
    assert engine.load(folder).isolation == isolation
    reloader = engine.watch(debounce_ms=20, step_ms=10)
    return engine, folder, reloader


@pytest.fixture(params=["inline", "process"])
def watched(tmp_path, request):
    engine, folder, reloader = start(tmp_path, request.param, hot_reload=True)
    yield engine, folder, reloader
    engine.close()


def value(engine):
    return engine.fire("form.render", {}).value


def test_a_code_change_is_served_by_the_new_code(watched):
    engine, folder, reloader = watched
    (folder / "plugin.py").write_text(CODE % 2)
    assert until(lambda: value(engine) == {"v": 2})
    assert until(lambda: len(reloader.records) > 0)  # recorded just after the swap
    record = list(reloader.records)[-1]
    assert record.ok and record.kind == "code" and record.plugin_id == "live"


def test_a_broken_edit_keeps_the_old_version_and_records_a_load_error(watched):
    engine, folder, reloader = watched
    (folder / "plugin.py").write_text("def broken(:\n")
    assert until(lambda: any(not r.ok for r in reloader.records))
    assert value(engine) == {"v": 1}
    assert engine.errors.for_plugin("live")[-1].type is PluginErrorType.LOAD_ERROR
    (folder / "plugin.py").write_text(CODE % 3)
    assert until(lambda: value(engine) == {"v": 3})


def test_a_manifest_change_is_revalidated(watched):
    engine, folder, reloader = watched
    data = json.loads((folder / "manifest.json").read_text())
    data["hooks"]["form.render"]["priority"] = "high"
    (folder / "manifest.json").write_text(json.dumps(data))
    assert until(lambda: any(not r.ok for r in reloader.records))
    assert 'priority: expected an integer, got "high"' in list(reloader.records)[-1].error
    data["hooks"]["form.render"]["priority"] = 700
    (folder / "manifest.json").write_text(json.dumps(data))
    assert until(lambda: engine.handlers("form.render")[0].priority == 700)


def test_a_config_file_change_reloads_only_the_configuration(watched):
    engine, folder, reloader = watched
    code = engine.plugin("live").prepared  # the imported module, or the worker
    (folder / "default.json").write_text(json.dumps({"n": 2}))
    assert until(lambda: engine.plugin("live").config == {"n": 2})
    assert list(reloader.records)[-1].kind == "config"
    assert engine.plugin("live").prepared is code


@pytest.mark.parametrize("isolation", ["inline", "process"])
def test_without_hot_reload_a_config_edit_is_held_and_said_so(tmp_path, isolation):
    """configuration.hotReload false (the spec's default): the edit is not applied; the
    watcher's record and the plugin's log say why; code edits still reload, and such a
    reload reads the configuration files again, as any load does."""
    engine, folder, reloader = start(tmp_path, isolation, hot_reload=False)
    try:
        (folder / "default.json").write_text(json.dumps({"n": 2}))
        assert until(lambda: len(reloader.records) > 0)
        for held in reloader.records:  # one write may come as more than one change
            assert (held.kind, held.ok, held.plugin_id) == ("config", False, "live")
            assert "configuration.hotReload is false" in held.error
            assert "default.json" in held.error
        assert engine.plugin("live").config == {"n": 1}
        warnings = engine.logs.for_plugin("live", "warning")
        assert warnings and all(
            "configuration.hotReload is false" in w.message and "default.json" in w.message
            for w in warnings
        )

        (folder / "plugin.py").write_text(CODE % 2)
        assert until(lambda: value(engine) == {"v": 2})
        assert until(lambda: any(r.kind == "code" for r in reloader.records))
        code = [r for r in reloader.records if r.kind == "code"]
        assert all(r.ok for r in code)
        assert engine.plugin("live").config == {"n": 2}  # read again with the new version
    finally:
        engine.close()


def test_a_deleted_manifest_is_an_error_and_the_plugin_keeps_serving(watched):
    engine, folder, reloader = watched
    (folder / "manifest.json").unlink()
    assert until(lambda: any(not r.ok for r in reloader.records))
    assert value(engine) == {"v": 1}


def test_executions_in_flight_finish_on_the_old_version(tmp_path):
    slow = (
        "import time\nfrom pliers_lab import hook\n@hook('form.render')\n"
        "def render(ctx):\n    time.sleep(0.4)\n    return {'v': %r}\n"
    )
    folder = write_plugin(tmp_path, "slow", slow % "old", {"form.render": {}})
    with Engine() as engine:
        engine.load(folder)
        engine.watch()
        results = []
        worker = threading.Thread(target=lambda: results.append(value(engine)))
        worker.start()
        time.sleep(0.05)
        (folder / "plugin.py").write_text(slow % "new")
        worker.join()
        assert results == [{"v": "old"}]
        assert until(lambda: value(engine) == {"v": "new"})


def test_switching_it_off_stops_reloading(watched):
    engine, folder, reloader = watched
    engine.watch(False)
    assert not reloader.running and engine.reloader is None
    (folder / "plugin.py").write_text(CODE % 9)
    time.sleep(0.3)
    assert value(engine) == {"v": 1}


def test_plugins_loaded_later_are_watched_too(watched, tmp_path):
    engine, _folder, _reloader = watched
    other = write_plugin(
        tmp_path / "more",
        "later",
        CODE.replace("form.render", "form.field.render") % 1,
        {"form.field.render": {}},
    )
    engine.load(other)
    time.sleep(0.3)  # the watcher notices the new folder within its 100 ms poll
    (other / "plugin.py").write_text(CODE.replace("form.render", "form.field.render") % 2)
    assert until(lambda: engine.fire("form.field.render", {}).value == {"v": 2})
