"""Authentication and authorisation through plugins."""

from __future__ import annotations

from typing import Any

import pytest
from host.helpers import PluginFactory

from pliers_lab import Veto
from pliers_lab.host import AuthenticationFailed, Host, MalformedPayload, OperationVetoed

USERS = {"ada": ("s3cret", ["manager"])}


def login(ctx: Any) -> dict[str, Any] | None:
    creds = ctx.data["credentials"]
    known = USERS.get(creds.get("username"))
    if known and known[0] == creds.get("password"):
        return {"id": creds["username"], "roles": known[1]}
    return None


def test_the_first_plugin_that_knows_the_user_answers(
    host: Host, add_plugin: PluginFactory
) -> None:
    add_plugin("directory", {"auth.authenticate": login})
    user = host.authenticate({"username": "ada", "password": "s3cret"}).value
    assert user == {"id": "ada", "roles": ["manager"]}
    [event] = host.events(type="user.authenticated")
    assert event["payload"] == {"userId": "ada", "roles": ["manager"]}
    assert "s3cret" not in str(event)
    with pytest.raises(
        AuthenticationFailed,
        match=r"no auth.authenticate plugin recognised the credentials \(asked: directory\)",
    ):
        host.authenticate({"username": "ada", "password": "wrong"})
    with pytest.raises(MalformedPayload):
        host.authenticate("ada:s3cret")  # type: ignore[arg-type]


def test_any_plugin_may_deny(host: Host, add_plugin: PluginFactory) -> None:
    assert host.authorize({"id": "ada", "roles": []}, "form.delete", {"formId": "x"}).value is True
    add_plugin(
        "policy",
        {
            "auth.authorize": lambda ctx: (
                Veto("managers only") if "manager" not in ctx.data["user"]["roles"] else None
            )
        },
    )
    assert host.authorize({"id": "ada", "roles": ["manager"]}, "form.delete").value is True
    with pytest.raises(
        OperationVetoed,
        match=r"authorize refused by plugin 'policy' at auth.authorize: managers only",
    ):
        host.authorize({"id": "bob"}, "form.delete")
