"""The metrics dashboard: per-plugin metrics, resource figures (measured, or *not
measured* and why), the limits each plugin hit (``PluginMetrics.limitsExceeded``: which
limit, how often, the value measured against the cap, what the engine did), durations and
error-rate plots, recent errors and recent activity (status changes, installs, config
updates).

Every table and picture comes from a DataFrame kept in ``dashboard.frames`` after each
refresh, so what you see is what you can analyse further.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ipywidgets as w

from .._displays import esc
from ._common import engine_or_default, message, panel

if TYPE_CHECKING:
    from ...engine import Engine

__all__ = ["MetricsDashboard"]

_METRIC_COLUMNS = [
    "plugin_id",
    "state",
    "isolation",
    "count",
    "error_count",
    "avg_ms",
    "max_ms",
    "health",
    "restarts",
    "timeouts",
    "limit_hits",
]


class MetricsDashboard(w.VBox):  # type: ignore[misc]
    """Metrics of every plugin of an engine, refreshed on demand.

    Attributes:
        refresh_button: redraws everything from the engine.
        summary, table, resources, limits, errors, activity: HTML; ``table`` has CSS
            class ``pliers-metrics-table`` (``limit_hits``: the limits a plugin hit, all
            counted), ``resources`` ``pliers-resources-table`` (a cell not measured says
            so, the reason in its title), ``limits`` ``pliers-limits-table`` (a row per
            plugin and limit hit, ``data-plugin`` and ``data-limit`` on it).
        durations, error_rates: Image widgets (PNG) of the two plots.
        frames: ``metrics``, ``resources`` (one row per plugin and figure: value, unit,
            measured, source or why not), ``limits`` (one row per plugin and limit it
            hit), ``durations``, ``error_rates``, ``errors`` and ``activity`` DataFrames.
    """

    def __init__(self, engine: Engine | None = None, *, plots: bool = True) -> None:
        self.engine = engine_or_default(engine)
        self.plots = plots
        self.frames: dict[str, Any] = {}
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.summary = w.HTML()
        self.table = w.HTML()
        self.resources = w.HTML()
        self.limits = w.HTML()
        self.durations = w.Image(format="png", layout=_plot_layout())
        self.error_rates = w.Image(format="png", layout=_plot_layout())
        self.errors = w.HTML()
        self.activity = w.HTML()
        self.refresh_button.on_click(lambda _b: self.refresh())
        children: list[w.Widget] = [
            w.HBox([self.refresh_button, self.summary]),
            self.table,
            self.resources,
            self.limits,
        ]
        if plots:
            # A flex row stretches its children to the tallest: the two plots differ in
            # height, so each keeps its own at the top of the row instead.
            row = w.HBox(
                [self.durations, self.error_rates], layout=w.Layout(align_items="flex-start")
            )
            children.append(row)
        children += [self.errors, self.activity]
        super().__init__(children)
        self.add_class("pliers-dashboard")
        self.refresh()

    def refresh(self) -> None:
        """Re-read the engine's metrics, executions and errors."""
        from ..plots import durations_frame, error_rates_frame, plot_durations, plot_error_rates

        engine = self.engine
        metrics = engine.metrics_frame()
        self.frames = {
            "metrics": metrics,
            "resources": resources_frame(engine),
            "limits": limits_frame(engine),
            "durations": durations_frame(engine),
            "error_rates": error_rates_frame(engine),
            "errors": engine.errors.frame(),
            "activity": engine.activity.frame(),
        }
        calls = int(metrics["count"].sum()) if len(metrics) else 0
        failures = int(metrics["error_count"].sum()) if len(metrics) else 0
        limits = self.frames["limits"]
        hits = limits.groupby("plugin_id")["count"].sum() if len(limits) else {}
        kind = "ok" if not failures and not len(limits) else "warning"
        self.summary.value = message(
            kind,
            f"{len(metrics)} plugins · {engine.executions.total} executions · {calls} plugin "
            f"calls · {failures} failed · {engine.errors.total} errors recorded · "
            f"{int(limits['count'].sum()) if len(limits) else 0} limit hits",
        )
        shown = metrics.assign(limit_hits=[int(hits.get(p, 0)) for p in metrics["plugin_id"]])[
            _METRIC_COLUMNS
        ]
        self.table.value = panel(
            shown.to_html(
                index=False, classes="pliers-metrics-table", float_format="{:.3f}".format, border=0
            )
        )
        self.resources.value = panel(
            "<b>resources</b> (sandboxed plugins: their workers, as the kernel and the "
            "host count them; inline plugins share the engine's process)"
            + _resources_html(self.frames["resources"])
        )
        self.limits.value = panel(
            "<b>limits exceeded</b> (per plugin and limit: how often, the newest hit's value "
            "against the cap, and what the engine did; only sandboxed plugins' workers "
            "apply per-plugin limits)" + _limits_html(limits)
        )
        if self.plots:
            self.durations.value = plot_durations(self.frames["durations"]).png(dpi=80)
            self.error_rates.value = plot_error_rates(self.frames["error_rates"]).png(dpi=80)
        recent = self.frames["errors"].tail(10).iloc[::-1].copy()
        columns = ["at (UTC)", "type", "plugin_id", "hook", "message", "recovery"]
        if len(recent):
            recent["at (UTC)"] = (
                recent["timestamp"].dt.tz_convert(None).dt.strftime("%H:%M:%S.%f").str[:-3]
            )
        self.errors.value = panel(
            "<b>recent errors</b>"
            + (
                recent[columns].to_html(index=False, classes="pliers-errors", border=0)
                if len(recent)
                else " <span class='pliers-muted'>none</span>"
            )
        )
        self.activity.value = panel(
            "<b>recent activity</b>" + _activity_html(self.frames["activity"])
        )


