"""Security reports and advisories, kept in the registry's database (spec: Plugin
Verification, ``reportSecurity`` and ``getSecurityAdvisories``; issue 19 §2).

Anyone may *report* a problem with a published version (the spec's ``SecurityIssue``
shape: severity, type, description, location, recommendation). A report is a claim, not
a fact: only the plugin's owners and maintainers may *confirm* reports into an
*advisory*, or *dismiss* them. An advisory names the affected versions as an npm range
(``>=1.0.0 <1.1.0``, read by ``pliers_lab.versions`` with node-semver's meaning), its
severity, and the version that fixes it, if one exists. Engines that have an affected
version installed learn of it from here (``_advisory_watch``).

The tables are registry schema steps (``ADVISORY_SCHEMA``, appended to the registry's
migrations), so a registry file and its advisories travel together.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from ..storage.sqlite import now, transaction
from ..versions import VersionError, parse_range, parse_version, satisfies
from .refusals import MarketError, NotFoundError, RegistryAccessError

if TYPE_CHECKING:
    from ._registry import Registry
    from .scan import SecurityIssue

__all__ = [
    "ADVISORY_SCHEMA",
    "SEVERITIES",
    "Advisories",
    "Advisory",
    "AdvisoryError",
    "SecurityReport",
]

Severity = Literal["low", "medium", "high", "critical"]
#: Severities, worst first (the scan's vocabulary).
SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low")
ReportStatus = Literal["open", "confirmed", "dismissed"]
MAX_TEXT = 8_000
MAX_SHORT = 200

#: Registry schema steps appended after the registry's own (never edit an applied one).
ADVISORY_SCHEMA = [
    """
    CREATE TABLE IF NOT EXISTS security_reports (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL REFERENCES plugins(name),
        version TEXT NOT NULL,
        reporter TEXT NOT NULL,
        severity TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
        type TEXT NOT NULL,
        description TEXT NOT NULL,
        location TEXT,
        recommendation TEXT NOT NULL,
        reported_at TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'confirmed', 'dismissed')),
        decided_by TEXT,
        decided_at TEXT,
        decision TEXT,
        advisory_id TEXT
    );
    CREATE INDEX IF NOT EXISTS security_reports_plugin ON security_reports(name, version);
    CREATE TABLE IF NOT EXISTS advisories (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL REFERENCES plugins(name),
        affected TEXT NOT NULL,
        severity TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
        title TEXT NOT NULL,
        description TEXT NOT NULL,
        fixed_version TEXT,
        published_at TEXT NOT NULL,
        published_by TEXT NOT NULL,
        withdrawn_at TEXT
    );
    CREATE INDEX IF NOT EXISTS advisories_plugin ON advisories(name)
    """,
]


class AdvisoryError(MarketError):
    """A report or advisory that cannot be stored as given (the message names the field)."""

    code: ClassVar[str] = "VALIDATION_FAILED"
    status: ClassVar[int] = 400


@dataclass(frozen=True)
class SecurityReport:
    """A reported problem with one version: the spec's ``SecurityIssue`` plus who reported
    it, when, and what the maintainers decided."""

    id: int
    plugin_id: str
    version: str
    reporter: str
    severity: str
    type: str
    description: str
    location: str | None
    recommendation: str
    reported_at: str
    status: str
    decided_by: str | None = None
    decided_at: str | None = None
    decision: str | None = None
    advisory_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pluginId": self.plugin_id,
            "version": self.version,
            "reporter": self.reporter,
            "severity": self.severity,
            "type": self.type,
            "description": self.description,
            "location": self.location,
            "recommendation": self.recommendation,
            "reportedAt": self.reported_at,
            "status": self.status,
            "decidedBy": self.decided_by,
            "decidedAt": self.decided_at,
            "decision": self.decision,
            "advisoryId": self.advisory_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SecurityReport:
        """The record back from ``to_dict`` (what the registry service sends)."""
        return cls(
            id=int(data["id"]),
            plugin_id=str(data["pluginId"]),
            version=str(data["version"]),
            reporter=str(data["reporter"]),
            severity=str(data["severity"]),
            type=str(data["type"]),
            description=str(data["description"]),
            location=data.get("location"),
            recommendation=str(data.get("recommendation") or ""),
            reported_at=str(data.get("reportedAt") or ""),
            status=str(data["status"]),
            decided_by=data.get("decidedBy"),
            decided_at=data.get("decidedAt"),
            decision=data.get("decision"),
            advisory_id=data.get("advisoryId"),
        )


@dataclass(frozen=True)
class Advisory:
    """A confirmed problem: which versions of ``plugin_id`` it affects (an npm range), how
    bad it is, and the version that fixes it (None: no fix yet)."""

    id: str
    plugin_id: str
    affected: str
    severity: str
    title: str
    description: str
    fixed_version: str | None
    published_at: str
    published_by: str
    reports: tuple[int, ...] = ()
    withdrawn_at: str | None = None

    def affects(self, version: str) -> bool:
        """Whether ``version`` is in the affected range (prereleases too: a ``1.0.1-rc``
        of an affected line is as vulnerable as its release)."""
        if self.withdrawn_at is not None:
            return False
        return satisfies(version, self.affected, include_prerelease=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pluginId": self.plugin_id,
            "affected": self.affected,
            "severity": self.severity,
            "title": self.title,
            "description": self.description,
            "fixedVersion": self.fixed_version,
            "publishedAt": self.published_at,
            "publishedBy": self.published_by,
            "reports": list(self.reports),
            "withdrawnAt": self.withdrawn_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Advisory:
        """The record back from ``to_dict`` (what the registry service sends)."""
        return cls(
            id=str(data["id"]),
            plugin_id=str(data["pluginId"]),
            affected=str(data["affected"]),
            severity=str(data["severity"]),
            title=str(data.get("title") or ""),
            description=str(data.get("description") or ""),
            fixed_version=data.get("fixedVersion"),
            published_at=str(data.get("publishedAt") or ""),
            published_by=str(data.get("publishedBy") or ""),
            reports=tuple(int(r) for r in data.get("reports") or ()),
            withdrawn_at=data.get("withdrawnAt"),
        )


class Advisories:
    """Reports and advisories of the plugins in ``registry`` (its database file)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.db = registry.db

    def __repr__(self) -> str:
        return f"Advisories({self.registry!r})"

    # ------------------------------------------------------------------ reports
    def report(
        self,
        plugin_id: str,
        issue: SecurityIssue | Mapping[str, Any],
        *,
        version: str | None = None,
        reporter: str,
    ) -> SecurityReport:
        """Store a report against ``plugin_id@version`` (default: its latest version).

        ``issue`` is a ``SecurityIssue`` or its dict (``severity``, ``type``,
        ``description``, ``location``, ``recommendation``); the version must be published.
        """
        fields = _issue_fields(issue, f"report on {plugin_id}")
        record = self.registry.resolve_version(plugin_id, version)
        if version is not None and record.version != version:
            raise AdvisoryError(
                f"report on {plugin_id}: version must be an exact published version, "
                f"not {version!r}",
                plugin_id=plugin_id,
            )
        reporter = _text(reporter, f"report on {plugin_id}: reporter", MAX_SHORT)
        with transaction(self.db, write=True) as db:
            cursor = db.execute(
                "INSERT INTO security_reports (name, version, reporter, severity, type, "
                "description, location, recommendation, reported_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (plugin_id, record.version, reporter, *fields, now()),
            )
            report_id = int(cursor.lastrowid or 0)
            _audit(db, reporter, "report", plugin_id, record.version, str(report_id))
        return self.get_report(report_id)

    def get_report(self, report_id: int) -> SecurityReport:
        with transaction(self.db) as db:
            row = db.execute("SELECT * FROM security_reports WHERE id = ?", (report_id,)).fetchone()
        if row is None:
            raise NotFoundError(
                f"no security report {report_id} in the registry {self.registry.root}"
            )
        return _report(row)

    def reports(
        self, plugin_id: str | None = None, *, status: str | None = None
    ) -> list[SecurityReport]:
        """Reports (of ``plugin_id``; in ``status``), oldest first."""
        if status is not None and status not in ("open", "confirmed", "dismissed"):
            raise AdvisoryError(
                f"status must be open, confirmed or dismissed, not {status!r}", plugin_id=plugin_id
            )
        with transaction(self.db) as db:
            rows = db.execute(
                "SELECT * FROM security_reports WHERE (?1 IS NULL OR name = ?1) "
                "AND (?2 IS NULL OR status = ?2) ORDER BY id",
                (plugin_id, status),
            ).fetchall()
        return [_report(r) for r in rows]

    def dismiss(self, report_id: int, *, user: str, reason: str) -> SecurityReport:
        """Close an open report as not a problem (maintainers only), saying why."""
        report = self.get_report(report_id)
        self.require_maintainer(report.plugin_id, user, "dismiss reports on")
        if report.status != "open":
            raise AdvisoryError(
                f"report {report_id} on {report.plugin_id} is {report.status}, not open",
                plugin_id=report.plugin_id,
            )
        reason = _text(reason, f"dismissing report {report_id}: reason", MAX_TEXT)
        with transaction(self.db, write=True) as db:
            db.execute(
                "UPDATE security_reports SET status = 'dismissed', decided_by = ?, "
                "decided_at = ?, decision = ? WHERE id = ?",
                (user, now(), reason, report_id),
            )
            _audit(db, user, "dismiss-report", report.plugin_id, report.version, str(report_id))
        return self.get_report(report_id)

    # --------------------------------------------------------------- advisories
    def confirm(
        self,
        report_ids: int | Iterable[int],
        *,
        user: str,
        affected: str,
        fixed_version: str | None = None,
        severity: str | None = None,
        title: str | None = None,
        description: str | None = None,
    ) -> Advisory:
        """Turn open reports (of one plugin) into an advisory (maintainers only).

        ``severity`` defaults to the worst reported; ``title`` and ``description`` to the
        first report's type and description.
        """
        ids = [report_ids] if isinstance(report_ids, int) else list(report_ids)
        if not ids:
            raise AdvisoryError("confirm needs at least one report id")
        reports = [self.get_report(i) for i in ids]
        names = {r.plugin_id for r in reports}
        if len(names) > 1:
            raise AdvisoryError(
                f"reports {ids} are on different plugins ({', '.join(sorted(names))}); "
                "an advisory is about one plugin"
            )
        closed = [f"{r.id} ({r.status})" for r in reports if r.status != "open"]
        if closed:
            raise AdvisoryError(
                f"reports {', '.join(closed)} are not open", plugin_id=reports[0].plugin_id
            )
        worst = min((r.severity for r in reports), key=SEVERITIES.index)
        return self.publish(
            reports[0].plugin_id,
            user=user,
            affected=affected,
            severity=severity or worst,
            fixed_version=fixed_version,
            title=title or reports[0].type,
            description=description or reports[0].description,
            report_ids=ids,
        )

    def publish(
        self,
        plugin_id: str,
        *,
        user: str,
        affected: str,
        severity: str,
        title: str,
        description: str = "",
        fixed_version: str | None = None,
        report_ids: Iterable[int] = (),
    ) -> Advisory:
        """Publish an advisory (maintainers only); the reports named are confirmed into it."""
        where = f"advisory on {plugin_id}"
        self.require_maintainer(plugin_id, user, "publish advisories on")
        affected = _affected(affected, where)
        if severity not in SEVERITIES:
            raise AdvisoryError(
                f"{where}: severity must be one of {', '.join(SEVERITIES)}, not {severity!r}",
                plugin_id=plugin_id,
            )
        if fixed_version is not None:
            fixed_version = _fixed(fixed_version, affected, where)
        title = _text(title, f"{where}: title", MAX_SHORT)
        description = _text(description, f"{where}: description", MAX_TEXT, empty=True)
        ids = list(report_ids)
        published = now()
        with transaction(self.db, write=True) as db:
            cursor = db.execute(
                "INSERT INTO advisories (id, name, affected, severity, title, description, "
                "fixed_version, published_at, published_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ("pending", plugin_id, affected, severity, title, description, fixed_version,
                 published, user),
            )  # fmt: skip
            seq = int(cursor.lastrowid or 0)
            advisory_id = f"PLA-{datetime.now(UTC).year}-{seq:04d}"
            db.execute("UPDATE advisories SET id = ? WHERE seq = ?", (advisory_id, seq))
            for report_id in ids:
                changed = db.execute(
                    "UPDATE security_reports SET status = 'confirmed', decided_by = ?, "
                    "decided_at = ?, decision = ?, advisory_id = ? "
                    "WHERE id = ? AND name = ? AND status = 'open'",
                    (user, published, f"confirmed as {advisory_id}", advisory_id, report_id,
                     plugin_id),
                )  # fmt: skip
                if not changed.rowcount:
                    raise AdvisoryError(
                        f"{where}: report {report_id} is not an open report on {plugin_id}",
                        plugin_id=plugin_id,
                    )
            _audit(db, user, "advisory", plugin_id, affected, advisory_id)
        return self.get(advisory_id)

    def withdraw(self, advisory_id: str, *, user: str) -> Advisory:
        """Take back an advisory published by mistake (maintainers only); it stays listed,
        marked withdrawn, and affects nothing any more."""
        advisory = self.get(advisory_id)
        self.require_maintainer(advisory.plugin_id, user, "withdraw advisories on")
        with transaction(self.db, write=True) as db:
            db.execute(
                "UPDATE advisories SET withdrawn_at = ? WHERE id = ? AND withdrawn_at IS NULL",
                (now(), advisory_id),
            )
            _audit(db, user, "withdraw-advisory", advisory.plugin_id, None, advisory_id)
        return self.get(advisory_id)

    def get(self, advisory_id: str) -> Advisory:
        found = self._load("WHERE id = ?", (advisory_id,))
        if not found:
            raise NotFoundError(f"no advisory {advisory_id!r} in the registry {self.registry.root}")
        return found[0]

    def advisories(self, plugin_id: str | None = None) -> list[Advisory]:
        """Advisories (of ``plugin_id``), oldest first, withdrawn ones included (marked)."""
        return self._load("WHERE ?1 IS NULL OR name = ?1", (plugin_id,))

    def affecting(self, plugin_id: str, version: str) -> list[Advisory]:
        """The advisories in force on ``plugin_id@version``, worst first."""
        found = [a for a in self.advisories(plugin_id) if a.affects(version)]
        return sorted(found, key=lambda a: SEVERITIES.index(a.severity))

    def _load(self, where: str, args: tuple[Any, ...]) -> list[Advisory]:
        with transaction(self.db) as db:
            rows = db.execute(f"SELECT * FROM advisories {where} ORDER BY seq", args).fetchall()
            linked = db.execute(
                "SELECT advisory_id, id FROM security_reports WHERE advisory_id IS NOT NULL "
                "ORDER BY id"
            ).fetchall()
        reports: dict[str, list[int]] = {}
        for row in linked:
            reports.setdefault(row["advisory_id"], []).append(int(row["id"]))
        return [
            Advisory(
                id=row["id"],
                plugin_id=row["name"],
                affected=row["affected"],
                severity=row["severity"],
                title=row["title"],
                description=row["description"],
                fixed_version=row["fixed_version"],
                published_at=row["published_at"],
                published_by=row["published_by"],
                reports=tuple(reports.get(row["id"], ())),
                withdrawn_at=row["withdrawn_at"],
            )
            for row in rows
        ]

    def require_maintainer(self, plugin_id: str, user: str, wording: str) -> None:
        """``RegistryAccessError`` unless ``user`` owns or maintains ``plugin_id``."""
        maintainers = self.registry.maintainers(plugin_id)  # NotFoundError if unknown
        if user not in maintainers:
            raise RegistryAccessError(
                f"{user!r} may not {wording} {plugin_id}: only its owners and maintainers "
                f"may ({', '.join(sorted(maintainers))})",
                plugin_id=plugin_id,
            )


