"""Rich HTML of the core objects, the dependency graph and the plots (each with its frame)."""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import networkx as nx
import pytest

from pliers_lab import Engine, PluginError, PluginErrorType, hook
from pliers_lab.lab import graph, plots
from pliers_lab.lab.samples import sample_payload


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
    html = examples._repr_html_()
    assert 'class="pliers-plugins"' in html
    assert (
        html.count("data-plugin=") == len(examples.plugins) >= 6 and 'data-state="active"' in html
    )


def test_plugin_html(examples: Engine) -> None:
    html = examples.plugin("submission-sanitizer")._repr_html_()
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
    html = result._repr_html_()
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
    html = error._repr_html_()
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
