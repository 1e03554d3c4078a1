"""The engine end to end with inline and on-disk plugins: lifecycle, dispatch, recovery."""

from __future__ import annotations

import asyncio
import time

import pytest
from support import manifest, write_plugin

from pliers_lab import Engine, EngineError, PluginError, PluginErrorType, PluginState, Veto, hook
from pliers_lab.errors import UnknownHookError, UnknownPluginError

S = PluginState


def handlers(**fns):
    """A mapping of fresh handler functions, each bound to the hook named by its key."""
    out = {}
    for key, fn in fns.items():
        if key.startswith("on_"):
            out[key] = fn
        else:
            out[key] = hook(key.replace("__", "."))(_fresh(fn))
    return out


def _fresh(fn):
    """A new function object per plugin, so marks on shared helpers never accumulate."""
    if asyncio.iscoroutinefunction(fn):

        async def call_async(ctx):
            return await fn(ctx)

        return call_async

    def call(ctx):
        return fn(ctx)

    call.__signature__ = __import__("inspect").signature(fn)
    return call


def test_an_inline_plugin_goes_through_its_lifecycle(engine):
    calls = []
    code = {
        "on_load": lambda p: calls.append(("load", p.id)),
        "on_activate": lambda p: calls.append(("activate", p.id)),
        "on_deactivate": lambda p: calls.append(("deactivate", p.id)),
        "on_unload": lambda p: calls.append(("unload", p.id)),
    }
    plugin = engine.add_plugin(manifest("life"), code)
    assert plugin.state is S.ACTIVE
    engine.disable("life")
    assert plugin.state is S.STOPPED
    engine.enable("life")
    engine.unload("life")
    assert plugin.state is S.UNLOADED and "life" not in engine
    assert calls == [
        ("load", "life"),
        ("activate", "life"),
        ("deactivate", "life"),
        ("activate", "life"),
        ("deactivate", "life"),
        ("unload", "life"),
    ]
    targets = [t.target.value for t in plugin.transitions]
    assert targets == [
        "loading",
        "loaded",
        "initializing",
        "active",
        "stopping",
        "stopped",
        "initializing",
        "active",
        "stopping",
        "stopped",
        "unloading",
        "unloaded",
    ]
    assert len(engine.transitions.frame()) == len(targets)


@pytest.mark.parametrize(
    ("handler", "kind", "final"),
    [
        ("on_load", PluginErrorType.LOAD_ERROR, S.ERROR),
        ("on_activate", PluginErrorType.INIT_ERROR, S.ERROR),
    ],
)
def test_a_failing_lifecycle_handler_puts_only_that_plugin_in_error(engine, handler, kind, final):
    errors_seen = []
    engine.add_plugin(
        manifest("fine", {"form.afterCreate": {}}), handlers(form__afterCreate=lambda c: "fine")
    )

    def broken(plugin):
        raise RuntimeError("cannot start")

    with pytest.raises(PluginError) as info:
        engine.add_plugin(
            manifest("broken", {"form.afterCreate": {}}),
            {
                **handlers(form__afterCreate=lambda c: "never"),
                handler: broken,
                "on_error": lambda p, e: errors_seen.append(e.type),
            },
        )
    assert info.value.type is kind and info.value.plugin_id == "broken"
    assert "cannot start" in str(info.value)
    assert engine.plugin("broken").state is final
    assert engine.plugin("broken").transitions[-1].error_id == info.value.id
    assert errors_seen == [kind]
    result = engine.fire("form.afterCreate", {"form": {}})
    assert result.value == ["fine"]
    assert engine.plugin("fine").state is S.ACTIVE


def test_deactivate_failure_is_recorded_as_error_state(engine):
    def bad(plugin):
        raise ValueError("stuck")

    engine.add_plugin(manifest("sticky"), {"on_deactivate": bad})
    with pytest.raises(PluginError) as info:
        engine.disable("sticky")
    assert info.value.type is PluginErrorType.RUNTIME_ERROR
    assert engine.plugin("sticky").state is S.ERROR


