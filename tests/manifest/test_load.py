"""Loading manifests from disk: every failure is a ManifestError naming the file."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support import obeying_file_modes

from pliers_lab.errors import PluginErrorType
from pliers_lab.manifest import ManifestError, load_manifest

Make = Callable[..., dict[str, Any]]
Dir = Callable[..., Path]

CODE = {"plugin.py": "def setup():\n    pass\n"}


def load_problems(path: Path, **kwargs: Any) -> list[str]:
    """The problem lines for ``path``, with the manifest's path shortened to ``M``."""
    with pytest.raises(ManifestError) as info:
        load_manifest(path, **kwargs)
    err = info.value
    assert err.type is PluginErrorType.LOAD_ERROR
    assert err.__cause__ is None
    return [str(p).replace(err.file, "M") for p in err.problems]


def test_load_from_folder_or_file(minimal: Make, plugin_dir: Dir) -> None:
    folder = plugin_dir(minimal(), CODE)
    by_folder = load_manifest(folder)
    by_file = load_manifest(folder / "manifest.json")
    assert by_folder == by_file and by_folder.name == "advanced-validation"
    assert by_folder.root == by_file.root == folder.absolute()
    assert load_manifest(str(folder)).root == folder.absolute()


def test_error_names_the_file(minimal: Make, plugin_dir: Dir) -> None:
    folder = plugin_dir(minimal(version="1.0"), CODE)
    with pytest.raises(ManifestError) as info:
        load_manifest(folder)
    file = str(folder / "manifest.json")
    assert info.value.file == file
    assert str(info.value) == (
        f'{file}: version: must be a full semantic version such as 1.2.3 (got "1.0")'
    )


def test_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "manifest.json"
    assert load_problems(missing) == [
        f"M: <root>: plugin folder {str(tmp_path / 'nope')!r} does not exist"
    ]


def test_missing_plugin_folder_given_as_folder(tmp_path: Path) -> None:
    assert load_problems(tmp_path / "webhook") == [
        f"M: <root>: plugin folder {str(tmp_path / 'webhook')!r} does not exist"
    ]


def test_missing_manifest(tmp_path: Path) -> None:
    assert load_problems(tmp_path) == [
        f"M: <root>: no such file (looked in {str(tmp_path)!r}) "
        "(hint: a plugin needs manifest.json)"
    ]


def test_unreadable_manifest(minimal: Make, plugin_dir: Dir) -> None:
    folder = plugin_dir(minimal(), CODE)
    (folder / "manifest.json").chmod(0)
    try:
        assert without_dac_override(folder) == ["M: <root>: cannot open it: permission denied"]
    finally:
        (folder / "manifest.json").chmod(0o644)


def test_a_plugin_folder_we_may_not_enter(minimal: Make, plugin_dir: Dir) -> None:
    folder = plugin_dir(minimal(), CODE)
    folder.chmod(0)
    try:
        assert without_dac_override(folder) == ["M: <root>: cannot open it: permission denied"]
    finally:
        folder.chmod(0o755)


def test_not_utf8(plugin_dir: Dir) -> None:
    folder = plugin_dir(b'{"name": "caf\xe9"}')
    assert load_problems(folder) == ["M: <root>: not UTF-8 text (invalid byte at offset 13)"]


def test_utf8_bom_is_tolerated(minimal: Make, plugin_dir: Dir) -> None:
    folder = plugin_dir(b"\xef\xbb\xbf" + json.dumps(minimal()).encode(), CODE)
    assert load_manifest(folder).name == "advanced-validation"


def test_malformed_json_gives_line_and_column(plugin_dir: Dir) -> None:
    folder = plugin_dir('{\n  "name": "x",\n  "version": "1.0.0"\n  "license": "MIT"\n}\n')
    assert load_problems(folder) == [
        "M: <root>: malformed JSON at line 4, column 3: Expecting ',' delimiter"
    ]


