"""Plugin documentation generated from the manifest and the configuration schema, so the
docs cannot drift from what the engine enforces (``pliers docs``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..catalog import CORE_HOOKS

__all__ = ["generate_docs"]


def _cell(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text.replace("|", "\\|").replace("\n", " ")


def _schema_rows(schema: dict[str, Any], prefix: str = "") -> list[str]:
    rows = []
    required = set(schema.get("required", []))
    for name, prop in (schema.get("properties") or {}).items():
        path = f"{prefix}{name}"
        kind = prop.get("type", "any")
        limits = [f"{k} {prop[k]}" for k in ("minimum", "maximum", "minLength", "maxLength",
                                              "pattern", "format") if k in prop]  # fmt: skip
        if "enum" in prop:
            limits.append("one of " + ", ".join(map(str, prop["enum"])))
        if isinstance(prop.get("items"), dict) and "enum" in prop["items"]:
            limits.append("items from " + ", ".join(map(str, prop["items"]["enum"])))
        default = _cell(prop["default"]) if "default" in prop else ""
        rows.append(
            f"| `{path}` | {_cell(kind)} | {'yes' if name in required else ''} | {default} | "
            f"{_cell('; '.join(limits))} | {_cell(prop.get('description', ''))} |"
        )
        if prop.get("type") == "object":
            rows.extend(_schema_rows(prop, path + "."))
    return rows


def _mode(manifest: Any, hook: str) -> str:
    spec = CORE_HOOKS.get(hook)
    if spec is not None:
        return spec.mode.value
    custom = manifest.custom_hooks.get(hook)
    return custom.mode.value if custom is not None else "custom"


def generate_docs(folder: str | Path) -> str:
    """Markdown for the plugin in ``folder``: hooks, permissions, configuration, endpoints,
    dependencies. Raises ``ManifestError`` for an invalid manifest."""
    from ..manifest import load_manifest

    m = load_manifest(folder)
    root = m.root or Path(folder)
    out = [f"# {m.name} {m.version}", "", m.description, "",
           f"Author: {m.author} · License: {m.license} · Engines: pliers `{m.engines.pliers}`, "
           f"python `{m.engines.python}`", ""]  # fmt: skip
    if m.hooks:
        out += ["## Hooks", "", "| hook | mode | priority | timeout ms | retries | handler |",
                "|---|---|---|---|---|---|"]  # fmt: skip
        for name, hook_cfg in m.hooks.items():
            out.append(
                f"| `{name}` | {_mode(m, name)} | {hook_cfg.priority} | {hook_cfg.timeout:g} | "
                f"{hook_cfg.retries} | {hook_cfg.handler or '@hook'} |"
            )
        out.append("")
    rows = m.permissions.as_rows()
    out += ["## Permissions", ""]
    if rows:
        out += ["| category | verb | resources |", "|---|---|---|"]
        out += [f"| {c} | {v} | `{r}` |" for c, v, r in rows]
    else:
        out.append("None: the plugin asks for no host resources.")
    out.append("")
    cfg = m.configuration
    if cfg and cfg.schema_file:
        schema = json.loads((root / cfg.schema_file).read_text(encoding="utf-8"))
        out += ["## Configuration", "", f"Schema: `{cfg.schema_file}`"
                + (f"; defaults: `{cfg.default_file}`" if cfg.default_file else "") + ".", "",
                "| property | type | required | default | limits | description |",
                "|---|---|---|---|---|---|", *_schema_rows(schema), ""]  # fmt: skip
    if m.api.endpoints:
        out += ["## HTTP endpoints", "", "| method | path | handler | auth | rate limit |",
                "|---|---|---|---|---|"]  # fmt: skip
        for e in m.api.endpoints:
            auth = "required" if e.auth and e.auth.required else "none"
            limit = f"{e.rate_limit.requests}/{e.rate_limit.window:g}s" if e.rate_limit else ""
            out.append(f"| {e.method} | `{e.path}` | `{e.handler}` | {auth} | {limit} |")
        out.append("")
    deps = list(m.all_dependencies())
    if deps or m.requirements:
        out += ["## Dependencies", "", "| name | range | scope |", "|---|---|---|"]
        out += [f"| {n} | `{r}` | {s} |" for n, r, s in deps]
        out += [f"| {r} | | python |" for r in m.requirements]
        out.append("")
    return "\n".join(out)


def validate_docs(folder: str | Path, docs: str | Path) -> list[str]:
    """What the plugin's documentation at ``docs`` leaves out (spec PDK ``validateDocs``):
    every hook, configuration property, endpoint path and dependency the manifest
    declares must be named in it. An empty list: nothing is missing."""
    from ..manifest import load_manifest

    m = load_manifest(folder)
    path = Path(docs)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return [f"{path}: cannot read it ({exc.strerror or exc})"]
    wanted: list[tuple[str, str]] = [("hook", h) for h in m.hooks]
    cfg = m.configuration
    if cfg and cfg.schema_file:
        root = m.root or Path(folder)
        schema = json.loads((root / cfg.schema_file).read_text(encoding="utf-8"))
        wanted += [("configuration property", k) for k in schema.get("properties", {})]
    wanted += [("endpoint", e.path) for e in m.api.endpoints]
    wanted += [("dependency", n) for n, _r, _s in m.all_dependencies()]
    return [
        f"{path}: the {kind} {name!r} is not documented"
        for kind, name in wanted
        if name not in text
    ]
