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


class _Counting(logging.Handler):
    def __init__(self, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_with_no_handler_but_the_packages_null_one_no_record_is_made(monkeypatch) -> None:
    # A record costs ~5 µs; nobody would read it. The store still keeps the entry.
    made: list[logging.LogRecord] = []
    real = logging.Logger.makeRecord

    def spy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        record = real(self, *args, **kwargs)
        made.append(record)
        return record

    monkeypatch.setattr(logging.Logger, "makeRecord", spy)
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    name = f"hushed-{uuid.uuid4().hex[:8]}"
    engine = Engine()
    try:
        _plugin(engine, name, "nobody listens")
        engine.fire("workflow.action", {})
        assert [e.message for e in engine.logs if e.plugin_id == name] == ["nobody listens"]
        assert [r for r in made if r.name == f"pliers_lab.plugins.{name}"] == []
        # A handler added afterwards is heard at once (checked per call, not cached).
        handler = _Counting()
        logging.getLogger("pliers_lab").addHandler(handler)
        try:
            engine.fire("workflow.action", {})
        finally:
            logging.getLogger("pliers_lab").removeHandler(handler)
        assert [r.getMessage() for r in handler.records] == ["nobody listens"]
    finally:
        engine.close()


def test_heard_follows_the_standard_librarys_rules(monkeypatch) -> None:
    from pliers_lab.observe.logs import heard

    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    inside = logging.getLogger(f"pliers_lab.plugins.rules-{uuid.uuid4().hex[:8]}")
    assert not heard(inside, logging.ERROR)  # only the package's NullHandler
    outside = logging.getLogger(f"elsewhere-{uuid.uuid4().hex[:8]}")
    # No handler at all: logging's last resort prints warnings and above.
    assert heard(outside, logging.WARNING) and not heard(outside, logging.INFO)
    picky = _Counting(logging.ERROR)
    outside.addHandler(picky)
    assert heard(outside, logging.ERROR) and not heard(outside, logging.WARNING)
    outside.removeHandler(picky)
    outside.setLevel(logging.DEBUG)
    assert not heard(outside, logging.INFO)  # the last resort drops it
    outside.addFilter(lambda record: True)  # a filter may act on any record: always heard
    assert heard(outside, logging.INFO)
    outside.setLevel(logging.CRITICAL)
    assert not heard(outside, logging.ERROR)  # below the logger's level
    # A logger that does not propagate, with no handler: the last resort again.
    child = logging.getLogger(f"{inside.name}.child")
    child.propagate = False
    assert heard(child, logging.WARNING) and not heard(child, logging.INFO)
