"""The widgets without a frontend: set values, ``click()``, check what they show and what
the engine did (STYLE.md habit 14; ipywidgets' own tests work the same way)."""

from __future__ import annotations

import json
import shutil
import statistics
import time
from html import unescape
from pathlib import Path
from typing import Any

import ipywidgets as w

from pliers_lab import Engine, hook
from pliers_lab.lab import ConfigEditor, HookSimulator, MetricsDashboard, PluginInspector
from pliers_lab.samples import sample_payload

EXTENSIONS = Path(__file__).resolve().parents[2] / "extensions"


def manifest(name: str, hooks: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "version": "1.0.0",
        "description": f"test plugin {name}",
        "author": "tests",
        "license": "MIT",
        "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
        "hooks": hooks,
        **extra,
    }


def _sharer(ctx: Any) -> Any:
    ctx.state["seen_by"] = ctx.plugin_id
    return None


def _crash(ctx: Any) -> Any:
    raise RuntimeError("kaboom")


# ---------------------------------------------------------------------- simulator
def test_simulator_offers_core_and_custom_hooks(examples: Engine) -> None:
    sim = HookSimulator()
    names = [value for _label, value in sim.hook.options]
    assert "submission.transform" in names and "export.format" in names
    examples.add_plugin(
        manifest("custom", {"acme.ping": {}}, customHooks={"acme.ping": {"mode": "collect"}}),
        {"ping": hook("acme.ping")(lambda ctx: "pong")},
    )
    sim.refresh_button.click()
    labels = dict((v, label) for label, v in sim.hook.options)
    assert "★custom" in labels["acme.ping"]
    sim.hook.value = "acme.ping"
    sim.fire_button.click()
    assert sim.result is not None and sim.result.value == ["pong"]


def test_simulator_fire_shows_value_table_and_state(examples: Engine) -> None:
    examples.add_plugin(
        manifest("sharer", {"submission.transform": {"priority": 50}}),
        {"share": hook("submission.transform")(_sharer)},
    )
    sim = HookSimulator(hook="submission.transform")
    before = examples.executions.total
    sim.fire_button.click()
    assert examples.executions.total == before + 1
    table = sim.table.value
    assert 'class="pliers-outcomes"' in table
    order = [
        p
        for p in ("submission-sanitizer", "data-transform-chain", "sharer")
        if f'data-plugin="{p}"' in table
    ]
    assert order == ["submission-sanitizer", "data-transform-chain", "sharer"]
    assert table.index('data-plugin="submission-sanitizer"') < table.index('data-plugin="sharer"')
    assert 'data-status="ok"' in table
    assert "ada@example.com" in sim.value.value  # lower-cased by the sanitizer's transform
    assert "seen_by" in sim.state.value and "sharer" in sim.state.value
    assert "3 plugins" in sim.status.value


def test_simulator_user_and_session_reach_the_context(examples: Engine) -> None:
    sim = HookSimulator(hook="submission.beforeSave")
    sim.user.value, sim.session.value = "ada", "s-9"
    sim.fire_button.click()
    assert sim.result is not None
    assert (sim.result.metadata.user_id, sim.result.metadata.session_id) == ("ada", "s-9")


def test_simulator_refuses_invalid_json_inline(examples: Engine) -> None:
    sim = HookSimulator(hook="export.format")
    sim.payload.value = '{"format": "csv",'
    assert sim.fire_button.disabled
    assert "not JSON: line 1" in sim.payload_status.value
    before = examples.executions.total
    assert sim.fire() is None
    assert examples.executions.total == before
    sim.payload.value = '{"format": "csv"}'
    assert not sim.fire_button.disabled
    assert "missing: form, submissions" in sim.payload_status.value


def test_simulator_sample_follows_the_hook_until_edited(examples: Engine) -> None:
    sim = HookSimulator(hook="form.validate")
    assert set(json.loads(sim.payload.value)) == {"form"}
    sim.hook.value = "export.format"
    assert set(json.loads(sim.payload.value)) == {"format", "form", "submissions"}
    sim.payload.value = '{"format": "jsonl", "form": {}, "submissions": []}'
    sim.hook.value = "form.validate"
    assert json.loads(sim.payload.value)["format"] == "jsonl"
    assert "missing" not in sim.payload_status.value or "form" not in sim.payload_status.value


