"""Pictures of what the engine observed, each drawn from a DataFrame the user can take.

Every function returns a :class:`Picture`: it displays as the figure in a notebook, and
``picture.frame`` is the DataFrame behind it (``picture.figure`` the matplotlib figure).
Figures are built with ``matplotlib.figure.Figure`` rather than pyplot, so they are not
registered with pyplot's global state and a notebook shows each one exactly once.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from ._displays import STATE_COLOURS, STATUS_COLOURS

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..engine import Engine

__all__ = [
    "Picture",
    "durations_frame",
    "error_rates_frame",
    "plot_durations",
    "plot_error_rates",
    "plot_security",
    "plot_timeline",
    "security_frame",
    "timeline_frame",
]


class Picture:
    """A figure and the DataFrame(s) it was drawn from.

    Attributes:
        figure: the matplotlib ``Figure``.
        frame: the main DataFrame behind the picture.
        frames: every DataFrame used, by name (``frame`` is ``frames["frame"]``).
    """

    def __init__(self, figure: Figure, frame: Any, title: str, **frames: Any) -> None:
        self.figure = figure
        self.frame = frame
        self.title = title
        self.frames = {"frame": frame, **frames}

    def __getattr__(self, name: str) -> Any:
        """The other frames by name: ``picture.edges`` is ``picture.frames["edges"]``."""
        frames = self.__dict__.get("frames", {})
        if name in frames:
            return frames[name]
        raise AttributeError(f"{type(self).__name__} has no {name!r} (frames: {', '.join(frames)})")

    def png(self, dpi: int = 100) -> bytes:
        """The figure as PNG bytes."""
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
        return buffer.getvalue()

    def _repr_png_(self) -> bytes:
        return self.png()

    def save(self, path: str, **kwargs: Any) -> None:
        """Write the figure to ``path`` (format from the suffix)."""
        self.figure.savefig(path, bbox_inches="tight", **kwargs)

    def __repr__(self) -> str:
        return f"<Picture {self.title!r}: {len(self.frame)} rows in .frame; .figure to restyle>"


def new_figure(width: float, height: float) -> tuple[Figure, Axes]:
    """A pyplot-free figure with one axes."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.add_subplot()


def _empty(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="#777")
    ax.set_axis_off()


def _engine_or_frame(source: Any, to_frame: Any) -> Any:
    from ..engine import Engine

    return to_frame(source) if isinstance(source, Engine) else source


# ---------------------------------------------------------------------- durations
def durations_frame(engine: Engine) -> Any:
    """One row per plugin call kept by the engine (``engine.executions.frame()``)."""
    return engine.executions.frame()


def plot_durations(source: Engine | Any) -> Picture:
    """Durations per plugin (ms) as box plots, slowest median on top.

    ``source`` is an engine or a DataFrame with ``plugin_id`` and ``duration_ms`` columns.
    """
    frame = _engine_or_frame(source, durations_frame)
    height = 1.2 + 0.35 * max(1, frame["plugin_id"].nunique() if len(frame) else 1)
    figure, ax = new_figure(7, height)
    if not len(frame):
        _empty(ax, "no hook executions yet")
        return Picture(figure, frame, "durations per plugin")
    order = frame.groupby("plugin_id")["duration_ms"].median().sort_values().index.tolist()
    data = [frame.loc[frame["plugin_id"] == p, "duration_ms"].to_numpy() for p in order]
    ax.boxplot(data, orientation="horizontal", tick_labels=order, showfliers=True)
    ax.set_xlabel("duration per call (ms)")
    ax.set_title(f"Durations per plugin ({len(frame)} calls)")
    if frame["duration_ms"].max() > 50 * max(frame["duration_ms"].median(), 1e-6):
        ax.set_xscale("log")
    ax.grid(axis="x", alpha=0.3)
    return Picture(figure, frame, "durations per plugin")


# ---------------------------------------------------------------------- error rates
def error_rates_frame(engine: Engine) -> Any:
    """Per plugin: calls, errors, timeouts and the error rate, from the exact counters."""
    frame = engine.metrics_frame()
    out = frame[["plugin_id", "state", "count", "error_count", "timeouts"]].rename(
        columns={"count": "calls", "error_count": "errors"}
    )
    out["error_rate"] = (out["errors"] / out["calls"].where(out["calls"] > 0)).fillna(0.0)
    return out.sort_values("error_rate", ascending=False, kind="stable").reset_index(drop=True)


def plot_error_rates(source: Engine | Any) -> Picture:
    """Error rate per plugin as bars, each labelled with errors/calls.

    ``source`` is an engine or a DataFrame with ``plugin_id``, ``calls``, ``errors`` and
    ``error_rate`` columns.
    """
    frame = _engine_or_frame(source, error_rates_frame)
    figure, ax = new_figure(7, 1.2 + 0.35 * max(1, len(frame)))
    if not len(frame):
        _empty(ax, "no plugins loaded")
        return Picture(figure, frame, "error rates")
    shown = frame.iloc[::-1]
    colours = [
        "#c62828" if r >= 0.5 else "#ef6c00" if r >= 0.05 else "#2e7d32"
        for r in shown["error_rate"]
    ]
    bars = ax.barh(shown["plugin_id"], shown["error_rate"] * 100, color=colours)
    labels = [f"{e}/{c}" for e, c in zip(shown["errors"], shown["calls"], strict=True)]
    ax.bar_label(bars, labels=labels, padding=3, fontsize=8)
    ax.set_xlim(0, 110)
    ax.set_xlabel("error rate (% of calls)")
    ax.set_title("Error rate per plugin")
    ax.grid(axis="x", alpha=0.3)
    return Picture(figure, frame, "error rates")