def _issue_fields(issue: SecurityIssue | Mapping[str, Any], where: str) -> tuple[Any, ...]:
    data = issue if isinstance(issue, Mapping) else issue.to_dict()
    severity = data.get("severity")
    if severity not in SEVERITIES:
        raise AdvisoryError(
            f"{where}: severity must be one of {', '.join(SEVERITIES)}, not {severity!r}"
        )
    location = data.get("location")
    if location is not None:
        location = _text(location, f"{where}: location", MAX_SHORT)
    return (
        severity,
        _text(data.get("type"), f"{where}: type", MAX_SHORT),
        _text(data.get("description"), f"{where}: description", MAX_TEXT),
        location,
        _text(data.get("recommendation") or "", f"{where}: recommendation", MAX_TEXT, empty=True),
    )


def _text(value: Any, where: str, limit: int, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise AdvisoryError(f"{where} must be a non-empty string, not {value!r}")
    if len(value) > limit:
        raise AdvisoryError(f"{where} is {len(value)} characters; at most {limit}")
    return value


def _affected(affected: Any, where: str) -> str:
    if not isinstance(affected, str) or not affected.strip():
        raise AdvisoryError(f"{where}: affected must be an npm range, not {affected!r}")
    try:
        parsed = parse_range(affected)
    except VersionError as exc:
        raise AdvisoryError(f"{where}: affected: {exc}") from None
    if not str(parsed):
        raise AdvisoryError(
            f"{where}: affected {affected!r} matches every version; name the affected ones"
        )
    return affected.strip()


def _fixed(fixed: Any, affected: str, where: str) -> str:
    try:
        version = str(parse_version(fixed))
    except VersionError as exc:
        raise AdvisoryError(f"{where}: fixed_version: {exc}") from None
    if satisfies(version, affected, include_prerelease=True):
        raise AdvisoryError(
            f"{where}: fixed_version {version} is inside the affected range {affected!r}"
        )
    return version


def _report(row: sqlite3.Row) -> SecurityReport:
    return SecurityReport(
        id=int(row["id"]),
        plugin_id=row["name"],
        version=row["version"],
        reporter=row["reporter"],
        severity=row["severity"],
        type=row["type"],
        description=row["description"],
        location=row["location"],
        recommendation=row["recommendation"],
        reported_at=row["reported_at"],
        status=row["status"],
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
        decision=row["decision"],
        advisory_id=row["advisory_id"],
    )


def _audit(
    db: sqlite3.Connection, user: str, action: str, name: str, version: str | None, detail: str
) -> None:
    """A row in the registry's audit table (the registry's own writer; imported here
    late because the registry imports this module's schema)."""
    from ._registry import _audit as audit

    audit(db, user, action, name, version, detail)
