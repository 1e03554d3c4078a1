"""Plugin templates: one folder per kind under ``templates/``, rendered with ``string.Template``.

Each template exercises one result mode, so a new author starts from a plugin that loads,
answers its hook and passes its own tests.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from ..errors import EngineError

__all__ = ["TEMPLATES", "TemplateInfo", "create"]


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    hook: str
    mode: str
    summary: str


TEMPLATES: dict[str, TemplateInfo] = {
    t.name: t
    for t in (
        TemplateInfo("validator", "form.validation.custom", "validate", "adds validation rules"),
        TemplateInfo(
            "transformer", "submission.transform", "waterfall", "rewrites submission data"
        ),
        TemplateInfo("guard", "submission.beforeSave", "veto", "refuses submissions"),
        TemplateInfo("notifier", "submission.afterSave", "collect", "reacts after a save"),
        TemplateInfo("exporter", "export.format", "first", "answers an export format"),
    )
}

NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def _render(text: str, values: dict[str, str]) -> str:
    return Template(text).safe_substitute(values)


def _settings(schema_text: str) -> str:
    """The README's list of settings, from the template's schema: ``pliers docs --check``
    wants every property named, and a template must pass its own checks unchanged."""
    properties = json.loads(schema_text).get("properties", {})
    lines = [
        f"- `{name}` ({prop.get('type', 'any')}, default `{json.dumps(prop.get('default'))}`):"
        f" {prop.get('description', '')}"
        for name, prop in properties.items()
    ]
    return "\n".join(lines) or "None."


def create(
    template: str, name: str, folder: str | Path = ".", *, author: str = "Plugin Author"
) -> Path:
    """Write a new plugin ``name`` from ``template`` into ``folder/name``; returns its path.

    Refuses an unknown template, a name the manifest would refuse, or a folder that
    already exists (nothing is overwritten).
    """
    info = TEMPLATES.get(template)
    if info is None:
        raise EngineError(f"unknown template {template!r}; choose one of: {', '.join(TEMPLATES)}")
    if not NAME.match(name):
        raise EngineError(
            f"plugin name {name!r} is not valid: use lowercase letters, digits and hyphens"
        )
    target = Path(folder) / name
    if target.exists():
        raise EngineError(f"{target} already exists; choose another name or folder")
    values = {
        "name": name,
        "module": name.replace("-", "_"),
        "author": author,
        "hook": info.hook,
        "mode": info.mode,
        "summary": info.summary,
    }
    source = resources.files(__package__) / "templates"
    common, specific = source / "common", source / template
    values["settings"] = _settings((specific / "config-schema.json").read_text(encoding="utf-8"))
    target.mkdir(parents=True)
    (target / "tests").mkdir()
    for base in (common, specific):
        for entry in base.iterdir():
            if entry.name.startswith("__"):
                continue
            out_name = entry.name.removesuffix(".tmpl").replace(
                "test_plugin", f"test_{values['module']}"
            )
            out = target / ("tests" if out_name.startswith("test_") else "") / out_name
            out.write_text(_render(entry.read_text(encoding="utf-8"), values), encoding="utf-8")
    return target
