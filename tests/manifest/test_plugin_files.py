"""What the engine reads from a plugin's folder (code, configuration files) must resolve
inside that folder, and is read safely, also when it changed after the manifest was
checked (a reload, a configuration reload)."""

import json
import os

import pytest
from support import write_plugin

from pliers_lab import Engine, PluginError, PluginErrorType
from pliers_lab.engine._cache import CodeCache
from pliers_lab.engine.runtimes import InlineRuntime
from pliers_lab.manifest import ManifestError, load_manifest

CODE = (
    "from pliers_lab import hook\n"
    "@hook('integration.sync')\ndef sync(ctx):\n    return ctx.config\n"
)
SCHEMA = {"type": "object", "properties": {"retries": {"type": "integer", "default": 2}}}
CONFIG = {
    "schema": "config-schema.json",
    "default": "config-default.json",
    "environments": {"development": "dev.json"},
}
FILES = {"config-schema.json": SCHEMA, "config-default.json": {"retries": 3}, "dev.json": {}}


@pytest.fixture
def secret(tmp_path):
    """A file outside every plugin folder (think /etc/passwd, /root/secret.py)."""
    path = tmp_path / "elsewhere" / "secret.json"
    path.parent.mkdir()
    path.write_text('{"retries": 99, "password": "hunter2"}')
    return path


@pytest.fixture
def plugin(tmp_path):
    return write_plugin(
        tmp_path, "crm", CODE, {"integration.sync": {}}, configuration=CONFIG, files=FILES
    )


def relink(path, target):
    path.unlink()
    path.symlink_to(target)


def assert_escape(error, field, path, target, kind):
    assert isinstance(error, PluginError) and error.type is kind
    assert error.plugin_id == "crm"
    assert error.metadata["field"] == field
    assert error.metadata["path"] == str(path)
    assert error.metadata["target"] == str(target)
    text = str(error)
    assert field in text and str(path) in text and str(target) in text
    assert "outside the plugin folder" in text and "hunter2" not in text


# -- code --------------------------------------------------------------------------------
def test_the_engine_refuses_a_plugin_whose_code_links_out(plugin, secret):
    relink(plugin / "plugin.py", secret)
    with Engine(default_isolation="inline") as engine:
        with pytest.raises(ManifestError, match="leads to") as info:
            engine.load(plugin)
        assert info.value.problems[0].path == ("main",)
        assert "crm" not in engine


def test_code_that_became_a_link_after_the_check_is_refused_at_import(plugin, secret):
    """The manifest was checked, then ``plugin.py`` was swapped for a link (a reload
    racing an edit): the loader checks again where it reads."""
    manifest = load_manifest(plugin)
    secret.write_text("SECRET = 1\n")
    relink(plugin / "plugin.py", secret)
    with pytest.raises(PluginError) as info:
        InlineRuntime(CodeCache()).prepare(manifest, manifest.root)
    assert_escape(info.value, "main", plugin / "plugin.py", secret, PluginErrorType.LOAD_ERROR)


def package_plugin(tmp_path):
    folder = write_plugin(tmp_path, "crm", "", {"integration.sync": {}}, main="src/crm")
    (folder / "src" / "crm").mkdir(parents=True)
    (folder / "src" / "crm" / "__init__.py").write_text(CODE)
    return folder


def test_a_package_main_whose_init_links_out_is_refused_at_import(tmp_path, secret):
    folder = package_plugin(tmp_path)
    manifest = load_manifest(folder)
    relink(folder / "src" / "crm" / "__init__.py", secret)
    with pytest.raises(PluginError) as info:
        InlineRuntime(CodeCache()).prepare(manifest, manifest.root)
    init = folder / "src" / "crm" / "__init__.py"
    assert_escape(info.value, "main", init, secret, PluginErrorType.LOAD_ERROR)


def test_a_package_main_folder_that_links_out_is_refused_at_import(tmp_path, secret):
    folder = package_plugin(tmp_path)
    manifest = load_manifest(folder)
    (secret.parent / "__init__.py").write_text(CODE)
    (folder / "src").rename(tmp_path / "moved")
    (folder / "src").mkdir()
    (folder / "src" / "crm").symlink_to(secret.parent, target_is_directory=True)
    with pytest.raises(PluginError) as info:
        InlineRuntime(CodeCache()).prepare(manifest, manifest.root)
    assert_escape(
        info.value, "main", folder / "src" / "crm", secret.parent, PluginErrorType.LOAD_ERROR
    )


