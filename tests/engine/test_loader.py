"""Loading plugin code: entry points of installed distributions, packages, environment checks."""

import importlib
import json
import textwrap

import pytest
from support import manifest, write_plugin

from pliers_lab import Engine, EngineError, PluginError, PluginState
from pliers_lab.engine.loader import API_VERSION, ENTRY_POINT_GROUP, iter_entry_points


def _distribution(site, dist, module, files, entry="demo"):
    pkg = site / module
    pkg.mkdir(parents=True)
    for name, text in files.items():
        (pkg / name).write_text(text)
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{entry} = {module}\n")


PLUGIN = textwrap.dedent("""
    from pliers_lab import hook

    @hook("export.format")
    def export(ctx):
        return "from an installed distribution" if ctx.data["format"] == "ep" else None
""")


def test_installed_distributions_expose_plugins_through_entry_points(engine, tmp_path, monkeypatch):
    _distribution(
        tmp_path,
        "pliers-ep-demo",
        "pliers_ep_demo",
        {
            "__init__.py": PLUGIN,
            "manifest.json": json.dumps(
                manifest("ep-demo", {"export.format": {}}, main="pliers_ep_demo")
            ),
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    assert "demo" in [ep.name for ep in iter_entry_points()]
    (plugin,) = engine.load_entry_points()
    assert plugin.id == "ep-demo" and plugin.state is PluginState.ACTIVE
    assert engine.fire("export.format", {"format": "ep"}).value == "from an installed distribution"


def test_an_entry_point_module_may_carry_its_manifest_as_a_dict(engine, tmp_path, monkeypatch):
    code = PLUGIN + f"\nMANIFEST = {manifest('ep-dict', {'export.format': {}})!r}\n"
    _distribution(tmp_path, "pliers-ep-dict", "pliers_ep_dict", {"__init__.py": code})
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    (plugin,) = engine.load_entry_points()
    assert plugin.id == "ep-dict"


def test_an_entry_point_without_a_manifest_is_a_clear_error(engine, tmp_path, monkeypatch):
    _distribution(tmp_path, "pliers-ep-bare", "pliers_ep_bare", {"__init__.py": "x = 1\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    with pytest.raises(
        EngineError, match=r"entry point 'demo' \(pliers_ep_bare\): no manifest.json"
    ):
        engine.load_entry_points()


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ("import sys\nsys.exit(3)\n", "it called sys.exit(3)"),
        ("raise SystemExit\n", "it called sys.exit()"),
        ("raise ValueError('bad setting')\n", "it raised ValueError: bad setting"),
    ],
)
def test_an_entry_point_that_exits_at_import_is_an_engine_error(
    engine, tmp_path, monkeypatch, body, said
):
    _distribution(tmp_path, "pliers-ep-exit", "pliers_ep_exit", {"__init__.py": body})
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    with pytest.raises(EngineError) as info:
        engine.load_entry_points()
    assert str(info.value) == f"entry point 'demo' (pliers_ep_exit) failed to import: {said}"
    assert engine.plugins == []
    assert engine.fire("export.format", {"format": "ep"}).value is None  # still answering


def test_keyboard_interrupt_at_an_entry_points_import_propagates(engine, tmp_path, monkeypatch):
    _distribution(
        tmp_path, "pliers-ep-ctrlc", "pliers_ep_ctrlc", {"__init__.py": "raise KeyboardInterrupt\n"}
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    with pytest.raises(KeyboardInterrupt):
        engine.load_entry_points()


def test_a_package_plugin_with_relative_imports(engine, tmp_path):
    folder = tmp_path / "pkg-plugin"
    (folder / "code").mkdir(parents=True)
    (folder / "code" / "__init__.py").write_text(
        "from pliers_lab import hook\nfrom .rules import double\n"
        "@hook('form.render')\ndef render(ctx):\n    return {'n': double(ctx.data['n'])}\n"
    )
    (folder / "code" / "rules.py").write_text("def double(n):\n    return 2 * n\n")
    (folder / "manifest.json").write_text(
        json.dumps(manifest("pkg-plugin", {"form.render": {}}, main="code"))
    )
    engine.load(folder)
    assert engine.fire("form.render", {"n": 21}).value == {"n": 42}


def test_the_engine_api_version_is_what_example_manifests_ask_for():
    from pliers_lab.versions import satisfies

    assert satisfies(API_VERSION, "^3.0.0")


def test_endpoint_handlers_and_middleware_are_bound_at_load(engine):
    endpoints = {
        "endpoints": [
            {
                "path": "/plugins/hooks/receive/:id",
                "method": "POST",
                "handler": "receive",
                "middleware": ["signed"],
            }
        ]
    }
    plugin = engine.add_plugin(
        manifest("hooks", api=endpoints, permissions={"network": ["inbound"]}),
        {"receive": lambda request: {"status": 200}, "signed": lambda r: r},
    )
    assert set(plugin.prepared.named) == {"receive", "signed"}
    with pytest.raises(
        PluginError, match=r"api.endpoints\[0\] \(POST /plugins/typo/x\): handler 'nope'"
    ):
        engine.add_plugin(
            manifest(
                "typo",
                api={
                    "endpoints": [{"path": "/plugins/typo/x", "method": "POST", "handler": "nope"}]
                },
                permissions={"network": ["inbound"]},
            ),
            {},
        )


# -- hooks.<name>.async: the manifest's promise about the handler ---------------------------

SYNC_OR_NOT = textwrap.dedent("""
    import asyncio
    from pliers_lab import hook

    @hook("form.render")
    async def render(ctx):
        await asyncio.sleep(0)
        return {"async": True}

    @hook("form.field.render")
    def field(ctx):
        return {"plain": True}
""")


@pytest.mark.parametrize("isolation", ["inline", "process"])
def test_an_async_def_under_async_false_is_refused_at_load_naming_the_field(tmp_path, isolation):
    folder = write_plugin(
        tmp_path,
        "promised",
        SYNC_OR_NOT,
        {"form.render": {"async": False}, "form.field.render": {"async": False}},
    )
    with Engine(default_isolation=isolation) as engine:
        with pytest.raises(PluginError) as caught:
            engine.load(folder)
        message = str(caught.value)
        assert caught.value.plugin_id == "promised"
        assert f'hooks."form.render".async is false in {folder / "manifest.json"}' in message
        assert "handler 'render' in plugin.py" in message and "is an async def" in message
        assert "form.field.render" not in message  # a plain function keeps its promise
        assert "promised" not in [p.id for p in engine.plugins if p.state.value == "active"]


@pytest.mark.parametrize("isolation", ["inline", "process"])
def test_async_true_takes_an_async_def_and_a_plain_function(tmp_path, isolation):
    folder = write_plugin(
        tmp_path,
        "either",
        SYNC_OR_NOT,
        {"form.render": {"async": True}, "form.field.render": {}},  # true is the default
    )
    with Engine(default_isolation=isolation) as engine:
        plugin = engine.load(folder)
        assert (plugin.state, plugin.isolation) == (PluginState.ACTIVE, isolation)
        assert engine.fire("form.render", {}).value == {"async": True}
        assert engine.fire("form.field.render", {}).value == {"plain": True}


def test_async_false_refuses_an_async_def_given_as_code_too(engine):
    async def render(ctx):
        return None

    render.__pliers_hooks__ = ("form.render",)
    with pytest.raises(PluginError, match=r'hooks\."form\.render"\.async is false in the manifest'):
        engine.add_plugin(manifest("coded", {"form.render": {"async": False}}), {"render": render})
