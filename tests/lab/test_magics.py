"""``%pliers`` through a real IPython shell: every subcommand, its help, its mistakes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

from pliers_lab import HookResult, Plugin, PluginError
from pliers_lab.lab import default_engine
from pliers_lab.lab._commands import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
EXTENSIONS = ROOT / "extensions"


def line(shell: Any, text: str) -> Any:
    return shell.run_line_magic("pliers", text)


def cell(shell: Any, text: str, body: str) -> Any:
    return shell.run_cell_magic("pliers", text, body)


def usage(shell: Any, text: str, body: str | None = None) -> str:
    with pytest.raises(UsageError) as info:
        line(shell, text) if body is None else cell(shell, text, body)
    message = str(info.value)
    assert "\n" not in message, message
    return message


# ---------------------------------------------------------------------- the extension
def test_load_ext_registers_line_and_cell_magics(shell: Any) -> None:
    magics = shell.magics_manager.magics
    assert "pliers" in magics["line"] and "pliers" in magics["cell"]


def test_load_ext_is_fast_and_imports_nothing_heavy() -> None:
    code = (
        "import sys, time\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "from traitlets.config import Config\n"
        "c = Config(); c.HistoryManager.hist_file = ':memory:'\n"
        "ip = InteractiveShell.instance(config=c)\n"
        "t = time.perf_counter(); ip.run_line_magic('load_ext', 'pliers_lab')\n"
        "dt = time.perf_counter() - t\n"
        "heavy = [m for m in ('pandas', 'matplotlib', 'networkx', 'jsonschema', 'ipywidgets',"
        " 'pliers_lab.lab._commands') if m in sys.modules]\n"
        "print(dt, ','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"JUPYTER_PLATFORM_DIRS": "1", "PATH": "/usr/bin:/bin"},
    )
    seconds, heavy = out.stdout.split()[0], out.stdout.split()[1:]
    assert float(seconds) < 0.5
    assert heavy == []


def test_the_docstring_lists_every_subcommand(shell: Any) -> None:
    doc = shell.magics_manager.magics["line"]["pliers"].__doc__
    for name in COMMANDS:
        assert f"\n  {name}" in doc or f" {name} " in doc, name


def test_bare_magic_prints_the_overview(shell: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert line(shell, "") is None
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_subcommand_has_help(
    shell: Any, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert line(shell, f"{name} --help") is None
    out = capsys.readouterr().out
    assert out.startswith(f"usage: %pliers {name}")
    line(shell, f"help {name}")
    assert capsys.readouterr().out.startswith(f"usage: %pliers {name}")


def test_unknown_subcommand_suggests_the_closest(shell: Any) -> None:
    message = usage(shell, "lod extensions")
    assert "unknown subcommand 'lod'" in message and "did you mean 'load'" in message


def test_a_mistake_prints_one_line_without_traceback(
    shell: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_cell("%pliers info no-such-plugin")
    captured = capsys.readouterr()
    text = (captured.out + captured.err).strip()
    assert "Traceback" not in text
    assert text.count("\n") == 0
    assert "unknown plugin 'no-such-plugin'" in text


def test_bad_option_is_a_usage_error(shell: Any) -> None:
    assert "unrecognized arguments: --frobnicate" in usage(shell, "list --frobnicate")


def test_cell_body_refused_where_it_means_nothing(shell: Any) -> None:
    assert "takes no cell body" in usage(shell, "list", "x")


# ---------------------------------------------------------------------- loading
def test_load_by_name_and_list(shell: Any, capsys: pytest.CaptureFixture[str]) -> None:
    line(shell, "load submission-guard audit-log")
    assert "loaded submission-guard@1.0.0: active (inline)" in capsys.readouterr().out
    frame = line(shell, "list")
    assert list(frame["plugin_id"]) == ["submission-guard", "audit-log"]
    assert set(frame.columns) >= {"version", "state", "isolation", "layers", "hooks"}
    assert frame.loc[0, "isolation"] == "inline"
    assert "submission.beforeSave(500)" in frame.loc[0, "hooks"]


def test_load_one_plugin_sandboxed(shell: Any, capsys: pytest.CaptureFixture[str]) -> None:
    line(shell, "load submission-guard --isolation process")
    assert "loaded submission-guard@1.0.0: active (process, layers: " in capsys.readouterr().out
    frame = line(shell, "list")
    assert frame.loc[0, "isolation"] == "process" and "seccomp" in frame.loc[0, "layers"]
    line(shell, "reload submission-guard")
    assert default_engine().plugin("submission-guard").isolation == "process"  # kept
    assert "not with --all" in usage(shell, "load --all --isolation inline")


ASKS_INLINE = {
    "name": "asker",
    "version": "1.0.0",
    "description": "asks to run inline",
    "author": "Tests <t@example.com>",
    "license": "MIT",
    "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
    "isolation": "inline",
    "hooks": {"submission.afterSave": {}},
}


def _asker(tmp_path: Path) -> Path:
    folder = tmp_path / "asker"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps(ASKS_INLINE))
    (folder / "plugin.py").write_text(
        "import os\nfrom pliers_lab import hook\n\n"
        "@hook('submission.afterSave')\ndef pid(ctx):\n    return os.getpid()\n"
    )
    return folder


def test_the_lab_runs_a_local_folder_inline_as_before(
    shell: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 13 §1 leaves the lab alone: its engine is inline by default (you are writing
    the plugin), so a folder you load runs inline, and nothing warns."""
    import os

    line(shell, f"load {_asker(tmp_path)}")
    out = capsys.readouterr().out
    assert "loaded asker@1.0.0: active (inline)" in out and "⚠" not in out
    assert line(shell, "fire submission.afterSave {}").value == [os.getpid()]
    assert line(shell, "info asker").warnings == ()


