"""The Host object: defaults, lifecycle, operation bookkeeping."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from pliers_lab.host import Host
from pliers_lab.host._event_bus import EventBus
from pliers_lab.host._notifications import fill


def test_defaults_a_file_in_the_data_folder_and_its_own_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLIERS_LAB_DATA", str(tmp_path))
    with Host() as host:
        assert host.db.path == str(tmp_path / "host.sqlite3")
        assert host.db.journal_mode == "wal"
        engine = host.engine
        assert "Host" in repr(host) and "forms=0" in repr(host)
    assert (tmp_path / "host.sqlite3").exists()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        host.db.query("SELECT 1")
    assert engine.plugins == []


def test_a_file_database_survives_the_host(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    with Host(db_path=path) as host:
        host.create_form({"id": "f", "name": "F", "fields": [{"name": "a", "type": "text"}]})
    with Host(db_path=path) as again:
        assert again.get_form("f")["name"] == "F"
        assert again.db.applied_migrations == []


def test_events_are_checked_before_they_are_published(host: Host) -> None:
    bus: EventBus = host.bus
    with pytest.raises(ValueError, match="aggregate type 'planet'"):
        bus.event("x.y", {}, aggregate_type="planet", aggregate_id="p")
    with pytest.raises(ValueError, match="event type must be text of 1 to 100"):
        bus.event("", {}, aggregate_type="system", aggregate_id="p")
    with pytest.raises(ValueError, match="an event payload is a dict"):
        bus.event("x.y", [], aggregate_type="system", aggregate_id="p")  # type: ignore[arg-type]
    event = bus.event("x.y", {"bad": object()}, aggregate_type="system", aggregate_id="p")
    with pytest.raises(ValueError, match="payload is not JSON data"):
        bus.publish(event)
    with pytest.raises(ValueError, match="max_depth must be at least 1"):
        EventBus(host.db, max_depth=0)
    with pytest.raises(TypeError, match="must be callable"):
        bus.subscribe("x", "not callable")  # type: ignore[arg-type]


def test_templates_are_filled_from_the_submission() -> None:
    form: dict[str, Any] = {"name": "Contact"}
    submission = {"id": "s-1", "status": "new", "data": {"name": "Ada", "n": 2}}
    assert fill(
        "{{ name }} #{{n}} on {{form.name}} ({{submission.id}}, {{submission.status}})"
        " {{missing}}!",
        form,
        submission,
    ) == ("Ada #2 on Contact (s-1, new) !")
    assert fill("plain", form, submission) == "plain"
