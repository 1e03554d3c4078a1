"""The plugin store: installed versions side by side, which one is active, trusted keys.

On disk (DESIGN.md §5)::

    <root>/store.db                 SQLite: installed, versions, trusted_keys, history,
                                    config (the user's settings, kept across restarts)
    <root>/<name>/<version>/        one unpacked bundle per installed version
    <root>/.data/<name>/            the plugin's data folder (kept on uninstall by default)
    <root>/.staging/                bundles being unpacked; emptied under the lock
    <root>/.lock                    one writer at a time, across processes

Install, update and rollback only add folders and switch the active version in the
database; an installed version's folder is never overwritten. A server, a notebook and
a command line can share one store: every change happens under an exclusive ``flock`` on
``.lock`` and inside one SQLite transaction.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..storage.sqlite import dumps, loads, migrate_file, now, numbered, transaction
from .refusals import NotFoundError

if TYPE_CHECKING:
    from ..manifest import Manifest
    from .signing import PublicKey

__all__ = ["InstalledPlugin", "PluginStore"]

SCHEMA = [
    """
    CREATE TABLE installed (
        name TEXT PRIMARY KEY,
        version TEXT NOT NULL,
        previous_version TEXT,
        reason TEXT NOT NULL CHECK (reason IN ('explicit', 'dependency')),
        installed_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        FOREIGN KEY (name, version) REFERENCES versions(name, version)
    );
    CREATE TABLE versions (
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        checksum TEXT NOT NULL,
        key_id TEXT,
        source TEXT,
        installed_at TEXT NOT NULL,
        PRIMARY KEY (name, version)
    );
    CREATE TABLE trusted_keys (
        key_id TEXT PRIMARY KEY,
        name TEXT,
        public_key TEXT NOT NULL,
        added_at TEXT NOT NULL
    );
    CREATE TABLE history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        name TEXT NOT NULL,
        action TEXT NOT NULL,
        from_version TEXT,
        to_version TEXT,
        detail TEXT
    )
    """,
    """
    CREATE TABLE config (
        name TEXT PRIMARY KEY,
        overrides TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )
    """,
]
MIGRATIONS = numbered(SCHEMA, "store")


@dataclass(frozen=True)
class InstalledPlugin:
    """An installed plugin: the active version, the one before it, all kept on disk."""

    name: str
    version: str
    previous_version: str | None
    reason: str
    installed_at: str
    updated_at: str
    path: Path
    versions: tuple[str, ...]
    checksum: str
    key_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "pluginId": self.name,
            "version": self.version,
            "previousVersion": self.previous_version,
            "reason": self.reason,
            "installedAt": self.installed_at,
            "updatedAt": self.updated_at,
            "path": str(self.path),
            "versions": list(self.versions),
            "checksum": self.checksum,
            "keyId": self.key_id,
        }


class PluginStore:
    """The installed plugins under ``root`` (created if needed)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.db = self.root / "store.db"
        self.data_root = self.root / ".data"
        self.staging_root = self.root / ".staging"
        self.root.mkdir(parents=True, exist_ok=True)
        migrate_file(self.db, MIGRATIONS, what=f"the store {self.db}")

    def __repr__(self) -> str:
        return f"PluginStore({str(self.root)!r})"

    # ------------------------------------------------------------------------ reads
    def installed(self) -> dict[str, InstalledPlugin]:
        """Every installed plugin by name."""
        with transaction(self.db) as db:
            rows = db.execute(
                "SELECT i.*, v.checksum, v.key_id FROM installed i "
                "JOIN versions v ON v.name = i.name AND v.version = i.version ORDER BY i.name"
            ).fetchall()
            kept = db.execute("SELECT name, version FROM versions").fetchall()
        on_disk: dict[str, list[str]] = {}
        for row in kept:
            on_disk.setdefault(row["name"], []).append(row["version"])
        return {
            row["name"]: InstalledPlugin(
                name=row["name"],
                version=row["version"],
                previous_version=row["previous_version"],
                reason=row["reason"],
                installed_at=row["installed_at"],
                updated_at=row["updated_at"],
                path=self.version_dir(row["name"], row["version"]),
                versions=tuple(sorted(on_disk.get(row["name"], []))),
                checksum=row["checksum"],
                key_id=row["key_id"],
            )
            for row in rows
        }

    def get(self, name: str) -> InstalledPlugin:
        found = self.installed().get(name)
        if found is None:
            raise NotFoundError(f"plugin {name!r} is not installed in {self.root}", plugin_id=name)
        return found

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.installed()

    def version_dir(self, name: str, version: str) -> Path:
        return self.root / name / version

    def data_dir(self, name: str) -> Path:
        """Where the plugin keeps its data (the sandbox's ``data_root / name``)."""
        return self.data_root / name

    def manifest(self, name: str, version: str | None = None) -> Manifest:
        """The manifest of an installed version (the active one by default)."""
        from ..manifest import load_manifest

        return load_manifest(self.version_dir(name, version or self.get(name).version))

    def checksum(self, name: str, version: str) -> str | None:
        """The recorded checksum of a version kept on disk, if it is kept."""
        with transaction(self.db) as db:
            row = db.execute(
                "SELECT checksum FROM versions WHERE name = ? AND version = ?", (name, version)
            ).fetchone()
        return None if row is None else str(row["checksum"])

    def signer(self, name: str, version: str) -> str | None:
        """The key id that signed ``name@version``, if this store trusts that key now.

        The install checked the signature against that key id (issue 13 §1: the engine
        is told it with ``origin="bundle"``, and its ``TrustPolicy.keys`` decides)."""
        with transaction(self.db) as db:
            row = db.execute(
                "SELECT key_id FROM versions WHERE name = ? AND version = ?", (name, version)
            ).fetchone()
        key_id = None if row is None else row["key_id"]
        return str(key_id) if key_id and key_id in self.trusted_keys() else None

    def dependents(self, name: str) -> list[str]:
        """Installed plugins whose active version needs ``name`` (directly or not),
        nearest first; optional dependencies do not count."""
        manifests = {n: self.manifest(n) for n in self.installed()}
        out: list[str] = []
        frontier = [name]
        while frontier:
            target = frontier.pop(0)
            for other, manifest in sorted(manifests.items()):
                if other == name or other in out:
                    continue
                if any(d == target and s != "optional" for d, _r, s in manifest.all_dependencies()):
                    out.append(other)
                    frontier.append(other)
        return out

    def history(self, name: str | None = None) -> list[dict[str, Any]]:
        """Installs, updates, rollbacks and uninstalls, oldest first."""
        with transaction(self.db) as db:
            rows = db.execute(
                "SELECT * FROM history WHERE ?1 IS NULL OR name = ?1 ORDER BY id", (name,)
            ).fetchall()
        return [dict(r) for r in rows]

    # ----------------------------------------------------------------------- config
    def save_config(self, name: str, overrides: Mapping[str, Any] | None) -> None:
        """Keep the configuration the user set for ``name`` (None forgets it); it is
        applied again whenever the store's plugins are loaded, updated or rolled back."""
        with transaction(self.db, write=True) as db:
            if overrides is None:
                db.execute("DELETE FROM config WHERE name = ?", (name,))
            else:
                db.execute(
                    "INSERT OR REPLACE INTO config VALUES (?, ?, ?)",
                    (name, dumps(dict(overrides)), now()),
                )

    def config(self, name: str) -> dict[str, Any] | None:
        """The configuration kept for ``name``, if any."""
        with transaction(self.db) as db:
            row = db.execute("SELECT overrides FROM config WHERE name = ?", (name,)).fetchone()
        return None if row is None else dict(loads(row["overrides"]))

    # ------------------------------------------------------------------------ trust
    def trust_key(self, public_key: PublicKey, name: str | None = None) -> str:
        """Trust bundles signed by ``public_key`` (``name`` says whose it is)."""
        with transaction(self.db, write=True) as db:
            db.execute(
                "INSERT OR REPLACE INTO trusted_keys VALUES (?, ?, ?, ?)",
                (public_key.key_id, name, public_key.pem, now()),
            )
        return public_key.key_id

    def untrust_key(self, key_id: str) -> None:
        with transaction(self.db, write=True) as db:
            if not db.execute("DELETE FROM trusted_keys WHERE key_id = ?", (key_id,)).rowcount:
                raise NotFoundError(f"key {key_id} is not trusted in {self.root}")

    def trusted_keys(self) -> dict[str, PublicKey]:
        from .signing import PublicKey

        with transaction(self.db) as db:
            rows = db.execute("SELECT key_id, public_key FROM trusted_keys").fetchall()
        return {r["key_id"]: PublicKey.from_pem(r["public_key"]) for r in rows}

    # ------------------------------------------------------------- low level (locked)
    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive across threads and processes; leftovers of a crash are swept."""
        with (self.root / ".lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                shutil.rmtree(self.staging_root, ignore_errors=True)
                self.staging_root.mkdir(exist_ok=True)
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def staging(self) -> Path:
        """A fresh folder under ``.staging`` (deep enough that no scan mistakes its
        content for an installed plugin)."""
        return Path(tempfile.mkdtemp(dir=self.staging_root))

    def write(self) -> Any:
        """A write transaction on the store's database (see ``_db.transaction``)."""
        return transaction(self.db, write=True)

    @staticmethod
    def add_version(
        db: sqlite3.Connection,
        name: str,
        version: str,
        checksum: str,
        key_id: str | None,
        source: str,
    ) -> None:
        db.execute(
            "INSERT OR IGNORE INTO versions VALUES (?, ?, ?, ?, ?, ?)",
            (name, version, checksum, key_id, source, now()),
        )

    @staticmethod
    def set_active(
        db: sqlite3.Connection, name: str, version: str, previous: str | None, reason: str
    ) -> None:
        stamp = now()
        db.execute(
            "INSERT INTO installed VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
            "version = excluded.version, previous_version = excluded.previous_version, "
            "updated_at = excluded.updated_at",
            (name, version, previous, reason, stamp, stamp),
        )

    @staticmethod
    def forget(db: sqlite3.Connection, name: str) -> None:
        db.execute("DELETE FROM installed WHERE name = ?", (name,))
        db.execute("DELETE FROM versions WHERE name = ?", (name,))

    @staticmethod
    def log(
        db: sqlite3.Connection,
        name: str,
        action: str,
        from_version: str | None,
        to_version: str | None,
        detail: str | None = None,
    ) -> None:
        db.execute(
            "INSERT INTO history (at, name, action, from_version, to_version, detail) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (now(), name, action, from_version, to_version, detail),
        )
