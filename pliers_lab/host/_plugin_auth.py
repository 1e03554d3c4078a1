"""Authentication and authorisation through plugins.

``auth.authenticate`` (first): data ``{"credentials": {...}}``; the first plugin that
knows the user answers ``{"id": str, "roles": [str], ...}``. ``auth.authorize`` (veto):
data ``{"user": {"id", "roles"}, "action": str, "resource": {...}}``; any plugin may deny.
Credentials never reach the event log: ``user.authenticated`` carries the user id only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._exceptions import AuthenticationFailed, MalformedPayload

if TYPE_CHECKING:
    from ._host import Host, HostResult

__all__ = ["authenticate", "authorize"]


def authenticate(host: Host, credentials: Mapping[str, Any]) -> HostResult:
    from ._host import HostResult

    if not isinstance(credentials, Mapping):
        raise MalformedPayload(
            "authenticate", "credentials", f"must be a dict, got {type(credentials).__name__}"
        )
    with host.operation("authenticate") as run:
        user = run.first("auth.authenticate", {"credentials": dict(credentials)})
        if user is None:
            asked = [i.plugin_id for i in host.engine.handlers("auth.authenticate")]
            raise AuthenticationFailed(
                "no auth.authenticate plugin recognised the credentials "
                f"(asked: {', '.join(asked) or 'no plugin'})"
            )
        if not isinstance(user, Mapping) or not isinstance(user.get("id"), str):
            raise AuthenticationFailed(
                f"auth.authenticate answered {user!r:.100}, not a user {{id, roles}}"
            )
        user = {"roles": [], **user}
        host.emit(
            run,
            "user.authenticated",
            {"userId": user["id"], "roles": list(user["roles"])},
            "user",
            user["id"],
        )
    return HostResult(user, run.trace)


def authorize(
    host: Host, user: Mapping[str, Any], action: str, resource: Mapping[str, Any] | None = None
) -> HostResult:
    from ._host import HostResult

    if not isinstance(user, Mapping) or not isinstance(action, str):
        raise MalformedPayload(
            "authorize", "user/action", "user is a dict {id, roles} and action a string"
        )
    who = str(user.get("id") or "anonymous")
    with host.operation("authorize", action, user_id=who) as run:
        run.veto(
            "auth.authorize",
            {"user": {"roles": [], **user}, "action": action, "resource": dict(resource or {})},
        )
        host.emit(run, "user.authorized", {"userId": who, "action": action}, "user", who)
    return HostResult(True, run.trace)