def test_simulator_shows_plugin_errors(examples: Engine) -> None:
    examples.add_plugin(
        manifest("crashy", {"submission.afterSave": {}}),
        {"boom": hook("submission.afterSave")(_crash)},
    )
    sim = HookSimulator(hook="submission.afterSave")
    sim.fire_button.click()
    assert 'data-plugin="crashy" data-status="error"' in sim.table.value
    assert "kaboom" in sim.table.value
    assert "failed: crashy" in sim.status.value


def test_simulator_unknown_hook_after_unload_is_one_line(examples: Engine) -> None:
    examples.add_plugin(
        manifest("custom", {"acme.ping": {}}, customHooks={"acme.ping": {"mode": "collect"}}),
        {"ping": hook("acme.ping")(lambda ctx: "pong")},
    )
    sim = HookSimulator(hook="acme.ping")
    examples.unload("custom")
    sim.fire_button.click()
    assert "unknown hook 'acme.ping'" in unescape(sim.status.value) and sim.table.value == ""


def test_simulator_fire_is_fast(examples: Engine) -> None:
    sim = HookSimulator(hook="submission.beforeValidate")
    sim.fire_button.click()  # warm
    timings = []
    for hook_name in ("submission.beforeValidate", "submission.transform", "submission.beforeSave"):
        sim.hook.value = hook_name
        for _ in range(5):
            started = time.perf_counter()
            sim.fire_button.click()
            timings.append((time.perf_counter() - started) * 1000)
    assert statistics.median(timings) < 50, timings


# ---------------------------------------------------------------------- inspector
def test_inspector_shows_a_plugin(examples: Engine) -> None:
    ins = PluginInspector("submission-guard")
    assert "submission-guard@1.0.0" in ins.header.value and ">active<" in ins.header.value
    assert "submission.beforeSave" in ins.pages["overview"].value
    assert '"name": "submission-guard"' in unescape(ins.pages["manifest"].value)
    assert "events" in ins.pages["permissions"].value
    assert 'class="pliers-metrics"' in ins.pages["metrics"].value
    assert 'class="pliers-resources"' in ins.pages["metrics"].value
    assert 'data-figure="cpuUsage.total" data-measured="no"' in ins.pages["metrics"].value
    assert 'data-target="active"' in ins.pages["lifecycle"].value
    assert ins.enable_button.disabled and not ins.disable_button.disabled
    assert list(ins.tabs.titles) == [
        "overview",
        "manifest",
        "permissions",
        "metrics",
        "lifecycle",
        "errors",
    ]


def test_inspector_buttons_act_on_the_engine(examples: Engine) -> None:
    ins = PluginInspector("csv-export")
    ins.disable_button.click()
    assert examples.plugin("csv-export").state.value == "stopped"
    assert "csv-export disabled: active → stopped" in ins.message.value
    assert ">stopped<" in ins.header.value and "disabled in the inspector" in ins.header.value
    assert not ins.enable_button.disabled
    ins.enable_button.click()
    assert examples.plugin("csv-export").state.value == "active"
    old = examples.plugin("csv-export")
    ins.reload_button.click()
    assert examples.plugin("csv-export") is not old
    assert "reloaded" in ins.message.value


def test_inspector_reload_of_a_broken_edit_keeps_the_old_version(tmp_path: Path) -> None:
    from pliers_lab.lab import default_engine

    folder = tmp_path / "csv-export"
    shutil.copytree(EXTENSIONS / "csv-export", folder)
    engine = default_engine()
    engine.load(folder)
    ins = PluginInspector("csv-export")
    (folder / "plugin.py").write_text("def broken(:\n")
    ins.reload_button.click()
    assert "pliers-error" in ins.message.value and "SyntaxError" in ins.message.value
    assert engine.plugin("csv-export").state.value == "active"
    assert "load_error" in ins.pages["errors"].value


def test_inspector_follows_the_dropdown_and_inline_plugins(examples: Engine) -> None:
    examples.add_plugin(
        manifest("inline-one", {"notification.send": {}}),
        {"send": hook("notification.send")(lambda ctx: None)},
    )
    ins = PluginInspector()
    ins.refresh_button.click()
    ins.plugin.value = "inline-one"
    assert "inline-one@1.0.0" in ins.header.value
    assert ins.reload_button.disabled  # nothing on disk to reload
    assert "defined inline" in ins.pages["overview"].value


def test_inspector_of_an_empty_engine() -> None:
    ins = PluginInspector()
    assert "no plugin loaded" in ins.header.value
    assert ins.enable_button.disabled and ins.disable_button.disabled


