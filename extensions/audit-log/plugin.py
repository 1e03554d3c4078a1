"""audit-log: one audit entry for every change to a form or a submission.

Runs last (priority 10, CLEANUP) on the after-hooks, which are ``collect`` hooks: each
handler returns its entry, so the host receives every entry in ``result.value``. The
plugin also keeps the most recent ``maxEntries`` entries in memory (see ``trail``).

An entry::

    {"action": "submission.afterSave", "target": "submission:s-1", "actor": "u-7",
     "executionId": "...", "at": 1767225600.0, "data": {...}}   # data only if includeData
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from pliers_lab import HookContext, Plugin, hook

Entry = dict[str, Any]
REDACTED = "***"


_trails: dict[str, deque[Entry]] = {}  # plugin id -> recent entries
_lock = threading.Lock()


def trail(plugin_id: str = "audit-log") -> list[Entry]:
    """The entries kept in memory for the host's audit view, oldest first."""
    with _lock:
        return list(_trails.get(plugin_id, ()))


def on_activate(plugin: Plugin) -> None:
    with _lock:
        _trails[plugin.id] = deque(
            _trails.get(plugin.id, ()), maxlen=int(plugin.config["maxEntries"])
        )


def on_config_change(plugin: Plugin, config: dict[str, Any]) -> None:
    with _lock:  # keep the newest entries that still fit
        _trails[plugin.id] = deque(_trails.get(plugin.id, ()), maxlen=int(config["maxEntries"]))


def on_unload(plugin: Plugin) -> None:
    with _lock:
        _trails.pop(plugin.id, None)


def _redact(value: Any, names: set[str]) -> Any:
    """A copy of ``value`` with the answers (at any depth) named in ``names`` masked."""
    if isinstance(value, dict):
        return {
            key: REDACTED if key.lower() in names else _redact(item, names)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_redact(item, names) for item in value]
    return value


def _target_and_data(data: dict[str, Any]) -> tuple[str, Any]:
    """What the hook is about, and the payload an entry may carry."""
    submission = data.get("submission")
    if submission is not None:
        return f"submission:{submission.get('id')}", submission.get("data", {})
    form = data["form"]
    summary = {
        "name": form.get("name"),
        "version": form.get("version"),
        "fields": [f.get("name") for f in form.get("fields", [])],
    }
    return f"form:{form.get('id')}", summary


def record(ctx: HookContext) -> Entry:
    """Build the audit entry of this hook execution and keep it in the trail."""
    target, payload = _target_and_data(ctx.data)
    transition = ctx.data.get("transition")
    config = ctx.config  # read once: a property
    # ``ctx.user_id`` and co. are ``ctx.metadata``'s fields without building it.
    entry: Entry = {
        "action": ctx.hook,
        "target": target,
        "actor": ctx.user_id or (transition or {}).get("by") or "anonymous",
        "executionId": ctx.execution_id,
        "at": ctx.timestamp,
    }
    if transition is not None:
        entry["transition"] = {"from": transition.get("from"), "to": transition.get("to")}
    if config["includeData"]:
        entry["data"] = _redact(payload, {name.lower() for name in config["redactFields"]})
    with _lock:
        kept = _trails.get(ctx.plugin_id)
        if kept is not None:
            kept.append(entry)
    return entry


@hook("form.afterCreate")
def form_created(ctx: HookContext) -> Entry:
    return record(ctx)


@hook("form.afterUpdate")
def form_updated(ctx: HookContext) -> Entry:
    return record(ctx)


@hook("form.afterDelete")
def form_deleted(ctx: HookContext) -> Entry:
    return record(ctx)


@hook("submission.afterSave")
def submission_saved(ctx: HookContext) -> Entry:
    return record(ctx)


@hook("submission.afterProcess")
def submission_processed(ctx: HookContext) -> Entry:
    return record(ctx)


@hook("workflow.afterTransition")
def status_changed(ctx: HookContext) -> Entry:
    return record(ctx)
