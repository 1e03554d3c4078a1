"""The demo job: load the example plugins, push one submission through their hooks, report.

Until the lab lands this is the README's main command (``./run demo``).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ..context import HookContext
from ..engine import Engine
from ..engine.hook_results import HookResult
from ..errors import EngineError
from ..plugin import hook
from ..samples import CONTACT_FORM, SUBMISSIONS

FLAKY_CRM: dict[str, Any] = {
    "name": "flaky-crm",
    "version": "0.1.0",
    "description": "An inline plugin whose CRM is down: shows a failure staying contained",
    "author": "pliers_lab demo",
    "license": "MIT",
    "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
    "hooks": {"submission.afterSave": {"priority": 100, "retries": 1}},
    "recovery": {"strategy": "ignore", "backoffMs": 1},
}


def _crm_down(ctx: HookContext) -> None:
    raise ConnectionError("crm.example.com refused the connection")


def default_extensions(package: Path | None = None) -> Path:
    """``extensions/`` of the checkout this package runs from: beside ``package`` (the
    ``pliers_lab`` folder imported). An installed package ships no example plugins, so
    there is none beside it: EngineError naming the folder looked at, and what to pass."""
    package = package or Path(__file__).resolve().parents[1]
    folder = package.parent / "extensions"
    if not (folder.is_dir() and any(folder.glob("*/manifest.json"))):
        raise EngineError(
            f"pliers demo: no example plugins at {folder} (the extensions/ folder of a "
            f"pliers_lab checkout, beside {package}); an installed package ships none: "
            "pass --extensions DIR, a folder of plugin folders"
        )
    return folder


def run(extensions: Path | None = None, out: Any = print) -> Engine:
    """Load every plugin under ``extensions`` and fire the submission hooks; print a report."""
    folder = extensions or default_extensions()
    engine = Engine()
    out(f"pliers_lab demo: loading plugins from {folder}\n")
    engine.load_all(folder)
    engine.add_plugin(FLAKY_CRM, {"sync_to_crm": hook("submission.afterSave")(_crm_down)})
    for plugin in engine.plugins:
        hooks = ", ".join(f"{h}({c.priority})" for h, c in plugin.manifest.hooks.items())
        where = plugin.isolation + (f" ({len(plugin.layers)} layers)" if plugin.layers else "")
        endpoints = ", ".join(f"{e.method} {e.path}" for e in plugin.manifest.api.endpoints)
        out(f"  {plugin.key:<30} {plugin.state.value:<7} {where:<20} {hooks or endpoints}")
    for error in engine.errors:
        out(f"  ! {error}")
    form = CONTACT_FORM
    out_data: dict[str, Any] = {}
    report: list[HookResult] = [engine.fire("form.validate", {"form": form})]
    for submission in SUBMISSIONS:
        data: dict[str, Any] = {"form": form, "submission": copy.deepcopy(submission)}
        session = f"session-{submission['id']}"
        report.append(engine.fire("submission.beforeValidate", data, session_id=session))
        for name in ("submission.sanitize", "submission.transform", "submission.enrich"):
            result = engine.fire(name, data, session_id=session)
            data = result.value
            report.append(result)
        out_data[submission["id"]] = data["submission"]
        verdict = engine.fire("submission.beforeSave", data, session_id=session)
        report.append(verdict)
        if verdict.value:
            report.append(
                engine.fire("submission.afterSave", data, user_id="demo", session_id=session)
            )
    report.append(
        engine.fire(
            "export.format", {"format": "csv", "form": form, "submissions": SUBMISSIONS[:1]}
        )
    )
    for result in report:
        out("\n" + result.summary())
    out("\nSubmissions after sanitize → transform → enrich")
    for sid, submission in out_data.items():
        out(f"  {sid}: data={submission['data']}")
        out(f"  {' ' * len(sid)}  metadata={submission['metadata']}")
    out("\nPlugin logs")
    for entry in engine.logs:
        fields = f" {entry.fields}" if entry.fields else ""
        out(
            f"  {entry.level:<7} {entry.plugin_id:<22} {entry.hook or '':<26} "
            f"{entry.message}{fields}"
        )
    out("\nPer-plugin metrics")
    for plugin in engine.plugins:
        m = engine.metrics(plugin.id).execution
        out(
            f"  {plugin.id:<24} calls {m.count:>3}  errors {m.errorCount:>2}  "
            f"avg {m.avgDuration:7.3f} ms  max {m.maxDuration:7.3f} ms"
        )
    out(f"\n{len(engine.executions)} executions, {len(engine.errors)} errors recorded")
    for error in engine.errors:
        out(f"  {error}")
    return engine