def test_a_sandboxing_lab_does_not_let_a_manifest_ask_its_way_inline(
    shell: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    shell.run_line_magic("config", 'PliersMagics.isolation = "process"')
    line(shell, f"load {_asker(tmp_path)}")
    out = capsys.readouterr().out
    assert "loaded asker@1.0.0: active (process, layers: " in out
    assert "⚠ plugin 'asker' asks to run inline" in out and "engine.trust('asker')" in out
    assert line(shell, "fire submission.afterSave {}").value != [os.getpid()]
    shown = drawn(shell, line(shell, "info asker"))
    assert "untrusted: its inline request is refused" in shown
    assert "pliers-warning" in shown and "manifest.json: isolation: &quot;inline&quot;" in shown
    default_engine().trust("asker")
    line(shell, "reload asker")
    assert "reloaded asker@1.0.0: active (inline)" in capsys.readouterr().out


def test_load_all_and_again_is_harmless(shell: Any, capsys: pytest.CaptureFixture[str]) -> None:
    line(shell, "load --all")
    assert len(default_engine().plugins) == len(list(EXTENSIONS.glob("*/manifest.json")))
    capsys.readouterr()
    line(shell, "load csv-export")
    assert "already loaded" in capsys.readouterr().out


def test_load_by_path(shell: Any) -> None:
    line(shell, f"load {EXTENSIONS / 'csv-export'}")
    assert "csv-export" in default_engine()


def test_load_unknown_name_lists_the_folders(shell: Any) -> None:
    message = usage(shell, "load no-such")
    assert "no plugin folder or entry point named 'no-such'" in message
    assert "csv-export" in message


def test_load_a_broken_plugin_is_one_line(shell: Any, tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "manifest.json").write_text('{"name": "broken", "version": "one"}')
    message = usage(shell, f"load {folder}")
    assert "problem" in message and "version" in message


def test_load_an_entry_point_by_name(shell: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    import pliers_lab.engine.loader as loader
    from pliers_lab import hook

    module = types.ModuleType("ep_plugin")
    module.MANIFEST = {  # type: ignore[attr-defined]
        "name": "ep-plugin",
        "version": "2.0.0",
        "description": "an entry point plugin",
        "author": "tests",
        "license": "MIT",
        "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
        "hooks": {"notification.send": {}},
    }
    module.send = hook("notification.send")(lambda ctx: "sent")  # type: ignore[attr-defined]

    class EntryPoint:
        name, value = "ep-plugin", "ep_plugin"

        def load(self) -> Any:
            return module

    monkeypatch.setattr(loader, "iter_entry_points", lambda group=None: iter([EntryPoint()]))
    line(shell, "load ep-plugin")
    assert default_engine().plugin("ep-plugin").version == "2.0.0"


def test_unload_reload_enable_disable(shell: Any, capsys: pytest.CaptureFixture[str]) -> None:
    line(shell, "load csv-export audit-log")
    line(shell, "disable csv-export --reason testing")
    plugin = default_engine().plugin("csv-export")
    assert plugin.state.value == "stopped" and plugin.disabled_reason == "testing"
    line(shell, "enable csv-export")
    assert plugin.state.value == "active"
    line(shell, "reload csv-export")
    assert default_engine().plugin("csv-export") is not plugin
    line(shell, "unload audit-log")
    assert "audit-log" not in default_engine()
    out = capsys.readouterr().out
    assert "disabled csv-export@1.0.0: stopped" in out and "unloaded audit-log@1.0.0" in out


def test_info_returns_the_plugin(shell: Any) -> None:
    line(shell, "load csv-export")
    plugin = line(shell, "info csv-export")
    assert isinstance(plugin, Plugin)
    assert 'data-plugin="csv-export"' in drawn(shell, plugin)


def test_reset_gives_a_fresh_engine(shell: Any) -> None:
    line(shell, "load csv-export")
    before = default_engine()
    line(shell, "reset")
    assert default_engine() is not before and not default_engine().plugins


# ---------------------------------------------------------------------- hooks and firing
def test_hooks_lists_the_catalog_with_handlers_in_order(shell: Any) -> None:
    line(shell, "load --all")
    frame = line(shell, "hooks submission.transform")
    assert list(frame["hook"]) == ["submission.transform"]
    assert frame.loc[0, "handlers"] == "submission-sanitizer(500), data-transform-chain(100)"
    assert len(line(shell, "hooks form.*")) >= 8


def test_fire_inline_json_with_user_and_session(shell: Any) -> None:
    line(shell, "load submission-guard")
    payload = {"form": {"id": "f", "metadata": {}}, "submission": {"data": {"website": "x"}}}
    result = line(
        shell, f"fire submission.beforeSave --user ada --session s1 {json.dumps(payload)}"
    )
    assert isinstance(result, HookResult)
    assert result.value.allowed is False and "honeypot" in result.value.reason
    assert (result.metadata.user_id, result.metadata.session_id) == ("ada", "s1")


def test_fire_a_notebook_variable(shell: Any) -> None:
    line(shell, "load csv-export")
    shell.user_ns["export"] = {"format": "jsonl", "form": {"fields": []}, "submissions": []}
    result = line(shell, "fire export.format $export")
    assert result.outcome("csv-export").status == "ok"
    assert (
        usage(shell, "fire export.format $nothing")
        == "$nothing: no variable 'nothing' in the notebook"
    )


def test_fire_a_file_and_a_cell(shell: Any, tmp_path: Path) -> None:
    line(shell, "load csv-export")
    file = tmp_path / "payload.json"
    file.write_text(json.dumps({"format": "pdf", "form": {}, "submissions": []}))
    assert line(shell, f"fire export.format @{file}").value is None
    result = cell(
        shell, "fire export.format", '{"format": "csv", "form": {"fields": []}, "submissions": []}'
    )
    assert result.outcome("csv-export").status == "ok"
    assert "No such file" in usage(shell, f"fire export.format @{tmp_path / 'missing.json'}")


def test_fire_sample_payload(shell: Any) -> None:
    line(shell, "load --all")
    result = line(shell, "fire submission.sanitize --sample")
    assert "<script>" not in json.dumps(result.value)


def test_fire_mistakes_are_one_line(shell: Any) -> None:
    assert "is not JSON: line 1 column 2" in usage(shell, "fire form.validate {'oops'")
    assert "NameError: name 'oops' is not defined" in usage(shell, "fire form.validate {oops}")
    assert "did you mean 'form.validate'" in usage(shell, "fire form.validat {}")


# ---------------------------------------------------------------------- configuration
def test_config_show_set_and_refuse(shell: Any, capsys: pytest.CaptureFixture[str]) -> None:
    line(shell, "load submission-sanitizer")
    assert line(shell, "config submission-sanitizer")["maxLength"] == 10000
    config = line(shell, "config submission-sanitizer maxLength=50 lowercaseEmails=false")
    assert config["maxLength"] == 50 and config["lowercaseEmails"] is False
    overrides = default_engine().plugin("submission-sanitizer").config_overrides
    assert overrides == {"maxLength": 50, "lowercaseEmails": False}  # defaults stay defaults
    assert "applied" in capsys.readouterr().out
    message = usage(shell, "config submission-sanitizer maxLength=0")
    assert "maxLength" in message and "minimum" in message
    assert default_engine().plugin("submission-sanitizer").config["maxLength"] == 50
    cell(shell, "config submission-sanitizer", '{"maxLength": 70}')
    assert default_engine().plugin("submission-sanitizer").config["maxLength"] == 70
    assert line(shell, "config submission-sanitizer --reset")["maxLength"] == 10000
    assert line(shell, "config submission-sanitizer --schema")["type"] == "object"
    assert "not KEY=VALUE" in usage(shell, "config submission-sanitizer maxLength")


# ---------------------------------------------------------------------- observations
def test_metrics_errors_logs_frames(shell: Any) -> None:
    line(shell, "load --all")
    line(shell, "fire submission.sanitize --sample")
    cell(
        shell,
        "plugin crashy",
        '@hook("submission.afterSave")\ndef boom(ctx):\n    raise ValueError("no")\n',
    )
    line(shell, "fire submission.afterSave --sample")
    metrics = line(shell, "metrics")
    assert metrics.set_index("plugin_id").loc["crashy", "error_count"] == 1
    assert len(line(shell, "metrics crashy")) == 1
    errors = line(shell, "errors crashy")
    assert list(errors["type"]) == ["runtime_error"]
    error = line(shell, f"errors --detail {errors.loc[0, 'error_id']}")
    assert isinstance(error, PluginError) and "ValueError" in drawn(shell, error)
    assert len(line(shell, "errors --type timeout_error")) == 0
    logs = line(shell, "logs crashy --level error")
    assert list(logs["level"]) == ["error"]
    activity = line(shell, "activity crashy")
    assert "plugin.installed" in set(activity["type"])
    assert list(activity["type"])[-2:] == ["plugin.error.occurred", "plugin.admin.notified"]
    assert activity["data"].iloc[-2]["errorType"] == "runtime_error"
    assert activity["data"].iloc[-1]["action"] == "ignore"  # recovery.notifyAdmin: true
    errors_only = line(shell, "activity --type plugin.error.occurred")
    assert set(errors_only["plugin_id"]) == {"crashy"}
    assert "unknown type" in usage(shell, "activity --type plugin.nope")


@pytest.mark.parametrize("kind", ["durations", "errors", "timeline"])
def test_metrics_plots_are_pictures_with_their_frame(shell: Any, kind: str) -> None:
    line(shell, "load --all")
    line(shell, "fire submission.transform --sample")
    picture = line(shell, f"metrics --plot {kind}")
    assert len(picture.frame) > 0
    assert picture._repr_png_().startswith(b"\x89PNG")


def test_graph_is_a_picture(shell: Any) -> None:
    line(shell, "load csv-export")
    picture = line(shell, "graph")
    assert list(picture.frame["plugin_id"]) == ["csv-export"]
    assert picture.graph.number_of_nodes() == 1


# ---------------------------------------------------------------------- settings
def test_config_magic_sets_isolation_of_the_default_engine(shell: Any) -> None:
    shell.run_line_magic("config", 'PliersMagics.isolation = "process"')
    assert default_engine().default_isolation == "process"


def test_tracebacks_setting_raises_the_engine_error(shell: Any) -> None:
    from pliers_lab.errors import UnknownPluginError

    shell.run_line_magic("config", "PliersMagics.tracebacks = True")
    with pytest.raises(UnknownPluginError):
        line(shell, "info nothing")


def test_extensions_setting(shell: Any, tmp_path: Path) -> None:
    shell.run_line_magic("config", f"PliersMagics.extensions = {str(tmp_path)!r}")
    assert "no plugin folder or entry point named 'csv-export'" in usage(shell, "load csv-export")


def test_dollar_name_arguments_are_notebook_variables(shell: Any) -> None:
    line(shell, "load csv-export")
    shell.user_ns["which"] = "csv-export"
    assert line(shell, "info $which").id == "csv-export"
    assert "no variable 'nope'" in usage(shell, "info $nope")


def test_process_isolation_shows_in_list(shell: Any) -> None:
    shell.run_line_magic("config", 'PliersMagics.isolation = "process"')
    line(shell, "load csv-export")
    frame = line(shell, "list")
    row = frame.set_index("plugin_id").loc["csv-export"]
    assert row["isolation"] == "process" and row["state"] == "active"
    assert "seccomp" in row["layers"] or "rlimits" in row["layers"], row["layers"]
    result = line(
        shell, 'fire export.format {"format": "csv", "form": {"fields": []}, "submissions": []}'
    )
    assert result.outcome("csv-export").status == "ok"


def drawn(shell: Any, value: Any) -> str:
    """The HTML the notebook shows for ``value`` (IPython's formatter, as a kernel asks)."""
    data, _metadata = shell.display_formatter.format(value)
    return str(data.get("text/html", ""))


def test_load_ext_draws_the_engines_objects_and_unload_forgets(shell: Any) -> None:
    line(shell, "load csv-export")
    result = line(shell, "fire export.format {}")
    engine = default_engine()
    for value, mark in ((engine, "pliers-plugins"), (engine.plugin("csv-export"),
                        'data-plugin="csv-export"'), (result, "pliers-outcomes")):  # fmt: skip
        assert mark in drawn(shell, value), value
    shell.run_line_magic("unload_ext", "pliers_lab")
    assert drawn(shell, engine) == ""  # the core itself draws nothing: plain repr
    shell.run_line_magic("load_ext", "pliers_lab")
    assert "pliers-plugins" in drawn(shell, engine)


def typed(shell: Any, source: str) -> Any:
    """Run ``source`` as a cell the user typed (IPython's input transformations included,
    unlike ``run_line_magic``); the result of its last line, or the error's message."""
    outcome = shell.run_cell(source, silent=True)
    if outcome.error_in_exec is not None:
        return str(outcome.error_in_exec)
    return shell.user_ns.get("_typed")


def test_payloads_typed_in_the_line_json_quoted_variable_and_expression(shell: Any) -> None:
    line(shell, "load advanced-validation")
    form = '{"form": {"id": "f1", "fields": []}}'
    literal = "{'form': {'id': 'f1', 'fields': given['form']['fields']}}"
    expression = "{dict(form=dict(id='f1', fields=[]))}"
    for payload in (form, f"'{form}'", expression, "{given}", "$given", literal):
        shell.user_ns["given"] = {"form": {"id": "f1", "fields": []}}
        result = typed(shell, f"_typed = %pliers fire form.validate {payload}")
        assert isinstance(result, HookResult), (payload, result)
        assert result.value == {"valid": True, "errors": [], "warnings": []}, payload
    broken = typed(shell, '_typed = %pliers fire form.validate {"form": {"id": "f1"}')
    assert broken.startswith("the payload is not JSON: line 1 column 22: Expecting ',' delimiter")
    failing = typed(shell, "_typed = %pliers fire form.validate {undefined_name}")
    assert failing == (
        "the payload {undefined_name} failed: NameError: name 'undefined_name' is not defined"
    )


def test_isolation_shows_the_layers_of_the_default_engine(shell: Any) -> None:
    report = line(shell, "isolation")
    assert [status.layer for status in report] == [
        "rlimits",
        "netns",
        "landlock",
        "capabilities",
        "seccomp",
        "cgroup",
    ]
    assert "pliers-isolation-report" in report._repr_html_()
