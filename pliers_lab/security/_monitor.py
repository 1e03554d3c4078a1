"""``SecurityMonitor``: the spec's Runtime Security Monitoring over one engine.

Behaviour analysis (``analyze_behavior``: a baseline per version), anomalies
(``detect_anomalies``), permission checks and an access log (``check_permission``,
``log_access``), threats (``detect_threats``: anomalies, denials and advisories judged
together) and the response (``quarantine``, ``release``; automatic under
``SecurityPolicy.auto_quarantine``). It reads what the engine already records; it adds
only the resource samples it takes and the version timeline it follows.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ..lifecycle import PluginState
from . import _anomalies as detect
from . import _observations as observe
from ._baseline import build_baselines
from ._records import Anomaly, BehaviorAnalysis, Threat, severity_rank
from ._security_policy import SecurityPolicy
from ._threats import AdvisorySource, advisory_dicts, assess
from ._timeline import VersionTimeline

#: ``pliers_lab.Engine``; not imported, not even for type checking: the engine imports
#: this package, and the other way would close an import cycle (tests/test_layering.py).
Engine = Any

__all__ = ["SecurityMonitor"]


class SecurityMonitor:
    """Watches one engine's plugins (``engine.security`` makes one on first use).

    Args:
        engine: the engine whose records are read and whose plugins are quarantined.
        policy: detector thresholds and automatic quarantine (``SecurityPolicy``).
        advisories: ``(plugin_id, version) → advisories`` affecting that version (the
            marketplace's, or a host's own); threats take them into account.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        policy: SecurityPolicy | None = None,
        advisories: AdvisorySource | None = None,
    ) -> None:
        from ..sandbox import AccessLog

        self.engine = engine
        self.policy = policy if policy is not None else SecurityPolicy()
        self.advisories = advisories
        self.timeline = VersionTimeline()
        self.timeline.seed(list(engine.activity.recent), engine.plugins)
        self._unsubscribe = engine.activity.subscribe(self.timeline.hear)
        self.samples = observe.ResourceSamples()
        #: Accesses reported with ``log_access`` (a host's own services, say).
        self.access_log = AccessLog()
        self._watch: tuple[threading.Thread, threading.Event] | None = None
        #: Why the watcher's last round failed, if it did (``start``).
        self.last_error: str | None = None

    # ------------------------------------------------------------------ behaviour
    def sample(self, plugin_id: str) -> dict[str, Any] | None:
        """Take a resource sample of the plugin's workers now (None: not measured)."""
        plugin = self.engine.plugin(plugin_id)
        if plugin.state is not PluginState.ACTIVE:
            return None
        return self.samples.take(self.engine, plugin_id, plugin.version)

    def _records(
        self, plugin_id: str
    ) -> tuple[list[dict[str, Any]], list[tuple[float, str, str]], list[dict[str, Any]]]:
        plugin = self.engine.plugin(plugin_id)  # UnknownPluginError names those there are
        self.timeline.seed((), [plugin])
        return (
            observe.accesses(self.engine, self.access_log, plugin_id),
            observe.calls(self.engine, plugin_id),
            observe.errors(self.engine, plugin_id),
        )

    def analyze_behavior(self, plugin_id: str) -> BehaviorAnalysis:
        """The plugin's baselines, one per version it ran (a resource sample is taken)."""
        return self._analyze(plugin_id)[0]

    def _analyze(self, plugin_id: str) -> tuple[BehaviorAnalysis, list[dict[str, Any]]]:
        """The analysis and the access rows it was built from (read once)."""
        self.sample(plugin_id)
        accesses, calls, errors = self._records(plugin_id)
        plugin = self.engine.plugin(plugin_id)
        baselines = build_baselines(
            plugin_id, self.timeline, accesses, calls, errors, self.samples.of(plugin_id)
        )
        analysis = BehaviorAnalysis(
            plugin_id,
            plugin.version,
            plugin.state.value,
            self.engine.quarantined(plugin_id),
            tuple(baselines),
            time.time(),
        )
        return analysis, accesses

    def detect_anomalies(self, plugin_id: str) -> list[Anomaly]:
        """Everything in the plugin's records that departs from its baseline, oldest
        first, every version (see ``pliers_lab.security._anomalies``)."""
        return self._detect(plugin_id)[0]

    def _detect(self, plugin_id: str) -> tuple[list[Anomaly], list[dict[str, Any]]]:
        analysis, accesses = self._analyze(plugin_id)
        windows = self.timeline.versions(plugin_id)
        policy = self.policy
        found = [
            *detect.new_access(plugin_id, windows, accesses, policy),
            *detect.denial_bursts(plugin_id, windows, accesses, policy),
            *detect.resource_changes(plugin_id, windows, self.samples.of(plugin_id), policy),
            *detect.version_changes(plugin_id, analysis.versions, policy),
        ]
        return sorted(found, key=lambda a: a.timestamp), accesses

    # ------------------------------------------------------------------ permissions
    def check_permission(self, plugin_id: str, resource: str, action: str) -> bool:
        """Whether the plugin's manifest grants ``action`` on ``resource``, written
        ``category:resource`` (``database:users`` + ``read``, ``network:api.x.com:443``
        + ``outbound``). ValueError names a category or action that does not exist."""
        category, sep, target = resource.partition(":")
        if not sep:
            raise ValueError(
                f"resource {resource!r}: write it category:resource (database:users, "
                "network:api.example.com:443, filesystem:exports/*, events:form.saved)"
            )
        permissions = self.engine.plugin(plugin_id).manifest.permissions
        return bool(permissions.allows(category, action, target))

    def log_access(
        self, plugin_id: str, resource: str, action: str, *, allowed: bool | None = None
    ) -> None:
        """Record an access a host service made for the plugin (``category:resource``);
        ``allowed`` defaults to what ``check_permission`` says. Such rows count in the
        plugin's behaviour like the sandbox's own."""
        if allowed is None:
            allowed = self.check_permission(plugin_id, resource, action)
        category, _sep, target = resource.partition(":")
        self.access_log.record(
            plugin_id,
            None,
            None,
            category,
            action,
            target,
            f"{category}.{action}",
            "allowed" if allowed else "denied",
        )

    # ------------------------------------------------------------------ threats
    def detect_threats(self, plugin_id: str) -> list[Threat]:
        """The threat against the version loaded now (empty when nothing stands against
        it). Under ``policy.auto_quarantine`` a threat that reaches that severity, with
        evidence newer than the plugin's last release, quarantines it."""
        plugin = self.engine.plugin(plugin_id)
        anomalies, accesses = self._detect(plugin_id)
        windows = self.timeline.versions(plugin_id)
        since = windows[-1][1] if windows else plugin.loaded_at
        denials = [a for a in accesses if a["verdict"] == "denied" and a["timestamp"] >= since]
        threat = assess(
            plugin_id,
            plugin.version,
            anomalies,
            denials,
            advisory_dicts(self.advisories, plugin_id, plugin.version),
            max_evidence=self.policy.max_evidence,
        )
        if threat is None:
            return []
        self._respond(threat)
        return [threat]

    def _respond(self, threat: Threat) -> None:
        level = self.policy.auto_quarantine
        if level is None or severity_rank(threat.severity) < severity_rank(level):
            return
        if self.engine.quarantined(threat.plugin_id) is not None:
            return
        released = [
            a["at"]
            for a in self.engine.security_actions(threat.plugin_id)
            if a["action"] == "release"
        ]
        if released and threat.timestamp <= max(released):
            return  # an administrator released it after seeing this evidence
        self.quarantine(
            threat.plugin_id,
            f"threat {threat.id} ({threat.severity}): {threat.summary}",
            evidence=list(threat.evidence),
            source="policy",
        )

    def check(self) -> list[Threat]:
        """``detect_threats`` for every loaded plugin (the watcher's round)."""
        found = []
        for plugin in self.engine.plugins:
            if plugin.id in self.engine:
                found.extend(self.detect_threats(plugin.id))
        return found

    def quarantine(
        self,
        plugin_id: str,
        reason: str,
        *,
        evidence: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (),
        source: str = "security",
    ) -> None:
        """Stop the plugin and keep it stopped until ``release`` (``Engine.quarantine``:
        recorded on the activity feed and in the engine's security store)."""
        if not reason.strip():
            raise ValueError(f"quarantine of {plugin_id!r}: give a reason")
        self.engine.quarantine(plugin_id, reason, source=source, evidence=evidence)

    def release(
        self, plugin_id: str, *, source: str = "security", reason: str = "released"
    ) -> None:
        """Lift the quarantine and start the plugin again."""
        self.engine.release(plugin_id, source=source, reason=reason)

    # ------------------------------------------------------------------ watching
    def start(self, interval_s: float = 10.0) -> None:
        """Run ``check`` every ``interval_s`` seconds in a daemon thread until ``stop``."""
        if self._watch is not None:
            return
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(interval_s):
                try:
                    self.check()
                except Exception as exc:  # a bad round must not end the watch
                    self.last_error = f"security check failed: {type(exc).__name__}: {exc}"

        thread = threading.Thread(target=run, name="pliers-security", daemon=True)
        self._watch = (thread, stop)
        thread.start()

    def stop(self) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            watch[1].set()
            watch[0].join(timeout=5)

    def close(self) -> None:
        """Stop watching and following the activity feed."""
        self.stop()
        self._unsubscribe()
        self.access_log.close()

    # ------------------------------------------------------------------ frames
    def behavior_frame(self, plugin_id: str | None = None) -> Any:
        """One row per plugin version: calls, errors, requests, denials, rates, hosts,
        permissions, memory (MiB) and CPU per call (ms); NaN where not measured."""
        from ._dataframes import behavior_frame

        ids = [plugin_id] if plugin_id else [p.id for p in self.engine.plugins]
        return behavior_frame([self.analyze_behavior(i) for i in ids])

    def anomalies_frame(self, plugin_id: str | None = None) -> Any:
        """One row per anomaly: time, plugin, version, kind, severity, summary."""
        from ._dataframes import anomalies_frame

        ids = [plugin_id] if plugin_id else [p.id for p in self.engine.plugins]
        return anomalies_frame([a for i in ids for a in self.detect_anomalies(i)])

    def threats_frame(self, plugin_id: str | None = None) -> Any:
        """One row per threat: id, plugin, version, severity, action, summary, signals."""
        from ._dataframes import threats_frame

        ids = [plugin_id] if plugin_id else [p.id for p in self.engine.plugins]
        return threats_frame([t for i in ids for t in self.detect_threats(i)])

    def events_frame(self, plugin_id: str | None = None) -> Any:
        """Everything over time, one row per record: accesses (``allowed``/``denied``),
        anomalies, quarantines and releases, with the version (for the lab's plot)."""
        from ._dataframes import events_frame

        ids = [plugin_id] if plugin_id else [p.id for p in self.engine.plugins]
        rows = []
        for i in ids:
            for a in observe.accesses(self.engine, self.access_log, i):
                version = self.timeline.version_at(i, a["timestamp"])
                rows.append((a["timestamp"], i, version, a["verdict"], a["resource"]))
            for an in self.detect_anomalies(i):
                rows.append((an.timestamp, i, an.version, f"anomaly:{an.kind}", an.summary))
            for act in self.engine.security_actions(i):
                rows.append((act["at"], i, act.get("version"), act["action"], act.get("reason")))
        return events_frame(sorted(rows, key=lambda r: r[0]))
