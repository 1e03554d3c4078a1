"""The monitor's spec verbs on an inline engine (no sandbox): permission checks against
the manifest, ``log_access`` rows in the behaviour, the record of actions without a
store, and the watcher thread's automatic quarantine."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pliers_lab import Engine, EngineError, PliersError
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
    "permissions": {
        "network": {"outbound": ["smtp.example.com:443"]},
        "database": {"read": ["submissions"]},
    },
}


@pytest.fixture
def engine() -> Iterator[Engine]:
    eng = Engine(default_isolation="inline")
    eng.add_plugin(MANIFEST, {"sent": lambda ctx: "sent"})
    yield eng
    eng.close()


def test_check_permission_reads_the_manifest_and_names_mistakes(engine: Engine) -> None:
    monitor = engine.security
    assert monitor.check_permission("mailer", "network:smtp.example.com:443", "outbound")
    assert not monitor.check_permission("mailer", "network:evil.example.net:443", "outbound")
    assert monitor.check_permission("mailer", "database:submissions", "read")
    assert not monitor.check_permission("mailer", "database:submissions", "write")
    with pytest.raises(ValueError, match="write it category:resource"):
        monitor.check_permission("mailer", "submissions", "read")
    with pytest.raises(ValueError, match=r"no permission database\.drop"):
        monitor.check_permission("mailer", "database:submissions", "drop")
    with pytest.raises(PliersError, match="nobody"):
        monitor.check_permission("nobody", "database:submissions", "read")


def test_logged_accesses_and_calls_make_the_baseline(engine: Engine) -> None:
    monitor = engine.security
    for _ in range(3):
        engine.fire(HOOK, {})
        monitor.log_access("mailer", "database:submissions", "read")
    monitor.log_access("mailer", "database:users", "read")  # not granted: denied
    (baseline,) = monitor.analyze_behavior("mailer").versions
    assert baseline.calls == {HOOK: 3} and baseline.accesses == 4 and baseline.denials == 1
    assert baseline.permissions == {"database.read": ["submissions", "users"]}
    assert baseline.memory_mib is None  # inline: not measured, never 0
    frame = monitor.behavior_frame()
    assert frame.loc[0, "denials"] == 1 and math.isnan(frame.loc[0, "memory_mib"])


def test_actions_without_a_store_come_from_the_activity_feed(engine: Engine) -> None:
    engine.quarantine("mailer", "by hand", source="test", evidence=[{"source": "note"}])
    engine.release("mailer", source="test", reason="done")
    actions = engine.security_actions("mailer")
    assert [(a["action"], a["source"], a["reason"]) for a in actions] == [
        ("quarantine", "test", "by hand"),
        ("release", "test", "done"),
    ]
    assert actions[0]["evidence"] == [{"source": "note"}] and actions[0]["version"] == "1.0.0"


def test_the_watcher_quarantines_under_the_policy(engine: Engine) -> None:
    monitor = engine.security
    monitor.policy = SecurityPolicy(learning_s=0.0, auto_quarantine="high")
    monitor.start(interval_s=0.05)
    try:
        for _ in range(5):
            monitor.log_access("mailer", "network:evil.example.net:443", "outbound")
        deadline = time.monotonic() + 10
        while engine.quarantined("mailer") is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        monitor.stop()
    assert (engine.quarantined("mailer") or "").startswith("threat thr-")
    assert monitor.last_error is None
    assert engine.fire(HOOK, {}).value == []
    (action,) = engine.security_actions("mailer")
    assert action["source"] == "policy"


def test_a_quarantined_plugin_is_not_reloaded_until_released(
    engine: Engine, tmp_path: Path
) -> None:
    from support import write_plugin

    folder = write_plugin(tmp_path, "reloadable", "from pliers_lab import hook\n"
                          "@hook('submission.afterSave')\ndef h(ctx):\n    return 1\n",
                          {HOOK: {}})  # fmt: skip
    engine.load(folder)
    engine.quarantine("reloadable", "under review")
    with pytest.raises(EngineError, match=r"'reloadable' is quarantined \(under review\)"):
        engine.reload("reloadable")
    assert engine.plugin("reloadable").state.value == "stopped"
    engine.release("reloadable")
    assert engine.reload("reloadable").state.value == "active"
