"""Who is calling: bearer tokens, the ``auth.*`` hooks, roles and permissions.

Identity. A request's ``Authorization: Bearer <token>`` is given to the engine's
``auth.authenticate`` hook (mode *first*) as ``{"credentials": {"type": "bearer",
"token": ...}}``; the first plugin that knows the token answers ``{"id", "roles",
"permissions", ...}``. When no plugin answers (or none implements the hook), the
built-in ``TokenIssuer`` checks the token: an HS256 JSON Web Token (PyJWT) signed with
the server's secret, made by ``TokenIssuer.issue`` — meant for tests, notebooks and
development (``create_app(tokens=None)`` turns it off; the default issuer has a random
secret, so only code in the server's process can mint tokens for it). Its ``iss``,
``aud``, ``exp``, ``nbf`` and ``iat`` are checked with a clock leeway
(``WebSettings.token_*``). An invalid token is a 401 even on an endpoint that does not
require authentication; its body's ``details.reason`` says what was wrong (``missing``,
``too_long``, ``malformed``, ``bad_signature``, ``expired``, ``not_yet_valid``,
``wrong_issuer``, ``wrong_audience``, ``missing_claim``, ``invalid_claim``,
``unsupported_algorithm``, ``unknown``, ``rejected``). A token longer than
``WebSettings.max_token_bytes`` is refused before any plugin sees it, and its segments
are parsed with the JSON depth limit of ``bodies.parse_json``: malformed credentials are
never a 500.

Access. ``auth.required`` needs an identity (401 otherwise); ``auth.roles`` needs *any*
one of the listed roles and ``auth.permissions`` *every* listed permission (403). Then
the ``auth.authorize`` hook (mode *veto*) sees ``{"user", "action": "GET /path",
"resource": {"pluginId", "endpoint", "params"}}``; any plugin may refuse, with a reason
(403 naming that plugin).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._bodies import parse_json
from ._error_envelope import ApiError

if TYPE_CHECKING:
    from ..engine import Engine
    from ..engine.hook_results import HookResult
    from ..manifest.models import EndpointAuth

__all__ = [
    "Authenticator",
    "Identity",
    "InvalidToken",
    "TokenIssuer",
    "bearer_token",
    "unauthorized",
]

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
    """A token that is malformed, badly signed, expired or not meant for us.

    ``reason`` says which, in one word for the 401's ``details.reason``: ``malformed``,
    ``too_long``, ``unsupported_algorithm``, ``bad_signature``, ``expired``,
    ``not_yet_valid``, ``wrong_issuer``, ``wrong_audience``, ``missing_claim``,
    ``invalid_claim``.
    """

    def __init__(self, message: str, reason: str = "malformed") -> None:
        super().__init__(message)
        self.reason = reason


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(v for v in value if isinstance(v, str))
    return ()


_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")
#: A token's header and claims are small, flat objects.
_TOKEN_DEPTH = 8


def _segment(text: str, what: str) -> Any:
    """One base64url segment of a token, as JSON (checked before PyJWT sees it)."""
    if not _SEGMENT.fullmatch(text):
        raise InvalidToken(f"malformed token: the {what} is not base64url")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken(f"malformed token: the {what} is not base64url") from None
    try:
        value = parse_json(raw, max_depth=_TOKEN_DEPTH, where=f"token {what}")
    except ApiError as exc:
        raise InvalidToken(f"malformed token: {exc.message}") from None
    if not isinstance(value, dict):
        raise InvalidToken(f"malformed token: the {what} is not a JSON object")
    return value


class TokenIssuer:
    """HS256 JSON Web Tokens (PyJWT) for development and tests.

    Args:
        secret: the signing key, at least 32 bytes (RFC 7518 §3.2); random when omitted.
        ttl_s: lifetime of issued tokens.
        issuer: the ``iss`` claim issued and required.
        audience: the ``aud`` claim issued and required (``None``: none).
        leeway_s: clock skew allowed on ``exp``, ``nbf`` and ``iat``.

    Issued tokens carry ``sub``, ``iss``, ``aud``, ``iat``, ``nbf``, ``exp``, ``roles``
    and ``permissions``; ``verify`` requires ``sub``, ``iss``, ``exp`` (and ``aud``) and
    checks ``nbf`` and ``iat`` when present.
    """

    ALGORITHM = "HS256"

    def __init__(
        self,
        secret: str | bytes | None = None,
        *,
        ttl_s: float = 3600.0,
        issuer: str = "pliers-lab",
        audience: str | None = "pliers-lab",
        leeway_s: float = 30.0,
    ) -> None:
        if isinstance(secret, str):
            secret = secret.encode("utf-8")
        self._key = secret if secret is not None else os.urandom(32)
        if len(self._key) < 32:
            raise ValueError("a token secret needs at least 32 bytes (RFC 7518 section 3.2)")
        self.ttl_s = ttl_s
        self.issuer = issuer
        self.audience = audience
        self.leeway_s = leeway_s

    def issue(
        self,
        subject: str,
        *,
        roles: Sequence[str] = (),
        permissions: Sequence[str] = (),
        ttl_s: float | None = None,
        not_before_s: float = 0.0,
        **claims: Any,
    ) -> str:
        """A signed token for ``subject`` with its roles and permissions, valid from
        ``not_before_s`` seconds from now for ``ttl_s`` seconds."""
        import jwt

        now = int(time.time())
        payload = {
            **claims,
            "sub": subject,
            "iss": self.issuer,
            "iat": now,
            "nbf": now + int(not_before_s),
            "exp": now + int(ttl_s if ttl_s is not None else self.ttl_s),
            "roles": list(roles),
            "permissions": list(permissions),
        }
        if self.audience is not None:
            payload["aud"] = self.audience
        return jwt.encode(payload, self._key, algorithm=self.ALGORITHM)

    def verify(self, token: str) -> Identity:
        """The identity in ``token``; ``InvalidToken`` says what is wrong with it."""
        import jwt

        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidToken("malformed token: expected header.payload.signature")
        header = _segment(parts[0], "header")
        _segment(parts[1], "payload")
        if header.get("alg") != self.ALGORITHM:
            raise InvalidToken(
                f"unsupported token: only {self.ALGORITHM} is accepted", "unsupported_algorithm"
            )
        required = ["sub", "iss", "exp", *(["aud"] if self.audience is not None else [])]
        try:
            payload = jwt.decode(
                token,
                self._key,
                algorithms=[self.ALGORITHM],
                issuer=self.issuer,
                audience=self.audience,
                leeway=self.leeway_s,
                options={"require": required, "verify_aud": self.audience is not None},
            )
        except jwt.InvalidTokenError as exc:
            raise _refusal(exc) from None
        except (ValueError, TypeError, RecursionError) as exc:  # not PyJWT's to raise
            raise InvalidToken(f"malformed token: {type(exc).__name__}") from None
        if not isinstance(payload.get("sub"), str):
            raise InvalidToken("token has no subject", "missing_claim")
        return Identity(
            payload["sub"],
            _strings(payload.get("roles")),
            _strings(payload.get("permissions")),
            "issuer",
            payload,
        )


def _refusal(exc: Exception) -> InvalidToken:
    """PyJWT's verdict in our words (the tests and the 401 body rely on ``reason``)."""
    import jwt

    found: list[tuple[type[Exception], str, str]] = [
        (jwt.ExpiredSignatureError, "expired", "token expired"),
        (jwt.ImmatureSignatureError, "not_yet_valid", "token not valid yet (nbf or iat)"),
        (jwt.InvalidAudienceError, "wrong_audience", "token audience is not accepted"),
        (jwt.InvalidIssuerError, "wrong_issuer", "token issuer is not accepted"),
        (jwt.MissingRequiredClaimError, "missing_claim", "token lacks a required claim"),
        (jwt.InvalidSignatureError, "bad_signature", "bad token signature"),
        (jwt.InvalidAlgorithmError, "unsupported_algorithm", "unsupported token algorithm"),
        (jwt.DecodeError, "malformed", "malformed token"),
    ]
    for kind, reason, text in found:
        if isinstance(exc, kind):
            return InvalidToken(f"{text}: {str(exc)[:120]}", reason)
    return InvalidToken(f"invalid token claim: {str(exc)[:120]}", "invalid_claim")


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (None for other schemes)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def unauthorized(message: str, reason: str = "missing", **details: Any) -> ApiError:
    """A 401 whose ``details.reason`` says what was wrong with the credentials."""
    error = "invalid_token" if reason != "missing" else None
    challenge = f'Bearer realm="pliers", error="{error}"' if error else 'Bearer realm="pliers"'
    return ApiError(
        "AUTHENTICATION_REQUIRED",
        message,
        {"reason": reason, **details},
        headers=[("www-authenticate", challenge)],
    )