def resources_frame(engine: Engine) -> Any:
    """One row per plugin and resource figure: ``value`` (NaN: not measured), ``unit``,
    ``measured`` and ``source`` (where it comes from, or why it is not measured)."""
    from ...observe.frames import frame
    from ...observe.metrics import resource_figures

    rows = []
    for plugin in list(engine.plugins):
        try:
            resources = engine.metrics(plugin.id).resources
        except Exception:  # unloaded meanwhile
            continue
        for figure, value, unit, note in resource_figures(resources):
            measured = value is not None
            rows.append(
                (plugin.id, figure, value if measured else float("nan"), unit, measured, note)
            )
    return frame(rows, ("plugin_id", "figure", "value", "unit", "measured", "source"))


def limits_frame(engine: Engine) -> Any:
    """One row per plugin and limit it hit (``PluginMetrics.limitsExceeded``): ``count``,
    ``actions`` (what the engine did, how often), and the newest hit's ``value``, ``cap``,
    ``unit``, ``action``, ``at`` (UTC) and ``detail``."""
    from ...observe.frames import frame

    rows = []
    for plugin in list(engine.plugins):
        try:
            exceeded = engine.metrics(plugin.id).limitsExceeded
        except Exception:  # unloaded meanwhile
            continue
        for limit, entry in sorted(exceeded.items()):
            last = entry.get("last") or {}
            actions = ", ".join(f"{a}: {n}" for a, n in sorted(entry["actions"].items()))
            rows.append((
                plugin.id, limit, entry["count"], actions, last.get("value"), last.get("cap"),
                last.get("unit", ""), last.get("action", ""), last.get("at"),
                last.get("detail", ""),
            ))  # fmt: skip
    columns = (
        "plugin_id", "limit", "count", "actions", "value", "cap", "unit", "action", "at",
        "detail",
    )  # fmt: skip
    return frame(rows, columns, time_columns=("at",))