def test_fire_returns_value_and_per_plugin_outcomes(engine):
    engine.add_plugin(
        manifest("a", {"submission.afterSave": {"priority": 500}}),
        handlers(submission__afterSave=lambda c: {"by": "a"}),
    )

    def fail(c):
        raise KeyError("missing")

    engine.add_plugin(
        manifest("b", {"submission.afterSave": {}}), handlers(submission__afterSave=fail)
    )
    result = engine.fire(
        "submission.afterSave", {"submission": {"id": "s1"}}, user_id="u1", session_id="s9"
    )
    assert result.value == [{"by": "a"}]
    assert [(o.plugin_id, o.status) for o in result.outcomes] == [("a", "ok"), ("b", "error")]
    err = result.outcome("b").error
    assert err.type is PluginErrorType.RUNTIME_ERROR and err.hook == "submission.afterSave"
    assert err.execution_id == result.execution_id
    assert not result.ok and result.errors == [err]
    assert engine.errors.for_plugin("b") == [err]
    with pytest.raises(KeyError, match="did not run"):
        result.outcome("zzz")


def test_context_carries_metadata_config_logger_and_shared_state(engine):
    seen = {}

    def first(ctx):
        ctx.state["token"] = "from-first"
        ctx.logger.info("first ran", detail=1)

    def second(ctx):
        seen.update(
            execution_id=ctx.metadata.execution_id,
            user=ctx.metadata.user_id,
            session=ctx.metadata.session_id,
            token=ctx.state["token"],
            plugin=ctx.plugin_id,
            hook=ctx.hook,
            ts=ctx.metadata.timestamp,
        )

    engine.add_plugin(
        manifest("first", {"workflow.action": {"priority": 2}}), handlers(workflow__action=first)
    )
    engine.add_plugin(
        manifest("second", {"workflow.action": {"priority": 1}}), handlers(workflow__action=second)
    )
    before = time.time()
    result = engine.fire("workflow.action", {}, user_id="alice", session_id="sess-1")
    assert seen["execution_id"] == result.execution_id
    assert seen["user"] == "alice" and seen["session"] == "sess-1"
    assert seen["token"] == "from-first" and seen["plugin"] == "second"
    assert seen["hook"] == "workflow.action" and seen["ts"] >= before
    (entry,) = engine.logs.for_plugin("first")
    assert entry.message == "first ran" and entry.execution_id == result.execution_id
    assert entry.hook == "workflow.action" and entry.fields == {"detail": 1}


def test_unknown_hooks_are_refused_with_a_suggestion(engine):
    with pytest.raises(UnknownHookError, match=r"did you mean 'form\.validate'"):
        engine.fire("form.validat", {})
    with pytest.raises(UnknownPluginError, match="unknown plugin 'ghost'"):
        engine.plugin("ghost")


def test_custom_hooks_declared_by_a_plugin_can_be_fired(engine):
    engine.add_plugin(
        manifest(
            "scorer",
            {"lead.score": {}},
            customHooks={"lead.score": {"mode": "first", "description": "x"}},
        ),
        handlers(lead__score=lambda c: c.data["n"] * 2),
    )
    result = engine.fire("lead.score", {"n": 21})
    assert result.value == 42 and result.mode == "first"
    assert any(s.name == "lead.score" and s.custom for s in engine.hooks())


def test_sync_fire_works_inside_a_running_event_loop(engine):
    """As in a Jupyter cell: a loop is running in this thread and we call fire() directly."""

    async def slow_check(ctx):
        await asyncio.sleep(0.01)
        return {"valid": False, "errors": ["too slow to be true"]}

    engine.add_plugin(
        manifest("asyncer", {"form.validate": {}}), handlers(form__validate=slow_check)
    )

    async def cell():
        assert asyncio.get_running_loop().is_running()
        return engine.fire("form.validate", {"form": {}})

    result = asyncio.run(cell())
    assert result.value["valid"] is False
    assert result.value["errors"][0]["plugin"] == "asyncer"


