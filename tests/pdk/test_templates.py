"""Every template gives a plugin that loads, answers its hook and passes its own tests."""

import json

import pytest

from pliers_lab import EngineError
from pliers_lab.pdk.harness import Harness
from pliers_lab.pdk.templates import TEMPLATES, create
from pliers_lab.pdk.testing import run_plugin_tests


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
