"""Helpers of the web tests: manifests with endpoints, response records."""

from __future__ import annotations

from typing import Any


def endpoint_manifest(name: str, endpoints: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A manifest with ``api.endpoints`` and the permissions to register them and to
    receive their requests (``api.register``, ``network.inbound``)."""
    return {
        "name": name,
        "version": extra.pop("version", "1.0.0"),
        "description": f"web test plugin {name}",
        "author": "Tests <tests@example.com>",
        "license": "MIT",
        "engines": {"pliers": "^3.0.0", "python": ">=3.11"},
        "permissions": extra.pop("permissions", {"api": ["register"], "network": ["inbound"]}),
        "api": {"endpoints": endpoints},
        **extra,
    }


def ok(body: Any = None, status: int = 200) -> dict[str, Any]:
    return {"status": status, "body": body}


# ---------------------------------------------------------------------- hostile input
def folder_plugin(root: Any, name: str, version: str = "1.0.0", code: str | None = None) -> Any:
    """A plugin folder ``root/name`` with a JSON echo endpoint (``POST /plugins/<name>/echo``)
    and a GET; its module records ``VERSION`` and the folder it was imported from."""
    import json
    from pathlib import Path

    folder = Path(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    endpoints = [
        {"path": f"/plugins/{name}/echo", "method": "POST", "handler": "echo"},
        {"path": f"/plugins/{name}/hi", "method": "GET", "handler": "hi"},
    ]
    manifest = endpoint_manifest(name, endpoints, version=version, main="plugin.py")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "plugin.py").write_text(
        code
        or (
            f"VERSION = {version!r}\nFROM = __file__\n\n"
            "def echo(request):\n    return {'status': 200, 'body': {'got': request.body}}\n\n"
            "def hi(request):\n    return {'status': 200, 'body': {'version': VERSION}}\n"
        )
    )
    return folder


def deep_json(depth: int, kind: str = "array") -> bytes:
    """JSON nested ``depth`` arrays (or objects) deep."""
    if kind == "array":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


def recursion_token() -> str:
    """A bearer token whose first segment is base64 of 5,000 ``[``: what made every route
    of c6d1737 answer 500 (RecursionError in the token decoder)."""
    import base64

    head = base64.urlsafe_b64encode(b"[" * 5000).rstrip(b"=").decode()
    return f"{head}.e30.c2ln"


def rss_bytes(pid: int | str = "self") -> int:
    """The resident set size of process ``pid`` (this one: its servers run in it)."""
    import os

    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """``with PeakRSS() as peak: ...`` then ``peak.growth``: the most the resident set of
    process ``pid`` (this one by default) grew above its level at entry, sampled every
    2 ms in a thread."""

    def __init__(self, pid: int | str = "self") -> None:
        import threading

        self.pid = pid
        self.start = self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, rss_bytes(self.pid))

    def __enter__(self) -> PeakRSS:
        import gc

        gc.collect()
        self.start = self.peak = rss_bytes(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes(self.pid))

    @property
    def growth(self) -> int:
        return self.peak - self.start