def test_async_fire_runs_on_the_callers_loop(engine):
    loops = []

    async def record(ctx):
        loops.append(asyncio.get_running_loop())
        return "ok"

    engine.add_plugin(manifest("rec", {"integration.sync": {}}), handlers(integration__sync=record))

    async def main():
        result = await engine.afire("integration.sync", {})
        return result, asyncio.get_running_loop()

    result, loop = asyncio.run(main())
    assert result.value == ["ok"] and loops == [loop]


def test_a_hanging_async_handler_is_cancelled_at_its_timeout(engine):
    async def hang(ctx):
        await asyncio.sleep(30)

    engine.add_plugin(
        manifest("hang", {"notification.send": {"timeout": 50, "priority": 200}}),
        handlers(notification__send=hang),
    )
    engine.add_plugin(
        manifest("mail", {"notification.send": {}}), handlers(notification__send=lambda c: "sent")
    )
    started = time.perf_counter()
    result = engine.fire("notification.send", {})
    assert time.perf_counter() - started < 2
    assert result.value == ["sent"]
    assert result.outcome("hang").status == "timeout"
    assert result.outcome("hang").error.type is PluginErrorType.TIMEOUT_ERROR
    assert engine.metrics("hang").execution.errorCount == 1


def test_retries_come_from_the_manifest(engine):
    attempts = []

    def flaky(ctx):
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("flaky")
        return "ok"

    engine.add_plugin(
        manifest("flaky", {"integration.sync": {"retries": 2}}, recovery={"backoffMs": 1}),
        handlers(integration__sync=flaky),
    )
    result = engine.fire("integration.sync", {})
    assert result.value == ["ok"] and result.outcome("flaky").retries == 2 and len(attempts) == 3


def _boom(ctx):
    raise RuntimeError("boom")


def test_recovery_disable_stops_the_plugin(engine):
    engine.add_plugin(
        manifest("bad", {"form.afterUpdate": {}}, recovery={"strategy": "disable"}),
        handlers(form__afterUpdate=_boom),
    )
    engine.fire("form.afterUpdate", {})
    plugin = engine.plugin("bad")
    assert plugin.state is S.STOPPED and "recovery policy" in plugin.disabled_reason
    assert engine.handlers("form.afterUpdate") == ()
    (record,) = list(engine.recoveries)
    assert record.action == "disable" and record.plugin_id == "bad"


def test_recovery_restart_counts_restarts(engine):
    activations = []
    engine.add_plugin(
        manifest("phoenix", {"form.afterUpdate": {}}, recovery={"strategy": "restart"}),
        {**handlers(form__afterUpdate=_boom), "on_activate": lambda p: activations.append(1)},
    )
    engine.fire("form.afterUpdate", {})
    assert engine.plugin("phoenix").state is S.ACTIVE
    assert engine.metrics("phoenix").health.restarts == 1 and len(activations) == 2


def test_recovery_fallback_answers_in_place_of_the_failed_plugin(engine):
    engine.add_plugin(
        manifest("backup", {"export.format": {"priority": 1}}),
        handlers(export__format=lambda c: "backup-csv"),
    )
    engine.add_plugin(
        manifest(
            "primary",
            {"export.format": {"priority": 100}},
            recovery={"strategy": "fallback", "fallbackPlugin": "backup"},
        ),
        handlers(export__format=_boom),
    )
    result = engine.fire("export.format", {"format": "csv"})
    assert result.value == "backup-csv"
    assert result.outcome("primary").status == "error"
    assert [r.action for r in engine.recoveries] == ["fallback"]
    assert "backup" in next(iter(engine.recoveries)).detail


def test_wrong_shape_for_the_mode_is_a_validation_error(engine):
    engine.add_plugin(
        manifest("shape", {"submission.beforeSave": {}}),
        handlers(submission__beforeSave=lambda c: "maybe"),
    )
    result = engine.fire("submission.beforeSave", {})
    assert result.value.allowed
    error = result.outcome("shape").error
    assert error.type is PluginErrorType.VALIDATION_ERROR and "Veto(reason)" in error.message


