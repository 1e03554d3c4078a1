"""Rich HTML of the core objects, the dependency graph and the plots (each with its frame)."""

from __future__ import annotations

import contextlib
import re
import sys
from typing import Any

import networkx as nx
import pytest

from pliers_lab import Engine, PluginError, PluginErrorType, hook
from pliers_lab.lab import _displays as displays
from pliers_lab.lab import _graph as graph
from pliers_lab.lab import plots
from pliers_lab.samples import sample_payload


def manifest(name: str, hooks: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "version": extra.pop("version", "1.0.0"),
        "description": f"test plugin {name}",
        "author": "tests",
        "license": "MIT",
        "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
        "hooks": hooks or {},
        **extra,
    }


def _noop(ctx: Any) -> None:
    return None


def add(engine: Engine, name: str, **extra: Any) -> None:
    # A plugin whose dependencies fail stays listed in ERROR: what the graph must show.
    with contextlib.suppress(PluginError):
        engine.add_plugin(
            manifest(name, {"notification.send": {}}, **extra),
            {"send": hook("notification.send")(_noop)},
        )


# ---------------------------------------------------------------------- HTML
def test_core_imports_no_lab_until_a_repr_is_asked() -> None:
    import subprocess

    code = (
        "import sys, pliers_lab; e = pliers_lab.Engine(); "
        "print(any(m.startswith('pliers_lab.lab') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_engine_html(examples: Engine) -> None:
    html = displays.engine_html(examples)
    assert 'class="pliers-plugins"' in html
    assert (
        html.count("data-plugin=") == len(examples.plugins) >= 6 and 'data-state="active"' in html
    )


def test_plugin_html(examples: Engine) -> None:
    html = displays.plugin_html(examples.plugin("submission-sanitizer"))
    for text in (
        "submission-sanitizer@1.0.0",
        "submission.sanitize",
        "pliers-permissions",
        "pliers-timeline",
        "maxLength",
        "inline",
    ):
        assert text in html, text


def test_result_html_escapes_and_tables(examples: Engine) -> None:
    result = examples.fire(
        "submission.sanitize", sample_payload("submission.sanitize"), user_id="<ada>"
    )
    html = displays.result_html(result)
    assert 'class="pliers-outcomes"' in html and 'data-plugin="submission-sanitizer"' in html
    assert "&lt;ada&gt;" in html and "<ada>" not in html


def test_error_html() -> None:
    try:
        raise KeyError("field")
    except KeyError as exc:
        error = PluginError(
            PluginErrorType.RUNTIME_ERROR,
            "handler raised KeyError",
            plugin_id="p",
            hook="form.validate",
            execution_id="x-1",
            cause=exc,
        )
    html = displays.error_html(error)
    assert "runtime_error" in html and "form.validate" in html and "<details>" in html
    assert "KeyError" in html


# ---------------------------------------------------------------------- graph
def test_build_graph_shows_order_conflicts_and_missing() -> None:
    engine = Engine()
    add(engine, "base", version="1.2.0")
    add(engine, "app", dependencies={"base": "^1.0.0"}, optionalDependencies={"extra": "*"})
    add(engine, "old", dependencies={"base": "^2.0.0"})
    g = graph.build_graph(engine.plugins)
    assert g.nodes["base"]["load_order"] == 0 and g.nodes["app"]["state"] == "active"
    assert g.edges["base", "app"]["range"] == "^1.0.0" and not g.edges["base", "app"]["conflict"]
    assert "does not satisfy" in g.edges["base", "old"]["conflict"]
    assert g.nodes["old"]["state"] == "error" and g.nodes["old"]["conflict"]
    assert g.nodes["extra"]["state"] == "missing" and not g.edges["extra", "app"]["conflict"]
    nodes, edges = graph.graph_frames(g)
    assert set(nodes["plugin_id"]) == {"base", "app", "old", "extra"}
    row = edges.set_index(["plugin_id", "depends_on"]).loc[("old", "base")]
    assert bool(row["conflict"]) and "^2.0.0" in row["range"]
    engine.close()


def test_dependency_graph_prefers_the_engine_method() -> None:
    class WithResolver:
        def dependency_graph(self) -> nx.DiGraph:
            g = nx.DiGraph()
            g.add_node("x", version="1.0.0", state="active", load_order=0, conflict=False)
            return g

    assert list(graph.dependency_graph(WithResolver())) == ["x"]  # type: ignore[arg-type]


def test_engine_graph_has_the_lab_attributes(examples: Engine) -> None:
    g = graph.dependency_graph(examples)
    assert set(g) == {p.id for p in examples.plugins}
    for _node, data in g.nodes(data=True):
        assert {"version", "state", "load_order"} <= set(data)


def test_draw_dependency_graph() -> None:
    engine = Engine()
    add(engine, "base", version="1.2.0")
    add(engine, "app", dependencies={"base": "^1.0.0"})
    add(engine, "old", dependencies={"base": "^2.0.0"})
    picture = graph.draw_dependency_graph(graph.build_graph(engine.plugins))
    assert picture.png().startswith(b"\x89PNG")
    assert len(picture.frame) == 3 and len(picture.edges) == 2
    texts = [t.get_text() for t in picture.figure.axes[0].texts]
    assert any("#0" in t for t in texts) and any(t.startswith("✗") for t in texts)
    engine.close()


def test_draw_an_empty_and_a_cyclic_graph() -> None:
    assert (
        "no plugins" in graph.draw_dependency_graph(nx.DiGraph()).figure.axes[0].texts[0].get_text()
    )
    cyclic = nx.DiGraph([("a", "b"), ("b", "a")])
    nx.set_node_attributes(cyclic, "active", "state")
    assert graph.draw_dependency_graph(cyclic).png().startswith(b"\x89PNG")


def _notebook_06_resolution() -> Any:
    """Notebook 06's store, resolved the manual way: charts 2 and pdf-export cannot share a
    forms-core, so pdf-export (and invoice-mailer, which needs it) are left out."""
    from pliers_lab.dependencies import Catalog, PluginSpec, resolve
    from pliers_lab.dependencies._model import Requirement

    def spec(name: str, needs: dict[str, str], scope: Any = "runtime") -> PluginSpec:
        reqs = tuple(Requirement(n, r, scope, name) for n, r in needs.items())
        return PluginSpec(name, "2.0.0" if name in ("forms-core", "charts") else "1.0.0", reqs)

    catalog = Catalog(
        [
            spec("forms-core", {}),
            spec("charts", {"forms-core": "^2.0.0"}),
            spec("pdf-export", {"forms-core": "^1.2.0"}),
            spec("invoice-mailer", {"pdf-export": "^1.0.0"}),
        ]
    )
    return resolve(catalog, strategy="manual")


def test_graph_frames_keep_the_resolvers_reason_whole() -> None:
    """The resolver's graph says a conflict in ``reason`` (``conflict`` is a bool): the
    tables of ``draw_dependency_graph`` showed ``reason`` None for the one red edge."""
    import pandas as pd

    resolution = _notebook_06_resolution()
    (conflict,) = resolution.conflicts
    nodes, edges = graph.graph_frames(resolution.graph)
    row = edges.set_index(["plugin_id", "depends_on"]).loc[("pdf-export", "forms-core")]
    assert bool(row["conflict"]) and row["reason"] == str(conflict)
    assert len(str(conflict)) > 100  # the whole sentence, the hint included
    assert str(conflict).endswith(str(conflict.resolution))
    reasons = nodes.set_index("plugin_id")["reason"]
    assert reasons["pdf-export"] == str(conflict) and pd.isna(reasons["charts"])
    picture = graph.draw_dependency_graph(resolution.graph)
    assert (picture.edges["reason"] == str(conflict)).sum() == 1


# ---------------------------------------------------------------------- DataFrames
LONG = "no version of forms-core satisfies both ^1.2.0 and ^2.0.0; " * 3


def test_frame_html_shows_whole_cells_in_a_scrolling_box() -> None:
    import pandas as pd

    from pliers_lab.lab._displays import FRAME_TEXT, frame_html

    frame = pd.DataFrame({"plugin": ["pdf-export"], "resolution": [LONG]})
    assert LONG.strip() not in (frame._repr_html_() or "")  # pandas cuts at 50 characters
    html = frame_html(frame)
    assert html is not None and LONG.strip() in html and "..." not in html
    assert '<div class="pliers-frame">' in html and "overflow-x:auto" in html
    assert 'class="dataframe"' in html  # pandas' own table, its own styles
    with pd.option_context("display.max_colwidth", 10):  # the floor, not the user's 10
        assert LONG.strip() in (frame_html(frame) or "")
    huge = pd.DataFrame({"text": ["x" * (FRAME_TEXT * 2)]})
    shown = max(map(len, re.findall("x+", frame_html(huge) or "")))
    assert FRAME_TEXT - 10 < shown < FRAME_TEXT  # a bound remains, at 2000 characters
    with pd.option_context("display.max_colwidth", None):
        assert "x" * (FRAME_TEXT * 2) in (frame_html(huge) or "")
    with pd.option_context("display.notebook_repr_html", False):
        assert frame_html(frame) is None
    wide = pd.DataFrame([{f"column {i}": LONG for i in range(12)}])
    assert "..." not in (frame_html(wide) or "")


def test_the_extension_shows_dataframes_the_labs_way(shell: Any) -> None:
    """``%load_ext pliers_lab`` is what every notebook runs first: from then on a
    conflict's reason is whole (notebook 06 showed ``no version of forms-core
    satisfies both ^1.2.0...``)."""
    import pandas as pd

    resolution = _notebook_06_resolution()
    conflicts = pd.DataFrame([c.to_dict() for c in resolution.conflicts])
    excluded = pd.Series(resolution.excluded, name="why").to_frame()
    for frame in (conflicts, excluded):
        data, _ = shell.display_formatter.format(frame)
        assert 'class="pliers-frame"' in data["text/html"]
        assert "..." not in data["text/html"]
    data, _ = shell.display_formatter.format(conflicts)
    assert str(resolution.conflicts[0].resolution) in data["text/html"]
    shell.run_line_magic("unload_ext", "pliers_lab")
    data, _ = shell.display_formatter.format(conflicts)
    assert "pliers-frame" not in data["text/html"] and "..." in data["text/html"]
    shell.run_line_magic("load_ext", "pliers_lab")


# ---------------------------------------------------------------------- plots
def test_plots_return_pictures_built_from_frames(examples: Engine) -> None:
    for name in ("submission.sanitize", "submission.transform", "submission.beforeSave"):
        examples.fire(name, sample_payload(name))
    durations = plots.plot_durations(examples)
    assert set(durations.frame["plugin_id"]) >= {"submission-sanitizer", "data-transform-chain"}
    rates = plots.plot_error_rates(examples)
    assert list(rates.frame.columns) == [
        "plugin_id",
        "state",
        "calls",
        "errors",
        "timeouts",
        "error_rate",
    ]
    timeline = plots.plot_timeline(examples)
    assert {"label", "start_ms", "duration_ms", "status"} <= set(timeline.frame.columns)
    for picture in (durations, rates, timeline):
        assert picture.png().startswith(b"\x89PNG")
        assert "rows in .frame" in repr(picture)


def test_plots_accept_a_frame_the_user_changed(examples: Engine) -> None:
    examples.fire("submission.sanitize", sample_payload("submission.sanitize"))
    frame = plots.durations_frame(examples)
    frame = frame[frame["plugin_id"] == "submission-sanitizer"]
    assert list(plots.plot_durations(frame).frame["plugin_id"].unique()) == ["submission-sanitizer"]


@pytest.mark.parametrize(
    "draw", [plots.plot_durations, plots.plot_error_rates, plots.plot_timeline]
)
def test_plots_of_an_empty_engine(draw: Any) -> None:
    engine = Engine()
    assert draw(engine).png().startswith(b"\x89PNG")
    engine.close()
