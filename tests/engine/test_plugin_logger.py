"""A plugin's logger: entries in the engine's log store and in the standard library's
``pliers_lab.plugins.<id>`` logger, which is made only when the plugin first logs."""

from __future__ import annotations

import logging
import uuid

from support import manifest

from pliers_lab import Engine, hook


def _plugin(engine: Engine, name: str, message: str | None) -> None:
    @hook("workflow.action")
    def act(ctx):  # type: ignore[no-untyped-def]
        if message is not None:
            ctx.logger.warning(message, step=1)

    engine.add_plugin(manifest(name, {"workflow.action": {}}), {"act": act})


def test_a_plugin_that_logs_reaches_the_store_and_the_standard_library(caplog) -> None:
    name = f"talker-{uuid.uuid4().hex[:8]}"
    engine = Engine()
    try:
        _plugin(engine, name, "hello from the plugin")
        with caplog.at_level(logging.WARNING, logger=f"pliers_lab.plugins.{name}"):
            engine.fire("workflow.action", {})
        [entry] = [e for e in engine.logs if e.plugin_id == name]
        assert (entry.level, entry.message, entry.hook) == (
            "warning",
            "hello from the plugin",
            "workflow.action",
        )
        [record] = [r for r in caplog.records if r.name == f"pliers_lab.plugins.{name}"]
        assert record.getMessage() == "hello from the plugin" and record.plugin == name
    finally:
        engine.close()


def test_a_plugin_that_never_logs_leaves_no_standard_library_logger_behind() -> None:
    # The logging module keeps every logger it made for the life of the process.
    name = f"quiet-{uuid.uuid4().hex[:8]}"
    engine = Engine()
    try:
        _plugin(engine, name, None)
        engine.fire("workflow.action", {})
        assert engine.plugin(name).logger.plugin_id == name
    finally:
        engine.close()
    assert f"pliers_lab.plugins.{name}" not in logging.Logger.manager.loggerDict