def test_veto_reason_reaches_the_caller(engine):
    engine.add_plugin(
        manifest("guard", {"submission.beforeSave": {}}),
        handlers(submission__beforeSave=lambda c: Veto("honeypot filled")),
    )
    verdict = engine.fire("submission.beforeSave", {}).value
    assert not verdict and verdict.reason == "honeypot filled" and verdict.plugin == "guard"


def test_unloading_a_dependency_is_refused_with_its_dependents(engine):
    engine.add_plugin(manifest("base", version="1.4.0"), {})
    engine.add_plugin(manifest("addon", dependencies={"base": "^1.2.0"}), {})
    with pytest.raises(EngineError, match="addon depend on it"):
        engine.unload("base")
    engine.unload("addon")
    engine.unload("base")


def test_missing_or_mismatched_dependencies_are_dependency_errors(engine):
    with pytest.raises(PluginError) as info:
        engine.add_plugin(manifest("lonely", dependencies={"base": "^1.0.0"}), {})
    assert (
        info.value.type is PluginErrorType.DEPENDENCY_ERROR
        and "base ^1.0.0 is not loaded" in str(info.value)
    )
    engine.add_plugin(manifest("base", version="2.0.0"), {})
    with pytest.raises(PluginError, match=r"loaded version is 2\.0\.0"):
        engine.add_plugin(manifest("old", dependencies={"base": "^1.0.0"}), {})


def test_engines_and_requirements_are_checked(engine):
    with pytest.raises(PluginError) as info:
        engine.add_plugin(
            {
                **manifest("future"),
                "engines": {"pliers": "^4.0.0", "python": ">=9"},
                "requirements": ["surely-not-installed-pkg>=1"],
            },
            {},
        )
    message = str(info.value)
    assert info.value.type is PluginErrorType.DEPENDENCY_ERROR
    assert "engines.pliers '^4.0.0'" in message and "engines.python '>=9'" in message
    assert "surely-not-installed-pkg is not installed" in message
    engine.add_plugin({**manifest("present"), "requirements": ["pydantic>=2"]}, {})


def test_handler_mismatches_are_listed_at_load(engine):
    with pytest.raises(PluginError) as info:
        engine.add_plugin(
            manifest("mismatch", {"form.validate": {}, "form.render": {}}),
            handlers(form__render=lambda c, extra: None, form__afterCreate=lambda c: None),
        )
    message = str(info.value)
    assert info.value.type is PluginErrorType.LOAD_ERROR
    assert "'form.validate' is declared in the manifest but <inline> has no handler" in message
    assert "handles 'form.afterCreate' (@hook) but the manifest does not declare" in message
    assert "must take exactly one argument" in message


def test_plugins_load_from_folders_with_config_and_code_cache(engine, tmp_path):
    engine.default_isolation = "inline"  # the code cache is the inline runtime's
    code = (
        "from pliers_lab import hook\n"
        "@hook('email.template')\n"
        "def template(ctx):\n"
        "    return {**ctx.data, 'subject': ctx.config['prefix'] + ctx.data['subject']}\n"
    )
    schema = {
        "type": "object",
        "properties": {
            "prefix": {"type": "string", "default": "[pliers] "},
            "limit": {"type": "integer", "minimum": 1},
        },
        "additionalProperties": False,
    }
    folder = write_plugin(
        tmp_path,
        "templater",
        code,
        {"email.template": {}},
        configuration={"schema": "schema.json", "default": "default.json"},
        files={"schema.json": schema, "default.json": {"limit": 5}},
    )
    plugin = engine.load(folder)
    assert plugin.config == {"prefix": "[pliers] ", "limit": 5}
    assert engine.fire("email.template", {"subject": "Hi"}).value == {"subject": "[pliers] Hi"}
    with pytest.raises(PluginError) as info:
        engine.configure("templater", {"limit": 0, "extra": True})
    assert info.value.type is PluginErrorType.CONFIG_ERROR
    assert "limit: 0 is less than the minimum of 1" in str(info.value)
    assert "Additional properties are not allowed" in str(info.value)
    assert plugin.config["limit"] == 5
    engine.configure("templater", {"prefix": "> "})
    assert engine.fire("email.template", {"subject": "Hi"}).value == {"subject": "> Hi"}
    cache = engine.runtimes["inline"].code_cache
    misses = cache.misses
    engine.reload("templater")
    assert cache.misses == misses and cache.hits >= 1
    assert engine.plugin("templater").config["prefix"] == "> "


