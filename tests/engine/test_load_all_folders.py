"""load_all over a plugins folder that holds what the engine must not or cannot read: a
FIFO or a link out of its folder named manifest.json, folders it may not list. Each is a
recorded problem naming its path; the good plugins beside them load."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from support import manifest, obeying_file_modes, write_plugin

from pliers_lab import Engine, PluginErrorType, PluginState
from pliers_lab.manifest import ManifestError

CODE = "from pliers_lab import hook\n@hook('form.render')\ndef render(ctx):\n    return 1\n"
#: A sibling declares a custom hook another plugin implements: load_all reads every
#: manifest for those declarations before it loads any.
DECLARES = {"customHooks": {"good.ping": {"mode": "collect", "description": "pings"}}}
USES = "from pliers_lab import hook\n@hook('good.ping')\ndef ping(ctx):\n    return 'pong'\n"


@pytest.fixture
def engine() -> Any:
    eng = Engine(default_isolation="inline")
    yield eng
    eng.close()


def load_all_within(engine: Engine, folder: Path, fifo: Path, seconds: float = 20) -> Any:
    """``engine.load_all(folder)``, failing (not hanging) if it is not done in time."""
    done: dict[str, Any] = {}

    def run() -> None:
        try:
            done["loaded"] = engine.load_all(folder)
        except BaseException as exc:  # handed to the test
            done["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():  # blocked opening the FIFO: let it go, then fail
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(5)
        pytest.fail(f"load_all did not return within {seconds} s (blocked on {fifo})")
    if "error" in done:
        raise done["error"]
    return done["loaded"]


def test_a_fifo_and_a_link_out_named_manifest_json_are_reported_not_read(
    engine: Engine, tmp_path: Path
) -> None:
    plugins = tmp_path / "plugins"
    write_plugin(plugins, "good", CODE, {"form.render": {}}, **DECLARES)
    write_plugin(plugins, "user", USES, {"good.ping": {}}, dependencies={"good": "^1.0.0"})
    (plugins / "piped").mkdir()
    fifo = plugins / "piped" / "manifest.json"
    os.mkfifo(fifo)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "manifest.json").write_text(json.dumps(manifest("linked", **DECLARES)))
    (plugins / "linked").mkdir()
    (plugins / "linked" / "plugin.py").write_text(CODE)
    link = plugins / "linked" / "manifest.json"
    link.symlink_to(elsewhere / "manifest.json")

    loaded = load_all_within(engine, plugins, fifo)

    assert sorted(p.id for p in loaded) == ["good", "user"]
    assert engine.plugin("user").state is PluginState.ACTIVE
    assert engine.fire("good.ping", {}).value == ["pong"]
    problems = {e.file: e for e in engine.errors if isinstance(e, ManifestError)}
    assert problems.keys() == {str(fifo), str(link)}
    assert all(e.type is PluginErrorType.LOAD_ERROR for e in problems.values())
    assert str(problems[str(fifo)]) == (
        f"{fifo}: <root>: it is a named pipe (FIFO), not a regular file"
    )
    said = str(problems[str(link)])
    assert str(link) in said and str(elsewhere / "manifest.json") in said
    assert "outside the plugin folder" in said
    assert "linked" not in [p.id for p in engine.plugins]


LOAD_ALL = """
import json, sys
from pliers_lab import Engine
engine = Engine(default_isolation="inline")
try:
    loaded = engine.load_all(sys.argv[1])
    errors = [
        {
            "message": str(e),
            "type": e.type.value,
            "path": e.metadata.get("path"),
            "file": getattr(e, "file", None),
        }
        for e in engine.errors
    ]
    print(json.dumps({"loaded": [p.id for p in loaded], "errors": errors}))
finally:
    engine.close()
"""


def test_folders_load_all_may_not_list_are_recorded_problems_naming_them(
    tmp_path: Path,
) -> None:
    plugins = tmp_path / "plugins"
    write_plugin(plugins, "good", CODE, {"form.render": {}})
    # versioned layouts (<name>/<version>/manifest.json): nothing in <name> itself
    listless = plugins / "listless"  # may be entered, not listed
    sealed = plugins / "sealed"  # may not even be entered
    for folder in (listless, sealed):
        version = folder / "1.0.0"
        version.mkdir(parents=True)
        (version / "manifest.json").write_text(json.dumps(manifest(folder.name)))
        (version / "plugin.py").write_text(CODE)
    listless.chmod(0o311)
    sealed.chmod(0)
    try:
        done = obeying_file_modes(LOAD_ALL, str(plugins))
    finally:
        listless.chmod(0o755)
        sealed.chmod(0o755)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["loaded"] == ["good"]
    assert found["errors"] == [
        {
            "message": f"[load_error] {listless}: cannot list the folder: permission denied",
            "type": "load_error",
            "path": str(listless),
            "file": None,
        },
        {  # what load_manifest says of a plugin folder it may not enter
            "message": f"{sealed / 'manifest.json'}: <root>: cannot open it: permission denied",
            "type": "load_error",
            "path": None,
            "file": str(sealed / "manifest.json"),
        },
    ]
