"""The lab draws trust scores and advisory watches (issue 19 §2), through a real IPython
shell with ``%load_ext pliers_lab``, over a real registry, store and engine."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from pliers_lab import Engine
from pliers_lab.market import (
    Advisories,
    AdvisoryWatch,
    PluginMarketplace,
    PluginStore,
    Registry,
    SigningKey,
    build_bundle,
    trust_score,
)

from ..market.conftest import write_plugin


def _html(shell: Any, value: Any) -> str:
    data, _metadata = shell.display_formatter.format(value)
    return str(data.get("text/html", ""))


def test_trust_scores_and_advisories_are_drawn(shell: Any, tmp_path: Path) -> None:
    key = SigningKey.generate()
    registry = Registry(tmp_path / "registry")
    registry.register_key("ann", key.public_key)
    store = PluginStore(tmp_path / "store")
    store.trust_key(key.public_key, "ann")
    for version in ("1.0.0", "1.1.0"):
        folder = write_plugin(tmp_path / "src", "csvx", version)
        registry.publish(build_bundle(folder, tmp_path / "dist", signing_key=key), user="ann")
    with Engine() as engine:
        market = PluginMarketplace(registry, store, engine=engine)
        market.install("csvx", "1.0.0")
        advisory = Advisories(registry).publish(
            "csvx", user="ann", affected="<1.1.0", severity="high", title="<leak>",
            fixed_version="1.1.0",
        )  # fmt: skip
        score = trust_score(registry, "csvx", "1.0.0", store=store, engine=engine)
        page = _html(shell, score)
        assert 'class="pliers-trust"' in page
        assert re.search(r'data-signal="ratings" data-known="false"', page)
        assert re.search(r'data-signal="advisories" data-known="true"', page)
        assert f">{score.score}<" in page and "capped at 30" in page
        watch = AdvisoryWatch(market, policy="disable")
        watch.check()
        page = _html(shell, watch)
        assert f'data-plugin="csvx" data-advisory="{advisory.id}" data-action="disabled"' in page
        assert "&lt;leak&gt;" in page and "<leak>" not in page  # escaped
        assert "update to 1.1.0" in page
    shell.run_line_magic("unload_ext", "pliers_lab")
    assert "pliers-trust" not in _html(shell, score)
    shell.run_line_magic("load_ext", "pliers_lab")  # the fixture unloads it again


def test_pliers_advisories_and_trust_magics(shell: Any, tmp_path: Path) -> None:
    from IPython.core.error import UsageError

    from pliers_lab.lab import default_engine

    key = SigningKey.generate()
    registry = Registry(tmp_path / "registry")
    registry.register_key("ann", key.public_key)
    store = PluginStore(tmp_path / "store")
    store.trust_key(key.public_key, "ann")
    folder = write_plugin(tmp_path / "src", "csvx", "1.0.0")
    registry.publish(build_bundle(folder, tmp_path / "dist", signing_key=key), user="ann")
    engine = default_engine()
    PluginMarketplace(registry, store, engine=engine).install("csvx")
    advisory = Advisories(registry).publish(
        "csvx", user="ann", affected="1.0.0", severity="critical", title="leak"
    )
    where = f"--registry {registry.root} --store {store.root}"
    watch = shell.run_line_magic("pliers", f"advisories {where} --policy disable")
    assert [(f.advisory.id, f.action) for f in watch.last] == [(advisory.id, "disabled")]
    assert engine.plugin("csvx").state.value == "stopped"
    assert f'data-advisory="{advisory.id}"' in _html(shell, watch)
    score = shell.run_line_magic("pliers", f"trust csvx@1.0.0 {where}")
    assert score.cap == 10 and score.signal("runtime").value is None
    assert score.frame().loc[0, "signal"] == "signature"
    with pytest.raises(UsageError, match=r"not a registry \(no registry\.db\)"):
        shell.run_line_magic("pliers", f"trust csvx --registry {tmp_path / 'nowhere'}")
