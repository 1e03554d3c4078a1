"""``%pliers security``, ``%pliers quarantine``, ``%pliers release``: the security monitor
(issue 19 §3) from a notebook. What they return is the data: DataFrames, or a Picture
whose ``.frame`` is the events drawn."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError

from ._router import Call, arg, command

__all__: list[str] = []


@command(
    "security",
    "behaviour per plugin version, anomalies, threats, quarantines (DataFrames) or a plot",
    arg("plugin", nargs="?", metavar="ID"),
    arg(
        "--show",
        choices=("behavior", "anomalies", "threats", "actions", "plot"),
        default="behavior",
        help="behavior: one row per plugin version (default); anomalies; threats (with "
        "the recommended action); actions: quarantines and releases; plot: all of it over "
        "time",
    ),
)
def _security(call: Call) -> Any:
    """The default engine's ``engine.security``; ``--show plot`` returns a Picture."""
    engine, args = call.engine, call.args
    if args.plugin:
        engine.plugin(args.plugin)
    monitor = engine.security
    if args.show == "plot":
        from .plots import plot_security

        return plot_security(engine, args.plugin)
    if args.show == "actions":
        from ..observe.frames import frame

        rows = [
            (a["at"], a["plugin_id"], a.get("version"), a["action"], a["source"], a["reason"])
            for a in engine.security_actions(args.plugin)
        ]
        columns = ("at", "plugin_id", "version", "action", "source", "reason")
        return frame(rows, columns, time_columns=("at",))
    show = {
        "behavior": monitor.behavior_frame,
        "anomalies": monitor.anomalies_frame,
        "threats": monitor.threats_frame,
    }[args.show]
    return show(args.plugin)


@command(
    "quarantine",
    "stop a plugin and keep it stopped until released (recorded with the reason)",
    arg("plugin", metavar="ID"),
    arg("reason", nargs="+", metavar="REASON"),
)
def _quarantine(call: Call) -> None:
    """Quarantine by hand: source ``lab``, the reason as given; the current threat's
    evidence, if any, is recorded with it."""
    engine, args = call.engine, call.args
    monitor = engine.security
    threats = monitor.detect_threats(args.plugin)
    evidence = [{"source": "threat", **t.to_dict()} for t in threats]
    monitor.quarantine(args.plugin, " ".join(args.reason), evidence=evidence, source="lab")
    print(f"{args.plugin}: quarantined ({engine.plugin(args.plugin).state.value})")


@command(
    "release",
    "lift a plugin's quarantine and start it again",
    arg("plugin", metavar="ID"),
    arg("reason", nargs="*", metavar="REASON"),
)
def _release(call: Call) -> None:
    engine, args = call.engine, call.args
    if engine.quarantined(args.plugin) is None:
        raise UsageError(f"%pliers release: plugin {args.plugin!r} is not quarantined")
    reason = " ".join(args.reason) or "released from the lab"
    engine.security.release(args.plugin, source="lab", reason=reason)
    print(f"{args.plugin}: released ({engine.plugin(args.plugin).state.value})")