def test_code_that_became_a_fifo_is_refused_without_blocking(plugin):
    manifest = load_manifest(plugin)
    (plugin / "plugin.py").unlink()
    os.mkfifo(plugin / "plugin.py")
    with pytest.raises(PluginError, match=r"named pipe \(FIFO\)") as info:
        InlineRuntime(CodeCache()).prepare(manifest, manifest.root)
    assert info.value.type is PluginErrorType.LOAD_ERROR


def test_code_linked_inside_the_folder_loads(plugin):
    (plugin / "code").mkdir()
    (plugin / "plugin.py").rename(plugin / "code" / "real.py")
    (plugin / "plugin.py").symlink_to("code/real.py")
    with Engine(default_isolation="inline") as engine:
        engine.load(plugin)
        assert engine.fire("integration.sync", {}).value == [{"retries": 3}]


# -- configuration files -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("config-schema.json", "configuration.schema"),
        ("config-default.json", "configuration.default"),
        ("dev.json", "configuration.environments.development"),
    ],
)
def test_a_configuration_file_that_became_a_link_is_refused_and_the_old_config_stays(
    plugin, secret, name, field
):
    with Engine(default_isolation="inline") as engine:
        engine.load(plugin)
        assert engine.plugin("crm").config == {"retries": 3}
        relink(plugin / name, secret)
        with pytest.raises(PluginError) as info:
            engine.reload_config("crm")
        assert_escape(info.value, field, plugin / name, secret, PluginErrorType.CONFIG_ERROR)
        assert engine.plugin("crm").config == {"retries": 3}
        assert engine.errors.for_plugin("crm")[-1] is info.value


def test_a_configuration_file_that_links_out_is_refused_at_load(plugin, secret):
    relink(plugin / "config-default.json", secret)
    with Engine(default_isolation="inline") as engine:
        with pytest.raises(ManifestError) as info:
            engine.load(plugin)
        [problem] = info.value.problems
        assert problem.path == ("configuration", "default")
        assert str(secret) in problem.message


def test_a_configuration_folder_that_links_out(tmp_path, secret):
    (secret.parent / "schema.json").write_text(json.dumps(SCHEMA))
    config = {"schema": "conf/schema.json"}
    folder = tmp_path / "crm"
    (folder / "conf").mkdir(parents=True)
    (folder / "conf" / "schema.json").write_text(json.dumps(SCHEMA))
    write_plugin(tmp_path, "crm", CODE, {"integration.sync": {}}, configuration=config)
    with Engine(default_isolation="inline") as engine:
        engine.load(folder)
        (folder / "conf" / "schema.json").unlink()
        (folder / "conf").rmdir()
        (folder / "conf").symlink_to(secret.parent, target_is_directory=True)
        with pytest.raises(PluginError) as info:
            engine.reload_config("crm")
        assert_escape(
            info.value,
            "configuration.schema",
            folder / "conf" / "schema.json",
            secret.parent / "schema.json",
            PluginErrorType.CONFIG_ERROR,
        )


@pytest.mark.parametrize("kind", ["fifo", "folder", "huge", "not utf-8"])
def test_a_configuration_file_the_engine_cannot_read_is_a_config_error(plugin, kind):
    with Engine(default_isolation="inline") as engine:
        engine.load(plugin)
        path = plugin / "config-default.json"
        path.unlink()
        if kind == "fifo":
            os.mkfifo(path)
            expected = r"named pipe \(FIFO\)"
        elif kind == "folder":
            path.mkdir()
            expected = "it is a folder, not a file"
        elif kind == "huge":
            with open(path, "wb") as out:
                out.truncate(1 << 30)
            expected = "it is too large"
        else:
            path.write_bytes(b'{"name": "caf\xe9"}')
            expected = r"not UTF-8 text \(invalid byte at offset 13\)"
        with pytest.raises(PluginError, match=expected) as info:
            engine.reload_config("crm")
        assert info.value.type is PluginErrorType.CONFIG_ERROR
        assert "configuration.default" in str(info.value) and str(path) in str(info.value)
        assert engine.plugin("crm").config == {"retries": 3}


def test_configuration_files_linked_inside_the_folder_are_read(plugin):
    (plugin / "conf").mkdir()
    (plugin / "config-default.json").rename(plugin / "conf" / "default.json")
    (plugin / "config-default.json").symlink_to(plugin / "conf" / "default.json")
    with Engine(default_isolation="inline") as engine:
        assert engine.load(plugin).config == {"retries": 3}
