"""integration.sync: submissions handed to the plugins that sync a target."""

from __future__ import annotations

from typing import Any

import pytest
from host.helpers import PluginFactory

from pliers_lab.host import Host, MalformedPayload, UnknownFormError


def test_sync_collects_every_plugins_receipt(
    host: Host, simple: dict[str, Any], add_plugin: PluginFactory
) -> None:
    host.submit("simple", {"name": "Ada", "email": "ada@example.org"})
    add_plugin(
        "crm",
        {
            "integration.sync": lambda ctx: {
                "target": ctx.data["target"],
                "pushed": len(ctx.data["submissions"]),
            }
        },
    )
    receipts = host.sync("crm", form_id="simple").value
    assert receipts == [{"target": "crm", "pushed": 1}]
    assert host.sync("crm", since=10**12).value == [{"target": "crm", "pushed": 0}]
    assert host.events(type="integration.synced")[0]["payload"]["receipts"] == 1
    with pytest.raises(MalformedPayload):
        host.sync("")
    with pytest.raises(UnknownFormError):
        host.sync("crm", form_id="ghost")
