"""The config editor: one input per property of the plugin's JSON Schema, validated as you
edit, applied through ``engine.configure``.

jsonschema is imported on the first edit, not when the editor opens: in a Jupyter
environment its import costs about a second (facts/lab-stack.md), and the configuration
shown at first is the one the engine already validated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ...config import import_jsonschema
from ...errors import PliersError
from .._displays import esc
from ._common import engine_or_default, message

if TYPE_CHECKING:
    from ...engine import Engine

__all__ = ["ConfigEditor", "schema_problems"]

#: Key under which problems not tied to one property (e.g. unknown keys) are reported.
ROOT = ""


def schema_problems(schema: Mapping[str, Any], config: Any) -> dict[str, list[str]]:
    """Violations of ``schema`` by ``config``, grouped by top-level property ("" = root)."""
    import_jsonschema()
    from jsonschema import validators

    validator = validators.validator_for(schema)(schema)
    problems: dict[str, list[str]] = {}
    for error in validator.iter_errors(config):
        path = list(error.absolute_path)
        key = str(path[0]) if path else ROOT
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path[1:])
        problems.setdefault(key, []).append(
            f"{where.lstrip('.')}: {error.message}" if where else error.message
        )
    return problems


class _Field:
    """One property: its input widget, how to read it, and where its error goes."""

    def __init__(self, name: str, prop: Mapping[str, Any], value: Any) -> None:
        self.name = name
        self.prop = prop
        kind = prop.get("type")
        self.json = False
        tooltip = str(prop.get("description", ""))
        if "enum" in prop:
            options = [(json.dumps(o) if not isinstance(o, str) else o, o) for o in prop["enum"]]
            self.input: w.ValueWidget = w.Dropdown(options=options)
        elif kind == "boolean":
            self.input = w.Checkbox(indent=False)
        elif kind == "integer":
            self.input = w.IntText()
        elif kind == "number":
            self.input = w.FloatText()
        elif kind == "string":
            self.input = w.Text()
        else:  # arrays, objects, unions: edited as JSON text
            self.input = w.Text(layout=w.Layout(width="28em"))
            self.json = True
        self.input.tooltip = tooltip
        self.set(value)
        self.error = w.HTML()
        label = w.HTML(f"<b>{esc(name)}</b>", layout=w.Layout(width="14em"))
        label.tooltip = tooltip
        self.row = w.VBox(
            [
                w.HBox([label, self.input, self.error]),
                w.HTML(f"<span class='pliers-muted' style='font-size:11px'>{esc(tooltip)}</span>")
                if tooltip
                else w.HTML(),
            ]
        )

    def set(self, value: Any) -> None:
        if self.json:
            self.input.value = json.dumps(value)
        elif value is not None:
            self.input.value = value

    def get(self) -> Any:
        """The value as JSON would hold it; raises ValueError for text that is not JSON."""
        if self.json:
            try:
                return json.loads(self.input.value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not JSON: column {exc.colno}: {exc.msg}") from None
        return self.input.value


_UNSET = object()


class ConfigEditor(w.VBox):  # type: ignore[misc]
    """Edit a plugin's configuration through inputs generated from its JSON Schema.

    Invalid values are refused inline: each input shows its own problem and Apply stays
    disabled until the whole configuration validates. Apply calls ``engine.configure``.

    Attributes:
        fields: property name → input widget.
        errors: property name → HTML showing that property's problem ("" for the root).
        apply_button, reset_button: actions; message: HTML, one line.
    """

    def __init__(self, plugin_id: str, engine: Engine | None = None) -> None:
        self.engine = engine_or_default(engine)
        self.plugin_id = plugin_id
        plugin = self.engine.plugin(plugin_id)
        source = plugin.config_source
        self.schema: Mapping[str, Any] | None = source.schema if source else None
        self.apply_button = w.Button(description="Apply", button_style="primary", icon="check")
        self.reset_button = w.Button(description="Reset", icon="undo")
        self.message = w.HTML()
        self.root_error = w.HTML()
        properties = (self.schema or {}).get("properties") or {}
        current = plugin.config
        self._fields = {
            name: _Field(name, prop, current.get(name, prop.get("default")))
            for name, prop in properties.items()
            if isinstance(prop, Mapping)
        }
        # Keys present in the configuration but not declared are kept as JSON text.
        self.extra = w.Textarea(layout=w.Layout(width="100%", height="5em"))
        extra = {k: v for k, v in current.items() if k not in self._fields}
        self.extra.value = json.dumps(extra, indent=2) if (extra or not self._fields) else ""
        self.fields = {name: f.input for name, f in self._fields.items()}
        self.errors = {name: f.error for name, f in self._fields.items()}
        self.errors[ROOT] = self.root_error
        for f in self._fields.values():
            f.input.observe(lambda _c: self.validate(), "value")
        self.extra.observe(lambda _c: self.validate(), "value")
        self.apply_button.on_click(lambda _b: self.apply())
        self.reset_button.on_click(lambda _b: self.reset())
        title = self.schema.get("title") if self.schema else None
        header = w.HTML(
            f"<b>{esc(title or plugin.id + ' configuration')}</b>"
            + ("" if self.schema else " <span class='pliers-muted'>(no schema: free JSON)</span>")
        )
        rows = [f.row for f in self._fields.values()]
        if self.extra.value:
            rows.append(w.VBox([w.HTML("other keys (JSON)"), self.extra]))
        super().__init__(
            [
                header,
                *rows,
                self.root_error,
                w.HBox([self.apply_button, self.reset_button]),
                self.message,
            ]
        )
        self.add_class("pliers-config-editor")

    def values(self) -> dict[str, Any]:
        """The configuration the inputs describe (raises ValueError for non-JSON text)."""
        config = {name: f.get() for name, f in self._fields.items()}
        if self.extra.value.strip():
            extra = json.loads(self.extra.value)
            if not isinstance(extra, dict):
                raise ValueError("other keys: a JSON object is expected")
            config.update(extra)
        return config

    def validate(self) -> bool:
        """Check every input against the schema; show problems inline; gate Apply."""
        for html in self.errors.values():
            html.value = ""
        problems: dict[str, list[str]] = {}
        config: dict[str, Any] = {}
        for name, f in self._fields.items():
            try:
                config[name] = f.get()
            except ValueError as exc:
                problems[name] = [str(exc)]
        try:
            extra = json.loads(self.extra.value) if self.extra.value.strip() else {}
            if not isinstance(extra, dict):
                raise ValueError("other keys: a JSON object is expected")
            config.update(extra)
        except ValueError as exc:
            problems.setdefault(ROOT, []).append(str(exc))
        if not problems and self.schema is not None:
            problems = schema_problems(self.schema, config)
        for name, texts in problems.items():
            target = self.errors.get(name, self.root_error)
            prefix = "" if name in self.errors else f"{name}: "
            target.value = message("error", prefix + "; ".join(texts))
        ok = not problems
        self.apply_button.disabled = not ok
        count = sum(map(len, problems.values()))
        self.message.value = (
            ""
            if ok
            else message("error", f"{count} problem{'s' if count != 1 else ''}; fix them to apply")
        )
        return ok

    def _overrides(self) -> dict[str, Any]:
        """The fields that differ from the plugin's defaults: only those become user
        settings, so a later change to a default file still shows."""
        plugin = self.engine.plugin(self.plugin_id)
        source = plugin.config_source
        defaults = source.initial(self.engine.environment) if source else {}
        return {k: v for k, v in self.values().items() if defaults.get(k, _UNSET) != v}

    def apply(self) -> dict[str, Any] | None:
        """Validate and hand the configuration to the engine; what Apply does."""
        if not self.validate():
            return None
        try:
            resolved = self.engine.configure(self.plugin_id, self._overrides())
        except PliersError as exc:
            self.message.value = message("error", " ".join(str(exc).split()))
            return None
        self.message.value = message("ok", f"applied to {self.plugin_id}")
        return resolved

    def reset(self) -> None:
        """Show the plugin's current configuration again."""
        current = self.engine.plugin(self.plugin_id).config
        for name, f in self._fields.items():
            f.set(current.get(name, f.prop.get("default")))
        extra = {k: v for k, v in current.items() if k not in self._fields}
        self.extra.value = json.dumps(extra, indent=2) if extra else ""
        for html in self.errors.values():
            html.value = ""
        self.apply_button.disabled = False
        self.message.value = message("info", "showing the current configuration")
