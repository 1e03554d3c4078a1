"""Per-plugin logging: kept in a bounded store for the lab and forwarded to ``logging``."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, NamedTuple, final

from .row_store import BoundedStore

LEVELS = ("debug", "info", "warning", "error")
_NUMBERS = {name: getattr(logging, name.upper()) for name in LEVELS}

# A library must not print through logging's last-resort handler; applications and the
# lab decide where plugin logs go (the LogStore always keeps them).
logging.getLogger("pliers_lab").addHandler(logging.NullHandler())


def heard(logger: logging.Logger, level: int) -> bool:
    """Whether ``logger.log(level, ...)`` would reach a handler that emits anything.

    Making a ``LogRecord`` costs ~5 µs and, with no handler configured but the package's
    ``NullHandler``, nobody reads it: a plugin logging in a hot hook paid that on every
    call. The walk mirrors ``Logger.callHandlers`` (levels, ``propagate``, the last-resort
    handler when no handler at all is found); a logger with filters is always heard,
    because a filter may act on the record. Checked per call, so handlers added later
    count at once.
    """
    if not logger.isEnabledFor(level):
        return False
    if logger.filters:
        return True
    found = False
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            found = True
            if type(handler) is not logging.NullHandler and level >= handler.level:
                return True
        if not current.propagate:
            break
        current = current.parent
    resort = logging.lastResort
    return not found and resort is not None and level >= resort.level


class LogEntry(NamedTuple):
    timestamp: float
    plugin_id: str
    level: str
    message: str
    hook: str | None
    execution_id: str | None
    fields: dict[str, Any]


class LogStore(BoundedStore[LogEntry]):
    """The newest log entries of every plugin."""

    def __init__(self, capacity: int = 5000) -> None:
        super().__init__(
            capacity,
            ("timestamp", "plugin_id", "level", "message", "hook", "execution_id", "fields"),
            lambda entry: [tuple(entry)],
            time_columns=("timestamp",),
        )
        self._listeners: list[Callable[[LogEntry], None]] = []

    def append(self, item: LogEntry) -> None:
        super().append(item)
        for listener in list(self._listeners):
            try:
                listener(item)
            except Exception:  # a watcher (a widget, say) must never break the plugin
                continue

    def subscribe(self, listener: Callable[[LogEntry], None]) -> Callable[[], None]:
        """Call ``listener`` with every new entry; returns a function that stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def for_plugin(self, plugin_id: str, level: str | None = None) -> list[LogEntry]:
        floor = LEVELS.index(level) if level else 0
        return [e for e in self if e.plugin_id == plugin_id and LEVELS.index(e.level) >= floor]


@final
class PluginLogger:
    """The spec's ``PluginLogger``: ``logger.info("sent", to="a@b.c")``."""

    __slots__ = ("_logger", "_store", "execution_id", "hook", "plugin_id")

    def __init__(
        self,
        plugin_id: str,
        store: LogStore,
        hook: str | None = None,
        execution_id: str | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.plugin_id = plugin_id
        self.hook = hook
        self.execution_id = execution_id
        self._store = store
        # The standard library's logger is looked up when the plugin first logs: the
        # logging module keeps every logger it made for the life of the process, so a
        # plugin that never logs (and every plugin ever loaded under another name) would
        # otherwise leave one behind, with its lists, for the garbage collector to visit.
        self._logger = logger

    def bind(self, hook: str | None, execution_id: str | None) -> PluginLogger:
        """The same logger, stamping entries with a hook and execution id."""
        return PluginLogger(self.plugin_id, self._store, hook, execution_id, self._logger)

    @property
    def std(self) -> logging.Logger:
        """The standard library's logger the entries also go to:
        ``pliers_lab.plugins.<plugin id>``."""
        logger = self._logger
        if logger is None:
            logger = self._logger = logging.getLogger(f"pliers_lab.plugins.{self.plugin_id}")
        return logger

    def _log(self, level: str, message: str, fields: dict[str, Any]) -> None:
        text = str(message)
        self._store.append(
            LogEntry(time.time(), self.plugin_id, level, text, self.hook, self.execution_id, fields)
        )
        std, number = self.std, _NUMBERS[level]
        if heard(std, number):
            std.log(number, "%s", text, extra={"plugin": self.plugin_id})

    def debug(self, message: str, **fields: Any) -> None:
        self._log("debug", message, fields)

    def info(self, message: str, **fields: Any) -> None:
        self._log("info", message, fields)

    def warning(self, message: str, **fields: Any) -> None:
        self._log("warning", message, fields)

    warn = warning

    def error(self, message: str, **fields: Any) -> None:
        self._log("error", message, fields)
