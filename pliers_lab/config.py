"""Plugin configuration: schema and default files, defaults, validation (jsonschema, lazily).

Merge rules (later wins, objects merge key by key, anything else replaces): defaults
declared in the schema, then the default file, then what the user applies.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import PluginError, PluginErrorType

__all__ = ["ConfigSource", "deep_merge", "schema_defaults", "validate_config"]


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``; nested objects merge, other values replace."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def schema_defaults(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The ``default`` values of an object schema's properties, recursively."""
    out: dict[str, Any] = {}
    for name, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, Mapping):
            continue
        if "default" in prop:
            out[name] = copy.deepcopy(prop["default"])
        elif prop.get("type") == "object" and "properties" in prop:
            nested = schema_defaults(prop)
            if nested:
                out[name] = nested
    return out


def _path(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<root>"


def validate_config(schema: Mapping[str, Any], config: Any) -> list[str]:
    """Every violation of ``schema`` by ``config``, each prefixed with its path."""
    from jsonschema import validators  # ~1 s in a Jupyter environment: only when needed

    cls = validators.validator_for(schema)
    validator = cls(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{_path(e.absolute_path)}: {e.message}" for e in errors]


class ConfigSource:
    """A plugin's schema and default configuration, read from its manifest's files."""

    def __init__(self, plugin_id: str, schema: dict[str, Any] | None, defaults: dict[str, Any]):
        self.plugin_id = plugin_id
        self.schema = schema
        self.defaults = defaults

    @classmethod
    def from_files(
        cls, plugin_id: str, root: Path | None, schema_file: str | None, default_file: str | None
    ) -> ConfigSource:
        schema = _read_json(plugin_id, root, schema_file) if schema_file else None
        if schema is not None:
            _check_schema(plugin_id, schema_file or "", schema)
        defaults = _read_json(plugin_id, root, default_file) if default_file else {}
        if not isinstance(defaults, dict):
            raise _config_error(
                plugin_id, f"{default_file}: the default configuration must be a JSON object"
            )
        return cls(plugin_id, schema, defaults)

    def initial(self) -> dict[str, Any]:
        base = schema_defaults(self.schema) if self.schema else {}
        return deep_merge(base, self.defaults)

    def resolve(self, config: Mapping[str, Any] | None) -> dict[str, Any]:
        """Defaults merged with ``config``, validated; CONFIG_ERROR lists every violation."""
        merged = deep_merge(self.initial(), config or {})
        if self.schema is not None:
            problems = validate_config(self.schema, merged)
            if problems:
                raise _config_error(
                    self.plugin_id,
                    f"configuration is invalid ({len(problems)} problem"
                    f"{'s' if len(problems) > 1 else ''}):\n  " + "\n  ".join(problems),
                    metadata={"problems": problems},
                )
        return merged


def _config_error(plugin_id: str, message: str, **kw: Any) -> PluginError:
    return PluginError(PluginErrorType.CONFIG_ERROR, message, plugin_id=plugin_id, **kw)


def _read_json(plugin_id: str, root: Path | None, name: str) -> Any:
    path = (root / name) if root else Path(name)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _config_error(plugin_id, f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _config_error(plugin_id, f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise _config_error(
            plugin_id, f"{path}: line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None


def _check_schema(plugin_id: str, name: str, schema: Any) -> None:
    from jsonschema import exceptions, validators

    if not isinstance(schema, dict):
        raise _config_error(plugin_id, f"{name}: a JSON Schema must be an object")
    try:
        validators.validator_for(schema).check_schema(schema)
    except exceptions.SchemaError as exc:
        raise _config_error(
            plugin_id, f"{name}: invalid JSON Schema at {_path(exc.absolute_path)}: {exc.message}"
        ) from None
