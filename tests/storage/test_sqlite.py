"""One SQLite layer, one migration mechanism: databases written by c6d1737 — the host's,
the marketplace's registry and store (their versions then only in ``PRAGMA user_version``)
and the sandbox's access log (no versions at all) — open with today's code without losing
a row (tests/fixtures/c6d1737/make.py wrote them with that commit's code)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from pliers_lab.host import Host
from pliers_lab.host._migrations import MIGRATIONS as HOST_MIGRATIONS
from pliers_lab.market import PluginStore, Registry
from pliers_lab.market._registry import MIGRATIONS as REGISTRY_MIGRATIONS
from pliers_lab.market._store import MIGRATIONS as STORE_MIGRATIONS
from pliers_lab.sandbox import AccessLog
from pliers_lab.storage import Migration, SchemaError, connect, migrate

OLD = Path(__file__).parents[1] / "fixtures" / "c6d1737"


def recorded(path: Path) -> tuple[list[int], int]:
    with sqlite3.connect(path) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
        return sorted(versions), conn.execute("PRAGMA user_version").fetchone()[0]


@pytest.fixture
def old(tmp_path: Path) -> Path:
    return Path(shutil.copytree(OLD, tmp_path / "c6d1737"))


def test_the_hosts_database_of_c6d1737_opens_with_its_form_and_submission(old: Path) -> None:
    with Host(db_path=old / "host.sqlite3") as host:
        assert "contact" in host.forms.ids()
        [saved] = host.submissions.list("contact")
        assert saved["data"]["message"] == "Please call me back about the invoice"
        assert host.db.schema_version == len(HOST_MIGRATIONS)
    versions, counted = recorded(old / "host.sqlite3")
    assert versions == [m.version for m in HOST_MIGRATIONS] and counted == len(HOST_MIGRATIONS)


def test_the_marketplaces_files_of_c6d1737_are_adopted_without_loss(old: Path) -> None:
    registry = Registry(old / "registry")
    assert [p.name for p in registry.plugins()] == ["audit-log"]
    assert registry.version("audit-log", "1.0.0").publisher == "ann"
    assert list(registry.keys("ann"))
    store = PluginStore(old / "store")
    assert list(store.trusted_keys()) == list(registry.keys("ann"))
    for db, migrations in ((old / "registry" / "registry.db", REGISTRY_MIGRATIONS),
                           (old / "store" / "store.db", STORE_MIGRATIONS)):  # fmt: skip
        versions, counted = recorded(db)
        assert versions == [m.version for m in migrations] and counted == len(migrations)
    Registry(old / "registry")  # a second opening applies nothing and loses nothing
    assert [p.name for p in Registry(old / "registry").plugins()] == ["audit-log"]


def test_the_access_log_of_c6d1737_keeps_its_rows(old: Path) -> None:
    AccessLog(path=old / "access.sqlite3")
    with sqlite3.connect(old / "access.sqlite3") as conn:
        rows = conn.execute("SELECT plugin_id, operation, verdict FROM access_log").fetchall()
    assert rows == [("audit-log", "insert", "allowed")]
    assert recorded(old / "access.sqlite3") == ([1], 1)


def test_a_file_from_a_newer_pliers_lab_is_refused_by_whichever_count_is_newer(
    tmp_path: Path,
) -> None:
    steps = (Migration(1, "one", "CREATE TABLE t (x)"),)
    for how in ("PRAGMA user_version = 7", "INSERT INTO schema_migrations VALUES (7, 'x', 0)"):
        conn = connect(tmp_path / f"{len(how)}.db")
        migrate(conn, steps)
        conn.execute(how)
        with pytest.raises(SchemaError, match="schema version 7, newer than this pliers_lab"):
            migrate(conn, steps, what="the file")
        conn.close()