# ---------------------------------------------------------------------- config editor
def test_config_editor_is_generated_from_the_schema(examples: Engine) -> None:
    ed = ConfigEditor("submission-guard")
    assert set(ed.fields) == {"honeypotField", "blockedDomains", "maxPerSessionPerMinute"}
    assert isinstance(ed.fields["honeypotField"], w.Text)
    assert isinstance(ed.fields["maxPerSessionPerMinute"], w.IntText)
    assert json.loads(ed.fields["blockedDomains"].value) == ["mailinator.com", "guerrillamail.com"]
    ed2 = ConfigEditor("advanced-validation")
    assert isinstance(ed2.fields["strictBusinessEmail"], w.Checkbox)
    assert isinstance(ed2.fields["defaultCountryCode"], w.Dropdown)


def test_config_editor_refuses_invalid_values_inline(examples: Engine) -> None:
    ed = ConfigEditor("submission-guard")
    ed.fields["maxPerSessionPerMinute"].value = 0
    assert ed.apply_button.disabled
    assert "minimum" in ed.errors["maxPerSessionPerMinute"].value
    assert ed.errors["honeypotField"].value == ""
    ed.fields["blockedDomains"].value = '["not a domain"]'
    assert "does not match" in ed.errors["blockedDomains"].value
    ed.fields["blockedDomains"].value = '["spam.example",'
    assert "not JSON" in ed.errors["blockedDomains"].value
    assert ed.apply() is None
    assert examples.plugin("submission-guard").config["maxPerSessionPerMinute"] == 5


def test_config_editor_applies_valid_values(examples: Engine) -> None:
    ed = ConfigEditor("submission-guard")
    ed.fields["maxPerSessionPerMinute"].value = 2
    ed.fields["blockedDomains"].value = '["spam.example"]'
    assert not ed.apply_button.disabled
    ed.apply_button.click()
    config = examples.plugin("submission-guard").config
    assert config["maxPerSessionPerMinute"] == 2 and config["blockedDomains"] == ["spam.example"]
    # Only what differs from the defaults becomes the user's setting.
    assert examples.plugin("submission-guard").config_overrides == {
        "maxPerSessionPerMinute": 2,
        "blockedDomains": ["spam.example"],
    }
    assert "applied to submission-guard" in ed.message.value
    ed.fields["maxPerSessionPerMinute"].value = 3
    ed.reset_button.click()
    assert ed.fields["maxPerSessionPerMinute"].value == 2


def test_config_editor_without_schema_edits_free_json(examples: Engine) -> None:
    examples.add_plugin(
        manifest("bare", {"notification.send": {}}),
        {"send": hook("notification.send")(lambda ctx: None)},
        config={"x": 1},
    )
    ed = ConfigEditor("bare")
    assert ed.fields == {} and json.loads(ed.extra.value) == {"x": 1}
    ed.extra.value = '{"x": 2, "y": [1]}'
    ed.apply_button.click()
    assert examples.plugin("bare").config == {"x": 2, "y": [1]}
    ed.extra.value = "[1]"
    assert ed.apply_button.disabled and "JSON object" in ed.root_error.value


