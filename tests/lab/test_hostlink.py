"""``%pliers simulate`` and the pipeline pictures, on the simulated host.

The first test is the tripwire issue 6 asks for: when the host package exists, simulate
must work, not say the host is missing.
"""

from __future__ import annotations

from typing import Any

import pytest
from IPython.core.error import UsageError

from pliers_lab.lab import default_engine, default_host
from pliers_lab.lab.hostlink import host_available, pipeline_frame, plot_pipeline


def test_simulate_runs_the_host_pipeline(shell: Any) -> None:
    assert host_available()
    shell.run_line_magic("pliers", "load --all")
    simulation = shell.run_line_magic("pliers", "simulate --session s1")
    assert simulation.ok, simulation.error
    assert simulation.value["status"] and simulation.trace.status == "ok"
    assert "submission.beforeSave" in simulation.trace.names


def test_simulate_given_answers_and_a_refusal(shell: Any) -> None:
    shell.run_line_magic("pliers", "load --all")
    shell.user_ns["answers"] = {
        "name": "Bot",
        "email": "bot@example.com",
        "topic": "sales",
        "message": "buy cheap things now",
        "website": "http://spam",
    }
    refused = shell.run_line_magic("pliers", "simulate $answers")
    assert not refused.ok and refused.value is None
    assert refused.trace.status == "aborted"
    html = refused._repr_html_()
    assert 'class="pliers-pipeline"' in html and 'data-step="submission.beforeSave"' in html
    frame = refused.frame
    guard = frame[frame["plugin"] == "submission-guard"]
    assert list(guard["name"]) == ["submission.beforeSave"]
    assert "save" not in set(frame["name"])  # it stopped before the save


def test_simulate_mistakes_are_one_line(shell: Any) -> None:
    with pytest.raises(UsageError, match="unknown form 'nope'"):
        shell.run_line_magic("pliers", 'simulate --form nope {"a": 1}')
    with pytest.raises(UsageError, match="JSON object"):
        shell.run_line_magic("pliers", "simulate [1, 2]")


def test_cell_form_and_the_pipeline_timeline(shell: Any) -> None:
    shell.run_line_magic("pliers", "load --all")
    body = (
        '{"name": "Ada Lovelace", "email": "ada@example.com", "topic": "support", '
        '"message": "The engine needs a second look."}'
    )
    simulation = shell.run_cell_magic("pliers", "simulate --user ada", body)
    assert simulation.ok
    frame = pipeline_frame(simulation.trace)
    assert {"label", "start_ms", "duration_ms", "status", "plugin"} <= set(frame.columns)
    assert (frame["start_ms"] >= 0).all()
    picture = simulation.timeline()
    assert picture.png().startswith(b"\x89PNG") and len(picture.frame) == len(frame)
    assert len(plot_pipeline(frame).frame) == len(frame)


def test_default_host_follows_the_default_engine() -> None:
    host = default_host()
    assert host.engine is default_engine()
    assert default_host() is host
    assert {"contact", "expense-claim"} <= {f["id"] for f in host.list_forms()}