# ---------------------------------------------------------------------- timelines
def timeline_frame(engine: Engine, last: int | None = 50) -> Any:
    """Plugin calls of the last ``last`` executions: label, start (ms from the first
    call shown), duration, status. ``last=None`` keeps everything the engine holds."""
    frame = engine.executions.frame()
    if last is not None and len(frame):
        keep = frame["execution_id"].drop_duplicates().tail(last)
        frame = frame[frame["execution_id"].isin(keep)].reset_index(drop=True)
    if len(frame):
        origin = frame["start"].min()
        frame["start_ms"] = (frame["start"] - origin).dt.total_seconds() * 1000.0
        frame["label"] = frame["hook"] + " · " + frame["plugin_id"]
    return frame


def plot_timeline(
    source: Engine | Any,
    *,
    label: str = "label",
    start: str = "start_ms",
    duration: str = "duration_ms",
    colour: str = "status",
    title: str = "Timeline",
) -> Picture:
    """A Gantt chart: one bar per row from ``start`` for ``duration`` (ms), one lane per
    ``label``, coloured by ``colour`` (a status or a lifecycle state).

    ``source`` is an engine (its recent plugin calls, ``timeline_frame``) or any DataFrame
    with those columns, such as the host's pipeline trace.
    """
    frame = _engine_or_frame(source, timeline_frame)
    lanes = list(dict.fromkeys(frame[label])) if len(frame) else []
    figure, ax = new_figure(8, 1.2 + 0.3 * max(1, len(lanes)))
    if not len(frame):
        _empty(ax, "nothing recorded yet")
        return Picture(figure, frame, title)
    palette = {**STATE_COLOURS, **STATUS_COLOURS}
    index = {name: i for i, name in enumerate(lanes)}
    for row in frame[[label, start, duration, colour]].itertuples(index=False):
        lane, begin, width, key = row
        ax.barh(
            index[lane],
            max(float(width), 1e-3),
            left=float(begin),
            height=0.6,
            color=palette.get(str(key), "#0277bd"),
        )
    ax.set_yticks(range(len(lanes)), labels=lanes, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("time (ms)")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    seen = [k for k in dict.fromkeys(map(str, frame[colour])) if k in palette]
    if seen:
        from matplotlib.patches import Patch

        # Outside the axes, right of the lanes: inside, any corner can cover a bar, and
        # the lower right holds the latest call of the last lane, often the one error.
        ax.legend(
            handles=[Patch(color=palette[k], label=k) for k in seen],
            fontsize=8,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            borderaxespad=0.0,
            frameon=False,
        )
    return Picture(figure, frame, title)


# ---------------------------------------------------------------------- security
#: How each kind of security event is drawn: marker, colour, legend label.
_SECURITY_MARKS = {
    "allowed": ("o", "#2e7d32", "request allowed"),
    "audit": ("o", "#f9a825", "request let through (audit)"),
    "denied": ("x", "#c62828", "request denied"),
    "anomaly": ("^", "#ef6c00", "anomaly"),
    "quarantine": ("s", "#000000", "quarantined"),
    "release": ("D", "#0277bd", "released"),
}


def security_frame(engine: Engine, plugin_id: str | None = None) -> Any:
    """The monitor's events over time (``engine.security.events_frame``): requests and
    their verdicts, anomalies, quarantines and releases, each with the plugin version."""
    return engine.security.events_frame(plugin_id)


def plot_security(source: Engine | Any, plugin_id: str | None = None) -> Picture:
    """One lane per plugin over time: requests (allowed, denied), anomalies, quarantines
    and releases; a dotted line and the version where a new version started.

    ``source`` is an engine or a frame with ``timestamp``, ``plugin_id``, ``version``,
    ``kind`` and ``detail`` columns (``security_frame``).
    """
    from ..engine import Engine as _Engine

    frame = security_frame(source, plugin_id) if isinstance(source, _Engine) else source
    lanes = list(dict.fromkeys(frame["plugin_id"])) if len(frame) else []
    figure, ax = new_figure(8, 1.4 + 0.5 * max(1, len(lanes)))
    title = "Security events" + (f" of {plugin_id}" if plugin_id else "")
    if not len(frame):
        _empty(ax, "no security events recorded yet")
        return Picture(figure, frame, title)
    index = {name: i for i, name in enumerate(lanes)}
    kinds = frame["kind"].astype(str).str.split(":").str[0]
    for kind, (marker, colour, label) in _SECURITY_MARKS.items():
        rows = frame[kinds == kind]
        if len(rows):
            ax.scatter(rows["timestamp"], rows["plugin_id"].map(index), marker=marker,
                       color=colour, label=f"{label} ({len(rows)})", s=36, zorder=3)  # fmt: skip
    for lane, rows in frame.groupby("plugin_id", sort=False):
        versions = rows[rows["version"].notna()]
        changed = versions[versions["version"] != versions["version"].shift()]
        for row in changed.itertuples(index=False):
            y = index[lane]
            ax.vlines(row.timestamp, y - 0.4, y + 0.4, colors="#9e9e9e", linestyles="dotted")
            ax.annotate(str(row.version), (row.timestamp, y + 0.42), fontsize=7, color="#616161")
    ax.set_yticks(range(len(lanes)), labels=lanes, fontsize=8)
    ax.set_ylim(-0.7, len(lanes) - 0.2)
    ax.invert_yaxis()
    ax.set_xlabel("time (UTC)")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return Picture(figure, frame, title)
