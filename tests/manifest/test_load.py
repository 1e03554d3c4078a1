"""Loading manifests from disk: every failure is a ManifestError naming the file."""

from __future__ import annotations

import errno
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

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


def test_unreadable_manifest(
    minimal: Make, plugin_dir: Dir, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = plugin_dir(minimal(), CODE)

    def refuse(self: Path) -> bytes:
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    assert load_problems(folder) == ["M: <root>: cannot read the file: Permission denied"]


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
    [line] = load_problems(tmp_path / "manifest.json")
    assert "no such file" in line
