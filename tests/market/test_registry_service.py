"""The registry service over a real uvicorn server on loopback (issue 19 §1): the whole
``PluginMarketplace`` read surface, downloads and ratings recorded, publishing only by a
registered publisher's signed request with a bundle signed by that publisher, and hostile
input answered with a 4xx — never a 500."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from market.conftest import write_plugin

from pliers_lab.market import (
    MarketplaceQuery,
    PluginMarketplace,
    PluginStore,
    Registry,
    RemoteRegistry,
    SigningKey,
    build_bundle,
)
from pliers_lab.market._signed_requests import sign_request
from pliers_lab.market.service import registry_app, serve_registry
from pliers_lab.web import Server


@pytest.fixture
def server(registry: Registry) -> Iterator[Server]:
    with serve_registry(registry) as running:
        yield running


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def error_of(reply: httpx.Response) -> dict[str, Any]:
    body = reply.json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "details", "timestamp"} <= set(body["error"])
    return dict(body["error"])


def signed(
    method: str,
    path: str,
    body: bytes,
    *,
    user: str,
    key: SigningKey,
    query: str = "",
    now: float | None = None,
) -> dict[str, str]:
    return {"authorization": sign_request(method, path, query, body, user=user, key=key, now=now)}


# ------------------------------------------------------------------------ reads
def test_the_read_surface_is_the_marketplaces(
    registry: Registry, publish, server: Server, http: httpx.Client, tmp_path: Path
) -> None:
    publish("notes", "1.0.0", changes=["first"], keywords=["memo"], categories=["reporting"])
    publish(
        "notes", "1.1.0", changes=["crm"], permissions={"network": {"outbound": ["api.crm.test"]}}
    )
    publish("audit", "2.0.0", categories=["security"], license="Apache-2.0")
    registry.set_featured("audit")
    local = PluginMarketplace(registry, PluginStore(tmp_path / "empty"))

    def get(path: str, **params: Any) -> Any:
        reply = http.get(path, params=params)
        assert reply.status_code == 200, reply.text
        return reply.json()

    about = get("/v1")
    assert about["plugins"] == 2 and about["publishing"]["authentication"] == "Pliers-Ed25519"
    assert get("/v1/search", q="memo") == local.search("memo").to_dict()
    every_field = {
        "q": "notes",
        "category": "reporting",
        "tags": "test",
        "compatibility": "3.1.0",
        "license": "MIT,ISC",
        "verified": "false",
        "sort": "downloads",
        "order": "asc",
        "limit": "5",
        "offset": "0",
    }
    found = get("/v1/search", **every_field)
    assert found == local.search(MarketplaceQuery.from_params(every_field)).to_dict()
    assert [p["id"] for p in found["plugins"]] == ["notes"]
    assert get("/v1/categories") == {"categories": local.get_categories()}
    assert get("/v1/featured")["plugins"] == [x.to_dict() for x in local.get_featured()]
    assert get("/v1/popular", limit=1)["plugins"] == [x.to_dict() for x in local.get_popular(1)]
    assert get("/v1/plugins/notes") == local.get_plugin("notes")
    assert get("/v1/plugins/notes/versions") == {"versions": local.get_versions("notes")}
    record = get("/v1/plugins/notes/record")["plugin"]
    assert [v["version"] for v in record["versions"]] == ["1.1.0", "1.0.0"]
    assert record["versions"][0]["manifest"]["permissions"]["network"]
    page = get("/v1/records", limit=1, offset=1)
    assert (page["total"], [p["name"] for p in page["plugins"]]) == (2, ["notes"])
    updates = http.post("/v1/updates", json={"installed": {"notes": "1.0.0", "ghost": "1.0.0"}})
    assert updates.status_code == 200, updates.text
    assert updates.json() == {"updates": local.get_updates({"notes": "1.0.0"})}
    (update,) = updates.json()["updates"]
    assert update["latestVersion"] == "1.1.0" and update["permissionsAdded"]
    old_engine = http.post(
        "/v1/updates", json={"installed": {"notes": "1.0.0"}, "pliersVersion": "2.0.0"}
    )
    assert old_engine.json() == {"updates": []}  # 1.1.0 needs ^3.0.0
    assert get(f"/v1/keys/{registry.keys('ann').popitem()[0]}")["user"] == "ann"


def test_downloads_are_counted_and_ratings_recorded(
    registry: Registry, publish, server: Server, http: httpx.Client, key: SigningKey
) -> None:
    publish("notes", "1.0.0")
    for _ in range(2):
        reply = http.get("/v1/plugins/notes/versions/1.0.0/bundle")
        assert reply.status_code == 200 and reply.headers["content-type"] == "application/zip"
        assert reply.content == registry.version("notes", "1.0.0").bundle.read_bytes()
    assert http.get("/v1/plugins/notes/versions/1.0.0/bundle?count=false").status_code == 200
    assert registry.version("notes", "1.0.0").downloads == 2
    assert http.get("/v1/search", params={"q": "notes"}).json()["plugins"][0]["downloads"] == 2
    ann = RemoteRegistry(server.url, user="ann", key=key)
    assert ann.rate("notes", 4) == 4.0
    bob_key = SigningKey.generate()
    registry.register_key("bob", bob_key.public_key)
    assert RemoteRegistry(server.url, user="bob", key=bob_key).rate("notes", 1) == 2.5
    listing = http.get("/v1/search", params={"q": "notes"}).json()["plugins"][0]
    assert (listing["rating"], listing["ratingCount"]) == (2.5, 2)
    unsigned = http.post("/v1/plugins/notes/ratings", json={"stars": 5})
    assert unsigned.status_code == 401 and error_of(unsigned)["code"] == "AUTHENTICATION_REQUIRED"
    body = json.dumps({"stars": 9}).encode()
    path = "/v1/plugins/notes/ratings"
    wrong = http.post(
        path,
        content=body,
        headers={
            **signed("POST", path, body, user="ann", key=key),
            "content-type": "application/json",
        },
    )
    assert wrong.status_code == 400 and "stars" in error_of(wrong)["message"]


# ------------------------------------------------------------------- publishing
def _bundle(
    tmp_path: Path, key: SigningKey | None, name: str = "notes", version: str = "1.0.0"
) -> Path:
    folder = write_plugin(tmp_path / "src", name, version)
    return build_bundle(folder, tmp_path / "dist", signing_key=key)


def test_a_registered_publisher_publishes_over_http(
    registry: Registry, server: Server, key: SigningKey, tmp_path: Path
) -> None:
    ann = RemoteRegistry(server.url, user="ann", key=key)
    result = ann.publish(_bundle(tmp_path, key), changes=["first", "über"])
    assert (result.plugin_id, result.version, result.key_id) == ("notes", "1.0.0", key.key_id)
    assert result.scan.score == registry.version("notes", "1.0.0").score
    assert registry.version("notes", "1.0.0").changes == ("first", "über")
    assert registry.maintainers("notes") == {"ann": "owner"}
    from pliers_lab.market import AlreadyExistsError

    with pytest.raises(AlreadyExistsError, match=r"notes: the registry .* refused .* 409"):
        ann.publish(_bundle(tmp_path, key))


def test_publishing_refuses_whoever_the_registry_does_not_trust(
    registry: Registry, server: Server, http: httpx.Client, key: SigningKey, tmp_path: Path
) -> None:
    good = _bundle(tmp_path, key).read_bytes()
    zip_type = {"content-type": "application/zip"}

    def post(body: bytes, headers: dict[str, str], query: str = "") -> httpx.Response:
        return http.post(
            "/v1/plugins" + (f"?{query}" if query else ""),
            content=body,
            headers={**zip_type, **headers},
        )

    nobody = post(good, {})
    assert nobody.status_code == 401 and nobody.headers["www-authenticate"] == "Pliers-Ed25519"
    assert "signed by a registered publisher key" in error_of(nobody)["message"]
    stranger = SigningKey.generate()
    unknown = post(good, signed("POST", "/v1/plugins", good, user="eve", key=stranger))
    assert unknown.status_code == 401
    assert f"key {stranger.key_id} is not registered" in error_of(unknown)["message"]
    impostor = post(good, signed("POST", "/v1/plugins", good, user="bob", key=key))
    assert impostor.status_code == 403
    assert "registered to 'ann', not 'bob'" in error_of(impostor)["message"]
    swapped = post(good + b"x", signed("POST", "/v1/plugins", good, user="ann", key=key))
    assert swapped.status_code == 401 and "does not verify" in error_of(swapped)["message"]
    other_query = post(good, signed("POST", "/v1/plugins", good, user="ann", key=key), "changes=x")
    assert other_query.status_code == 401
    stale = post(
        good, signed("POST", "/v1/plugins", good, user="ann", key=key, now=time.time() - 3600)
    )
    assert stale.status_code == 401 and "registry's clock" in error_of(stale)["message"]
    garbage = post(good, {"authorization": "Pliers-Ed25519 user=ann"})
    assert garbage.status_code == 401 and "malformed" in error_of(garbage)["message"]
    assert post(good, {"authorization": "Bearer abc"}).status_code == 401
    assert post(good, {"authorization": "Pliers-Ed25519 " + "x" * 5000}).status_code == 401
    assert registry.plugins() == []

    unsigned = _bundle(tmp_path, None).read_bytes()
    refused = post(unsigned, signed("POST", "/v1/plugins", unsigned, user="ann", key=key))
    assert refused.status_code == 403 and "is not signed" in error_of(refused)["message"]
    foreign = _bundle(tmp_path, stranger).read_bytes()
    refused = post(foreign, signed("POST", "/v1/plugins", foreign, user="ann", key=key))
    assert refused.status_code == 403
    assert (
        f"signed by key {stranger.key_id}, which is not registered" in error_of(refused)["message"]
    )
    bob_key = SigningKey.generate()
    registry.register_key("bob", bob_key.public_key)
    bob_signed = _bundle(tmp_path, bob_key).read_bytes()
    refused = post(bob_signed, signed("POST", "/v1/plugins", bob_signed, user="ann", key=key))
    assert (
        refused.status_code == 403
        and "registered to 'bob', not 'ann'" in error_of(refused)["message"]
    )
    assert registry.plugins() == []

    headers = signed("POST", "/v1/plugins", good, user="ann", key=key)
    assert post(good, headers).status_code == 201
    replay = post(good, headers)
    assert replay.status_code == 401 and "replay" in error_of(replay)["message"]
    # bob is registered but not a maintainer of ann's plugin
    newer = _bundle(tmp_path, bob_key, version="1.1.0").read_bytes()
    refused = post(newer, signed("POST", "/v1/plugins", newer, user="bob", key=bob_key))
    assert refused.status_code == 403
    assert "'bob' may not publish notes" in error_of(refused)["message"]


# ----------------------------------------------------------------- hostile input
def test_hostile_requests_get_a_4xx_never_a_500(
    registry: Registry, publish, server: Server, http: httpx.Client, key: SigningKey
) -> None:
    publish("notes", "1.0.0")
    bad_gets = [
        "/v1/search?limit=abc",
        "/v1/search?limit=1000",
        "/v1/search?offset=-1",
        "/v1/search?sort=bogus",
        "/v1/search?order=sideways",
        "/v1/search?verified=maybe",
        "/v1/search?category=nope",
        "/v1/search?compatibility=three",
        "/v1/search?unknown=1",
        "/v1/search?q=" + "x" * 600,
        "/v1/featured?limit=0",
        "/v1/popular?limit=1e9",
        "/v1/records?limit=-5",
        "/v1/records?offset=99999999999999999999",
        "/v1/categories?x=1",
        "/v1/plugins/Notes",
        "/v1/plugins/..%2F..%2Fetc%2Fpasswd",
        "/v1/plugins/%2e%2e/record",
        "/v1/plugins/notes%00/record",
        "/v1/plugins/ghost/record",
        "/v1/plugins/notes/versions/..%2F..%2Fregistry.db/bundle",
        "/v1/plugins/notes/versions/../../registry.db/bundle",
        "/v1/plugins/notes/versions/1.0.0%2F..%2F..%2Fregistry.db/bundle",
        "/v1/plugins/notes/versions/9.9.9/bundle",
        "/v1/plugins/notes/versions/1.0.0/bundle?count=maybe",
        "/v1/plugins/" + "a" * 300,
        "/v1/keys/notakey",
        "/v1/keys/0123456789abcdef",
        "/v2/anything",
        "/",
    ]
    for path in bad_gets:
        reply = http.get(path)
        assert 400 <= reply.status_code < 500, (path, reply.status_code, reply.text)
        assert error_of(reply)["message"]
    for text in ["%00", "%ED%A0%80", "%FF%FE", "a%00b", "ab", "\\", "'\"*:^()"]:
        reply = http.get("/v1/search?q=" + text)
        assert reply.status_code == 200, (text, reply.text)
    assert http.get("/v1/search?offset=100000000000").json()["plugins"] == []
    assert http.delete("/v1/plugins/notes").status_code == 405
    assert error_of(http.put("/v1/search"))["code"] == "METHOD_NOT_ALLOWED"
    posts: list[tuple[str, bytes, dict[str, str], int]] = [
        ("/v1/updates", b"{not json", {"content-type": "application/json"}, 400),
        ("/v1/updates", b"\xff\xfe", {"content-type": "application/json"}, 400),
        ("/v1/updates", b"[" * 100_000 + b"]" * 100_000, {"content-type": "application/json"}, 413),
        ("/v1/updates", b"[" * 5_000 + b"]" * 5_000, {"content-type": "application/json"}, 400),
        ("/v1/updates", b'{"installed": []}', {"content-type": "application/json"}, 400),
        (
            "/v1/updates",
            b'{"installed": {"../x": "1.0.0"}}',
            {"content-type": "application/json"},
            400,
        ),
        (
            "/v1/updates",
            b'{"installed": {"notes": "latest"}}',
            {"content-type": "application/json"},
            400,
        ),
        (
            "/v1/updates",
            b'{"installed": {}, "pliersVersion": 3}',
            {"content-type": "application/json"},
            400,
        ),
        ("/v1/updates", b"{}", {"content-type": "text/plain"}, 415),
        ("/v1/updates", b"{}", {}, 415),
        ("/v1/plugins", b"PK\x03\x04", {"content-type": "text/plain"}, 415),
        ("/v1/plugins?nope=1", b"PK", {"content-type": "application/zip"}, 400),
        ("/v1/plugins/notes/ratings", b"{}", {"content-type": "application/json"}, 401),
    ]
    for path, body, headers, status in posts:
        reply = http.post(path, content=body, headers=headers)
        assert reply.status_code == status, (path, body[:40], reply.status_code, reply.text)
        assert error_of(reply)["message"]
    many = {"installed": {f"p{i}": "1.0.0" for i in range(1001)}}
    assert http.post("/v1/updates", json=many).status_code == 400

    # an upload larger than the service takes: refused from its Content-Length, or as it
    # streams in when it has none, before any signature is checked
    too_big = registry.limits.max_total_size + (2 << 20)
    declared = _raw(
        server,
        "POST /v1/plugins HTTP/1.1\r\nHost: x\r\nContent-Type: application/zip\r\n"
        f"Content-Length: {too_big}\r\n"
        f"Authorization: {sign_request('POST', '/v1/plugins', '', b'', user='ann', key=key)}\r\n"
        "\r\n0123456789",
    )
    assert declared.startswith("HTTP/1.1 413"), declared
    assert "PAYLOAD_TOO_LARGE" in declared

    def chunks() -> Iterator[bytes]:
        block = b"0" * (1 << 20)
        for _ in range(too_big >> 20):
            yield block

    streamed = http.post(
        "/v1/plugins",
        content=chunks(),
        headers={
            "content-type": "application/zip",
            **signed("POST", "/v1/plugins", b"", user="ann", key=key),
        },
    )
    assert streamed.status_code == 413, streamed.text
    assert "larger than this route takes" in error_of(streamed)["message"]
    junk = b"not a zip at all"
    reply = http.post(
        "/v1/plugins",
        content=junk,
        headers={
            "content-type": "application/zip",
            **signed("POST", "/v1/plugins", junk, user="ann", key=key),
        },
    )
    assert reply.status_code == 400 and "not a readable zip" in error_of(reply)["message"]
    assert [p.name for p in registry.plugins()] == ["notes"]


def _raw(server: Server, request: str) -> str:
    """Send ``request`` as it is (a client library would refuse to) and read the reply."""
    import socket
    from urllib.parse import urlsplit

    where = urlsplit(server.url)
    with socket.create_connection((where.hostname, where.port), timeout=10) as conn:
        conn.sendall(request.encode())
        reply = b""
        while b"\r\n\r\n" not in reply or len(reply) < 200:
            chunk = conn.recv(65536)
            if not chunk:
                break
            reply += chunk
    return reply.decode("utf-8", "replace")


def test_a_small_upload_limit_and_a_failing_route_are_envelopes(
    registry: Registry, key: SigningKey
) -> None:
    from starlette.routing import Route

    from pliers_lab.market.service import guarded

    async def broken(request: Any) -> Any:
        raise RuntimeError("secret detail")

    app = registry_app(registry, max_upload=100, extra_routes=[Route("/broken", guarded(broken))])
    with Server(app).start() as running, httpx.Client(base_url=running.url) as http:
        body = b"0" * 200
        headers = {"content-type": "application/zip"}
        assert http.post("/v1/plugins", content=body, headers=headers).status_code == 401
        headers.update(signed("POST", "/v1/plugins", body, user="ann", key=key))
        assert http.post("/v1/plugins", content=body, headers=headers).status_code == 413
        crash = http.get("/broken")
        assert crash.status_code == 500 and "secret" not in crash.text
        assert error_of(crash)["details"]["errorId"]


def test_the_service_mounts_in_a_larger_app(
    registry: Registry, publish, key: SigningKey, tmp_path: Path
) -> None:
    """A deployment mounts the app under a prefix; clients use that URL, signatures too."""
    from starlette.applications import Starlette
    from starlette.routing import Mount

    publish("notes", "1.0.0")
    outer = Starlette(routes=[Mount("/registry", app=registry_app(registry))])
    with Server(outer).start() as running:
        remote = RemoteRegistry(running.url + "/registry", user="ann", key=key)
        assert [x.id for x in remote.search(MarketplaceQuery(query="notes"))] == ["notes"]
        assert remote.publish(_bundle(tmp_path, key, "audit")).plugin_id == "audit"
