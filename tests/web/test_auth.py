"""Tokens, roles and permissions: the built-in issuer alone, then through a server."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from web.helpers import ok

from pliers_lab.web import TokenIssuer
from pliers_lab.web.auth import InvalidToken, bearer_token


def test_issued_tokens_verify_to_their_identity() -> None:
    issuer = TokenIssuer("a-secret-of-enough-bytes")
    token = issuer.issue("ann", roles=["editor"], permissions=["forms:write"], team="blue")
    identity = issuer.verify(token)
    assert (identity.id, identity.roles, identity.permissions) == (
        "ann",
        ("editor",),
        ("forms:write",),
    )
    assert identity.claims["team"] == "blue" and identity.source == "issuer"
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "HS256", "typ": "JWT"}


@pytest.mark.parametrize(
    "mangle, words",
    [
        (lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), "signature"),
        (lambda t: t.replace(".", "", 1), "malformed"),
        (lambda t: "x.y.z", "malformed"),
    ],
)
def test_tampered_tokens_are_refused(mangle: Callable[[str], str], words: str) -> None:
    issuer = TokenIssuer("a-secret-of-enough-bytes")
    with pytest.raises(InvalidToken, match=words):
        issuer.verify(mangle(issuer.issue("ann")))


def test_expired_foreign_and_unsigned_tokens_are_refused() -> None:
    issuer = TokenIssuer("a-secret-of-enough-bytes", ttl_s=60)
    token = issuer.issue("ann")
    with pytest.raises(InvalidToken, match="expired"):
        issuer.verify(token, now=10**12)
    with pytest.raises(InvalidToken, match="signature"):
        TokenIssuer("another-secret-of-enough-bytes").verify(token)
    with pytest.raises(InvalidToken, match="issuer"):
        TokenIssuer("a-secret-of-enough-bytes", issuer="elsewhere").verify(token)
    none_header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    with pytest.raises(InvalidToken, match="HS256"):
        issuer.verify(f"{none_header}.{token.split('.')[1]}.")
    with pytest.raises(ValueError, match="16 bytes"):
        TokenIssuer("short")


def test_bearer_header_parsing() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    assert bearer_token("Basic abc") is None
    assert bearer_token("Bearer ") is None
    assert bearer_token(None) is None


GUARDED = [
    {"path": "/plugins/guard/open", "method": "GET", "handler": "h"},
    {"path": "/plugins/guard/any", "method": "GET", "handler": "h", "auth": {"required": True}},
    {
        "path": "/plugins/guard/editors",
        "method": "GET",
        "handler": "h",
        "auth": {"required": True, "roles": ["editor", "admin"]},
    },
    {
        "path": "/plugins/guard/writers",
        "method": "GET",
        "handler": "h",
        "auth": {"required": True, "permissions": ["forms:read", "forms:write"]},
    },
]


def whoami(request: Any) -> dict[str, Any]:
    return ok({"user": request.user.to_dict() if request.user else None})


def test_required_roles_and_permissions(
    add: Callable[..., Any], client: Callable[..., Any]
) -> None:
    add("guard", GUARDED, {"h": whoami})
    c = client()
    tokens = c.server.app.state.pliers.tokens
    as_ann = {
        "authorization": "Bearer "
        + tokens.issue("ann", roles=["editor"], permissions=["forms:read"])
    }
    as_bob = {
        "authorization": "Bearer " + tokens.issue("bob", permissions=["forms:read", "forms:write"])
    }
    assert c.get("/plugins/guard/open").json() == {"user": None}
    assert c.get("/plugins/guard/open", headers=as_ann).json()["user"]["id"] == "ann"
    r = c.get("/plugins/guard/any")
    assert r.status_code == 401 and r.json()["error"]["code"] == "AUTHENTICATION_REQUIRED"
    assert c.get("/plugins/guard/any", headers=as_bob).status_code == 200
    assert c.get("/plugins/guard/editors", headers=as_ann).status_code == 200
    r = c.get("/plugins/guard/editors", headers=as_bob)
    assert r.status_code == 403 and "editor, admin" in r.json()["error"]["message"]
    r = c.get("/plugins/guard/writers", headers=as_ann)
    assert r.status_code == 403 and r.json()["error"]["details"]["missing"] == ["forms:write"]
    assert c.get("/plugins/guard/writers", headers=as_bob).status_code == 200


def test_a_bad_token_is_401_even_on_an_open_endpoint(
    add: Callable[..., Any], client: Callable[..., Any]
) -> None:
    add("guard", GUARDED, {"h": whoami})
    c = client()
    r = c.get("/plugins/guard/open", headers={"authorization": "Bearer forged.token.here"})
    assert r.status_code == 401 and "rejected" in r.json()["error"]["message"]
    assert c.get("/plugins/guard/open", headers={"authorization": "Basic abc"}).status_code == 200


def test_without_the_issuer_only_plugins_vouch(engine: Any, add: Callable[..., Any]) -> None:
    import httpx

    from pliers_lab.web import serve

    add("guard", GUARDED, {"h": whoami})
    with serve(engine, tokens=False) as server, httpx.Client(base_url=server.url) as c:
        assert server.token is None
        r = c.get("/plugins/guard/any", headers={"authorization": "Bearer whatever"})
        assert (
            r.status_code == 401 and "no auth.authenticate plugin" in r.json()["error"]["message"]
        )
