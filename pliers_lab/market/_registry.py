"""A local plugin registry: signed bundles in, versions, tags, maintainers and counts out
(spec: Registry Management, ``PluginRegistry``).

On disk::

    <root>/registry.db                          SQLite: every table below
    <root>/bundles/<name>/<name>-<version>.zip  the published bundles, as uploaded

Publishing refuses, before anything is stored: a bundle that does not open cleanly, an
invalid manifest, a missing or foreign signature (the key must be registered to the
publishing user), a version published before (even if since unpublished: a version
number always means one content), and a security scan below ``min_score`` or with a
critical/high issue. Roles are simple: an *owner* may do everything, a *maintainer*
may publish and tag; the first publisher of a name becomes its owner.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..storage.sqlite import dumps, loads, migrate_file, now, numbered, transaction
from ..versions import VersionError, max_satisfying, parse_version
from . import _search_index
from ._advisories import ADVISORY_SCHEMA
from ._listings import PluginRecord, PublishResult, VersionRecord
from ._package import DEFAULT_LIMITS, Limits
from .bundle import open_bundle
from .refusals import (
    AlreadyExistsError,
    BundleError,
    NotFoundError,
    RegistryAccessError,
    SignatureError,
    UnsafePluginError,
)

if TYPE_CHECKING:
    from ..dependencies import Catalog
    from .query import MarketplaceQuery, PluginListing, SearchResult
    from .signing import PublicKey

__all__ = ["PluginRecord", "PublishResult", "Registry", "VersionRecord"]

Role = Literal["owner", "maintainer"]
README_FILES = ("README.md", "README.rst", "README.txt", "README")
MAX_README = 256 << 10

SCHEMA = [
    """
    CREATE TABLE plugins (
        name TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        verified INTEGER NOT NULL DEFAULT 0,
        featured INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE versions (
        name TEXT NOT NULL REFERENCES plugins(name),
        version TEXT NOT NULL,
        released_at TEXT NOT NULL,
        unpublished_at TEXT,
        publisher TEXT NOT NULL,
        key_id TEXT,
        checksum TEXT NOT NULL,
        size INTEGER NOT NULL,
        bundle TEXT NOT NULL,
        manifest TEXT NOT NULL,
        description TEXT NOT NULL,
        author TEXT NOT NULL,
        license TEXT NOT NULL,
        keywords TEXT NOT NULL,
        categories TEXT NOT NULL,
        engines_pliers TEXT NOT NULL,
        changes TEXT NOT NULL,
        readme TEXT,
        scan TEXT NOT NULL,
        score INTEGER NOT NULL,
        downloads INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (name, version)
    );
    CREATE TABLE tags (
        name TEXT NOT NULL,
        tag TEXT NOT NULL,
        version TEXT NOT NULL,
        PRIMARY KEY (name, tag),
        FOREIGN KEY (name, version) REFERENCES versions(name, version)
    );
    CREATE TABLE maintainers (
        name TEXT NOT NULL REFERENCES plugins(name),
        user TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('owner', 'maintainer')),
        added_at TEXT NOT NULL,
        PRIMARY KEY (name, user)
    );
    CREATE TABLE keys (
        key_id TEXT PRIMARY KEY,
        user TEXT NOT NULL,
        public_key TEXT NOT NULL,
        added_at TEXT NOT NULL
    );
    CREATE TABLE ratings (
        name TEXT NOT NULL REFERENCES plugins(name),
        user TEXT NOT NULL,
        stars INTEGER NOT NULL CHECK (stars BETWEEN 0 AND 5),
        rated_at TEXT NOT NULL,
        PRIMARY KEY (name, user)
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        user TEXT,
        action TEXT NOT NULL,
        name TEXT,
        version TEXT,
        detail TEXT
    );
    CREATE INDEX versions_live ON versions(name) WHERE unpublished_at IS NULL
    """,
    """
    CREATE TABLE permissions (
        name TEXT NOT NULL REFERENCES plugins(name),
        action TEXT NOT NULL,
        allowed TEXT NOT NULL,
        PRIMARY KEY (name, action)
    )
    """,
]
#: The advisory tables (``_advisories``) are schema steps of the same file.
#: The search index (``_search_index``) follows them (issue 19 §1: FTS5 full-text search).
MIGRATIONS = numbered([*SCHEMA, *ADVISORY_SCHEMA, *_search_index.SEARCH_SCHEMA], "registry")

#: Who may do what to a plugin unless ``set_permissions`` says otherwise. Owners may
#: always (a plugin cannot lock its owners out); managing maintainers and permissions is
#: theirs alone.
DEFAULT_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "publish": ("owner", "maintainer"),
    "tag": ("owner", "maintainer"),
    "untag": ("owner", "maintainer"),
    "unpublish": ("owner",),
}


class Registry:
    """A plugin registry in ``root`` (created if needed). Safe to share between processes.

    Args:
        min_score: publishing needs at least this security score.
        require_safe: publishing also needs a scan without critical or high issues (on by
            default; off, the score alone decides, and installers must check for
            themselves).
        require_signature: refuse unsigned bundles (on by default; the spec's publishing
            flow signs with a key file).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        min_score: int = 70,
        require_safe: bool = True,
        require_signature: bool = True,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.root = Path(root)
        self.db = self.root / "registry.db"
        self.bundles = self.root / "bundles"
        self.min_score = min_score
        self.require_safe = require_safe
        self.require_signature = require_signature
        self.limits = limits
        self.bundles.mkdir(parents=True, exist_ok=True)
        migrate_file(self.db, MIGRATIONS, what=f"the registry {self.db}")

    def __repr__(self) -> str:
        return f"Registry({str(self.root)!r})"

    # ----------------------------------------------------------------- keys & users
    def register_key(self, user: str, public_key: PublicKey) -> str:
        """Register ``public_key`` as ``user``'s signing key; returns its key id."""
        with transaction(self.db, write=True) as db:
            row = db.execute(
                "SELECT user FROM keys WHERE key_id = ?", (public_key.key_id,)
            ).fetchone()
            if row is not None and row["user"] != user:
                raise AlreadyExistsError(
                    f"key {public_key.key_id} is already registered to {row['user']!r}"
                )
            db.execute(
                "INSERT OR IGNORE INTO keys VALUES (?, ?, ?, ?)",
                (public_key.key_id, user, public_key.pem, now()),
            )
            _audit(db, user, "register-key", None, None, public_key.key_id)
        return public_key.key_id

    def revoke_key(self, key_id: str) -> str:
        """Withdraw a registered key (a lost or leaked one): nothing signed with it can be
        published any more. Versions already published keep their record. Returns the
        user it was registered to; ``NotFoundError`` if it is not registered."""
        with transaction(self.db, write=True) as db:
            row = db.execute("SELECT user FROM keys WHERE key_id = ?", (key_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"key {key_id} is not registered in the registry {self.root}")
            db.execute("DELETE FROM keys WHERE key_id = ?", (key_id,))
            _audit(db, row["user"], "revoke-key", None, None, key_id)
        return str(row["user"])

    def keys(self, user: str | None = None) -> dict[str, PublicKey]:
        """Registered keys by key id (of ``user`` only, if given)."""
        from .signing import PublicKey

        with transaction(self.db) as db:
            rows = db.execute(
                "SELECT key_id, public_key FROM keys WHERE ?1 IS NULL OR user = ?1", (user,)
            ).fetchall()
        return {r["key_id"]: PublicKey.from_pem(r["public_key"]) for r in rows}

    def key_owner(self, key_id: str) -> str | None:
        with transaction(self.db) as db:
            row = db.execute("SELECT user FROM keys WHERE key_id = ?", (key_id,)).fetchone()
        return None if row is None else str(row["user"])

    # ----------------------------------------------------------------------- publish
    def publish(
        self,
        bundle_path: str | os.PathLike[str],
        *,
        user: str,
        changes: Sequence[str] | str = (),
    ) -> PublishResult:
        """Check and store a bundle as a new version (see the module docstring).

        ``changes`` are the release notes shown in the version list. The first stable
        version published above the current ``latest`` becomes ``latest``.
        """
        from ..manifest import ManifestError
        from .scan import scan_bundle
        from .signing import verify_bundle

        bundle = open_bundle(bundle_path, limits=self.limits)
        try:
            manifest = bundle.manifest
        except ManifestError as exc:
            raise BundleError(
                str(bundle.path),
                "invalid manifest:\n" + "\n".join(f"  {p}" for p in exc.problems),
                entry="manifest.json",
                details={
                    "problems": [{"path": list(p.path), "message": p.message} for p in exc.problems]
                },
            ) from None
        name, version = manifest.name, str(manifest.version)
        verification = verify_bundle(bundle, self.keys(user))
        if verification.status == "unsigned" and not self.require_signature:
            key_id = None
        elif not verification.valid:
            owner = self.key_owner(verification.key_id) if verification.key_id else None
            reason = verification.reason
            if verification.status == "untrusted":
                reason = (
                    f"signed by key {verification.key_id}, which is registered to "
                    f"{owner!r}, not {user!r}"
                    if owner
                    else f"signed by key {verification.key_id}, which is not registered; "
                    f"call register_key({user!r}, key) first"
                )
            raise SignatureError(
                f"cannot publish {manifest.key}: {reason}",
                plugin_id=name,
                details={"verification": verification.to_dict()},
            )
        else:
            key_id = verification.key_id
        self._check_role(name, user, "publish", allow_new=True)
        self._check_new_version(name, version)
        scan = scan_bundle(bundle)
        if (self.require_safe and not scan.safe) or scan.score < self.min_score:
            worst = [f"{i.severity} {i.type} at {i.location}" for i in scan.issues[:5]]
            raise UnsafePluginError(
                f"cannot publish {manifest.key}: security score {scan.score} "
                f"(minimum {self.min_score}, and no critical or high issue): " + "; ".join(worst),
                plugin_id=name,
                details={"scan": scan.to_dict(), "minScore": self.min_score},
            )
        notes = (changes,) if isinstance(changes, str) else tuple(changes)
        readme = _readme(bundle)
        target = self.bundles / name / f"{name}-{version}.zip"
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=target.parent)
        os.close(fd)
        shutil.copyfile(bundle.path, tmp)
        released = now()
        try:
            with transaction(self.db, write=True) as db:
                self._check_new_version(name, version, db)  # another publisher may have won
                if db.execute("SELECT 1 FROM plugins WHERE name = ?", (name,)).fetchone() is None:
                    db.execute(
                        "INSERT INTO plugins (name, created_at) VALUES (?, ?)", (name, released)
                    )
                    db.execute(
                        "INSERT INTO maintainers VALUES (?, ?, 'owner', ?)", (name, user, released)
                    )
                db.execute(
                    "INSERT INTO versions (name, version, released_at, publisher, key_id, "
                    "checksum, size, bundle, manifest, description, author, license, keywords, "
                    "categories, engines_pliers, changes, readme, scan, score) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        name,
                        version,
                        released,
                        user,
                        key_id,
                        bundle.checksum,
                        bundle.metadata.size,
                        str(target.relative_to(self.root)),
                        dumps(bundle.manifest_data),
                        manifest.description,
                        manifest.author,
                        manifest.license,
                        dumps(list(manifest.keywords)),
                        dumps([str(c) for c in manifest.categories]),
                        manifest.engines.pliers,
                        dumps(list(notes)),
                        readme,
                        dumps(scan.to_dict()),
                        scan.score,
                    ),
                )
                tags = self._auto_tag(db, name, version)
                _audit(db, user, "publish", name, version, bundle.checksum)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return PublishResult(name, version, bundle.checksum, key_id, released, tags, scan)

    def _check_new_version(
        self, name: str, version: str, db: sqlite3.Connection | None = None
    ) -> None:
        def check(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT unpublished_at FROM versions WHERE name = ? AND version = ?",
                (name, version),
            ).fetchone()
            if row is None:
                return
            if row["unpublished_at"]:
                raise AlreadyExistsError(
                    f"{name}@{version} was published and then unpublished; a version number is "
                    "never reused: bump the version",
                    plugin_id=name,
                )
            raise AlreadyExistsError(
                f"{name}@{version} is already published; bump the version to publish again",
                plugin_id=name,
            )

        if db is not None:
            check(db)
        else:
            with transaction(self.db) as conn:
                check(conn)

    def _auto_tag(self, db: sqlite3.Connection, name: str, version: str) -> tuple[str, ...]:
        if parse_version(version).prerelease:
            return ()
        row = db.execute(
            "SELECT version FROM tags WHERE name = ? AND tag = 'latest'", (name,)
        ).fetchone()
        if row is not None and parse_version(row["version"]) > parse_version(version):
            return ()
        db.execute("INSERT OR REPLACE INTO tags VALUES (?, 'latest', ?)", (name, version))
        return ("latest",)

    def unpublish(self, name: str, version: str, *, user: str) -> None:
        """Withdraw a version (owners only). Its number stays reserved; tags on it go."""
        self._check_role(name, user, "unpublish")
        record = self.version(name, version)
        with transaction(self.db, write=True) as db:
            db.execute("DELETE FROM tags WHERE name = ? AND version = ?", (name, version))
            db.execute(
                "UPDATE versions SET unpublished_at = ? WHERE name = ? AND version = ?",
                (now(), name, version),
            )
            _audit(db, user, "unpublish", name, version, None)
        record.bundle.unlink(missing_ok=True)

    # ---------------------------------------------------------------------- tags
    def tag(self, name: str, version: str, tag: str, *, user: str) -> None:
        """Point ``tag`` (``latest``, ``beta``, ...) at a published version."""
        if not tag or not tag.replace("-", "").isalnum() or _is_version(tag):
            raise ValueError(f"tag {tag!r}: letters, digits and '-', and not a version number")
        self._check_role(name, user, "tag")
        self.version(name, version)
        with transaction(self.db, write=True) as db:
            db.execute("INSERT OR REPLACE INTO tags VALUES (?, ?, ?)", (name, tag, version))
            _audit(db, user, "tag", name, version, tag)

    def untag(self, name: str, tag: str, *, user: str) -> None:
        self._check_role(name, user, "untag")
        with transaction(self.db, write=True) as db:
            if not db.execute("DELETE FROM tags WHERE name = ? AND tag = ?", (name, tag)).rowcount:
                raise NotFoundError(f"{name} has no tag {tag!r}", plugin_id=name)
            _audit(db, user, "untag", name, None, tag)

    # --------------------------------------------------------------- maintainers
    def add_maintainer(self, name: str, who: str, *, user: str, role: Role = "maintainer") -> None:
        """Give ``who`` a role on ``name`` (owners only); also changes an existing role."""
        if role not in ("owner", "maintainer"):
            raise ValueError(f"role must be 'owner' or 'maintainer', got {role!r}")
        self._check_role(name, user, "manage", "add maintainers to")
        with transaction(self.db, write=True) as db:
            db.execute(
                "INSERT OR REPLACE INTO maintainers VALUES (?, ?, ?, ?)", (name, who, role, now())
            )
            self._keep_an_owner(db, name)
            _audit(db, user, "add-maintainer", name, None, f"{who}:{role}")

    set_role = add_maintainer

    def remove_maintainer(self, name: str, who: str, *, user: str) -> None:
        """Take ``who``'s role away (owners only; anyone may remove themselves)."""
        if who != user:
            self._check_role(name, user, "manage", "remove maintainers from")
        with transaction(self.db, write=True) as db:
            if not db.execute(
                "DELETE FROM maintainers WHERE name = ? AND user = ?", (name, who)
            ).rowcount:
                raise NotFoundError(f"{who!r} is not a maintainer of {name}", plugin_id=name)
            self._keep_an_owner(db, name)
            _audit(db, user, "remove-maintainer", name, None, who)

    @staticmethod
    def _keep_an_owner(db: sqlite3.Connection, name: str) -> None:
        if (
            db.execute(
                "SELECT 1 FROM maintainers WHERE name = ? AND role = 'owner'", (name,)
            ).fetchone()
            is None
        ):
            raise RegistryAccessError(
                f"{name} would have no owner left; add another owner first", plugin_id=name
            )

    def maintainers(self, name: str) -> dict[str, str]:
        return self.plugin(name, include_empty=True).maintainers

    def set_permissions(
        self, name: str, permissions: Mapping[str, Sequence[str] | None], *, user: str
    ) -> dict[str, list[str]]:
        """Who may ``publish``, ``tag``, ``untag`` or ``unpublish`` ``name`` (owners only):
        each action lists roles (``owner``, ``maintainer``) and users (``user:<id>``);
        None puts an action back to its default. Returns the permissions now in force."""
        self._check_role(name, user, "manage", "set permissions on")
        rows = []
        for action, allowed in permissions.items():
            if action not in DEFAULT_PERMISSIONS:
                raise ValueError(
                    f"permissions of {name}: unknown action {action!r} "
                    f"(known: {', '.join(DEFAULT_PERMISSIONS)})"
                )
            if allowed is not None:
                entries = [allowed] if isinstance(allowed, str) else list(allowed)
                bad = [
                    e
                    for e in entries
                    if not isinstance(e, str)
                    or not (e in ("owner", "maintainer") or (e.startswith("user:") and e[5:]))
                ]
                if bad:
                    raise ValueError(
                        f"permissions of {name}: {action}: {bad!r} is not a role (owner, "
                        "maintainer) or a user ('user:<id>')"
                    )
                allowed = entries
            rows.append((action, allowed))
        with transaction(self.db, write=True) as db:
            for action, allowed in rows:
                if allowed is None:
                    db.execute(
                        "DELETE FROM permissions WHERE name = ? AND action = ?", (name, action)
                    )
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO permissions VALUES (?, ?, ?)",
                        (name, action, dumps(allowed)),
                    )
            _audit(db, user, "set-permissions", name, None, dumps(dict(rows)))
        return self.permissions(name)

    def permissions(self, name: str) -> dict[str, list[str]]:
        """Who may do what to ``name`` (the defaults where nothing was set)."""
        with transaction(self.db) as db:
            rows = db.execute(
                "SELECT action, allowed FROM permissions WHERE name = ?", (name,)
            ).fetchall()
        found = {r["action"]: list(loads(r["allowed"])) for r in rows}
        return {a: found.get(a, list(default)) for a, default in DEFAULT_PERMISSIONS.items()}

    def _check_role(
        self,
        name: str,
        user: str,
        action: str,
        wording: str | None = None,
        *,
        allow_new: bool = False,
    ) -> None:
        with transaction(self.db) as db:
            exists = db.execute("SELECT 1 FROM plugins WHERE name = ?", (name,)).fetchone()
            row = db.execute(
                "SELECT role FROM maintainers WHERE name = ? AND user = ?", (name, user)
            ).fetchone()
        if exists is None:
            if allow_new:
                return
            raise NotFoundError(f"no plugin {name!r} in the registry", plugin_id=name)
        role = row["role"] if row is not None else None
        allowed = ["owner"] if action == "manage" else self.permissions(name)[action]
        if role == "owner" or role in allowed or f"user:{user}" in allowed:
            return
        have = f"a {role}" if role is not None else "not a maintainer"
        raise RegistryAccessError(
            f"{user!r} may not {wording or action} {name}: {user!r} is {have} "
            f"(allowed: {', '.join(allowed)})",
            plugin_id=name,
        )

    # --------------------------------------------------------------- admin & users
    def set_verified(self, name: str, verified: bool = True) -> None:
        """Mark a plugin as verified by the registry's operators (the listing's badge)."""
        self._set_flag(name, "verified", verified)

    def set_featured(self, name: str, featured: bool = True) -> None:
        self._set_flag(name, "featured", featured)

    def _set_flag(self, name: str, column: str, value: bool) -> None:
        with transaction(self.db, write=True) as db:
            cursor = db.execute(
                f"UPDATE plugins SET {column} = ? WHERE name = ?", (int(value), name)
            )
            if not cursor.rowcount:
                raise NotFoundError(f"no plugin {name!r} in the registry", plugin_id=name)
            _audit(db, None, f"set-{column}", name, None, str(value))

    def rate(self, name: str, stars: int, *, user: str) -> float:
        """Record ``user``'s rating (0 to 5, one per user); returns the new average."""
        if not isinstance(stars, int) or isinstance(stars, bool) or not 0 <= stars <= 5:
            raise ValueError(f"a rating is an integer from 0 to 5, got {stars!r}")
        self.plugin(name)
        with transaction(self.db, write=True) as db:
            db.execute(
                "INSERT OR REPLACE INTO ratings VALUES (?, ?, ?, ?)", (name, user, stars, now())
            )
            average = db.execute(
                "SELECT AVG(stars) FROM ratings WHERE name = ?", (name,)
            ).fetchone()[0]
        return round(float(average), 2)

    def download(self, name: str, version: str) -> Path:
        """The bundle of ``name@version``, counted as one download."""
        record = self.version(name, version)
        with transaction(self.db, write=True) as db:
            db.execute(
                "UPDATE versions SET downloads = downloads + 1 WHERE name = ? AND version = ?",
                (name, version),
            )
        return record.bundle

    def audit(self, name: str | None = None) -> list[dict[str, Any]]:
        """What was done to the registry (to ``name``), oldest first."""
        with transaction(self.db) as db:
            rows = db.execute(
                "SELECT * FROM audit WHERE ?1 IS NULL OR name = ?1 ORDER BY id", (name,)
            ).fetchall()
        return [dict(r) for r in rows]

    # ---------------------------------------------------------------------- reads
    def plugins(self) -> list[PluginRecord]:
        """Every plugin with at least one live version, by name."""
        return [p for p in self._load(None) if p.versions]

    def plugin(self, name: str, *, include_empty: bool = False) -> PluginRecord:
        found = self._load(name)
        if not found or (not found[0].versions and not include_empty):
            raise NotFoundError(f"no plugin {name!r} in the registry", plugin_id=name)
        return found[0]

    def version(self, name: str, version: str) -> VersionRecord:
        plugin = self.plugin(name)
        record = plugin.get(version)
        if record is None:
            known = ", ".join(v.version for v in plugin.versions)
            raise NotFoundError(
                f"{name} has no version {version!r} (published: {known})", plugin_id=name
            )
        return record

    def resolve_version(self, name: str, wanted: str | None = None) -> VersionRecord:
        """An exact version, a tag (``beta``) or an npm range (``^1.2``); ``None`` is the
        ``latest`` version."""
        plugin = self.plugin(name)
        if wanted is None:
            latest = plugin.latest
            assert latest is not None  # plugin() only returns plugins with versions
            return latest
        if wanted in plugin.tags:
            wanted = plugin.tags[wanted]
        exact = plugin.get(wanted)
        if exact is not None:
            return exact
        try:
            best = max_satisfying([v.version for v in plugin.versions], wanted)
        except VersionError:
            best = None
        if best is None:
            known = ", ".join(v.version for v in plugin.versions)
            tags = ", ".join(f"{t}={v}" for t, v in sorted(plugin.tags.items()))
            raise NotFoundError(
                f"{name} has no version matching {wanted!r} "
                f"(published: {known}; tags: {tags or 'none'})",
                plugin_id=name,
            )
        return self.version(name, best)

    # ----------------------------------------- search (the index: _search_index)
    def search(self, query: MarketplaceQuery) -> SearchResult:
        """``query.search(self.plugins(), query)``, answered from the full-text index."""
        return _search_index.search(self, query)

    def featured(self, limit: int = 6) -> list[PluginListing]:
        """Featured plugins' listings, best rated first."""
        return _search_index.featured(self, limit)

    def popular(self, limit: int = 10) -> list[PluginListing]:
        """The most downloaded plugins' listings."""
        return _search_index.popular(self, limit)

    def category_counts(self) -> dict[str, int]:
        """How many plugins list each category (in their ``latest`` version)."""
        return _search_index.category_counts(self)

    def catalog(self) -> Catalog:
        """Every live version as a dependency-resolution ``Catalog``."""
        from ..dependencies import Catalog

        return Catalog(v.spec() for p in self.plugins() for v in p.versions)

    def _load(self, name: str | None) -> list[PluginRecord]:
        with transaction(self.db) as db:
            where = "WHERE ?1 IS NULL OR name = ?1"
            plugins = db.execute(f"SELECT * FROM plugins {where} ORDER BY name", (name,)).fetchall()
            versions = db.execute(
                "SELECT * FROM versions WHERE (?1 IS NULL OR name = ?1) AND unpublished_at IS NULL",
                (name,),
            ).fetchall()
            tags = db.execute(f"SELECT * FROM tags {where}", (name,)).fetchall()
            people = db.execute(f"SELECT * FROM maintainers {where}", (name,)).fetchall()
            ratings = db.execute(
                f"SELECT name, AVG(stars) AS avg, COUNT(*) AS n FROM ratings {where} GROUP BY name",
                (name,),
            ).fetchall()
        by_name: dict[str, list[VersionRecord]] = {}
        for row in versions:
            by_name.setdefault(row["name"], []).append(self._version(row))
        tag_map: dict[str, dict[str, str]] = {}
        for row in tags:
            tag_map.setdefault(row["name"], {})[row["tag"]] = row["version"]
        roles: dict[str, dict[str, str]] = {}
        for row in people:
            roles.setdefault(row["name"], {})[row["user"]] = row["role"]
        stars = {row["name"]: (float(row["avg"]), int(row["n"])) for row in ratings}
        return [
            PluginRecord(
                name=row["name"],
                created_at=row["created_at"],
                verified=bool(row["verified"]),
                featured=bool(row["featured"]),
                versions=tuple(
                    sorted(
                        by_name.get(row["name"], []),
                        key=lambda v: parse_version(v.version),
                        reverse=True,
                    )
                ),
                tags=tag_map.get(row["name"], {}),
                maintainers=roles.get(row["name"], {}),
                rating=round(stars.get(row["name"], (0.0, 0))[0], 2),
                rating_count=stars.get(row["name"], (0.0, 0))[1],
            )
            for row in plugins
        ]

    def _version(self, row: sqlite3.Row) -> VersionRecord:
        return VersionRecord(
            name=row["name"],
            version=row["version"],
            released_at=row["released_at"],
            publisher=row["publisher"],
            key_id=row["key_id"],
            checksum=row["checksum"],
            size=row["size"],
            bundle=self.root / row["bundle"],
            manifest=loads(row["manifest"], {}),
            description=row["description"],
            author=row["author"],
            license=row["license"],
            keywords=tuple(loads(row["keywords"], [])),
            categories=tuple(loads(row["categories"], [])),
            engines_pliers=row["engines_pliers"],
            changes=tuple(loads(row["changes"], [])),
            score=row["score"],
            downloads=row["downloads"],
            readme=row["readme"],
            scan=loads(row["scan"], {}),
        )


def _is_version(text: str) -> bool:
    try:
        parse_version(text)
    except VersionError:
        return False
    return True


def _readme(bundle: Any) -> str | None:
    for name in README_FILES:
        entry = next((f for f in bundle.metadata.files if f.path == name), None)
        if entry is not None and entry.size <= MAX_README:
            text: str = bundle.read(name).decode("utf-8", "replace")
            return text
    return None


def _audit(
    db: sqlite3.Connection,
    user: str | None,
    action: str,
    name: str | None,
    version: str | None,
    detail: str | None,
) -> None:
    db.execute(
        "INSERT INTO audit (at, user, action, name, version, detail) VALUES (?, ?, ?, ?, ?, ?)",
        (now(), user, action, name, version, detail),
    )
