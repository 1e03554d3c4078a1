"""Rich HTML for the marketplace's trust records: a ``TrustScore`` (every signal with its
value, weight and contribution, the unknown ones greyed with why) and an
``AdvisoryWatch`` (the advisories affecting the engine's plugins, the fixing update,
what the policy did). Registered by name (``NAMED``), so showing neither imports the
marketplace; ``.frame()`` on each gives the same as a DataFrame (issue 19 §2).
"""

from __future__ import annotations

from typing import Any

from ._displays import badge, esc, table_html

__all__ = ["NAMED", "trust_html", "watch_html"]

_SEVERITY_COLOURS = {"critical": "#b00020", "high": "#d9480f", "medium": "#b08800", "low": "#666"}


def trust_html(score: Any) -> str:
    """A trust score: the figure, its cap and coverage, then one row per signal."""
    shown = "unknown" if score.score is None else str(score.score)
    cap = "" if score.cap is None else f" · capped at {score.cap}"
    head = (
        f"<b>{esc(score.plugin_id)}@{esc(score.version)}</b> trust {badge(shown)}"
        f"<span class='pliers-muted'>{esc(cap)} · {score.coverage:.0%} of the weight known</span>"
    )
    rows, attrs = [], []
    for s in score.signals:
        value = "unknown" if s.value is None else f"{s.value:.2f}"
        points = "—" if s.contribution is None else f"{s.contribution:.1f}"
        rows.append([esc(s.name), esc(value), f"{s.weight:g}", points,
                     esc("" if s.cap is None else s.cap), esc(s.detail)])  # fmt: skip
        attrs.append({"data-signal": s.name, "data-known": str(s.known).lower()})
    columns = ("signal", "value", "weight", "points", "cap", "detail")
    table = table_html(columns, rows, "pliers-trust", attrs, numeric=("value", "weight", "points"))
    return f"<div>{head}{table}</div>"


def watch_html(watch: Any) -> str:
    """The latest check of an advisory watch: a row per (plugin, advisory)."""
    rows, attrs = [], []
    for f in watch.last:
        a = f.advisory
        fix = f"update to {f.plan.to_version}" if f.plan is not None else f.note
        rows.append([
            esc(f.plugin_id), esc(f.version), esc(a.id),
            badge(a.severity, _SEVERITY_COLOURS.get(a.severity)), esc(a.affected),
            esc(a.title), esc(fix), esc(f.action), esc(f.state),
        ])  # fmt: skip
        attrs.append({"data-plugin": f.plugin_id, "data-advisory": a.id, "data-action": f.action})
    columns = ("plugin", "version", "advisory", "severity", "affected", "title", "fix",
               "action", "state")  # fmt: skip
    head = f"<b>Advisories</b> <span class='pliers-muted'>policy {esc(watch.policy)}</span>"
    return f"<div>{head}{table_html(columns, rows, 'pliers-advisories', attrs)}</div>"


#: ``(module, class name)`` → drawing, for IPython's ``for_type_by_name``.
NAMED: dict[tuple[str, str], Any] = {
    ("pliers_lab.market._trust_score", "TrustScore"): trust_html,
    ("pliers_lab.market._advisory_watch", "AdvisoryWatch"): watch_html,
}
