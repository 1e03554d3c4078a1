"""The registry service's client (issue 19 §1): ``PluginMarketplace(URL, store)`` reads,
installs and updates over HTTP; a bundle is verified on the client whatever the server
says (a registry serving altered bytes, or lying about them consistently, is refused and
the store stays as it was); network failures and refusals name the plugin and the URL."""

from __future__ import annotations

import json
import socket
import sqlite3
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from market.conftest import write_plugin
from market.test_search_index import fill, queries

from pliers_lab import Engine
from pliers_lab.market import (
    BundleError,
    Limits,
    MarketError,
    MarketplaceQuery,
    NotFoundError,
    PluginMarketplace,
    PluginStore,
    Registry,
    RegistryAccessError,
    RegistryUnavailableError,
    RemoteRegistry,
    SignatureError,
    SigningKey,
    build_bundle,
)
from pliers_lab.market.service import registry_app, serve_registry
from pliers_lab.web import Server


@pytest.fixture
def server(registry: Registry) -> Iterator[Server]:
    with serve_registry(registry) as running:
        yield running


@pytest.fixture
def remote_market(server: Server, store: PluginStore, engine: Engine) -> PluginMarketplace:
    return PluginMarketplace(server.url, store, engine=engine)


def test_a_url_is_a_registry_like_a_folder(
    remote_market: PluginMarketplace, registry: Registry, publish, server: Server, tmp_path: Path
) -> None:
    assert isinstance(remote_market.registry, RemoteRegistry)
    assert remote_market.registry.root == server.url
    publish("base", "1.0.0", keywords=["memo"])
    publish("notes", "1.0.0", dependencies={"base": "^1.0.0"}, changes=["first"])
    publish("notes", "1.1.0", dependencies={"base": "^1.0.0"}, changes=["second"])
    local = PluginMarketplace(registry, PluginStore(tmp_path / "other"))
    assert remote_market.search("memo") == local.search("memo")
    assert remote_market.get_categories() == local.get_categories()
    assert remote_market.get_popular() == local.get_popular()
    result = remote_market.install("notes", "1.0.0")
    assert [d["name"] for d in result.dependencies] == ["base"]
    assert remote_market.store.installed()["notes"].version == "1.0.0"
    assert remote_market.get_plugin("notes")["installed"] == "1.0.0"
    assert remote_market.get_updates()[0]["latestVersion"] == "1.1.0"
    assert remote_market.get_updates() == local.get_updates({"notes": "1.0.0", "base": "1.0.0"})
    assert remote_market.update("notes").to_dict()["newVersion"] == "1.1.0"
    assert remote_market.rollback("notes").to_dict()["newVersion"] == "1.0.0"
    assert registry.version("notes", "1.0.0").downloads == 1  # the store kept it since
    with sqlite3.connect(remote_market.store.root / "store.db") as db:
        assert {r[0] for r in db.execute("SELECT source FROM versions")} == {server.url}


def test_search_over_http_answers_what_the_registry_answers(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "big")
    fill(registry, 150, seed=23)
    with serve_registry(registry) as running:
        remote = RemoteRegistry(running.url)
        for query in queries(5, 120):
            if any("," in t for t in (*query.tags, *query.license)):
                continue
            assert remote.search(query) == registry.search(query), query
        assert remote.featured(50) == registry.featured(50)
        assert remote.category_counts() == registry.category_counts()
        assert [p.name for p in remote.plugins()] == [p.name for p in registry.plugins()]
        plugin = registry.plugins()[3]
        assert remote.plugin(plugin.name).versions[0].manifest == plugin.versions[0].manifest


# ------------------------------------------------------------- what the server says
def _tampered_copy(bundle: Path, out: Path, *, signature_from: Path | None = None) -> Path:
    """``bundle`` rebuilt with its plugin.py changed: package.json consistent again, and
    the signature of ``signature_from`` (the original's) carried over."""
    folder = out / "unpacked"
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(folder)
    (folder / "plugin.py").write_text((folder / "plugin.py").read_text() + "\nSTOLEN = True\n")
    signature = (folder / ".pliers" / "signature.json").read_bytes()
    import shutil

    shutil.rmtree(folder / ".pliers")
    rebuilt = build_bundle(folder, out / "rebuilt")
    with zipfile.ZipFile(rebuilt, "a") as zf:
        zf.writestr(".pliers/signature.json", signature)
    return rebuilt


def _serve_instead(
    registry: Registry, name: str, version: str, replacement: Path, lie: bool
) -> None:
    """The registry's stored bundle replaced (its disk tampered with); with ``lie`` its
    record's checksum too, so that the server is consistent with the altered bytes."""
    target = registry.version(name, version).bundle
    target.write_bytes(replacement.read_bytes())
    if lie:
        from pliers_lab.market import open_bundle

        checksum = open_bundle(replacement).checksum
        with sqlite3.connect(registry.db) as db:
            db.execute(
                "UPDATE versions SET checksum = ? WHERE name = ? AND version = ?",
                (checksum, name, version),
            )


