"""Plugin configuration (spec: Configuration Management).

Merge rules — later wins; objects merge key by key, anything else (lists included)
replaces what was there:

1. ``default`` values declared in the JSON Schema,
2. the manifest's default file (``configuration.default``),
3. the overlay file for the engine's environment (``configuration.environments``),
4. what the user applied (``Engine.configure``).

Validation (``jsonschema``, draft 7 or 2020-12 by the schema's ``$schema``; imported only
when a schema is first used, through ``import_jsonschema``: 0.3 s instead of 1.3 s in a
Jupyter environment, see ``_jsonschema.py``):

- ``additionalProperties: false`` (the manifest option, default): properties the schema
  does not declare are refused wherever the schema leaves that open;
- ``strict: true`` (default): a violation refuses the configuration; ``strict: false``
  applies it anyway and reports the violations as warnings.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import PluginError, PluginErrorType
from ._jsonschema import import_jsonschema

__all__ = [
    "ENVIRONMENTS",
    "ConfigSource",
    "deep_merge",
    "describe_changes",
    "import_jsonschema",
    "schema_defaults",
    "validate_config",
]

ENVIRONMENTS = ("development", "staging", "production")


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


def closed(schema: Any) -> Any:
    """A copy of ``schema`` where every object with ``properties`` and no explicit
    ``additionalProperties`` refuses undeclared properties."""
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    out = {key: closed(value) for key, value in schema.items()}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def _path(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<root>"


def validate_config(schema: Mapping[str, Any], config: Any) -> list[str]:
    """Every violation of ``schema`` by ``config``, each prefixed with its path."""
    import_jsonschema()
    from jsonschema import validators

    validator = validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{_path(e.absolute_path)}: {e.message}" for e in errors]


def describe_changes(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Human-readable changes between two configurations (``a.b: 1 -> 2``, ``Added c``)."""
    if not (isinstance(old, Mapping) and isinstance(new, Mapping)):
        return [] if old == new else [f"{prefix or '<root>'}: {old!r} -> {new!r}"]
    changes: list[str] = []
    for key in sorted(set(old) | set(new), key=str):
        path = f"{prefix}.{key}" if prefix else str(key)
        if key not in old:
            changes.append(f"Added {path} = {new[key]!r}")
        elif key not in new:
            changes.append(f"Removed {path}")
        else:
            changes.extend(describe_changes(old[key], new[key], path))
    return changes


class ConfigSource:
    """A plugin's schema, default file and environment overlays, and how to check them."""

    def __init__(
        self,
        plugin_id: str,
        schema: dict[str, Any] | None,
        defaults: dict[str, Any],
        overlays: dict[str, dict[str, Any]] | None = None,
        *,
        strict: bool = True,
        additional_properties: bool = False,
    ) -> None:
        self.plugin_id = plugin_id
        self.schema = schema
        self.defaults = defaults
        self.overlays = overlays or {}
        self.strict = strict
        self.additional_properties = additional_properties
        self.warnings: Sequence[str] = ()  # a list once a non-strict merge had any
        self._checked = (
            closed(schema) if schema is not None and not additional_properties else schema
        )

    @classmethod
    def from_manifest(cls, plugin_id: str, root: Path | None, configuration: Any) -> ConfigSource:
        """Read the files the manifest's ``configuration`` block names (CONFIG_ERROR if bad)."""
        if configuration is None:
            return cls(plugin_id, None, {})
        schema_file = configuration.schema_file
        schema = (
            _read_json(plugin_id, root, schema_file, "configuration.schema")
            if schema_file
            else None
        )
        if schema is not None:
            _check_schema(plugin_id, schema_file or "", schema)
        defaults = _read_object(
            plugin_id, root, configuration.default_file, "configuration.default"
        )
        overlays = {
            env: _read_object(plugin_id, root, name, f"configuration.environments.{env}")
            for env, name in configuration.environments.items()
        }
        return cls(
            plugin_id,
            schema,
            defaults,
            overlays,
            strict=configuration.strict,
            additional_properties=configuration.additional_properties,
        )

    def initial(self, environment: str | None = None) -> dict[str, Any]:
        """Schema defaults, the default file and the environment's overlay, merged."""
        base = schema_defaults(self.schema) if self.schema else {}
        merged = deep_merge(base, self.defaults)
        overlay = self.overlays.get(environment or "")
        return deep_merge(merged, overlay) if overlay else merged

    def problems(self, config: Any) -> list[str]:
        """What is wrong with ``config`` (an already merged configuration)."""
        if self._checked is None:
            return []
        return validate_config(self._checked, config)

    def resolve(
        self, config: Mapping[str, Any] | None, environment: str | None = None
    ) -> dict[str, Any]:
        """Merge ``config`` over the defaults and validate; CONFIG_ERROR lists every violation.

        In non-strict mode the violations become ``warnings`` and the merge is returned.
        """
        merged = deep_merge(self.initial(environment), config or {})
        problems = self.problems(merged)
        self.warnings = problems if not self.strict else ()
        if problems and self.strict:
            plural = "s" if len(problems) > 1 else ""
            raise _config_error(
                self.plugin_id,
                f"configuration is invalid ({len(problems)} problem{plural}):\n  "
                + "\n  ".join(problems),
                metadata={"problems": problems},
            )
        return merged