# ---------------------------------------------------------------------- dashboard
def test_dashboard_shows_metrics_plots_and_errors(examples: Engine) -> None:
    examples.add_plugin(
        manifest("crashy", {"submission.afterSave": {}}),
        {"boom": hook("submission.afterSave")(_crash)},
    )
    dash = MetricsDashboard()
    assert f"{len(examples.plugins)} plugins" in dash.summary.value
    assert "0 failed" in dash.summary.value
    for name in ("submission.transform", "submission.afterSave"):
        examples.fire(name, sample_payload(name))
    dash.refresh_button.click()
    assert "1 failed" in dash.summary.value
    assert 'class="dataframe pliers-metrics-table"' in dash.table.value
    assert "crashy" in dash.errors.value and "kaboom" in dash.errors.value
    assert bytes(dash.durations.value[:4]) == bytes(dash.error_rates.value[:4]) == b"\x89PNG"
    assert set(dash.frames) == {
        "metrics",
        "resources",
        "limits",
        "durations",
        "error_rates",
        "errors",
        "activity",
    }
    # inline plugins share the engine's process: each figure says "not measured", and why
    resources = dash.frames["resources"]
    crashy = resources[resources["plugin_id"] == "crashy"]
    assert len(crashy) == 13 and not crashy["measured"].any() and crashy["value"].isna().all()
    assert crashy["source"].str.contains("inline").all()
    assert 'class="pliers-resources-table"' in dash.resources.value
    assert 'data-plugin="crashy"' in dash.resources.value
    assert "not measured</td>" in dash.resources.value and ">0<" not in dash.resources.value
    # no limit hit: inline plugins have no per-plugin limits, and every count says 0
    assert "0 limit hits" in dash.summary.value and len(dash.frames["limits"]) == 0
    assert "limits exceeded" in dash.limits.value and "none" in dash.limits.value
    assert "<th>limit_hits</th>" in dash.table.value
    assert "recent activity" in dash.activity.value and "crashy" in dash.activity.value
    assert "runtime_error: " in dash.activity.value  # the error, summarised
    assert "ignore: error ignored" in dash.activity.value  # the admin's notice, summarised
    assert "→ active" in dash.activity.value  # a status change
    rates = dash.frames["error_rates"].set_index("plugin_id")
    assert rates.loc["crashy", "error_rate"] == 1.0
    # a row per handler fired: crashy and submission-sanitizer, data-transform-chain,
    # crm-integration, audit-log
    fired = ("submission.transform", "submission.afterSave")
    handlers = [h for p in examples.plugins for h in p.manifest.hooks if h in fired]
    assert len(dash.frames["durations"]) == len(handlers) == 5


def test_widgets_are_vboxes_with_css_classes(examples: Engine) -> None:
    widgets = [
        HookSimulator(),
        PluginInspector(),
        ConfigEditor("csv-export"),
        MetricsDashboard(plots=False),
    ]
    classes = ["pliers-simulator", "pliers-inspector", "pliers-config-editor", "pliers-dashboard"]
    for widget, css in zip(widgets, classes, strict=True):
        assert isinstance(widget, w.VBox) and css in widget._dom_classes


def test_dashboard_shows_the_limit_a_sandboxed_plugin_hit(tmp_path: Path) -> None:
    """A real worker timed out at its manifest's ``executionTime``: the dashboard counts
    the hit in the plugin's row, and the limits table names it with what was measured."""
    from support import write_plugin

    from pliers_lab.sandbox import ProcessRuntime, SandboxPolicy

    code = (
        "import time\nfrom pliers_lab import hook\n\n"
        "@hook('submission.afterSave')\ndef nap(ctx):\n    time.sleep(ctx.data['s'])\n"
    )
    hooks = {"submission.afterSave": {}}
    napper = write_plugin(tmp_path, "napper", code, hooks, limits={"executionTime": 300})
    calm = write_plugin(tmp_path, "calm", code, hooks)
    runtime = ProcessRuntime(SandboxPolicy(data_root=tmp_path / "data", network_deny=()))
    with Engine(default_isolation="process") as engine:
        engine.register_runtime(runtime)
        engine.load(napper)
        engine.load(calm)
        dash = MetricsDashboard(engine, plots=False)
        assert "0 limit hits" in dash.summary.value and "none" in dash.limits.value
        outcome = engine.fire("submission.afterSave", {"s": 3}).outcome("napper")
        assert outcome.error is not None
        dash.refresh_button.click()
        limits = dash.frames["limits"]
        assert list(limits["plugin_id"]) == ["napper"]  # calm ran 3 s: no limit of its own
        row = limits.iloc[0]
        assert row["limit"] == "executionTime" and row["count"] == 1
        assert row["action"] == "timed out" and row["actions"] == "timed out: 1"
        assert row["cap"] == 300 and row["unit"] == "ms" and 300 <= row["value"] < 3000
        assert "ms of CPU in the call" in row["detail"]
        assert "1 limit hits" in dash.summary.value and "warning" in dash.summary.value
        html = unescape(dash.limits.value)
        assert 'class="pliers-limits-table"' in html
        assert 'data-plugin="napper" data-limit="executionTime"' in html
        assert "<td>timed out: 1</td>" in html and "<td>ms</td>" in html
        assert 'data-plugin="calm"' not in html
        shown = dash.frames["metrics"].set_index("plugin_id")
        table = dash.table.value
        assert "<th>limit_hits</th>" in table
        assert shown.loc["napper", "state"] == "active"
        hits = table.split("<td>napper</td>", 1)[1].split("</tr>", 1)[0]
        assert hits.rstrip().endswith("<td>1</td>")  # the last column: limit_hits
    runtime.close()