@pytest.mark.parametrize(
    "case", ["flipped bytes", "rebuilt", "rebuilt and record lies", "re-signed", "another version"]
)
def test_a_registry_serving_altered_bytes_is_refused_by_the_client(
    case: str,
    registry: Registry,
    publish,
    remote_market: PluginMarketplace,
    store: PluginStore,
    engine: Engine,
    tmp_path: Path,
    snap,
) -> None:
    publish("notes", "1.0.0")
    publish("notes", "1.1.0")
    original = registry.version("notes", "1.0.0").bundle
    work = tmp_path / "attack"
    work.mkdir()
    if case == "flipped bytes":
        data = bytearray(original.read_bytes())
        with zipfile.ZipFile(original) as zf:
            info = zf.getinfo("plugin.py")
        start = info.header_offset + 30 + len(info.filename) + len(info.extra)
        data[start + 5] ^= 0xFF
        evil = work / "evil.zip"
        evil.write_bytes(bytes(data))
        _serve_instead(registry, "notes", "1.0.0", evil, lie=False)
        expected: tuple[type[Exception], str] = (BundleError, "corrupt|does not match|changed")
    elif case == "rebuilt":
        _serve_instead(registry, "notes", "1.0.0", _tampered_copy(original, work), lie=False)
        expected = (BundleError, "but the registry published notes@1.0.0")
    elif case == "rebuilt and record lies":
        _serve_instead(registry, "notes", "1.0.0", _tampered_copy(original, work), lie=True)
        expected = (SignatureError, "changed after signing")
    elif case == "re-signed":
        attacker = SigningKey.generate()
        evil = _tampered_copy(original, work)
        from pliers_lab.market import sign_bundle

        sign_bundle(evil, attacker, signer="ann")
        _serve_instead(registry, "notes", "1.0.0", evil, lie=True)
        expected = (
            SignatureError,
            f"signed by key {attacker.key_id} \\(ann\\), which is not trusted",
        )
    else:  # a genuine, signed bundle of another version
        newer = registry.version("notes", "1.1.0").bundle
        _serve_instead(registry, "notes", "1.0.0", newer, lie=False)
        expected = (BundleError, "holds notes@1.1.0 .* but the registry published notes@1.0.0")
    before = snap(store.root)
    with pytest.raises(expected[0], match=expected[1]):
        remote_market.install("notes", "1.0.0")
    assert snap(store.root) == before
    assert "notes" not in engine


def test_an_update_from_a_tampering_registry_leaves_the_old_version_running(
    registry: Registry, publish, remote_market: PluginMarketplace, engine: Engine, tmp_path: Path
) -> None:
    publish("notes", "1.0.0")
    remote_market.install("notes")
    publish("notes", "1.1.0")
    work = tmp_path / "attack"
    work.mkdir()
    evil = _tampered_copy(registry.version("notes", "1.1.0").bundle, work)
    _serve_instead(registry, "notes", "1.1.0", evil, lie=True)
    with pytest.raises(SignatureError, match=r"notes@1\.1\.0"):
        remote_market.update("notes")
    assert remote_market.store.installed()["notes"].version == "1.0.0"
    assert engine.plugin("notes").version == "1.0.0"


# -------------------------------------------------------------- failures, named
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_registry_is_named_with_what_failed(
    store: PluginStore, engine: Engine
) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    market = PluginMarketplace(url, store, engine=engine)
    with pytest.raises(RegistryUnavailableError) as caught:
        market.install("notes")
    message = str(caught.value)
    assert message.startswith(f"notes: cannot reach the registry {url} to read the record of notes")
    assert caught.value.code == "MARKETPLACE_UNAVAILABLE" and caught.value.plugin_id == "notes"
    with pytest.raises(
        RegistryUnavailableError, match=f"cannot reach the registry {url} to search"
    ):
        market.search("x")
    assert store.installed() == {}


def test_refusals_become_market_errors_naming_plugin_and_url(
    server: Server, remote_market: PluginMarketplace, publish
) -> None:
    with pytest.raises(NotFoundError) as caught:
        remote_market.install("ghost")
    assert str(caught.value) == (
        f"ghost: the registry {server.url} refused to read the record of ghost: "
        "404 PLUGIN_NOT_FOUND: no plugin 'ghost' in the registry"
    )
    publish("notes", "1.0.0")
    with pytest.raises(
        NotFoundError,
        match=rf"notes: the registry {server.url} refused to download notes@9\.9\.9: 404",
    ):
        remote_market.registry.download("notes", "9.9.9")
    with pytest.raises(RegistryAccessError, match="needs a publisher"):
        remote_market.registry.publish(Path("x.zip"))  # type: ignore[attr-defined]


