"""What a person sees in the plots, judged at the matplotlib level (no kernel, no browser):
the timeline's legend leaves every bar visible, the dashboard's plots keep their shape."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.colors import to_hex

from pliers_lab import Engine
from pliers_lab.lab import plots
from pliers_lab.lab._displays import STATUS_COLOURS


def _timeline(rows: list[tuple[str, float, float, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["label", "start_ms", "duration_ms", "status"])


def _bars(picture: plots.Picture) -> list[Any]:
    return [p for p in picture.figure.axes[0].patches if p.get_width() > 0]


def test_the_timeline_legend_leaves_the_error_bar_visible() -> None:
    # Notebook 04's picture: the one failed call is the last lane's, and the latest one,
    # which is where a legend in the lower right corner sat.
    frame = _timeline(
        [
            ("submission.beforeSave · guard", 0.0, 0.05, "ok"),
            ("submission.afterSave · slow-crm", 0.05, 4.2, "ok"),
            ("submission.afterSave · audit-log", 4.25, 0.05, "ok"),
            ("submission.enrich · chain", 4.7, 0.05, "ok"),
            ("submission.enrich · flaky-geo", 4.9, 0.3, "error"),
        ]
    )
    picture = plots.plot_timeline(frame, title="The last six hook executions")
    figure = picture.figure
    figure.draw_without_rendering()
    legend = figure.axes[0].get_legend()
    assert legend is not None
    box = legend.get_window_extent()
    bars = _bars(picture)
    errors = [b for b in bars if to_hex(b.get_facecolor()) == STATUS_COLOURS["error"]]
    assert len(errors) == 1 and len(bars) == 5
    for bar in bars:  # the error bar first of all, but no bar is hidden
        assert not box.overlaps(bar.get_window_extent()), (box, bar.get_window_extent())
    # The legend is still in the picture, not cut off by the saved PNG's edge.
    assert box.x1 <= figure.bbox.x1 and box.y0 >= figure.bbox.y0
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels == ["ok", "error"]


def test_the_timeline_of_an_engine_still_draws(examples: Engine) -> None:
    from pliers_lab.samples import sample_payload

    examples.fire("submission.sanitize", sample_payload("submission.sanitize"))
    picture = plots.plot_timeline(examples)
    assert picture.png().startswith(b"\x89PNG") and picture.figure.axes[0].get_legend()


def test_the_dashboard_plots_keep_their_aspect(examples: Engine) -> None:
    """A flex row stretches its children to the tallest one: two plots of different
    heights were drawn out of shape. The row aligns them at the top, and each image keeps
    its own aspect (the browser test measures the drawn pixels)."""
    import ipywidgets as w

    from pliers_lab.lab import MetricsDashboard

    dashboard = MetricsDashboard(examples)
    row = next(c for c in dashboard.children if dashboard.durations in getattr(c, "children", ()))
    assert isinstance(row, w.HBox)
    assert row.layout.align_items == "flex-start"
    for image in (dashboard.durations, dashboard.error_rates):
        assert image.layout.height == "auto" and image.layout.object_fit == "contain"
        assert image.layout.max_width == "49%" and bytes(image.value).startswith(b"\x89PNG")