def _limits_html(frame: Any) -> str:
    """A row per plugin and limit hit; the newest hit's detail is the row's title."""
    if not len(frame):
        return " <span class='pliers-muted'>none</span>"
    body = []
    for row in frame.itertuples(index=False):
        at = row.at.strftime("%H:%M:%S") if row.at == row.at else "?"  # NaT: no time
        cells = (
            f"<th>{esc(row.plugin_id)}</th><td>{esc(row.limit)}</td>"
            f'<td class="num">{row.count}</td><td>{esc(row.actions)}</td>'
            f'<td class="num">{esc(_amount(row.value))}</td>'
            f'<td class="num">{esc(_amount(row.cap))}</td><td>{esc(row.unit)}</td>'
            f"<td>{esc(at)}</td>"
        )
        body.append(
            f'<tr data-plugin="{esc(row.plugin_id)}" data-limit="{esc(row.limit)}" '
            f'title="{esc(row.detail)}">{cells}</tr>'
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in ("plugin", "limit", "hits", "what the engine did", "last value", "cap",
                  "unit", "last at (UTC)")
    )  # fmt: skip
    return (
        f'<table class="pliers-limits-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _amount(value: Any) -> str:
    """A measured figure as read (a module's name stays a name)."""
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() or abs(value) >= 100 else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


def _resources_html(frame: Any) -> str:
    """Plugins by rows, figures by columns; a figure not measured reads *not measured*,
    with the reason as the cell's title."""
    if not len(frame):
        return " <span class='pliers-muted'>no plugins</span>"
    figures = list(dict.fromkeys(frame["figure"]))
    units = dict(zip(frame["figure"], frame["unit"], strict=True))
    head = "".join(f"<th>{esc(f)}<br><small>{esc(units[f])}</small></th>" for f in figures)
    body = []
    for plugin_id, rows in frame.groupby("plugin_id", sort=True):
        cells = []
        for row in rows.itertuples(index=False):
            if row.measured:
                text = (
                    f"{row.value:,.0f}"
                    if row.unit in ("bytes", "requests")
                    else f"{row.value:,.1f}"
                )
                cells.append(f'<td class="num" title="{esc(row.source)}">{text}</td>')
            else:
                cells.append(
                    f'<td class="pliers-muted pliers-not-measured" title="{esc(row.source)}">'
                    "not measured</td>"
                )
        name = esc(str(plugin_id))
        body.append(f'<tr data-plugin="{name}"><th>{name}</th>{"".join(cells)}</tr>')
    return (
        '<table class="pliers-resources-table"><thead><tr><th>plugin</th>'
        f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _plot_layout() -> w.Layout:
    """Natural size up to half the row, never drawn out of shape (``object_fit``)."""
    return w.Layout(width="auto", max_width="49%", height="auto", object_fit="contain")


def _activity_html(frame: Any) -> str:
    """The newest ten events, newest first, each summarised on one line."""
    if not len(frame):
        return " <span class='pliers-muted'>none</span>"
    recent = frame.tail(10).iloc[::-1].copy()
    recent["at (UTC)"] = recent["timestamp"].dt.tz_convert(None).dt.strftime("%H:%M:%S.%f").str[:-3]
    pairs = zip(recent["type"], recent["data"], strict=True)
    recent["what"] = [_summary(kind, data) for kind, data in pairs]
    shown = recent[["at (UTC)", "type", "plugin_id", "what"]]
    return str(shown.to_html(index=False, classes="pliers-activity", border=0))


def _summary(kind: str, data: dict[str, Any]) -> str:
    if kind == "plugin.status.changed":
        return f"{data.get('old')} → {data.get('new')}" + (
            f" ({data['reason']})" if data.get("reason") else ""
        )
    if kind == "plugin.error.occurred":
        return f"{data.get('errorType')}: {str(data.get('message', ''))[:80]}"
    if kind == "plugin.config.updated":
        return "; ".join(map(str, data.get("changes") or [])) or "no change"
    if kind == "plugin.updated":
        return f"{data.get('old')} → {data.get('new')}"
    if kind == "plugin.admin.notified":  # a recovery decision, told to the administrator
        return f"{data.get('action')}: {str(data.get('detail', ''))[:80]}"
    return ", ".join(f"{k}={v}" for k, v in data.items())
