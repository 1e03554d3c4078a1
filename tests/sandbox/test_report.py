"""The isolation report: which layers hold here, and what a missing one means — workers run
without a defence-in-depth layer, and are refused without a required one, saying how to
get it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sandbox.helpers import MakePlugin, requires

from pliers_lab import Engine, PluginError
from pliers_lab.sandbox import ProcessRuntime, SandboxPolicy
from pliers_lab.sandbox.layers import LAYERS
from pliers_lab.sandbox.policy import REQUIRED_LAYERS
from pliers_lab.sandbox.report import REMEDY, host_report

CONNECT = """
from pliers_lab import hook

@hook("submission.afterSave")
def reach_out(ctx):
    import socket
    socket.create_connection(("127.0.0.1", 9), timeout=1)
    return "connected"
"""


def test_the_required_layers_are_the_boundary_and_the_rest_degrade() -> None:
    assert {"rlimits", "landlock", "seccomp"} == REQUIRED_LAYERS
    policy = SandboxPolicy(simulate_missing=frozenset({"netns", "cgroup"}))
    report = host_report(policy)
    assert [s.layer for s in report] == list(LAYERS)
    assert report["netns"].verdict == "missing: runs without"
    assert report["cgroup"].verdict == "missing: runs without"
    assert not report["netns"].required and report["seccomp"].required
    assert report.can_isolate and set(report.missing) >= {"netns", "cgroup"}
    assert report.summary().startswith("process isolation works without")
    text = str(report)
    assert "to get it: " + REMEDY["netns"] in text
    assert "without it: new sockets are still refused by seccomp" in text


def test_a_missing_required_layer_blocks_and_says_how_to_get_it() -> None:
    report = host_report(SandboxPolicy(simulate_missing=frozenset({"landlock"})))
    assert report.blocking == ["landlock"] and not report.can_isolate
    assert report.summary() == "process isolation refused: required layer missing (landlock)"
    assert report["landlock"].verdict == "missing: workers refused"
    accepted = host_report(
        SandboxPolicy(
            simulate_missing=frozenset({"landlock"}), accept_missing=frozenset({"landlock"})
        )
    )
    assert accepted.can_isolate and accepted["landlock"].verdict == "missing: runs without"


def test_report_renders_as_text_html_and_frame() -> None:
    report = host_report(SandboxPolicy(simulate_missing=frozenset({"cgroup"})))
    html = report._repr_html_()
    assert html.count("<tr data-layer=") == len(LAYERS)
    assert "data-layer='cgroup' data-active='false'" in html
    assert "delegate a cgroup v2 subtree" in html
    frame = report.to_frame()
    assert list(frame.index) == list(LAYERS)
    assert frame.loc["cgroup", "status"] == "missing: runs without"
    assert frame.loc["rlimits", "how to get it"] == ""
    with pytest.raises(KeyError, match="no isolation layer 'firewall'"):
        report["firewall"]


def test_engine_reports_its_own_policy(tmp_path: Path) -> None:
    with Engine() as engine:
        assert [s.layer for s in engine.isolation_report()] == list(LAYERS)
        engine.register_runtime(
            ProcessRuntime(SandboxPolicy(data_root=tmp_path, simulate_missing=frozenset({"netns"})))
        )
        assert engine.isolation_report()["netns"].verdict == "missing: runs without"


@requires("seccomp", "landlock")
def test_a_worker_runs_without_a_missing_optional_layer_and_seccomp_still_refuses_sockets(
    tmp_path: Path, make_plugin: MakePlugin
) -> None:
    runtime = ProcessRuntime(
        SandboxPolicy(data_root=tmp_path / "data", simulate_missing=frozenset({"netns", "cgroup"}))
    )
    with Engine(default_isolation="process") as engine:
        engine.register_runtime(runtime)
        plugin = engine.load(make_plugin("reacher", CONNECT))
        assert "netns" not in plugin.layers and "cgroup" not in plugin.layers
        assert {"seccomp", "landlock", "rlimits"} <= set(plugin.layers)
        missing = engine.isolation("reacher")["missing"]
        assert missing == {
            "netns": "simulated as missing by the policy",
            "cgroup": "simulated as missing by the policy",
        }
        outcome = engine.fire("submission.afterSave", {}).outcome("reacher")
        assert outcome.error is not None and outcome.error.type.value == "security_error"
        assert "socket(AF_INET" in outcome.error.message
    runtime.close()


def test_a_missing_required_layer_refuses_with_the_remedy(
    tmp_path: Path, make_plugin: MakePlugin
) -> None:
    runtime = ProcessRuntime(
        SandboxPolicy(data_root=tmp_path / "data", simulate_missing=frozenset({"seccomp"}))
    )
    with Engine(default_isolation="process") as engine:
        engine.register_runtime(runtime)
        with pytest.raises(PluginError) as info:
            engine.load(make_plugin("strict", CONNECT))
    message = str(info.value)
    assert "cannot isolate 'strict': required isolation layer missing" in message
    assert REMEDY["seccomp"] in message and "pliers doctor" in message
    runtime.close()
