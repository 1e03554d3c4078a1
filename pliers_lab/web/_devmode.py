"""``POST /v3/plugins/{id}/dev-mode``: hot reload, extra watched paths and debug logs for
one plugin, followed live on the ``/v3/events`` websocket.

Body ``{enabled, watchPaths, hotReload, debugMode}`` (spec REST API). With ``hotReload``
the engine's hot reloader watches the plugin's folder and ``watchPaths`` (each inside the
plugin's folder or ``WebSettings.plugin_roots``): an edit reloads it, a broken edit keeps
the old version; an edit of its configuration files alone is applied only if its manifest
says ``configuration.hotReload: true`` (else the watcher records why, see
``config.hotreload``). If dev mode started the reloader it watches dev-mode plugins only, and
stops with the last of them; a reloader already watching everything is left as it was.
``debugMode`` adds the plugin's debug log entries to its ``plugin.log`` events. The reply
gives the state and the websocket URL of the plugin's events.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._allowed_folders import inside, resolved_roots
from ._error_envelope import ApiError

if TYPE_CHECKING:
    from starlette.requests import Request

    from ..plugin import Plugin
    from ._state import WebState

__all__ = ["MAX_WATCH_PATHS", "DevMode", "set_dev_mode"]

#: ``watchPaths`` one request may list.
MAX_WATCH_PATHS = 64


@dataclass
class DevMode:
    """One plugin's dev mode."""

    plugin_id: str
    hot_reload: bool
    debug_mode: bool
    watch_paths: tuple[Path, ...] = ()
    since: float = field(default_factory=time.time)


def _flag(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise ApiError("INVALID_REQUEST", f"{name} must be true or false, got {value!r}")
    return value


def _watch_paths(state: WebState, plugin: Plugin, raw: Any) -> tuple[Path, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(p, str) and p for p in raw):
        raise ApiError("INVALID_REQUEST", "watchPaths must be a list of paths")
    if len(raw) > MAX_WATCH_PATHS:
        raise ApiError("INVALID_REQUEST", f"watchPaths may list at most {MAX_WATCH_PATHS} paths")
    roots = resolved_roots(state.settings.plugin_roots)
    if plugin.root is not None:
        roots += resolved_roots([plugin.root])
    paths = []
    for i, text in enumerate(raw):
        path = inside(
            text,
            roots,
            f"watchPaths[{i}]",
            base=plugin.root,
            named="the plugin's folder and the plugin roots",
        )
        if not _exists(path):
            raise ApiError("INVALID_REQUEST", f"watchPaths: {text!r} does not exist ({path})")
        paths.append(path)
    return tuple(paths)


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def _sync_reloader(state: WebState) -> None:
    """Make the engine's reloader watch what dev mode asks for (module docstring)."""
    engine = state.engine
    wanted = {pid: m for pid, m in state.dev_modes.items() if m.hot_reload}
    reloader = engine.reloader
    if reloader is None and wanted:
        reloader = engine.watch(True)
        assert reloader is not None
        reloader.only = set()
        state.dev_owns_reloader = True
    if reloader is None:
        return
    if state.dev_owns_reloader:
        reloader.only = set(wanted)
    reloader.extra = {pid: m.watch_paths for pid, m in wanted.items() if m.watch_paths}
    if state.dev_owns_reloader and not wanted:
        engine.watch(False)
        state.dev_owns_reloader = False
    elif not reloader.refresh():  # edits made after the reply must be seen
        raise ApiError(
            "PLUGIN_TIMEOUT", "the hot reloader did not start watching the requested paths"
        )


def set_dev_mode(state: WebState, plugin: Plugin, body: dict[str, Any]) -> DevMode | None:
    """Apply a dev-mode request; the plugin's mode now (None once disabled)."""
    enabled = body.get("enabled")
    if not isinstance(enabled, bool):
        raise ApiError("INVALID_REQUEST", "dev-mode needs enabled: true or false")
    if not enabled:
        state.dev_modes.pop(plugin.id, None)
        _sync_reloader(state)
        return None
    hot_reload = _flag(body, "hotReload", True)
    if hot_reload and plugin.root is None:
        raise ApiError(
            "INVALID_REQUEST",
            f"plugin {plugin.id!r} was defined from code: it has no folder to hot-reload",
        )
    mode = DevMode(
        plugin.id,
        hot_reload=hot_reload,
        debug_mode=_flag(body, "debugMode", False),
        watch_paths=_watch_paths(state, plugin, body.get("watchPaths")),
    )
    state.dev_modes[plugin.id] = mode
    _sync_reloader(state)
    return mode


def describe(request: Request, plugin_id: str, mode: DevMode | None) -> dict[str, Any]:
    """The reply: the state and where its events stream."""
    scheme = "wss" if request.url.scheme == "https" else "ws"
    url = f"{scheme}://{request.url.netloc}/v3/events?plugins={plugin_id}"
    if mode is None:
        return {"pluginId": plugin_id, "enabled": False, "websocketUrl": url}
    return {
        "pluginId": plugin_id,
        "enabled": True,
        "hotReload": mode.hot_reload,
        "debugMode": mode.debug_mode,
        "watchPaths": [str(p) for p in mode.watch_paths],
        "since": mode.since,
        "websocketUrl": url,
    }