def _fake_registry(routes: dict[str, Any]) -> Server:
    """A server answering ``routes`` (path → handler) like a broken or hostile registry."""
    from starlette.applications import Starlette
    from starlette.routing import Route

    return Server(Starlette(routes=[Route(p, h) for p, h in routes.items()])).start()


def test_a_broken_or_hostile_server_is_a_market_error(tmp_path: Path) -> None:
    from starlette.responses import JSONResponse, PlainTextResponse, Response

    async def crash(request: Any) -> Response:
        return JSONResponse({"error": {"code": "INTERNAL_ERROR", "message": "oops"}}, 500)

    async def html(request: Any) -> Response:
        return PlainTextResponse("<html>a proxy's login page</html>")

    async def evil_record(request: Any) -> Response:
        record = {"plugin": {"name": "../../../etc/cron.d/x", "versions": []}}
        return JSONResponse(record)

    async def wrong_types(request: Any) -> Response:
        return JSONResponse({"plugins": "all of them", "facets": {}, "pagination": {}})

    async def slow(request: Any) -> Response:
        import asyncio

        await asyncio.sleep(3)
        return JSONResponse({})

    async def endless(request: Any) -> Response:
        return Response(b"0" * 200_000, media_type="application/zip")

    with _fake_registry(
        {
            "/v1/plugins/crash/record": crash,
            "/v1/plugins/html/record": html,
            "/v1/plugins/evil/record": evil_record,
            "/v1/search": wrong_types,
            "/v1/plugins/slow/record": slow,
            "/v1/plugins/big/versions/1.0.0/bundle": endless,
        }
    ) as fake:
        remote = RemoteRegistry(fake.url, timeout=1.0, limits=Limits(max_total_size=1000))
        with pytest.raises(
            RegistryUnavailableError,
            match=rf"crash: the registry {fake.url} refused to read the record of crash: "
            "500 INTERNAL_ERROR: oops",
        ):
            remote.plugin("crash")
        with pytest.raises(RegistryUnavailableError, match="with something that is not JSON"):
            remote.plugin("html")
        with pytest.raises(RegistryUnavailableError, match=r"malformed answer .* plugin name"):
            remote.plugin("evil")
        with pytest.raises(RegistryUnavailableError, match="malformed answer to search"):
            remote.search(MarketplaceQuery())
        with pytest.raises(
            RegistryUnavailableError,
            match=f"cannot reach the registry {fake.url} to read the record of slow: .*timed out",
        ):
            remote.plugin("slow")
        import pliers_lab.market.remote as module

        slack = module.BUNDLE_SLACK
        module.BUNDLE_SLACK = 0
        try:
            with pytest.raises(MarketError, match=r"sent more than 1000 bytes for big@1\.0\.0"):
                remote.download("big", "1.0.0")
        finally:
            module.BUNDLE_SLACK = slack
        assert not any(remote.cache.rglob("*.zip"))
        with pytest.raises(ValueError, match="not a plugin name and version"):
            remote.download("../x", "1.0.0")


def test_a_publisher_client_publishes_only_as_itself(
    server: Server, key: SigningKey, tmp_path: Path
) -> None:
    ann = RemoteRegistry(server.url, user="ann", key=key)
    bundle = build_bundle(
        write_plugin(tmp_path / "src", "notes"), tmp_path / "dist", signing_key=key
    )
    with pytest.raises(
        RegistryAccessError, match=r"publishes to .* as 'ann' .* cannot publish as 'bob'"
    ):
        ann.publish(bundle, user="bob")
    assert ann.publish(bundle, user="ann").plugin_id == "notes"
    with pytest.raises(ValueError, match="both user= and key="):
        RemoteRegistry(server.url, user="ann")
    with pytest.raises(ValueError, match="http"):
        RemoteRegistry("ftp://example.com")
    assert ann.key_owner(key.key_id) == "ann"
    assert ann.key_owner(SigningKey.generate().key_id) is None
    assert ann.info()["plugins"] == 1


def test_an_app_serves_a_registry_folder_it_creates(tmp_path: Path) -> None:
    app = registry_app(tmp_path / "fresh")
    assert (tmp_path / "fresh" / "registry.db").is_file()
    with Server(app).start() as running:
        assert RemoteRegistry(running.url).search(MarketplaceQuery()).total == 0
        assert json.loads(json.dumps(RemoteRegistry(running.url).info()))["plugins"] == 0
    time.sleep(0)
