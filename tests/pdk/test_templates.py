"""Every template gives a plugin that loads, answers its hook and passes its own tests."""

import json

import pytest

from pliers_lab import EngineError
from pliers_lab.pdk._harness import Harness
from pliers_lab.pdk._testing import run_plugin_tests
from pliers_lab.pdk.templates import TEMPLATES, create


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_each_template_loads_and_answers_its_hook(tmp_path, template):
    folder = create(template, f"my-{template}", tmp_path)
    info = TEMPLATES[template]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["hooks"] == {info.hook: {"priority": 100, "timeout": 5000}}
    assert (folder / "tests" / f"test_my_{template}.py").is_file()
    harness = Harness()
    try:
        plugin = harness.load_plugin(folder)
        result = harness.fire(
            info.hook,
            {**harness.submission({"email": "a@b.c"}), "format": "json", "submissions": []},
        )
        assert result.ok and result.mode == info.mode and plugin.state.value == "active"
    finally:
        harness.cleanup()


def test_pliers_test_runs_a_generated_plugins_tests_with_coverage(tmp_path):
    folder = create("guard", "gate", tmp_path)
    result = run_plugin_tests(folder)
    assert (result.passed, result.failed) == (2, 0)
    assert result.coverage == pytest.approx(100.0)
    (folder / "plugin.py").write_text(
        (folder / "plugin.py").read_text().replace("if domain and", "if False and")
    )
    broken = run_plugin_tests(folder)
    assert broken.failed == 1 and "FAILED" in broken.render()


@pytest.mark.parametrize(
    ("template", "name", "message"),
    [
        ("nope", "x", "unknown template 'nope'"),
        ("guard", "Bad_Name", "not valid"),
        ("guard", "dup", "already exists"),
    ],
)
def test_create_refuses_bad_requests_and_never_overwrites(tmp_path, template, name, message):
    (tmp_path / "dup").mkdir()
    (tmp_path / "dup" / "keep.txt").write_text("mine")
    with pytest.raises(EngineError, match=message):
        create(template, name, tmp_path)
    assert (tmp_path / "dup" / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_a_template_plugin_passes_every_pliers_check_unchanged(
    tmp_path, monkeypatch, capsys, template
):
    """Issue 15 §5.1: what `pliers create` writes passes what `pliers` checks, run as an
    author runs them, from inside the new folder (its README once failed `docs --check`,
    and a second `package .` nested the first bundle in the second)."""
    import zipfile

    from pliers_lab.pdk.cli import main

    assert main(["create", template, "fresh", "--dir", str(tmp_path)]) == 0
    monkeypatch.chdir(tmp_path / "fresh")
    for command in (
        ["validate", "."],
        ["test", "."],
        ["docs", ".", "--check"],
        ["simulate", ".", TEMPLATES[template].hook],
        ["package", "."],
        ["package", "."],
    ):
        status = main(command)
        out, err = capsys.readouterr()
        assert status == 0, (command, out, err)
    (bundle,) = (tmp_path / "fresh").glob("fresh-*.zip")
    assert not [n for n in zipfile.ZipFile(bundle).namelist() if n.endswith(".zip")]
    assert main(["validate", str(bundle)]) == 0
