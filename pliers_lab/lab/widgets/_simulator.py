"""The hook simulator: pick a hook, edit its JSON payload, Fire, see what each plugin did."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ...errors import PliersError
from ...samples import expected_keys, sample_payload
from .._displays import json_html, outcomes_html
from ._common import engine_or_default, message, panel

if TYPE_CHECKING:
    from ...engine import Engine
    from ...engine.hook_results import HookResult

__all__ = ["HookSimulator"]


class HookSimulator(w.VBox):  # type: ignore[misc]
    """Fire any hook of the engine's catalog (core and custom) with a payload you edit.

    The payload is parsed as you type: invalid JSON is shown on one line and disables
    Fire; keys the host would send but the payload lacks are a warning. After Fire the
    widget shows a per-plugin table (CSS class ``pliers-outcomes``: status, duration,
    error), the hook's value and the state the plugins shared.

    Attributes:
        hook, payload, user, session: the inputs (Dropdown, Textarea, Text, Text).
        fire_button, refresh_button: the buttons.
        status, value, table, state: HTML outputs.
        result: the last ``HookResult`` (None before the first Fire).
        fire_ms: wall time of the last Fire, engine and rendering included.
    """

    def __init__(
        self,
        engine: Engine | None = None,
        hook: str = "submission.beforeValidate",
        payload: Any = None,
        *,
        user_id: str = "",
        session_id: str = "",
    ) -> None:
        self.engine = engine_or_default(engine)
        self.result: HookResult | None = None
        self.fire_ms: float | None = None
        self._data: Any = None
        self._sample_text: str | None = None
        self.hook = w.Dropdown(description="hook", layout=w.Layout(width="32em"))
        self.refresh_button = w.Button(
            icon="refresh", tooltip="reload the hook catalog", layout=w.Layout(width="3em")
        )
        self.payload = w.Textarea(layout=w.Layout(width="100%", height="14em"))
        self.payload_status = w.HTML()
        self.user = w.Text(value=user_id, description="user", placeholder="user id (optional)")
        self.session = w.Text(
            value=session_id, description="session", placeholder="session id (optional)"
        )
        self.fire_button = w.Button(description="Fire", button_style="primary", icon="bolt")
        self.status = w.HTML()
        self.value = w.HTML()
        self.table = w.HTML()
        self.state = w.HTML()
        self.refresh()
        names = [name for _label, name in self.hook.options]
        if hook not in names and names:
            hook = names[0]
        self.hook.value = hook
        self.set_payload(
            sample_payload(hook) if payload is None else payload, sample=payload is None
        )
        self.hook.observe(self._on_hook, "value")
        self.payload.observe(lambda _change: self._validate(), "value")
        self.fire_button.on_click(lambda _button: self.fire())
        self.refresh_button.on_click(lambda _button: self.refresh())
        super().__init__(
            [
                w.HBox([self.hook, self.refresh_button]),
                self.payload,
                self.payload_status,
                w.HBox([self.user, self.session, self.fire_button]),
                self.status,
                self.table,
                self.value,
                self.state,
            ]
        )
        self.add_class("pliers-simulator")

    # ------------------------------------------------------------------ inputs
    def refresh(self) -> None:
        """Reload the hook catalog (custom hooks appear when their plugin loads)."""
        options = []
        for spec in self.engine.hooks():
            count = len(self.engine.handlers(spec.name))
            mark = " ★custom" if spec.custom else ""
            options.append((f"{spec.name} ({spec.mode.value}, {count} plugins){mark}", spec.name))
        current = self.hook.value
        self.hook.options = options
        if current in {v for _, v in options}:
            self.hook.value = current

    def set_payload(self, payload: Any, *, sample: bool = False) -> None:
        """Put ``payload`` (an object, or JSON text) in the editor."""
        text = payload if isinstance(payload, str) else json.dumps(payload, indent=2)
        self._sample_text = text if sample else None
        self.payload.value = text
        self._validate()

    def _on_hook(self, change: dict[str, Any]) -> None:
        if self.payload.value == self._sample_text:  # untouched sample: follow the hook
            self.set_payload(sample_payload(change["new"]), sample=True)
        else:
            self._validate()

    def _validate(self) -> bool:
        """Parse the payload; show the first problem; enable Fire when it is JSON."""
        text = self.payload.value
        try:
            self._data = json.loads(text) if text.strip() else None
        except json.JSONDecodeError as exc:
            self._data = None
            self.payload_status.value = message(
                "error", f"not JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"
            )
            self.fire_button.disabled = True
            return False
        self.fire_button.disabled = False
        wanted = expected_keys(self.hook.value or "")
        missing = [k for k in wanted if not isinstance(self._data, dict) or k not in self._data]
        if missing:
            self.payload_status.value = message(
                "warning",
                f"the host sends {', '.join(wanted)} for this hook; missing: {', '.join(missing)}",
            )
        else:
            self.payload_status.value = message("ok", "valid JSON")
        return True

    # ------------------------------------------------------------------ firing
    def fire(self) -> HookResult | None:
        """Fire the selected hook with the payload; what the Fire button does."""
        if not self._validate():
            return None
        started = time.perf_counter()
        try:
            result = self.engine.fire(
                self.hook.value,
                self._data,
                user_id=self.user.value.strip() or None,
                session_id=self.session.value.strip() or None,
            )
        except PliersError as exc:
            self.status.value = message("error", str(exc))
            self.value.value = self.table.value = self.state.value = ""
            return None
        self.result = result
        self._show(result)
        self.fire_ms = (time.perf_counter() - started) * 1000.0
        return result

    def _show(self, result: HookResult) -> None:
        failed = [o.plugin_id for o in result.outcomes if o.status not in ("ok", "skipped")]
        n = len(result.rows)
        summary = (
            f"{result.hook} ({result.mode}) execution {result.execution_id}: {n} plugin"
            f"{'s' if n != 1 else ''} in {result.duration_ms:.3f} ms"
        )
        if failed:
            self.status.value = message("error", f"{summary}; failed: {', '.join(failed)}")
        else:
            self.status.value = message("ok", summary)
        self.value.value = panel(f"<b>value</b>{json_html(result.value, 'pliers-value')}")
        self.table.value = panel(outcomes_html(result), "pliers-simulator-table")
        self.state.value = panel(f"<b>shared state</b>{json_html(result.state, 'pliers-state')}")
