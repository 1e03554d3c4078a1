"""Who is calling: bearer tokens, the ``auth.*`` hooks, roles and permissions.

Identity. A request's ``Authorization: Bearer <token>`` is given to the engine's
``auth.authenticate`` hook (mode *first*) as ``{"credentials": {"type": "bearer",
"token": ...}}``; the first plugin that knows the token answers ``{"id", "roles",
"permissions", ...}``. When no plugin answers (or none implements the hook), the
built-in ``TokenIssuer`` checks the token: an HS256 JSON Web Token signed with the
server's secret, made by ``TokenIssuer.issue`` — meant for tests, notebooks and
development (``create_app(tokens=None)`` turns it off; the default issuer has a random
secret, so only code in the server's process can mint tokens for it). An invalid token
is a 401 even on an endpoint that does not require authentication.

Access. ``auth.required`` needs an identity (401 otherwise); ``auth.roles`` needs *any*
one of the listed roles and ``auth.permissions`` *every* listed permission (403). Then
the ``auth.authorize`` hook (mode *veto*) sees ``{"user", "action": "GET /path",
"resource": {"pluginId", "endpoint", "params"}}``; any plugin may refuse, with a reason
(403 naming that plugin).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import ApiError

if TYPE_CHECKING:
    from ..engine import Engine
    from ..manifest.models import EndpointAuth
    from ..results import HookResult

__all__ = ["Authenticator", "Identity", "InvalidToken", "TokenIssuer", "bearer_token"]

#: Fires a hook off the event loop: ``await fire(hook, data, user_id, request_id)``.
Fire = Callable[[str, Any, "str | None", "str | None"], Awaitable["HookResult"]]


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated caller.

    Attributes:
        id: the user id (``metadata.userId`` of the request record).
        roles: for ``auth.roles`` (any one suffices).
        permissions: for ``auth.permissions`` (all are needed).
        source: ``"issuer"`` or ``"plugin:<id>"``: who vouched for the token.
        claims: everything else the token or plugin said.
    """

    id: str
    roles: tuple[str, ...] = ()
    permissions: tuple[str, ...] = ()
    source: str = "issuer"
    claims: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "roles": list(self.roles),
            "permissions": list(self.permissions),
            "source": self.source,
        }


