"""Hot reload (spec: Hot-reloading; PDK ``watch``/``hotReload``): a watcher thread on the
plugin folders, and the engine's reload as the consumer.

watchfiles reports changes; a change to ``manifest.json`` or the code reloads the plugin
(re-validated, dependencies re-checked, swapped in atomically, configuration kept; its
configuration files are read again, as at any load); a change to its configuration files
alone reloads only the configuration — if its manifest says ``configuration.hotReload:
true``. Without it (the spec's default) the edit is not applied: the watcher keeps a
failed "config" record and the plugin's log a warning, both naming the field. A broken
edit leaves the old version serving and is recorded (LOAD_ERROR / CONFIG_ERROR) — the
engine's ``reload`` guarantees that, this module only decides what to call. watchfiles'
default debounce is 1,600 ms; we use 20 ms (facts/hot-paths.md: median notification 16 ms).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import PliersError
from ..observe.row_store import BoundedStore

if TYPE_CHECKING:
    from ..engine import Engine
    from ..plugin import Plugin

__all__ = ["HotReloader", "ReloadRecord"]


class ReloadRecord(NamedTuple):
    """One reload the watcher triggered."""

    timestamp: float
    plugin_id: str
    kind: str  # "code" (code or manifest) or "config"
    files: tuple[str, ...]
    ok: bool  # False: failed, or a config edit not applied (``configuration.hotReload``)
    duration_ms: float
    error: str | None  # why it failed or was not applied


class HotReloader:
    """Watches the folders of the engine's plugins and reloads what changed.

    Args:
        debounce_ms: how long watchfiles groups changes before reporting them.
        step_ms: how often it checks for the end of a burst of changes.
    """

    def __init__(self, engine: Engine, *, debounce_ms: int = 20, step_ms: int = 10) -> None:
        self.engine = engine
        self.debounce_ms = debounce_ms
        self.step_ms = step_ms
        self.records: BoundedStore[ReloadRecord] = BoundedStore(
            1000,
            ReloadRecord._fields,
            lambda r: [tuple(r)],
            time_columns=("timestamp",),
        )
        self.listeners: list[Callable[[ReloadRecord], None]] = []
        self.only: set[str] | None = None
        """Watch these plugins only (dev mode of the management API); None: all."""
        self.extra: dict[str, tuple[Path, ...]] = {}
        """More folders or files per plugin whose changes reload it (``watchPaths``)."""
        self.ready = threading.Event()
        self._watched: frozenset[Path] = frozenset()
        self._watching = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the watcher thread (returns once it watches)."""
        if self.running:
            return
        self._stop.clear()
        self.ready.clear()
        self._thread = threading.Thread(target=self._run, name="pliers-hot-reload", daemon=True)
        self._thread.start()
        self.ready.wait(timeout=5)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _roots(self) -> dict[Path, str]:
        only = self.only
        roots = {
            p.root.resolve(): p.id
            for p in list(self.engine.plugins)
            if p.root is not None and (only is None or p.id in only)
        }
        for plugin_id, paths in list(self.extra.items()):
            for path in paths:
                roots.setdefault(path.resolve(), plugin_id)
        return roots

    def _run(self) -> None:
        from watchfiles import watch

        while not self._stop.is_set():
            roots = self._roots()
            if not roots:
                self._now_watching(roots)
                self._stop.wait(0.1)
                continue
            cycle = threading.Event()
            for changes in watch(
                *roots,
                stop_event=_Either(self._stop, cycle),
                debounce=self.debounce_ms,
                step=self.step_ms,
                rust_timeout=100,
                yield_on_timeout=True,
                raise_interrupt=False,
            ):
                self._now_watching(roots)  # the first yield: the watches are in place
                if changes:
                    self._handle([Path(path) for _change, path in changes], roots)
                if self._roots().keys() != roots.keys():
                    cycle.set()  # plugins came or went: watch the new set of folders

    def _now_watching(self, roots: dict[Path, str]) -> None:
        self.ready.set()
        watched = frozenset(roots)
        if watched != self._watched:
            with self._watching:
                self._watched = watched
                self._watching.notify_all()

    def refresh(self, timeout: float = 5.0) -> bool:
        """Wait until the folders the engine's plugins (``only``, ``extra``) now call for
        are watched: an edit made after this returns is seen. False at the timeout."""
        deadline = time.monotonic() + timeout
        with self._watching:
            while self._watched != frozenset(self._roots()):
                left = deadline - time.monotonic()
                if left <= 0 or not self.running:
                    return False
                self._watching.wait(min(left, 0.05))
        return True

    def _handle(self, paths: Iterable[Path], roots: dict[Path, str]) -> None:
        touched: dict[str, set[Path]] = {}
        for path in paths:
            for root, plugin_id in roots.items():
                if path == root or root in path.parents:
                    touched.setdefault(plugin_id, set()).add(path)
                    break
        for plugin_id, files in touched.items():
            plugin = next((p for p in self.engine.plugins if p.id == plugin_id), None)
            if plugin is None:
                continue
            config_files = _config_files(plugin)
            if not files <= config_files:
                self._reload(plugin_id, "code", files)
            elif plugin.manifest.configuration.hot_reload:
                self._reload(plugin_id, "config", files)
            else:
                self._hold(plugin, files)

    def _hold(self, plugin: Plugin, files: set[Path]) -> None:
        """A configuration edit the manifest does not allow to apply live: kept, told."""
        names = ", ".join(sorted(f.name for f in files))
        why = (
            f"configuration.hotReload is false in the manifest of {plugin.id!r}: the edit of "
            f"{names} is not applied (it is when the plugin is reloaded, or by "
            'engine.reload_config; declare "hotReload": true to apply such edits at once)'
        )
        plugin.logger.warning(why)
        self._record(
            ReloadRecord(
                time.time(), plugin.id, "config", tuple(sorted(map(str, files))), False, 0.0, why
            )
        )

    def _reload(self, plugin_id: str, kind: str, files: set[Path]) -> None:
        started = time.perf_counter()
        error = None
        try:
            if kind == "config":
                self.engine.reload_config(plugin_id)
            else:
                self.engine.reload(plugin_id)
        except PliersError as exc:
            error = str(exc)
        record = ReloadRecord(
            time.time(),
            plugin_id,
            kind,
            tuple(sorted(str(f) for f in files)),
            error is None,
            (time.perf_counter() - started) * 1000.0,
            error,
        )
        self._record(record)

    def _record(self, record: ReloadRecord) -> None:
        self.records.append(record)
        for listener in list(self.listeners):
            try:
                listener(record)
            except Exception:  # a listener (a widget, say) must not stop the watcher
                continue


def _config_files(plugin: Plugin) -> set[Path]:
    cfg = plugin.manifest.configuration
    if plugin.root is None or cfg is None:
        return set()
    names = [cfg.schema_file, cfg.default_file, *cfg.environments.values()]
    return {(plugin.root / name).resolve() for name in names if name}


class _Either:
    """Set when either of two events is set (watchfiles takes one stop event)."""

    def __init__(self, a: threading.Event, b: threading.Event) -> None:
        self._a, self._b = a, b

    def is_set(self) -> bool:
        return self._a.is_set() or self._b.is_set()

    def wait(self, timeout: float | None = None) -> Any:  # pragma: no cover - unused by watch
        return self._a.wait(timeout)