def test_empty_file_is_malformed_json(plugin_dir: Dir) -> None:
    assert load_problems(plugin_dir("")) == [
        "M: <root>: malformed JSON at line 1, column 1: Expecting value"
    ]


def test_nan_is_not_json(minimal: Make, plugin_dir: Dir) -> None:
    text = json.dumps(minimal(hooks={"form.validate": {"timeout": float("nan")}}))
    assert load_problems(plugin_dir(text, CODE)) == [
        "M: <root>: malformed JSON: NaN is not valid JSON"
    ]


def test_top_level_must_be_an_object(plugin_dir: Dir) -> None:
    assert load_problems(plugin_dir("[1, 2]")) == ["M: <root>: expected a JSON object, got a list"]


def test_duplicate_keys_are_reported(minimal: Make, plugin_dir: Dir) -> None:
    text = json.dumps(minimal())[:-1] + ', "license": "GPL"}'
    assert load_problems(plugin_dir(text, CODE)) == [
        'M: <root>: duplicate key "license" (only the last one counts)'
    ]


def test_missing_default_main(minimal: Make, plugin_dir: Dir) -> None:
    assert load_problems(plugin_dir(minimal())) == [
        "M: main: file 'plugin.py' (the default) not found in the plugin folder"
    ]


def test_missing_main_file(minimal: Make, plugin_dir: Dir) -> None:
    assert load_problems(plugin_dir(minimal(main="src/core.py"), CODE)) == [
        "M: main: file 'src/core.py' not found in the plugin folder"
    ]


def test_main_package_needs_init(minimal: Make, plugin_dir: Dir) -> None:
    folder = plugin_dir(minimal(main="src/acme"), {"src/acme/core.py": ""})
    assert load_problems(folder) == [
        "M: main: folder 'src/acme' is not a package: it has no __init__.py"
    ]
    (folder / "src" / "acme" / "__init__.py").write_text("")
    assert load_manifest(folder).main_kind == "package"


def test_main_package_missing(minimal: Make, plugin_dir: Dir) -> None:
    assert load_problems(plugin_dir(minimal(main="./src/acme"))) == [
        "M: main: package folder './src/acme' not found in the plugin folder"
    ]


def test_dotted_module_main_is_not_looked_up(minimal: Make, plugin_dir: Dir) -> None:
    m = load_manifest(plugin_dir(minimal(main="acme_plugins.validation")))
    assert m.main_kind == "module"


def test_configuration_files_must_exist(full: Make, plugin_dir: Dir) -> None:
    folder = plugin_dir(full(), {**CODE, "config-schema.json": "{}"})
    assert load_problems(folder) == [
        "M: configuration.default: file 'config-default.json' not found in the plugin folder"
    ]
    (folder / "config-default.json").write_text("{}")
    assert load_manifest(folder).configuration.default_file == "config-default.json"


def test_file_problems_come_with_model_problems(full: Make, plugin_dir: Dir) -> None:
    data = full(version="x", main="missing.py")
    data["configuration"]["schema"] = "../outside.json"
    assert load_problems(plugin_dir(data)) == [
        'M: version: must be a full semantic version such as 1.2.3 (got "x")',
        'M: configuration.schema: must stay inside the plugin folder (got "../outside.json")',
        "M: main: file 'missing.py' not found in the plugin folder",
        "M: configuration.default: file 'config-default.json' not found in the plugin folder",
    ]


def test_known_hooks_reach_validation(minimal: Make, plugin_dir: Dir) -> None:
    folder = plugin_dir(minimal(hooks={"crm.sync": {}}), CODE)
    [line] = load_problems(folder)
    assert line.startswith('M: hooks."crm.sync": unknown hook')
    assert load_manifest(folder, known_hooks=["crm.sync"]).declared_hooks() == ("crm.sync",)