class InvalidToken(ValueError):
    """A token that is malformed, badly signed or expired (the message says which)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidToken(f"malformed token: {exc}") from None


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence):
        return tuple(str(v) for v in value)
    return ()


class TokenIssuer:
    """HS256 JSON Web Tokens for development and tests.

    Args:
        secret: the signing key; random (32 bytes) when omitted.
        ttl_s: lifetime of issued tokens.
        issuer: the ``iss`` claim issued and required.
    """

    _HEADER = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())

    def __init__(
        self,
        secret: str | bytes | None = None,
        *,
        ttl_s: float = 3600.0,
        issuer: str = "pliers-lab",
    ) -> None:
        if isinstance(secret, str):
            secret = secret.encode("utf-8")
        self._key = secret if secret is not None else os.urandom(32)
        if len(self._key) < 16:
            raise ValueError("a token secret needs at least 16 bytes")
        self.ttl_s = ttl_s
        self.issuer = issuer

    def _sign(self, signing_input: str) -> str:
        return _b64(hmac.new(self._key, signing_input.encode("ascii"), hashlib.sha256).digest())

    def issue(
        self,
        subject: str,
        *,
        roles: Sequence[str] = (),
        permissions: Sequence[str] = (),
        ttl_s: float | None = None,
        **claims: Any,
    ) -> str:
        """A signed token for ``subject`` with its roles and permissions."""
        now = int(time.time())
        payload = {
            **claims,
            "sub": subject,
            "iss": self.issuer,
            "iat": now,
            "exp": now + int(ttl_s if ttl_s is not None else self.ttl_s),
            "roles": list(roles),
            "permissions": list(permissions),
        }
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        signing_input = f"{self._HEADER}.{body}"
        return f"{signing_input}.{self._sign(signing_input)}"

    def verify(self, token: str, now: float | None = None) -> Identity:
        """The identity in ``token``; ``InvalidToken`` says what is wrong with it."""
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidToken("malformed token: expected header.payload.signature")
        header_text, body_text, signature = parts
        try:
            header = json.loads(_unb64(header_text))
            payload = json.loads(_unb64(body_text))
        except ValueError as exc:
            raise InvalidToken(f"malformed token: {exc}") from None
        if not isinstance(header, dict) or header.get("alg") != "HS256":
            raise InvalidToken("unsupported token: only HS256 is accepted")
        if not hmac.compare_digest(self._sign(f"{header_text}.{body_text}"), signature):
            raise InvalidToken("bad token signature")
        if not isinstance(payload, dict) or not isinstance(payload.get("sub"), str):
            raise InvalidToken("token has no subject")
        if payload.get("iss") != self.issuer:
            raise InvalidToken(f"token issuer {payload.get('iss')!r} is not {self.issuer!r}")
        exp = payload.get("exp")
        if not isinstance(exp, int | float) or exp <= (now if now is not None else time.time()):
            raise InvalidToken("token expired")
        return Identity(
            payload["sub"],
            _strings(payload.get("roles")),
            _strings(payload.get("permissions")),
            "issuer",
            payload,
        )


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (None for other schemes)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _unauthorized(message: str) -> ApiError:
    return ApiError(
        "AUTHENTICATION_REQUIRED", message, headers=[("www-authenticate", 'Bearer realm="pliers"')]
    )


class Authenticator:
    """Identity from plugins or the built-in issuer, then roles, permissions, veto."""

    def __init__(self, engine: Engine, issuer: TokenIssuer | None, fire: Fire) -> None:
        self.engine = engine
        self.issuer = issuer
        self._fire = fire

    async def identify(self, token: str, request_id: str | None) -> Identity:
        """The caller of ``token``, or a 401 ``ApiError`` saying who was asked."""
        asked = [impl.plugin_id for impl in self.engine.handlers("auth.authenticate")]
        if asked:
            data = {"credentials": {"type": "bearer", "token": token}}
            answer = (await self._fire("auth.authenticate", data, None, request_id)).value
            if answer is not None:
                if not isinstance(answer, Mapping) or not isinstance(answer.get("id"), str):
                    raise _unauthorized(
                        f"auth.authenticate answered {answer!r:.80}, not a user {{id, roles}}"
                    )
                return Identity(
                    answer["id"],
                    _strings(answer.get("roles")),
                    _strings(answer.get("permissions")),
                    "plugin",
                    dict(answer),
                )
        if self.issuer is None:
            who = f"plugins asked: {', '.join(asked)}" if asked else "no auth.authenticate plugin"
            raise _unauthorized(f"bearer token not recognised ({who})")
        try:
            return self.issuer.verify(token)
        except InvalidToken as exc:
            prefix = (
                f"no auth.authenticate plugin ({', '.join(asked)}) knew it, and " if asked else ""
            )
            raise _unauthorized(f"bearer token rejected: {prefix}{exc}") from None

    @staticmethod
    def check(identity: Identity | None, auth: EndpointAuth, what: str) -> None:
        """``auth.required``, ``roles`` (any) and ``permissions`` (all) for ``what``."""
        if identity is None:
            if auth.required or auth.roles or auth.permissions:
                raise _unauthorized(
                    f"{what} requires authentication: send Authorization: Bearer <token>"
                )
            return
        if auth.roles and not set(auth.roles) & set(identity.roles):
            raise ApiError(
                "PERMISSION_DENIED",
                f"{what} needs one of the roles {', '.join(auth.roles)}; user {identity.id!r} "
                f"has {', '.join(identity.roles) or 'none'}",
                {"required": {"roles": list(auth.roles)}, "user": identity.to_dict()},
            )
        missing = [p for p in auth.permissions if p not in identity.permissions]
        if missing:
            raise ApiError(
                "PERMISSION_DENIED",
                f"{what} needs the permissions {', '.join(missing)}, which user "
                f"{identity.id!r} does not have",
                {"missing": missing, "user": identity.to_dict()},
            )

    async def authorize(
        self, identity: Identity | None, action: str, resource: Mapping[str, Any], request_id: str
    ) -> None:
        """Consult ``auth.authorize`` (veto); a refusal is a 403 naming the plugin."""
        if not self.engine.handlers("auth.authorize"):
            return
        user = identity.to_dict() if identity else {"id": None, "roles": [], "permissions": []}
        data = {"user": user, "action": action, "resource": dict(resource)}
        verdict = (
            await self._fire("auth.authorize", data, identity.id if identity else None, request_id)
        ).value
        if not verdict:
            plugin = getattr(verdict, "plugin", None)
            reason = getattr(verdict, "reason", None) or "no reason given"
            raise ApiError(
                "PERMISSION_DENIED",
                f"{action} refused by plugin {plugin!r}: {reason}",
                {"plugin": plugin, "reason": reason},
            )
