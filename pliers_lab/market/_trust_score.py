"""A trust score per plugin version, from the signals the registry and an engine have
(spec: Plugin Verification, ``getTrustScore``; issue 19 §2).

A score is never a bare number: ``TrustScore.signals`` lists each signal with what was
seen (``detail``), its value (0 to 1), its weight and its contribution, and a signal
that cannot be known says why (``value`` None, left out of the sum) instead of counting
as 0. The score is ``100 * sum(weight * value) / sum(weight)`` over the known signals,
then held under the caps that apply (a critical advisory, a revoked key, an unsigned
bundle: no amount of downloads makes those trustworthy). Weights and caps are data
(``WEIGHTS``, ``ADVISORY_CAPS``), shown with the score.

Signals: ``signature`` (signed by a key the registry still holds for the publisher),
``key trust`` (the installing store trusts that key), ``scan`` (the registry's static
scan), ``publisher age`` and ``publisher history`` (versions published, advisories on
their plugins), ``version age``, ``downloads``, ``ratings``, ``reports`` (open reports
on this version), ``advisories`` (in force on this version), ``runtime`` (errors and
denials an engine recorded for this version, when an engine runs it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..storage.sqlite import now, transaction
from ._advisories import SEVERITIES, Advisories
from .scan import WEIGHTS as ISSUE_WEIGHTS

if TYPE_CHECKING:
    from ..engine import Engine
    from ._registry import Registry
    from ._store import PluginStore

__all__ = [
    "ADVISORY_CAPS",
    "WEIGHTS",
    "TrustScore",
    "TrustSignal",
    "key_trust_signal",
    "runtime_signal",
    "trust_score",
]

#: Each signal's weight (points out of the known signals' sum).
WEIGHTS: dict[str, float] = {
    "signature": 20,
    "key trust": 10,
    "scan": 20,
    "publisher age": 5,
    "publisher history": 10,
    "version age": 5,
    "downloads": 5,
    "ratings": 5,
    "reports": 10,
    "advisories": 15,
    "runtime": 10,
}
#: The highest score a version with an advisory of each severity in force may have.
ADVISORY_CAPS: dict[str, int] = {"critical": 10, "high": 30, "medium": 60, "low": 90}
#: Value of the advisories signal by the worst severity in force.
_ADVISORY_VALUES = {"critical": 0.0, "high": 0.25, "medium": 0.5, "low": 0.75}
UNSIGNED_CAP = 60
REVOKED_CAP = 40
UNSAFE_SCAN_CAP = 50
#: Days after which the age signals are full (a publisher's half year, a version's month).
PUBLISHER_FULL_DAYS = 180.0
VERSION_FULL_DAYS = 30.0
#: Downloads at which the downloads signal is full (log scale).
DOWNLOADS_FULL = 10_000


@dataclass(frozen=True)
class TrustSignal:
    """One input of a trust score. ``value`` is 0..1, or None when it cannot be known
    (``detail`` says why); ``contribution`` is its share of the score in points."""

    name: str
    value: float | None
    weight: float
    detail: str
    measured: str | None = None
    """The figure behind the value, with its unit (``"12.5 days"``, ``"340 downloads"``)."""
    cap: int | None = None
    """The highest score this signal allows (a critical advisory, a revoked key)."""
    contribution: float | None = None

    @property
    def known(self) -> bool:
        return self.value is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "weight": self.weight,
            "contribution": self.contribution,
            "known": self.known,
            "detail": self.detail,
            "measured": self.measured,
            "cap": self.cap,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrustSignal:
        value = data.get("value")
        return cls(
            name=str(data["name"]),
            value=None if value is None else float(value),
            weight=float(data["weight"]),
            detail=str(data.get("detail") or ""),
            measured=data.get("measured"),
            cap=data.get("cap"),
        )


@dataclass(frozen=True)
class TrustScore:
    """The spec's trust score of ``plugin_id@version``, with every signal behind it."""

    plugin_id: str
    version: str
    signals: tuple[TrustSignal, ...]
    computed_at: str

    @classmethod
    def of(
        cls, plugin_id: str, version: str, signals: Iterable[TrustSignal], computed_at: str = ""
    ) -> TrustScore:
        """Signals in, each with its contribution filled in."""
        listed = tuple(signals)
        total = sum(s.weight for s in listed if s.known)
        filled = tuple(
            replace(
                s,
                contribution=None
                if s.value is None or not total
                else round(100 * s.weight * s.value / total, 2),
            )
            for s in listed
        )
        return cls(plugin_id, version, filled, computed_at or now())

    @property
    def uncapped(self) -> float | None:
        """The weighted mean of the known signals, in points (None: nothing is known)."""
        known = [s for s in self.signals if s.known]
        if not known:
            return None
        return sum(s.contribution or 0.0 for s in known)

    @property
    def cap(self) -> int | None:
        caps = [s.cap for s in self.signals if s.cap is not None]
        return min(caps) if caps else None

    @property
    def score(self) -> int | None:
        """0..100, or None when no signal could be known."""
        raw = self.uncapped
        if raw is None:
            return None
        cap = self.cap
        return round(raw if cap is None else min(raw, cap))

    @property
    def coverage(self) -> float:
        """The share of the total weight whose signals are known (0..1)."""
        total = sum(s.weight for s in self.signals)
        return round(sum(s.weight for s in self.signals if s.known) / total, 3) if total else 0.0

    def signal(self, name: str) -> TrustSignal:
        found = next((s for s in self.signals if s.name == name), None)
        if found is None:
            raise KeyError(
                f"no signal {name!r} (signals: {', '.join(s.name for s in self.signals)})"
            )
        return found

    def with_signal(self, signal: TrustSignal) -> TrustScore:
        """The score again with ``signal`` added or replacing the one of its name (an
        engine adds its runtime signal to a score the registry service computed)."""
        others = [s for s in self.signals if s.name != signal.name]
        return TrustScore.of(self.plugin_id, self.version, [*others, signal], now())

    def to_dict(self) -> dict[str, Any]:
        return {
            "pluginId": self.plugin_id,
            "version": self.version,
            "score": self.score,
            "uncapped": None if self.uncapped is None else round(self.uncapped, 2),
            "cap": self.cap,
            "coverage": self.coverage,
            "signals": [s.to_dict() for s in self.signals],
            "computedAt": self.computed_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrustScore:
        return cls.of(
            str(data["pluginId"]),
            str(data["version"]),
            (TrustSignal.from_dict(s) for s in data.get("signals") or ()),
            str(data.get("computedAt") or ""),
        )

    def frame(self) -> Any:
        """One row per signal: signal, known, value, weight, contribution (points),
        cap, measured, detail."""
        from ..observe.frames import frame

        rows = [
            (s.name, s.known, s.value, s.weight, s.contribution, s.cap, s.measured, s.detail)
            for s in self.signals
        ]
        columns = ("signal", "known", "value", "weight", "contribution", "cap", "measured",
                   "detail")  # fmt: skip
        return frame(rows, columns)

    def __str__(self) -> str:
        shown = "unknown" if self.score is None else str(self.score)
        head = f"{self.plugin_id}@{self.version}: trust {shown}"
        if self.cap is not None and self.uncapped is not None and self.uncapped > self.cap:
            head += f" (capped at {self.cap}; {self.uncapped:.0f} before the cap)"
        lines = [head + f", {self.coverage:.0%} of the weight known"]
        for s in self.signals:
            value = "unknown" if s.value is None else f"{s.value:.2f}"
            points = "" if s.contribution is None else f" = {s.contribution:5.1f} pts"
            lines.append(f"  {s.name:<18} {value:>7} x {s.weight:g}{points}  {s.detail}")
        return "\n".join(lines)


def trust_score(
    registry: Registry,
    plugin_id: str,
    version: str | None = None,
    *,
    store: PluginStore | None = None,
    engine: Engine | None = None,
) -> TrustScore:
    """The trust score of ``plugin_id@version`` (default: latest) in ``registry``;
    ``store`` adds whether its keys trust the signer, ``engine`` its runtime record."""
    record = registry.resolve_version(plugin_id, version)
    plugin = registry.plugin(plugin_id)
    advisories = Advisories(registry)
    signals = [
        _signature(registry, record.publisher, record.key_id),
        key_trust_signal(store, record.key_id),
        _scan(record.score, record.scan),
        *_publisher(registry, record.publisher, advisories),
        _age("version age", record.released_at, VERSION_FULL_DAYS, "released"),
        _downloads(record.downloads),
        _ratings(plugin.rating, plugin.rating_count),
        _reports(advisories, plugin_id, record.version),
        _advisories(advisories, plugin_id, record.version),
        runtime_signal(engine, plugin_id, record.version),
    ]
    return TrustScore.of(plugin_id, record.version, signals)


def _signal(name: str, value: float | None, detail: str, **more: Any) -> TrustSignal:
    if value is not None:
        value = round(min(1.0, max(0.0, value)), 3)
    return TrustSignal(name, value, WEIGHTS[name], detail, **more)


def _signature(registry: Registry, publisher: str, key_id: str | None) -> TrustSignal:
    if key_id is None:
        return _signal(
            "signature", 0.0, "unsigned: the registry accepted it without a signature",
            cap=UNSIGNED_CAP,
        )  # fmt: skip
    owner = registry.key_owner(key_id)
    if owner is None:
        return _signal(
            "signature", 0.0,
            f"signed by key {key_id}, which the registry no longer holds (revoked since)",
            cap=REVOKED_CAP,
        )  # fmt: skip
    return _signal("signature", 1.0, f"signed by key {key_id}, registered to {owner!r}")


def key_trust_signal(store: PluginStore | None, key_id: str | None) -> TrustSignal:
    """Whether ``store`` trusts the key that signed a version (unknown without a store)."""
    if store is None:
        return _signal("key trust", None, "unknown: no store given (trusted keys are a store's)")
    if key_id is None:
        return _signal("key trust", 0.0, "unsigned: no key for the store to trust")
    if key_id in store.trusted_keys():
        return _signal("key trust", 1.0, f"the store {store.root} trusts key {key_id}")
    return _signal("key trust", 0.0, f"the store {store.root} does not trust key {key_id}")


def _scan(score: int, scan: Mapping[str, Any]) -> TrustSignal:
    issues = scan.get("issues") or []
    counts = {s: sum(1 for i in issues if i.get("severity") == s) for s in SEVERITIES}
    found = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no issues"
    unsafe = counts["critical"] or counts["high"]
    return _signal(
        "scan", score / 100, f"static scan score {score}/100: {found}",
        measured=f"{score}/100", cap=UNSAFE_SCAN_CAP if unsafe else None,
    )  # fmt: skip


def _days_since(stamp: str) -> float | None:
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (datetime.now(UTC) - when).total_seconds() / 86400)


