"""``pliers advisories``, ``pliers advisory ...`` and ``pliers trust`` on a real registry
and store (issue 19 §2). Here beside the marketplace tests, whose fixtures they use."""

from __future__ import annotations

import json

import pytest

from pliers_lab.market import PluginMarketplace, PluginStore, Registry
from pliers_lab.pdk.cli import main


def test_report_confirm_and_list_what_the_store_has(
    registry: Registry, store: PluginStore, market: PluginMarketplace, publish, capsys
) -> None:
    publish("csvx", "1.0.0")
    market.install("csvx")
    publish("csvx", "1.1.0")
    reg, st = str(registry.root), str(store.root)
    assert main(["advisories", "--registry", reg, "--store", st]) == 0
    assert "no installed plugin is affected" in capsys.readouterr().out
    assert main([
        "advisory", "report", "csvx", "--version", "1.0.0", "--severity", "high",
        "--type", "data-exfiltration", "--description", "rows go out",
        "--registry", reg, "--user", "bob",
    ]) == 0  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert (report["status"], report["version"]) == ("open", "1.0.0")
    # bob is no maintainer: one line, exit 2
    args = ["advisory", "confirm", str(report["id"]), "--affected", "<1.1.0", "--fixed", "1.1.0"]
    assert main([*args, "--registry", reg, "--user", "bob"]) == 2
    assert "'bob' may not publish advisories on csvx" in capsys.readouterr().err
    assert main([*args, "--registry", reg, "--user", "ann"]) == 0
    advisory = json.loads(capsys.readouterr().out)
    assert advisory["reports"] == [report["id"]] and advisory["fixedVersion"] == "1.1.0"
    assert main(["advisories", "--registry", reg, "--store", st]) == 1  # something affected
    line = capsys.readouterr().out
    assert f"csvx 1.0.0: {advisory['id']} high (<1.1.0)" in line and "update to 1.1.0" in line
    assert main(["advisories", "--registry", reg, "--plugin", "csvx"]) == 0
    assert advisory["id"] in capsys.readouterr().out


def test_trust_prints_each_signal(registry: Registry, store: PluginStore, publish, capsys) -> None:
    publish("csvx")
    assert (
        main(["trust", "csvx@1.0.0", "--registry", str(registry.root), "--store", str(store.root)])
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("csvx@1.0.0: trust ")
    for name in ("signature", "key trust", "scan", "downloads", "advisories", "runtime"):
        assert name in out
    assert "unknown: no engine given" in out
    assert main(["trust", "csvx", "--registry", str(registry.root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == "1.0.0"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["trust", "csvx", "--registry", "/nonexistent"],
            "--registry /nonexistent: not a registry",
        ),
        (["advisories"], "--registry DIR|URL is needed"),
    ],
)
def test_mistakes_are_one_line(argv, message, capsys) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err
