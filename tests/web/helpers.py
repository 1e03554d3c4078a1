"""Helpers of the web tests: manifests with endpoints, response records."""

from __future__ import annotations

from typing import Any


def endpoint_manifest(name: str, endpoints: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A manifest with ``api.endpoints`` and the permission to register them."""
    return {
        "name": name,
        "version": extra.pop("version", "1.0.0"),
        "description": f"web test plugin {name}",
        "author": "Tests <tests@example.com>",
        "license": "MIT",
        "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
        "permissions": extra.pop("permissions", {"api": ["register"]}),
        "api": {"endpoints": endpoints},
        **extra,
    }


def ok(body: Any = None, status: int = 200) -> dict[str, Any]:
    return {"status": status, "body": body}
