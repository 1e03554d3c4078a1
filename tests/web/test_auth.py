"""Tokens, roles and permissions: the built-in issuer alone, then through a server."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from web.helpers import ok

from pliers_lab.web import TokenIssuer
from pliers_lab.web._auth import InvalidToken, bearer_token

SECRET = "a-secret-of-enough-bytes-for-hs256!"
OTHER = "another-secret-of-enough-bytes-for-hs256"


def test_issued_tokens_verify_to_their_identity() -> None:
    issuer = TokenIssuer(SECRET)
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
        (lambda t: t + "." + t, "malformed"),
        (lambda t: "e30." + t.split(".", 1)[1], "HS256"),
        (lambda t: "!!!." + t.split(".", 1)[1], "malformed"),
    ],
)
def test_tampered_tokens_are_refused(mangle: Callable[[str], str], words: str) -> None:
    issuer = TokenIssuer(SECRET)
    with pytest.raises(InvalidToken, match=words):
        issuer.verify(mangle(issuer.issue("ann")))


def test_expired_foreign_and_unsigned_tokens_are_refused() -> None:
    issuer = TokenIssuer(SECRET, ttl_s=60, leeway_s=0)
    token = issuer.issue("ann")
    with pytest.raises(InvalidToken, match="expired") as info:
        issuer.verify(issuer.issue("ann", ttl_s=-1))
    assert info.value.reason == "expired"
    with pytest.raises(InvalidToken, match="signature"):
        TokenIssuer(OTHER).verify(token)
    with pytest.raises(InvalidToken, match="issuer") as info:
        TokenIssuer(SECRET, issuer="elsewhere").verify(token)
    assert info.value.reason == "wrong_issuer"
    none_header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    with pytest.raises(InvalidToken, match="HS256") as info:
        issuer.verify(f"{none_header}.{token.split('.')[1]}.")
    assert info.value.reason == "unsupported_algorithm"
    with pytest.raises(ValueError, match="32 bytes"):
        TokenIssuer("short-but-once-enough")


def test_nbf_aud_iss_and_leeway_are_checked_by_pyjwt() -> None:
    import jwt

    issuer = TokenIssuer(SECRET, leeway_s=30)
    # not before: refused past the leeway, accepted within it
    with pytest.raises(InvalidToken) as info:
        issuer.verify(issuer.issue("ann", not_before_s=120))
    assert info.value.reason == "not_yet_valid"
    assert issuer.verify(issuer.issue("ann", not_before_s=10)).id == "ann"
    # expired, but within the leeway
    assert issuer.verify(issuer.issue("ann", ttl_s=-10)).id == "ann"
    # audience: another one, or none at all, is refused
    with pytest.raises(InvalidToken) as info:
        TokenIssuer(SECRET, audience="billing").verify(issuer.issue("ann"))
    assert info.value.reason == "wrong_audience"
    now = int(time.time())
    bare = {"sub": "ann", "iss": "pliers-lab", "exp": now + 60}
    with pytest.raises(InvalidToken) as info:
        issuer.verify(jwt.encode(bare, SECRET, algorithm="HS256"))
    assert info.value.reason == "missing_claim"
    # without an audience setting, no aud is issued or required
    plain = TokenIssuer(SECRET, audience=None)
    assert "aud" not in jwt.decode(plain.issue("ann"), options={"verify_signature": False})
    assert plain.verify(jwt.encode(bare, SECRET, algorithm="HS256")).id == "ann"
    # a non-string subject
    with pytest.raises(InvalidToken):
        plain.verify(jwt.encode({**bare, "sub": 7}, SECRET, algorithm="HS256"))


def test_the_servers_issuer_follows_the_token_settings(client: Callable[..., Any]) -> None:
    c = client(token_issuer="ours", token_audience="admins", token_leeway_s=5, token_ttl_s=99)
    tokens = c.server.app.state.pliers.tokens
    assert (tokens.issuer, tokens.audience, tokens.leeway_s, tokens.ttl_s) == (
        "ours",
        "admins",
        5,
        99,
    )
    claims = tokens.verify(c.server.token).claims
    assert claims["iss"] == "ours" and claims["aud"] == "admins"
    assert claims["exp"] - claims["iat"] == 7 * 86400 and claims["nbf"] == claims["iat"]


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
