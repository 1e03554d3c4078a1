"""The server the fuzz test attacks, in a process of its own so that its memory is its own.

``python fuzz_server.py DIR`` serves on a free loopback port: plugin roots in ``DIR``
holding the folder plugin ``target`` (and its version 1.1.0 beside it), the inline plugin
``inline`` (validated, guarded and raw endpoints), an empty marketplace, management rate
limits out of the way. It prints one JSON line ``{"url", "pid", "tokens": {name:
token}}`` and then answers commands on stdin, one per line, with one line each:

- ``restore``: put the plugins back as they were (the fuzzer may stop or uninstall them);
- ``internal``: a JSON list of the ``internal error`` records the web layer logged;
- ``quit``: stop.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for web.helpers

from web.helpers import deep_json, folder_plugin, ok, recursion_token

from pliers_lab import Engine

SCHEMA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string", "maxLength": 20}, "n": {"type": "integer"}},
}
INLINE = [
    {
        "path": "/plugins/inline/items",
        "method": "POST",
        "handler": "echo",
        "validation": {"body": SCHEMA},
    },
    {
        "path": "/plugins/inline/items/:id",
        "method": "GET",
        "handler": "echo",
        "validation": {"params": {"type": "object", "properties": {"id": {"type": "integer"}}}},
    },
    {"path": "/plugins/inline/items/:id", "method": "PUT", "handler": "echo"},
    {"path": "/plugins/inline/items/:id", "method": "DELETE", "handler": "echo"},
    {
        "path": "/plugins/inline/search",
        "method": "GET",
        "handler": "echo",
        "validation": {
            "query": {
                "type": "object",
                "properties": {"limit": {"type": "integer", "maximum": 50, "default": 10}},
            }
        },
    },
    {
        "path": "/plugins/inline/guarded",
        "method": "PATCH",
        "handler": "echo",
        "auth": {"required": True, "roles": ["admin"]},
    },
    {"path": "/plugins/inline/raw", "method": "POST", "handler": "raw"},
]
FUNCTIONS = {
    "echo": lambda request: ok(
        {"body": request.body, "query": request.query, "params": request.params}
    ),
    "raw": lambda request: {"status": 200, "headers": {"content-type": "text/plain"}, "body": "x"},
}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Internal(logging.Handler):
    """Keeps what the web layer logs as an internal error."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "internal error" in record.getMessage():
            self.found.append(record.getMessage())


def tokens(issuer: Any, admin: str) -> dict[str, str | None]:
    import jwt

    now = int(time.time())
    claims = {"sub": "admin", "iss": "pliers-lab", "aud": "pliers-lab", "exp": now + 3600}
    key = issuer._key
    unsigned = b64(b'{"alg":"none"}') + "." + b64(json.dumps(claims).encode()) + "."
    return {
        "none": None,
        "admin": admin,
        "viewer": issuer.issue("viewer", roles=["viewer"]),
        "expired": issuer.issue("admin", roles=["admin"], ttl_s=-3600),
        "not-yet": issuer.issue("admin", roles=["admin"], not_before_s=3600),
        "forged": jwt.encode(claims, "another-secret-of-enough-bytes-for-hs256"),
        "audience": jwt.encode({**claims, "aud": "elsewhere"}, key),
        "roles-object": jwt.encode({**claims, "roles": {"admin": 1}}, key),
        "sub-list": jwt.encode({**claims, "sub": ["admin"]}, key),
        "no-exp": jwt.encode({"sub": "admin", "iss": "pliers-lab", "aud": "pliers-lab"}, key),
        "alg-none": unsigned,
        "recursion": recursion_token(),
        "deep-header": f"{b64(deep_json(3000, 'object'))}.e30.c2ln",
        "deep-claims": "e30." + b64(deep_json(5000)) + ".c2ln",
        "long": "x" * 9000,
        "dots": "....",
        "three": "a.b.c",
    }


def main(folder: Path) -> None:
    import pliers_lab.market as market_pkg
    from pliers_lab.web import WebSettings, serve

    roots = folder / "roots"
    target = folder_plugin(roots, "target")
    folder_plugin(folder / "stage", "target", "1.1.0").rename(roots / "1.1.0")
    engine = Engine(default_isolation="inline")
    engine.load(target)
    engine.add_plugin(_manifest(), FUNCTIONS)
    marketplace = market_pkg.PluginMarketplace(
        market_pkg.Registry(folder / "registry"),
        market_pkg.PluginStore(folder / "store"),
        engine=engine,
    )
    many = (10**6, 60.0)
    settings = WebSettings(
        plugin_roots=(roots,),
        management_limits={"general": many, "install": many, "upload": many, "search": many},
        handler_timeout_s=10.0,
    )
    internal = Internal()
    logging.getLogger("pliers_lab.web").addHandler(internal)
    server = serve(engine, settings=settings, marketplace=marketplace)
    state = server.app.state.pliers
    hello = {"url": server.url, "pid": os.getpid(), "tokens": tokens(state.tokens, server.token)}
    print(json.dumps(hello), flush=True)

    def restore() -> None:
        if "inline" not in engine:
            engine.add_plugin(_manifest(), FUNCTIONS)
        if "target" not in engine:
            engine.load(target)
        for plugin in list(engine.plugins):
            if plugin.id not in ("inline", "target"):
                engine.unload(plugin.id)
            elif plugin.state.value != "active":
                engine.enable(plugin.id)

    for line in sys.stdin:
        command = line.strip()
        if command == "restore":
            restore()
            print("ok", flush=True)
        elif command == "internal":
            print(json.dumps(internal.found), flush=True)
        else:
            break
    server.stop()
    engine.close()


def _manifest() -> dict[str, Any]:
    from web.helpers import endpoint_manifest

    return endpoint_manifest("inline", INLINE)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