class Authenticator:
    """Identity from plugins or the built-in issuer, then roles, permissions, veto."""

    def __init__(
        self, engine: Engine, issuer: TokenIssuer | None, fire: Fire, *, max_token_bytes: int = 8192
    ) -> None:
        self.engine = engine
        self.issuer = issuer
        self._fire = fire
        self.max_token_bytes = max_token_bytes

    async def identify(self, token: str, request_id: str | None) -> Identity:
        """The caller of ``token``, or a 401 ``ApiError`` saying who was asked."""
        if len(token) > self.max_token_bytes:
            raise unauthorized(
                f"bearer token rejected: longer than {self.max_token_bytes} characters",
                "too_long",
                limit=self.max_token_bytes,
            )
        asked = [impl.plugin_id for impl in self.engine.handlers("auth.authenticate")]
        if asked:
            data = {"credentials": {"type": "bearer", "token": token}}
            answer = (await self._fire("auth.authenticate", data, None, request_id)).value
            if answer is not None:
                if not isinstance(answer, Mapping) or not isinstance(answer.get("id"), str):
                    raise unauthorized(
                        f"auth.authenticate answered a {type(answer).__name__}, not a user "
                        "{id, roles}",
                        "rejected",
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
            raise unauthorized(f"bearer token not recognised ({who})", "unknown")
        try:
            return self.issuer.verify(token)
        except InvalidToken as exc:
            prefix = (
                f"no auth.authenticate plugin ({', '.join(asked)}) knew it, and " if asked else ""
            )
            raise unauthorized(f"bearer token rejected: {prefix}{exc}", exc.reason) from None

    @staticmethod
    def check(identity: Identity | None, auth: EndpointAuth, what: str) -> None:
        """``auth.required``, ``roles`` (any) and ``permissions`` (all) for ``what``."""
        if identity is None:
            if auth.required or auth.roles or auth.permissions:
                raise unauthorized(
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
