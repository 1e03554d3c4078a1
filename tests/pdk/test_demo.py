"""``pliers demo`` (``pdk/_demo.py``): without ``--extensions`` it finds the checkout's
``extensions/`` folder, and says where it looked when there is none (an installed
package ships no examples)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pliers_lab.errors import EngineError
from pliers_lab.pdk import _demo, cli
from pliers_lab.pdk._demo import default_extensions, run

ROOT = Path(__file__).resolve().parents[2]


def test_the_default_is_the_checkouts_extensions_folder() -> None:
    folder = default_extensions()
    assert folder == ROOT / "extensions"
    assert (folder / "crm-integration" / "manifest.json").is_file()


def test_the_demo_runs_without_a_folder_from_a_checkout() -> None:
    lines: list[str] = []
    engine = run(out=lines.append)
    try:
        assert lines[0] == f"pliers_lab demo: loading plugins from {ROOT / 'extensions'}\n"
        loaded = {p.id for p in engine.plugins}
        assert {"crm-integration", "submission-sanitizer", "flaky-crm"} <= loaded
    finally:
        engine.close()


def test_an_installed_package_without_examples_names_the_folder_it_looked_at(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "site-packages" / "pliers_lab"
    package.mkdir(parents=True)
    with pytest.raises(EngineError) as info:
        default_extensions(package)
    looked = tmp_path / "site-packages" / "extensions"
    assert f"no example plugins at {looked}" in str(info.value)
    assert "pass --extensions DIR" in str(info.value)
    # an extensions/ folder with no plugin in it is no better
    looked.mkdir()
    with pytest.raises(EngineError, match="no example plugins at"):
        default_extensions(package)
    # `pliers demo` run from that package: one line on stderr naming it, exit 2
    monkeypatch.setattr(_demo, "__file__", str(package / "pdk" / "_demo.py"))
    assert cli.main(["demo"]) == 2
    err = capsys.readouterr().err
    assert f"no example plugins at {looked}" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
