"""Replaying event logs through the example plugins, on Dask's schedulers."""

import json
from pathlib import Path

import pytest

from pliers_lab.replay import EventLogError, read_events, replay, synthetic_log

EXTENSIONS = Path(__file__).parents[2] / "extensions"


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    return synthetic_log(tmp_path_factory.mktemp("log") / "events.jsonl", 400)


def spam_count(path):
    return sum(
        1
        for e in read_events(path)
        if e["type"] == "submission.created"
        and (
            e["payload"]["data"]["website"]
            or e["payload"]["data"]["email"].endswith("@mailinator.com")
        )
    )


def test_every_event_is_replayed_and_refusals_are_explained(log):
    report = replay(log, EXTENSIONS, scheduler="synchronous", blocksize="16KiB")
    created = sum(1 for e in read_events(log) if e["type"] == "submission.created")
    assert report.events == sum(1 for _ in read_events(log)) and report.partitions > 1
    assert report.by_type["submission.created"] == created
    stopped = sum(report.vetoes.values())
    assert stopped >= spam_count(log) > 0
    reasons = {reason for (_plugin, reason) in report.vetoes}
    assert "honeypot field 'website' was filled" in reasons
    saved = report.calls[("audit-log", "submission.afterSave", "ok")]
    assert saved == created - stopped
    assert (
        report.calls[("audit-log", "workflow.afterTransition", "ok")]
        == report.by_type["submission.status.changed"]
    )
    frame = report.frame().set_index(["plugin_id", "hook"])
    assert frame.loc[("submission-sanitizer", "submission.sanitize"), "calls"] > 0
    assert report.errors == [] and report.bad_lines == []


def test_threads_and_processes_agree_with_the_serial_run(log):
    serial = replay(log, EXTENSIONS, scheduler="synchronous", blocksize="64KiB")
    threads = replay(log, EXTENSIONS, scheduler="threads", blocksize="64KiB")
    processes = replay(log, EXTENSIONS, scheduler="processes", blocksize="128KiB")
    for other in (threads, processes):
        assert (
            other.events == serial.events
            and other.calls == serial.calls
            and other.vetoes == serial.vetoes
        )


def test_bad_lines_are_counted_or_refused_with_their_place(tmp_path, log):
    broken = tmp_path / "broken.jsonl"
    lines = log.read_text().splitlines()
    lines.insert(3, "{not json")
    lines.insert(5, json.dumps({"id": "x", "type": "submission.created"}))
    broken.write_text("\n".join(lines) + "\n")
    report = replay(broken, EXTENSIONS, scheduler="synchronous")
    assert len(report.bad_lines) == 2 and "not JSON" in report.bad_lines[0]
    assert "missing field 'timestamp'" in report.bad_lines[1]
    with pytest.raises(EventLogError, match="line 4 of its block: not JSON"):
        replay(broken, EXTENSIONS, scheduler="synchronous", strict=True)
    with pytest.raises(EventLogError, match="no such event log"):
        replay(tmp_path / "missing.jsonl", EXTENSIONS)
