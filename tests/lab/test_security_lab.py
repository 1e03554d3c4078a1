"""The security monitor in the lab (issue 19 §3): ``%pliers security`` DataFrames and
plot, ``%pliers quarantine`` / ``release`` by hand, recorded with source ``lab``."""

from __future__ import annotations

from typing import Any

import pytest
from IPython.core.error import UsageError

from pliers_lab.lab import default_engine, plots
from pliers_lab.security import SecurityPolicy

HOOK = "submission.afterSave"
MANIFEST = {
    "name": "mailer",
    "version": "1.0.0",
    "description": "sends mail",
    "author": "Tests <tests@example.com>",
    "license": "MIT",
    "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
    "hooks": {HOOK: {"handler": "sent"}},
    "permissions": {"network": {"outbound": ["smtp.example.com:443"]}},
}


def line(shell: Any, text: str) -> Any:
    return shell.run_line_magic("pliers", text)


@pytest.fixture
def watched(shell: Any) -> Any:
    """The default engine with ``mailer`` loaded, which a host service saw allowed once
    and then denied six times on a destination it was never granted."""
    engine = default_engine()
    engine.add_plugin(MANIFEST, {"sent": lambda ctx: "sent"})
    monitor = engine.security
    monitor.policy = SecurityPolicy(learning_s=0.0)
    monitor.log_access("mailer", "network:smtp.example.com:443", "outbound")
    for _ in range(6):
        monitor.log_access("mailer", "network:exfil.example.net:443", "outbound")
    return engine


def test_frames_of_behaviour_anomalies_and_threats(shell: Any, watched: Any) -> None:
    behavior = line(shell, "security")
    assert behavior[["plugin_id", "version", "requests", "denials"]].values.tolist() == [
        ["mailer", "1.0.0", 7, 6]
    ]
    assert behavior.loc[0, "denied_hosts"] == "exfil.example.net:443"
    anomalies = line(shell, "security mailer --show anomalies")
    assert set(anomalies["kind"]) == {"new_destination", "denial_burst"}
    threats = line(shell, "security --show threats")
    assert threats[["plugin_id", "action"]].values.tolist() == [["mailer", "quarantine"]]


def test_quarantine_and_release_by_hand_are_recorded(
    shell: Any, watched: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    line(shell, "quarantine mailer looks like exfiltration")
    assert watched.quarantined("mailer") == "looks like exfiltration"
    assert watched.fire(HOOK, {}).value == []
    line(shell, "release mailer reviewed")
    assert watched.fire(HOOK, {}).value == ["sent"]
    with pytest.raises(UsageError, match="'mailer' is not quarantined"):
        line(shell, "release mailer")
    actions = line(shell, "security --show actions")
    assert actions[["action", "source", "reason"]].values.tolist() == [
        ["quarantine", "lab", "looks like exfiltration"],
        ["release", "lab", "reviewed"],
    ]
    (quarantined,) = watched.security_actions("mailer")[:1]
    assert quarantined["evidence"][0]["source"] == "threat"  # the threat it stood on


def test_the_plot_over_time_draws_each_kind_of_event(shell: Any, watched: Any) -> None:
    line(shell, "quarantine mailer checking")
    picture = line(shell, "security --show plot")
    assert isinstance(picture, plots.Picture) and picture.png().startswith(b"\x89PNG")
    kinds = picture.frame["kind"].str.split(":").str[0].value_counts().to_dict()
    # learning_s=0: the first request to either host is new (2), and the burst (1)
    assert kinds == {"allowed": 1, "denied": 6, "anomaly": 3, "quarantine": 1}
    legend = [t.get_text() for t in picture.figure.axes[0].get_legend().get_texts()]
    assert legend == [
        "request allowed (1)",
        "request denied (6)",
        "anomaly (3)",
        "quarantined (1)",
    ]
