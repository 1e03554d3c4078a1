"""The plugin inspector: state, manifest, permissions, metrics and lifecycle of one plugin,
with enable / disable / reload buttons that act on the engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ...errors import PliersError
from ...lifecycle import PluginState
from .._displays import (
    esc,
    hooks_html,
    json_html,
    layers_html,
    metrics_html,
    permissions_html,
    state_html,
    table_html,
    timeline_html,
)
from ._common import engine_or_default, message, panel

if TYPE_CHECKING:
    from ...engine import Engine
    from ...plugin import Plugin

__all__ = ["PluginInspector"]

TABS = ("overview", "manifest", "permissions", "metrics", "lifecycle", "errors")


class PluginInspector(w.VBox):  # type: ignore[misc]
    """Everything about one plugin, refreshed after every action.

    Attributes:
        plugin: the Dropdown choosing the plugin.
        enable_button, disable_button, reload_button, refresh_button: actions.
        header: HTML with the plugin's key and state badge.
        message: HTML, one line: what the last action did, or why it failed.
        tabs: a Tab whose pages are the HTML widgets in ``pages`` (keys: ``TABS``).
    """

    def __init__(self, plugin_id: str | None = None, engine: Engine | None = None) -> None:
        self.engine = engine_or_default(engine)
        self.plugin = w.Dropdown(description="plugin", layout=w.Layout(width="26em"))
        self.enable_button = w.Button(description="Enable", icon="play")
        self.disable_button = w.Button(description="Disable", icon="stop")
        self.reload_button = w.Button(description="Reload", icon="refresh")
        self.refresh_button = w.Button(icon="sync", tooltip="refresh", layout=w.Layout(width="3em"))
        self.header = w.HTML()
        self.message = w.HTML()
        self.pages = {name: w.HTML() for name in TABS}
        self.tabs = w.Tab(children=list(self.pages.values()), titles=list(TABS))
        self._refresh_options()
        if plugin_id is not None:
            self.engine.plugin(plugin_id)  # UnknownPluginError names the loaded ones
            self.plugin.value = plugin_id
        self.plugin.observe(lambda _c: self.refresh(), "value")
        self.enable_button.on_click(lambda _b: self._act("enabled", self.engine.enable))
        self.disable_button.on_click(
            lambda _b: self._act(
                "disabled", lambda pid: self.engine.disable(pid, "disabled in the inspector")
            )
        )
        self.reload_button.on_click(lambda _b: self._act("reloaded", self.engine.reload))
        self.refresh_button.on_click(lambda _b: self.refresh())
        super().__init__(
            [
                w.HBox([self.plugin, self.refresh_button]),
                self.header,
                w.HBox([self.enable_button, self.disable_button, self.reload_button]),
                self.message,
                self.tabs,
            ]
        )
        self.add_class("pliers-inspector")
        self.refresh()

    @property
    def selected(self) -> Plugin | None:
        """The inspected plugin (None when the engine has none)."""
        pid = self.plugin.value
        return self.engine.plugin(pid) if pid and pid in self.engine else None

    def _refresh_options(self) -> None:
        current = self.plugin.value
        ids = [p.id for p in self.engine.plugins]
        self.plugin.options = ids
        if current in ids:
            self.plugin.value = current

    def _act(self, verb: str, action: Callable[[str], Any]) -> None:
        plugin = self.selected
        if plugin is None:
            self.message.value = message("error", "no plugin selected")
            return
        before = plugin.state.value
        try:
            action(plugin.id)
        except PliersError as exc:
            self.message.value = message("error", str(exc).splitlines()[0])
        else:
            after = self.engine.plugin(plugin.id).state.value
            self.message.value = message("ok", f"{plugin.id} {verb}: {before} → {after}")
        self.refresh()

    def refresh(self) -> None:
        """Re-read the plugin from the engine and redraw every page."""
        self._refresh_options()
        plugin = self.selected
        if plugin is None:
            self.header.value = message("info", "no plugin loaded in this engine")
            for page in self.pages.values():
                page.value = ""
            for button in (self.enable_button, self.disable_button, self.reload_button):
                button.disabled = True
            return
        state = plugin.state
        self.enable_button.disabled = state is PluginState.ACTIVE
        self.disable_button.disabled = state is not PluginState.ACTIVE
        self.reload_button.disabled = plugin.root is None
        reason = (
            f" <span class='pliers-muted'>({esc(plugin.disabled_reason)})</span>"
            if (plugin.disabled_reason)
            else ""
        )
        self.header.value = panel(
            f"<b>{esc(plugin.key)}</b> {state_html(state.value)}{reason} · isolation "
            f"<code>{esc(plugin.isolation)}</code>",
            "pliers-inspector-header",
        )
        self._pages(plugin)

    def _pages(self, plugin: Plugin) -> None:
        m = plugin.manifest
        facts = [
            ("description", esc(m.description)),
            ("author", esc(m.author)),
            ("license", esc(m.license)),
            ("layers", layers_html(plugin)),
            ("folder", esc(plugin.root) if plugin.root else "defined inline"),
            ("last error", esc(plugin.last_error) if plugin.last_error else "—"),
        ]
        self.pages["overview"].value = panel(
            table_html(("", ""), [(esc(k), v) for k, v in facts], "pliers-facts")
            + "<b>hooks</b>"
            + hooks_html(plugin)
            + "<b>configuration</b>"
            + json_html(plugin.config)
        )
        manifest = m.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        self.pages["manifest"].value = panel(json_html(manifest, "pliers-manifest"))
        self.pages["permissions"].value = panel(permissions_html(plugin))
        self.pages["metrics"].value = panel(metrics_html(plugin))
        self.pages["lifecycle"].value = panel(timeline_html(plugin.transitions))
        errors = self.engine.errors.for_plugin(plugin.id)[-20:]
        rows = [
            (
                esc(e.id),
                esc(e.type.value),
                esc(e.hook or ""),
                esc(e.execution_id or ""),
                esc(e.message.splitlines()[0] if e.message else ""),
            )
            for e in reversed(errors)
        ]
        self.pages["errors"].value = panel(
            table_html(("id", "type", "hook", "execution", "message"), rows, "pliers-errors")
        )