def test_on_config_change_sees_the_new_config(engine):
    seen = []
    engine.add_plugin(manifest("cfg"), {"on_config_change": lambda p, c: seen.append(dict(c))})
    engine.configure("cfg", {"a": 1})
    assert seen == [{"a": 1}]


def test_a_module_that_fails_to_import_is_a_load_error(engine, tmp_path):
    folder = write_plugin(tmp_path, "broken-import", "import surely_not_a_module\n", {})
    with pytest.raises(PluginError) as info:
        engine.load(folder)
    assert info.value.type is PluginErrorType.LOAD_ERROR
    assert "ModuleNotFoundError" in str(info.value) and "plugin.py" in str(info.value)
    assert engine.plugin("broken-import").state is S.ERROR
    folder2 = write_plugin(tmp_path, "syntax", "def broken(:\n", {})
    with pytest.raises(PluginError, match=r"plugin.py line 1: SyntaxError"):
        engine.load(folder2)


def test_a_broken_edit_leaves_the_old_version_serving(engine, tmp_path):
    good = (
        "from pliers_lab import hook\n@hook('form.render')\ndef render(ctx):\n    return {'v': 1}\n"
    )
    folder = write_plugin(tmp_path, "render", good, {"form.render": {}})
    engine.load(folder)
    (folder / "plugin.py").write_text("def oops(:\n")
    with pytest.raises(PluginError):
        engine.reload("render")
    assert engine.fire("form.render", {}).value == {"v": 1}
    (folder / "plugin.py").write_text(good.replace("'v': 1", "'v': 2"))
    engine.reload("render")
    assert engine.fire("form.render", {}).value == {"v": 2}


def test_load_all_orders_by_dependency_and_keeps_going_after_failures(engine, tmp_path):
    base = "from pliers_lab import hook\n"
    write_plugin(tmp_path, "zz-base", base, {}, version="1.2.0")
    write_plugin(tmp_path, "aa-addon", base, {}, dependencies={"zz-base": "^1.0.0"})
    write_plugin(tmp_path, "bad", "raise RuntimeError('at import')\n", {})
    (tmp_path / "invalid").mkdir()
    (tmp_path / "invalid" / "manifest.json").write_text("{not json")
    plugins = engine.load_all(tmp_path)
    states = {p.id: p.state for p in plugins}
    assert states == {"zz-base": S.ACTIVE, "aa-addon": S.ACTIVE, "bad": S.ERROR}
    order = [t.plugin_id for t in engine.transitions if t.target is S.LOADING]
    assert order.index("zz-base") < order.index("aa-addon")
    messages = [str(e) for e in engine.errors]
    assert any("invalid" in m and "line 1" in m for m in messages)
    assert any("at import" in m for m in messages)


