"""The demo job: load the example plugins, push one submission through their hooks, report.

Until the lab lands this is the README's main command (``./run demo``).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from .engine import Engine
from .results import HookResult

CONTACT_FORM: dict[str, Any] = {
    "id": "contact",
    "name": "Contact us",
    "version": 1,
    "fields": [
        {"id": "f1", "name": "name", "label": "Name", "type": "text", "required": True},
        {"id": "f2", "name": "email", "label": "E-mail", "type": "email", "required": True},
        {"id": "f3", "name": "phone", "label": "Phone", "type": "phone", "required": False,
         "countryCode": "US"},
        {"id": "f4", "name": "message", "label": "Message", "type": "text", "required": True},
        {"id": "f5", "name": "website", "label": "Leave empty", "type": "text", "required": False},
    ],
    "metadata": {"transformPipeline": [{"type": "normalize_phone", "field": "phone"},
                                       {"type": "enrich_company", "field": "email"}]},
}


def _submission(sid: str, **data: Any) -> dict[str, Any]:
    return {"id": sid, "formId": "contact", "data": data, "metadata": {}, "status": "new"}


SUBMISSIONS = [
    _submission("s-1", name="  Ada Lovelace ", email="Ada@Example.COM", phone="(415) 555-0100",
                message="Hello <script>alert(1)</script>there", website=""),
    _submission("s-2", name="Bot", email="bot@mailinator.com", phone="1", message="buy now",
                website="http://spam.example"),
]


def default_extensions() -> Path:
    """``extensions/`` of the source tree this package runs from."""
    return Path(__file__).resolve().parents[1] / "extensions"


def run(extensions: Path | None = None, out: Any = print) -> Engine:
    """Load every plugin under ``extensions`` and fire the submission hooks; print a report."""
    folder = extensions or default_extensions()
    engine = Engine()
    out(f"pliers_lab demo: loading plugins from {folder}\n")
    engine.load_all(folder)
    for plugin in engine.plugins:
        hooks = ", ".join(f"{h}({c.priority})" for h, c in plugin.manifest.hooks.items())
        out(f"  {plugin.key:<32} {plugin.state.value:<8} {hooks}")
    for error in engine.errors:
        out(f"  ! {error}")
    form = CONTACT_FORM
    report: list[HookResult] = [engine.fire("form.validate", {"form": form})]
    for submission in SUBMISSIONS:
        data: dict[str, Any] = {"form": form, "submission": copy.deepcopy(submission)}
        session = f"session-{submission['id']}"
        report.append(engine.fire("submission.beforeValidate", data, session_id=session))
        for hook in ("submission.sanitize", "submission.transform", "submission.enrich"):
            result = engine.fire(hook, data, session_id=session)
            data = result.value
            report.append(result)
        verdict = engine.fire("submission.beforeSave", data, session_id=session)
        report.append(verdict)
        if verdict.value:
            report.append(engine.fire("submission.afterSave", data, user_id="demo", session_id=session))
    report.append(engine.fire("export.format", {"format": "csv", "form": form,
                                                "submissions": SUBMISSIONS[:1]}))
    for result in report:
        out("\n" + result.summary())
    out("\nPer-plugin metrics")
    for plugin in engine.plugins:
        m = engine.metrics(plugin.id).execution
        out(f"  {plugin.id:<24} calls {m.count:>3}  errors {m.errorCount:>2}  "
            f"avg {m.avgDuration:7.3f} ms  max {m.maxDuration:7.3f} ms")
    out(f"\n{len(engine.executions)} executions, {len(engine.errors)} errors recorded")
    return engine