def test_a_folder_named_manifest_json(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").mkdir()
    assert load_problems(tmp_path / "manifest.json") == [
        "M: <root>: it is a folder, not a file (hint: manifest.json must be a file)"
    ]
    assert load_problems(tmp_path) == ["M: <root>: it is a folder, not a file"]


# -- reading the file: every OSError is a ManifestError naming the path -----------------
def without_dac_override(path: Path) -> list[str]:
    """``load_problems(path)`` in a child process that obeys file modes even as root
    (``support.obeying_file_modes``)."""
    code = (
        "import json, sys\n"
        "from pliers_lab.manifest import ManifestError, load_manifest\n"
        "try:\n"
        "    load_manifest(sys.argv[1])\n"
        "except ManifestError as err:\n"
        "    assert err.__cause__ is None\n"
        "    print(json.dumps([str(p).replace(err.file, 'M') for p in err.problems]))\n"
    )
    done = obeying_file_modes(code, str(path))
    assert done.returncode == 0, done.stderr
    lines: list[str] = json.loads(done.stdout)
    return lines


def test_a_name_too_long() -> None:
    with pytest.raises(ManifestError) as info:
        load_manifest("x" * 5000)
    assert info.value.file == "x" * 5000
    assert info.value.problems[0].message == "cannot look at it: the path is too long"
    long_name = Path("x" * 300) / "manifest.json"
    assert load_problems(long_name) == ["M: <root>: cannot look at it: the path is too long"]


def test_a_path_through_a_file(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("not a folder")
    assert load_problems(tmp_path / "file.txt" / "manifest.json") == [
        f"M: <root>: {str(tmp_path / 'file.txt')!r} is not a folder, so it cannot be a "
        "plugin folder"
    ]
    assert load_problems(tmp_path / "file.txt" / "plugin") == [
        f"M: <root>: plugin folder {str(tmp_path / 'file.txt' / 'plugin')!r} does not exist"
    ]


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "manifest.json")
    assert load_problems(tmp_path) == ["M: <root>: it is a named pipe (FIFO), not a regular file"]
    assert load_problems(tmp_path / "manifest.json") == [
        "M: <root>: it is a named pipe (FIFO), not a regular file"
    ]


def test_a_huge_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    with open(tmp_path / "manifest.json", "wb") as out:
        out.truncate(8 << 30)  # sparse: 8 GiB of nothing, no disk used
    [line] = load_problems(tmp_path)
    assert line == "M: <root>: it is too large (8,589,934,592 bytes; at most 1,048,576)"


def test_a_symlink_loop(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").symlink_to(tmp_path / "manifest.json")
    [line] = load_problems(tmp_path)
    assert line == "M: <root>: cannot open it: too many levels of symbolic links"


def test_a_nul_byte_in_the_path(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="NUL byte"):
        load_manifest(f"{tmp_path}/a\0b")


def test_files_the_manifest_names_are_probed_safely(minimal: Make, plugin_dir: Dir) -> None:
    folder = plugin_dir(minimal(main="p" * 300 + ".py"))
    assert load_problems(folder) == [
        f"M: main: {'p' * 300 + '.py'!r}: cannot look at it: the path is too long"
    ]
    data = minimal(configuration={"schema": "schema.json", "default": "defaults.json"})
    folder = plugin_dir(data, CODE)
    (folder / "schema.json").mkdir()
    os.mkfifo(folder / "defaults.json")
    assert load_problems(folder) == [
        "M: configuration.schema: 'schema.json' is a folder, not a file",
        "M: configuration.default: 'defaults.json' is not a regular file",
    ]


# -- symlinks: what the engine reads must resolve inside the plugin folder --------------
@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file outside any plugin folder."""
    path = tmp_path / "elsewhere" / "secret.json"
    path.parent.mkdir()
    path.write_text('{"password": "hunter2"}')
    return path


def escapes(name: str, folder: Path, target: Path) -> str:
    return (
        f"{folder / name} leads to {target}, outside the plugin folder {folder} (a plugin's "
        "files must stay in its folder; symlinks may not point out of it)"
    )


def test_a_manifest_that_is_a_link_out_of_the_folder(
    minimal: Make, plugin_dir: Dir, secret: Path
) -> None:
    folder = plugin_dir(minimal(), CODE)
    secret.write_text(json.dumps(minimal()))
    (folder / "manifest.json").unlink()
    (folder / "manifest.json").symlink_to(secret)
    with pytest.raises(ManifestError) as info:
        load_manifest(folder)
    [problem] = info.value.problems
    assert problem.message == escapes("manifest.json", folder, secret)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("field", "path"),
    [
        ("schema", ("configuration", "schema")),
        ("default", ("configuration", "default")),
        ("production", ("configuration", "environments", "production")),
    ],
)
def test_configuration_files_that_link_out_of_the_folder(
    minimal: Make, plugin_dir: Dir, secret: Path, field: str, path: tuple[str, ...]
) -> None:
    configuration: dict[str, Any] = {"environments": {}}
    if field == "production":
        configuration["environments"]["production"] = "linked.json"
    else:
        configuration[field] = "linked.json"
    folder = plugin_dir(minimal(configuration=configuration), CODE)
    (folder / "linked.json").symlink_to(secret)
    with pytest.raises(ManifestError) as info:
        load_manifest(folder)
    [problem] = info.value.problems
    assert problem.path == path
    assert problem.message == escapes("linked.json", folder, secret)
    assert info.value.plugin_id == "advanced-validation"


def test_a_main_file_that_links_out_of_the_folder(
    minimal: Make, plugin_dir: Dir, secret: Path
) -> None:
    folder = plugin_dir(minimal())
    (folder / "plugin.py").symlink_to(secret)
    assert load_problems(folder) == [f"M: main: {escapes('plugin.py', folder, secret)}"]


def test_a_folder_on_the_way_that_links_out(minimal: Make, plugin_dir: Dir, secret: Path) -> None:
    data = minimal(main="src/plugin.py", configuration={"schema": "conf/secret.json"})
    folder = plugin_dir(data)
    (folder / "src").symlink_to(secret.parent, target_is_directory=True)
    (folder / "conf").symlink_to(secret.parent, target_is_directory=True)
    outside = secret.parent
    assert load_problems(folder) == [
        f"M: main: {escapes('src/plugin.py', folder, outside / 'plugin.py')}",
        f"M: configuration.schema: {escapes('conf/secret.json', folder, secret)}",
    ]


def test_a_main_package_that_links_out(minimal: Make, plugin_dir: Dir, secret: Path) -> None:
    folder = plugin_dir(minimal(main="src/acme"), {"src/acme/core.py": ""})
    (folder / "src" / "acme" / "__init__.py").symlink_to(secret)
    init = "src/acme/__init__.py"
    assert load_problems(folder) == [f"M: main: {escapes(init, folder, secret)}"]


def test_a_dangling_link_out_is_reported_as_such(minimal: Make, plugin_dir: Dir) -> None:
    folder = plugin_dir(minimal())
    (folder / "plugin.py").symlink_to("/nonexistent/plugin.py")
    assert load_problems(folder) == [
        f"M: main: {escapes('plugin.py', folder, Path('/nonexistent/plugin.py'))}"
    ]


def test_links_inside_the_folder_and_a_linked_folder_are_fine(
    full: Make, plugin_dir: Dir, tmp_path: Path
) -> None:
    folder = plugin_dir(full(), {"code/plugin.py": "", "conf/schema.json": "{}"})
    (folder / "plugin.py").symlink_to("code/plugin.py")
    (folder / "config-schema.json").symlink_to(folder / "conf" / "schema.json")
    (folder / "config-default.json").write_text("{}")
    assert load_manifest(folder).name == "advanced-validation"
    alias = tmp_path / "alias"
    alias.symlink_to(folder, target_is_directory=True)
    manifest = load_manifest(alias)
    assert manifest.root == alias.absolute()