def _config_error(plugin_id: str, message: str, **kw: Any) -> PluginError:
    return PluginError(PluginErrorType.CONFIG_ERROR, message, plugin_id=plugin_id, **kw)


def _read_json(plugin_id: str, root: Path | None, name: str, field: str) -> Any:
    """The JSON in the plugin's file ``name`` (manifest ``field``): read only inside the
    plugin's folder (symlinks out of it are refused), regular files, size-capped."""
    from ..manifest.plugin_files import CONFIG_LIMIT, Unreadable, plugin_path, probe, read_file

    path = (root / name) if root else Path(name)
    real = (
        plugin_path(root, name, plugin_id=plugin_id, field=field, kind=PluginErrorType.CONFIG_ERROR)
        if root
        else path
    )
    if probe(real) == ("missing", None):
        raise _config_error(plugin_id, f"{field}: {path}: file not found")
    try:
        return json.loads(read_file(real, CONFIG_LIMIT).decode("utf-8"))
    except Unreadable as exc:
        raise _config_error(plugin_id, f"{field}: {path}: cannot read: {exc.reason}") from None
    except UnicodeDecodeError as exc:
        raise _config_error(
            plugin_id, f"{field}: {path}: not UTF-8 text (invalid byte at offset {exc.start})"
        ) from None
    except json.JSONDecodeError as exc:
        raise _config_error(
            plugin_id, f"{field}: {path}: line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except (ValueError, RecursionError) as exc:  # NaN and friends, nesting too deep
        raise _config_error(plugin_id, f"{field}: {path}: malformed JSON: {exc}") from None


def _read_object(plugin_id: str, root: Path | None, name: str | None, field: str) -> dict[str, Any]:
    if not name:
        return {}
    value = _read_json(plugin_id, root, name, field)
    if not isinstance(value, dict):
        raise _config_error(
            plugin_id, f"{field}: {name}: a configuration file must hold a JSON object"
        )
    return value


def _check_schema(plugin_id: str, name: str, schema: Any) -> None:
    import_jsonschema()
    from jsonschema import exceptions, validators

    if not isinstance(schema, dict):
        raise _config_error(plugin_id, f"{name}: a JSON Schema must be an object")
    try:
        validators.validator_for(schema).check_schema(schema)
    except exceptions.SchemaError as exc:
        raise _config_error(
            plugin_id, f"{name}: invalid JSON Schema at {_path(exc.absolute_path)}: {exc.message}"
        ) from None
