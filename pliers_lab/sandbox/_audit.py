"""Audit mode's product: the ``permissions`` block a plugin actually needed.

In ``audit`` mode the host logs a capability request it would have refused instead of
refusing it (the kernel layers stay on). ``suggest_permissions`` reads the access log and
returns a manifest ``permissions`` block granting exactly what was used — the verb-to-
resources form of the spec's ``PluginPermissions``.
"""

from __future__ import annotations

from typing import Any

from ._access import ALLOWED, AUDIT, AccessLog

__all__ = ["suggest_permissions"]

_ORDER = ("database", "network", "filesystem", "events", "api")


def suggest_permissions(log: AccessLog, plugin_id: str) -> dict[str, Any]:
    """``{category: {verb: [resources]}}`` covering every request the plugin made that
    was allowed or let through by audit mode (denied requests in enforce mode count too:
    they are what the plugin tried to use)."""
    wanted: dict[str, dict[str, set[str]]] = {}
    for row in log.rows(plugin_id):
        if row.verdict not in (ALLOWED, AUDIT, "denied"):
            continue
        wanted.setdefault(row.category, {}).setdefault(row.verb, set()).add(row.resource)
    return {
        category: {verb: sorted(resources) for verb, resources in sorted(wanted[category].items())}
        for category in _ORDER
        if category in wanted
    }