def test_observations_export_as_dataframes(engine):
    engine.add_plugin(
        manifest("a", {"form.afterDelete": {}}), handlers(form__afterDelete=lambda c: 1)
    )
    engine.add_plugin(manifest("b", {"form.afterDelete": {}}), handlers(form__afterDelete=_boom))
    for _ in range(3):
        engine.fire("form.afterDelete", {})
    frame = engine.executions.frame()
    assert list(frame.columns) == [
        "execution_id",
        "hook",
        "mode",
        "plugin_id",
        "priority",
        "start",
        "duration_ms",
        "status",
        "error_type",
        "error",
        "retries",
        "reason",
    ]
    assert len(frame) == 6
    assert frame.groupby("plugin_id")["status"].agg(lambda s: sorted(set(s))).to_dict() == {
        "a": ["ok"],
        "b": ["error"],
    }
    errors = engine.errors.frame()
    assert set(errors["type"]) == {"runtime_error"} and len(errors) == 3
    metrics = engine.metrics_frame().set_index("plugin_id")
    assert metrics.loc["a", "count"] == 3 and metrics.loc["b", "error_count"] == 3
    assert metrics.loc["b", "health"] == "critical" and metrics.loc["a", "health"] == "healthy"


def test_bounded_stores_keep_metrics_exact_after_eviction():
    from pliers_lab import Engine

    with Engine(max_observations=5) as eng:
        eng.add_plugin(
            manifest("a", {"form.afterDelete": {}}),
            handlers(form__afterDelete=lambda c: time.sleep(0.001)),
        )
        for _ in range(20):
            eng.fire("form.afterDelete", {})
        assert len(eng.executions) == 5 and eng.executions.dropped == 15
        m = eng.metrics("a").execution
        assert m.count == 20
        assert m.totalDuration >= 20 * 1.0 and m.maxDuration >= 1.0
        assert m.avgDuration == pytest.approx(m.totalDuration / 20)


def test_the_execution_store_is_bounded_by_plugin_calls():
    """Rows (plugin calls), not executions, fill the store; the oldest executions go."""
    from pliers_lab import Engine

    with Engine(max_observations=5) as eng:
        for name in ("a", "b", "c"):
            eng.add_plugin(
                manifest(name, {"form.afterDelete": {}}),
                handlers(form__afterDelete=lambda c: None),
            )
        eng.add_plugin(
            manifest("solo", {"form.afterCreate": {}}), handlers(form__afterCreate=lambda c: None)
        )
        first = eng.fire("form.afterCreate", {}).execution_id  # 1 row
        eng.fire("form.afterDelete", {})  # 3 rows: 4 held
        eng.fire("form.afterDelete", {})  # 3 more: 7 > 5, so the two oldest go
        store = eng.executions
        assert store.rows_held == 3 and store.rows_dropped == 4 and len(store) == 1
        rows = store.rows()
        assert len(rows) == store.rows_held and first not in {row[0] for row in rows}
        for _ in range(10):
            eng.fire("form.afterCreate", {})
        assert store.rows_held == 5 and len(store) == 5 and store.total == 13


def test_full_results_are_kept_for_the_last_executions_only():
    """The store keeps rows; whole results (values, data) only for ``max_results``."""
    from pliers_lab import Engine

    with Engine(max_results=3) as eng:
        eng.add_plugin(
            manifest("solo", {"form.afterCreate": {}}), handlers(form__afterCreate=lambda c: 7)
        )
        fired = [eng.fire("form.afterCreate", {"n": n}) for n in range(5)]
        store = eng.executions
        assert store.results() == fired[2:] and store.find(fired[0].execution_id) is None
        assert store.find(fired[4].execution_id) is fired[4]
        assert len(store) == 5 and [row[0] for row in store.rows()] == [
            r.execution_id for r in fired
        ]


def test_timestamps_follow_a_wall_clock_the_system_steps(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pliers_lab import context

    real = time.time
    seen: list[float] = []
    engine.add_plugin(
        manifest("clock", {"workflow.action": {}}),
        handlers(workflow__action=lambda ctx: seen.append(ctx.metadata.timestamp)),
    )
    monkeypatch.setattr(time, "time", lambda: real() + 100.0)  # NTP stepped the clock
    monkeypatch.setattr(context, "_epoch", [context._epoch[0], context._epoch[1] - 2.0])  # 2 s ago
    engine.fire("workflow.action", {})
    assert abs(seen[0] - (real() + 100.0)) < 1.0