def _age(name: str, stamp: str | None, full_days: float, verb: str) -> TrustSignal:
    days = _days_since(stamp) if stamp else None
    if days is None:
        return _signal(name, None, f"unknown: no readable date ({stamp!r})")
    return _signal(
        name, days / full_days, f"{verb} {days:.1f} days ago (full at {full_days:g} days)",
        measured=f"{days:.1f} days",
    )  # fmt: skip


def _publisher(registry: Registry, publisher: str, advisories: Advisories) -> list[TrustSignal]:
    with transaction(registry.db) as db:
        first = db.execute("SELECT MIN(at) FROM audit WHERE user = ?", (publisher,)).fetchone()[0]
        row = db.execute(
            "SELECT COUNT(*) AS n, COUNT(DISTINCT name) AS m FROM versions WHERE publisher = ?",
            (publisher,),
        ).fetchone()
        names = [
            r[0]
            for r in db.execute(
                "SELECT DISTINCT name FROM versions WHERE publisher = ?", (publisher,)
            )
        ]
    versions, plugins = int(row["n"]), int(row["m"])
    against = [a for n in names for a in advisories.advisories(n) if a.withdrawn_at is None]
    age = _age("publisher age", first, PUBLISHER_FULL_DAYS, f"{publisher!r} first seen")
    value = min(1.0, versions / 5) * 0.5 ** len(against)
    detail = (
        f"{publisher!r} published {versions} version(s) of {plugins} plugin(s); "
        f"{len(against)} advisory(ies) on them (each halves the value; full at 5 versions)"
    )
    history = _signal(
        "publisher history",
        value,
        detail,
        measured=f"{versions} versions, {len(against)} advisories",
    )
    return [age, history]


