"""Replaying event logs through the example plugins, on Dask's schedulers."""

import json
from pathlib import Path

import pytest

from pliers_lab import TrustPolicy
from pliers_lab.replay import EventLogError, ReplayError, read_events, replay, synthetic_log

EXTENSIONS = Path(__file__).parents[2] / "extensions"
#: The examples are ours: these tests replay them inline, as a host that trusts them would
#: (untrusted plugins are replayed in their sandbox: see the tests at the end).
TRUSTED = TrustPolicy(folders=[EXTENSIONS])


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
    report = replay(log, EXTENSIONS, scheduler="synchronous", blocksize="16KiB", trust=TRUSTED)
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
    serial = replay(log, EXTENSIONS, scheduler="synchronous", blocksize="64KiB", trust=TRUSTED)
    threads = replay(log, EXTENSIONS, scheduler="threads", blocksize="64KiB", trust=TRUSTED)
    processes = replay(log, EXTENSIONS, scheduler="processes", blocksize="128KiB", trust=TRUSTED)
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
    report = replay(broken, EXTENSIONS, scheduler="synchronous", trust=TRUSTED)
    assert len(report.bad_lines) == 2 and "not JSON" in report.bad_lines[0]
    assert "missing field 'timestamp'" in report.bad_lines[1]
    with pytest.raises(EventLogError, match="line 4 of its block: not JSON"):
        replay(broken, EXTENSIONS, scheduler="synchronous", strict=True, trust=TRUSTED)
    with pytest.raises(EventLogError, match="no such event log"):
        replay(tmp_path / "missing.jsonl", EXTENSIONS)


PID_VETO = """
import os
from pliers_lab import Veto, hook

@hook("submission.beforeSave")
def refuse(ctx):
    return Veto(f"pid {os.getpid()}")
"""

NEEDS_A_SOCKET = """
import socket

socket.socket().close()  # at import: allowed inline, refused in the sandbox
"""


def _plugin(root: Path, name: str, code: str, hooks: dict) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    manifest = {
        "name": name,
        "version": "1.0.0",
        "description": "a replayed plugin",
        "author": "Tests <t@example.com>",
        "license": "MIT",
        "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
        "isolation": "inline",  # a request the replay does not grant unless trusted
        "hooks": hooks,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "plugin.py").write_text(code)
    return root


def test_untrusted_plugins_are_replayed_in_their_sandbox(tmp_path, log):
    """Issue 13 §1: the replay's engines follow the host's trust, not the manifest."""
    import os

    plugins = _plugin(tmp_path / "plugins", "pid-veto", PID_VETO, {"submission.beforeSave": {}})
    boxed = replay(log, plugins, scheduler="synchronous", blocksize="64KiB")
    pids = {int(reason.split()[1]) for (_plugin, reason) in boxed.vetoes}
    assert pids and os.getpid() not in pids  # refused from a worker process
    trusted = replay(
        log,
        plugins,
        scheduler="synchronous",
        blocksize="64KiB",
        trust=TrustPolicy(plugins={"pid-veto"}),
    )
    assert {reason for (_plugin, reason) in trusted.vetoes} == {f"pid {os.getpid()}"}
    assert sum(trusted.vetoes.values()) == sum(boxed.vetoes.values())
    in_processes = replay(log, plugins, scheduler="processes", blocksize="128KiB")
    assert sum(in_processes.vetoes.values()) == sum(boxed.vetoes.values())


def test_a_plugin_the_sandbox_cannot_run_is_refused_by_name(tmp_path, log):
    plugins = _plugin(tmp_path / "plugins", "needs-socket", NEEDS_A_SOCKET, {})
    with pytest.raises(ReplayError, match="cannot replay through plugin 'needs-socket': "):
        replay(log, plugins, scheduler="synchronous")
    trusted = replay(log, plugins, scheduler="synchronous", trust=TrustPolicy(folders=[tmp_path]))
    assert trusted.events > 0 and trusted.errors == []


@pytest.mark.parametrize("scheduler", ["synchronous", "threads"])
def test_progress_is_reported_per_partition_in_the_calling_thread(log, scheduler):
    # Issue 15 §4: replaying a large log shows how far it is.
    import threading

    seen = []

    def progress(done, total, events):
        seen.append((done, total, events, threading.get_ident()))

    report = replay(log, EXTENSIONS, scheduler=scheduler, blocksize="16KiB", trust=TRUSTED,
                    progress=progress)  # fmt: skip
    total = report.partitions
    assert total > 2 and len(seen) == total + 1
    assert [s[:2] for s in seen] == [(done, total) for done in range(total + 1)]
    events = [s[2] for s in seen]
    assert events[0] == 0 and events == sorted(events) and events[-1] == report.events
    assert {s[3] for s in seen} == {threading.get_ident()}
