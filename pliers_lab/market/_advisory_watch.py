"""An engine's side of advisories: which installed plugins an advisory affects, the
update that fixes each, and the policy that acts on them (issue 19 §2).

``AdvisoryWatch.check()`` asks the advisory source (the local registry's ``Advisories``
or a registry service's client: anything with ``advisories(plugin_id)``) about every
plugin the engine runs and the store holds. Each affected plugin comes back with the
advisory, the newest version no advisory affects and the marketplace's ``plan_update``
to it (the permission diff a user reviews), and what the policy did:

- ``"warn"`` (default): nothing is stopped; the finding is recorded.
- ``"disable"``: the engine disables the plugin (``engine.disable``) with the advisory
  id as the reason, so its hooks stop being called.

Either way each (advisory, plugin, version) is acted on once and recorded once in the
engine's activity feed as ``plugin.advisory`` (advisory id, severity, range, fixed
version, action): a plugin the operator enables again by hand is not disabled again by
the same advisory on the next check. ``start(interval_s)`` checks on a timer.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ..errors import PliersError
from ..lifecycle import PluginState
from ..versions import parse_version
from ._advisories import SEVERITIES, Advisory
from .refusals import MarketError
from .results import PermissionDiff

if TYPE_CHECKING:
    from ..engine import Engine
    from ._marketplace import PluginMarketplace
    from .results import UpdatePlan, UpdateResult

__all__ = ["POLICIES", "AdvisorySource", "AdvisoryWatch", "AffectedPlugin"]

Policy = Literal["warn", "disable"]
POLICIES: tuple[str, ...] = ("warn", "disable")
EVENT = "plugin.advisory"


class AdvisorySource(Protocol):
    """Where advisories come from: a local ``Advisories`` or a registry service client."""

    def advisories(self, plugin_id: str | None = None) -> list[Advisory]: ...


@dataclass(frozen=True)
class AffectedPlugin:
    """An installed plugin an advisory affects, the fix on offer, what the policy did."""

    plugin_id: str
    version: str
    advisory: Advisory
    fixed_by: str | None
    """The newest version no advisory in force affects (None: none published yet)."""
    plan: UpdatePlan | None
    """The marketplace's plan to update to ``fixed_by`` (permission diff, notes)."""
    note: str
    """Why no plan is offered, or what it needs (consent to new permissions)."""
    action: str
    """``warned``, ``disabled``, or ``seen`` (acted on at an earlier check)."""
    state: str
    """The plugin's state in the engine after the check (``not loaded`` if absent)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "pluginId": self.plugin_id,
            "installedVersion": self.version,
            "advisory": self.advisory.to_dict(),
            "fixedBy": self.fixed_by,
            "update": None if self.plan is None else self.plan.to_dict(),
            "note": self.note,
            "action": self.action,
            "state": self.state,
        }


class AdvisoryWatch:
    """Advisories for what ``engine`` runs (and ``marketplace``'s store holds).

    Args:
        marketplace: offers the fixing updates; its registry is the default source.
        engine: the engine whose plugins are checked and (by policy) disabled; default
            the marketplace's.
        source: where advisories come from (default: the marketplace registry's own,
            ``advisory_source``: its database, its service or its exported folder).
        policy: ``"warn"`` or ``"disable"`` (module docstring).
    """

    def __init__(
        self,
        marketplace: PluginMarketplace | None = None,
        *,
        engine: Engine | None = None,
        source: AdvisorySource | None = None,
        policy: Policy = "warn",
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(
                f"advisory policy must be one of {', '.join(POLICIES)}, not {policy!r}"
            )
        if source is None:
            if marketplace is None:
                raise ValueError("AdvisoryWatch needs a marketplace or an advisory source")
            from ._verification import advisory_source

            source = advisory_source(marketplace.registry)
        self.marketplace = marketplace
        self.engine = engine if engine is not None else getattr(marketplace, "engine", None)
        self.source = source
        self.policy: Policy = policy
        self._acted: dict[tuple[str, str, str], str] = {}
        self._lock = threading.Lock()
        self._stop: threading.Event | None = None
        self.last: list[AffectedPlugin] = []
        """What the latest check found."""

    def __repr__(self) -> str:
        return f"AdvisoryWatch(policy={self.policy!r}, source={self.source!r})"

    def installed(self) -> dict[str, str]:
        """Plugin id → version: what the engine runs, then what the store holds besides."""
        found: dict[str, str] = {}
        if self.engine is not None:
            found.update({p.id: p.version for p in self.engine.plugins})
        if self.marketplace is not None:
            for name, item in self.marketplace.store.installed().items():
                found.setdefault(name, item.version)
        return found

    def check(self) -> list[AffectedPlugin]:
        """Find the installed plugins advisories affect, apply the policy to those not
        acted on yet, and return every one found (worst severity first)."""
        with self._lock:
            found = []
            for plugin_id, version in sorted(self.installed().items()):
                advisories = [
                    a for a in self.source.advisories(plugin_id) if a.plugin_id == plugin_id
                ]
                for advisory in _worst_first(a for a in advisories if a.affects(version)):
                    fixed_by = _fix(self._versions(plugin_id), version, advisories)
                    plan, note = self._plan(plugin_id, version, fixed_by)
                    action = self._act(plugin_id, version, advisory, fixed_by)
                    found.append(
                        AffectedPlugin(
                            plugin_id, version, advisory, fixed_by, plan, note, action,
                            self._state(plugin_id),
                        )
                    )  # fmt: skip
            self.last = found
            return found

    def fix(
        self, plugin_id: str, *, accept_permissions: bool = False, enable: bool = True
    ) -> UpdateResult:
        """Update ``plugin_id`` to the version the latest check offered (permissions as
        ``marketplace.update``); a plugin this watch disabled is enabled again on it."""
        offered = next((a for a in self.last if a.plugin_id == plugin_id and a.plan), None)
        if offered is None or offered.plan is None or self.marketplace is None:
            raise MarketError(
                f"no fixing update is offered for {plugin_id}: run check() first "
                "(an update is offered only for a plugin the marketplace installed, once a "
                "version no advisory affects is published)",
                plugin_id=plugin_id,
            )
        result = self.marketplace.update(
            plugin_id,
            offered.plan.to_version,
            accept_permissions=accept_permissions,
            engine=self.engine,
        )
        disabled_here = any(
            a == "disabled" for (_, p, _), a in self._acted.items() if p == plugin_id
        )
        engine = self.engine
        if enable and disabled_here and engine is not None and self._state(plugin_id) == "stopped":
            engine.enable(plugin_id)
        return result

    def frame(self, found: Iterable[AffectedPlugin] | None = None) -> Any:
        """The findings (default: the latest check's) as a DataFrame, one row per
        (plugin, advisory)."""
        from ..observe.frames import frame

        rows = [
            (f.plugin_id, f.version, f.advisory.id, f.advisory.severity, f.advisory.affected,
             f.advisory.fixed_version, f.fixed_by, None if f.plan is None else f.plan.to_version,
             None if f.plan is None else f.plan.needs_consent, f.action, f.state,
             f.advisory.title, f.note)
            for f in (self.last if found is None else found)
        ]  # fmt: skip
        columns = ("plugin_id", "version", "advisory", "severity", "affected", "fixed_version",
                   "fixed_by", "update_to", "needs_consent", "action", "state", "title",
                   "note")  # fmt: skip
        return frame(rows, columns)

    def start(self, interval_s: float = 300.0) -> None:
        """Check now and then every ``interval_s`` seconds on a daemon thread, until
        ``stop()`` (a failed check is retried at the next tick)."""
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s!r}")
        self.stop()
        stop = self._stop = threading.Event()

        def run() -> None:
            while True:
                with contextlib.suppress(Exception):  # a registry down now may answer later
                    self.check()
                if stop.wait(interval_s):
                    return

        threading.Thread(target=run, name="pliers-advisory-watch", daemon=True).start()

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()
            self._stop = None

    # ------------------------------------------------------------------ private
    def _versions(self, plugin_id: str) -> list[str]:
        if self.marketplace is None:
            return []
        try:
            return [v.version for v in self.marketplace.registry.plugin(plugin_id).versions]
        except MarketError:
            return []

    def _plan(
        self, plugin_id: str, version: str, fixed_by: str | None
    ) -> tuple[UpdatePlan | None, str]:
        if fixed_by is None:
            return None, "no published version is free of the advisories in force"
        market = self.marketplace
        if market is None or plugin_id not in market.store.installed():
            return (
                None,
                f"{plugin_id} was not installed from the marketplace: "
                f"update it to {fixed_by} by hand",
            )
        try:
            plan = market.plan_update(plugin_id, fixed_by)
        except PliersError as exc:  # a refusal (a conflict, an unreachable registry)
            return None, f"the update to {fixed_by} cannot be planned: {exc}"
        if plan.needs_consent:
            added = PermissionDiff.text(plan.permissions.added)
            return plan, f"{fixed_by} asks for new permissions ({added}): accept them to update"
        return plan, f"update to {fixed_by}"

    def _act(self, plugin_id: str, version: str, advisory: Advisory, fixed_by: str | None) -> str:
        key = (advisory.id, plugin_id, version)
        if key in self._acted:
            return "seen"
        engine = self.engine
        action = "warned"
        if self.policy == "disable" and engine is not None and self._state(plugin_id) == "active":
            engine.disable(
                plugin_id,
                reason=f"advisory {advisory.id} ({advisory.severity}) affects {plugin_id} "
                f"{version} ({advisory.affected})",
            )
            action = "disabled"
        self._acted[key] = action
        if engine is not None:
            engine.activity.emit(
                EVENT, plugin_id,
                advisoryId=advisory.id, severity=advisory.severity, affected=advisory.affected,
                version=version, fixedVersion=advisory.fixed_version, fixedBy=fixed_by,
                action=action, policy=self.policy, title=advisory.title,
            )  # fmt: skip
        return action

    def _state(self, plugin_id: str) -> str:
        engine = self.engine
        if engine is None:
            return "not loaded"
        try:
            state: PluginState = engine.plugin(plugin_id).state
        except KeyError:
            return "not loaded"
        return str(state.value)


def _worst_first(advisories: Iterable[Advisory]) -> list[Advisory]:
    return sorted(advisories, key=lambda a: (SEVERITIES.index(a.severity), a.published_at))


def _fix(versions: Iterable[str], current: str, advisories: Iterable[Advisory]) -> str | None:
    """The newest stable version above ``current`` that no advisory in force affects."""
    listed = list(advisories)
    now = parse_version(current)
    clean = [
        v
        for v in versions
        if parse_version(v) > now
        and not parse_version(v).is_prerelease
        and not any(a.affects(v) for a in listed)
    ]
    return max(clean, key=parse_version, default=None)