def _downloads(count: int) -> TrustSignal:
    return _signal(
        "downloads", math.log10(1 + count) / math.log10(DOWNLOADS_FULL),
        f"{count} downloads of this version (log scale, full at {DOWNLOADS_FULL:,})",
        measured=f"{count} downloads",
    )  # fmt: skip


def _ratings(average: float, count: int) -> TrustSignal:
    if not count:
        return _signal("ratings", None, "unknown: nobody has rated this plugin")
    return _signal(
        "ratings", average / 5, f"{average:.2f} of 5 stars from {count} rating(s)",
        measured=f"{average:.2f}/5 ({count})",
    )  # fmt: skip


def _reports(advisories: Advisories, plugin_id: str, version: str) -> TrustSignal:
    open_ = [r for r in advisories.reports(plugin_id, status="open") if r.version == version]
    cost = sum(ISSUE_WEIGHTS[r.severity] for r in open_)
    if not open_:
        return _signal("reports", 1.0, "no open security reports on this version", measured="0")
    listed = ", ".join(f"#{r.id} {r.severity} {r.type}" for r in open_[:5])
    return _signal(
        "reports", 1 - cost / 100,
        f"{len(open_)} open report(s), not yet confirmed or dismissed: {listed} "
        f"(each costs its severity's scan weight)",
        measured=f"{len(open_)} open",
    )  # fmt: skip


def _advisories(advisories: Advisories, plugin_id: str, version: str) -> TrustSignal:
    found = advisories.affecting(plugin_id, version)
    if not found:
        return _signal("advisories", 1.0, "no advisory in force on this version", measured="0")
    worst = found[0].severity
    listed = ", ".join(
        f"{a.id} ({a.severity}, {a.affected}"
        + (f", fixed in {a.fixed_version})" if a.fixed_version else ", no fix yet)")
        for a in found
    )
    return _signal(
        "advisories", _ADVISORY_VALUES[worst], f"{len(found)} advisory(ies) in force: {listed}",
        measured=f"{len(found)} in force", cap=ADVISORY_CAPS[worst],
    )  # fmt: skip


def runtime_signal(engine: Engine | None, plugin_id: str, version: str) -> TrustSignal:
    """What ``engine`` recorded of ``plugin_id@version`` running: the share of calls that
    failed and the capability requests the sandbox denied (each costs 0.1)."""
    if engine is None:
        return _signal("runtime", None, "unknown: no engine given")
    try:
        plugin = engine.plugin(plugin_id)
    except KeyError:
        return _signal("runtime", None, f"unknown: {plugin_id} is not loaded in this engine")
    if plugin.version != version:
        return _signal(
            "runtime",
            None,
            f"unknown: this engine runs {plugin_id} {plugin.version}, not {version}",
        )
    execution = engine.metrics(plugin_id).execution
    runtime = engine.runtimes.get("process")
    log = getattr(runtime, "access_log", None)
    denials = len(log.rows(plugin_id, "denied")) if log is not None else 0
    calls, errors = execution.count, execution.errorCount
    if not calls and not denials:
        return _signal("runtime", None, f"unknown: {plugin_id} {version} has not run here yet")
    rate = errors / calls if calls else 0.0
    return _signal(
        "runtime", (1 - rate) * max(0.0, 1 - 0.1 * denials),
        f"{errors} of {calls} calls failed, {denials} capability request(s) denied "
        "(each denial costs 0.1)",
        measured=f"{errors}/{calls} failed, {denials} denied",
    )  # fmt: skip
