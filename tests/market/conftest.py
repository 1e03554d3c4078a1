"""Marketplace fixtures: real keys, real bundles, a registry and a store in tmp dirs."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pliers_lab import Engine
from pliers_lab.market import (
    PluginMarketplace,
    PluginStore,
    Registry,
    SigningKey,
    build_bundle,
)

EXTENSIONS = Path(__file__).parents[2] / "extensions"
#: The example plugins this suite was written against (others may appear meanwhile).
EXAMPLES = (
    "advanced-validation",
    "audit-log",
    "csv-export",
    "data-transform-chain",
    "submission-guard",
    "submission-sanitizer",
)

ANSWER_CODE = """\
from pliers_lab import hook

VERSION = {version!r}


@hook("export.format")
def answer(ctx):
    if ctx.data.get("format") == {name!r}:
        return {{"plugin": {name!r}, "version": VERSION, "config": dict(ctx.config)}}
    return None
"""


#: A plugin that imports subprocess (a critical finding: score 60).
SHELL_CODE = """\
import subprocess
from pliers_lab import hook


@hook("export.format")
def answer(ctx):
    return None
"""


def write_plugin(
    root: Path,
    name: str,
    version: str = "1.0.0",
    *,
    dependencies: dict[str, str] | None = None,
    permissions: dict[str, Any] | None = None,
    code: str | None = None,
    files: dict[str, str] | None = None,
    **extra: Any,
) -> Path:
    """A plugin folder ``root/<name>-<version>`` answering ``export.format`` for
    ``format == name`` with its version and configuration."""
    folder = root / f"{name}-{version}"
    copies = 1
    while folder.exists():  # the same name and version written twice (a republish)
        copies += 1
        folder = root / f"{name}-{version}-{copies}"
    folder.mkdir(parents=True)
    manifest = {
        "name": name,
        "version": version,
        "description": f"test plugin {name} at {version}",
        "author": "Tests <tests@example.com>",
        "license": extra.pop("license", "MIT"),
        "main": "plugin.py",
        "engines": extra.pop("engines", {"pliers": "^3.0.0", "python": ">=3.11"}),
        "keywords": extra.pop("keywords", ["test"]),
        "categories": extra.pop("categories", ["reporting"]),
        "hooks": extra.pop("hooks", {"export.format": {"async": False}}),
        "permissions": permissions or {},
        "dependencies": dependencies or {},
        "configuration": {"schema": "schema.json"},
        **extra,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    (folder / "plugin.py").write_text(code or ANSWER_CODE.format(name=name, version=version))
    (folder / "schema.json").write_text(
        json.dumps(
            {
                "type": "object",
                "properties": {"greeting": {"type": "string", "default": "hello"}},
                "additionalProperties": False,
            }
        )
    )
    for rel, text in (files or {}).items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


@pytest.fixture(scope="session")
def key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture(scope="session")
def other_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    folder = tmp_path / "dist"
    folder.mkdir()
    return folder


@pytest.fixture
def registry(tmp_path: Path, key: SigningKey) -> Registry:
    reg = Registry(tmp_path / "registry")
    reg.register_key("ann", key.public_key)
    return reg


@pytest.fixture
def store(tmp_path: Path, key: SigningKey) -> PluginStore:
    st = PluginStore(tmp_path / "store")
    st.trust_key(key.public_key, "ann")
    return st


@pytest.fixture
def engine() -> Iterator[Engine]:
    with Engine() as eng:
        yield eng


@pytest.fixture
def market(registry: Registry, store: PluginStore, engine: Engine) -> PluginMarketplace:
    return PluginMarketplace(registry, store, engine=engine)


Publish = Callable[..., Any]


@pytest.fixture
def publish(registry: Registry, key: SigningKey, tmp_path: Path, dist: Path) -> Publish:
    """``publish(name, version, **plugin options)``: write, build, sign and publish."""
    sources = tmp_path / "src"

    def run(name: str, version: str = "1.0.0", *, changes: Any = (), **options: Any) -> Any:
        folder = write_plugin(sources, name, version, **options)
        bundle = build_bundle(folder, dist, signing_key=key)
        return registry.publish(bundle, user="ann", changes=changes)

    return run


@pytest.fixture
def examples(registry: Registry, key: SigningKey, dist: Path) -> dict[str, Path]:
    """The example plugins, built, signed and published by ann."""
    bundles = {}
    for name in EXAMPLES:
        bundles[name] = build_bundle(EXTENSIONS / name, dist, signing_key=key)
        registry.publish(bundles[name], user="ann", changes=["first release"])
    return bundles


def snapshot(root: Path) -> dict[str, Any]:
    """Every file under ``root`` (content hashes) and every database row: compare two
    snapshots to assert that a refused operation changed nothing."""
    files = {}
    rows: dict[str, Any] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith((".staging", ".lock")) or "-wal" in rel or "-shm" in rel:
            continue
        if path.suffix == ".db":
            conn = sqlite3.connect(path)
            try:
                tables = [
                    r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
                ]
                for table in tables:
                    rows[f"{rel}:{table}"] = sorted(
                        map(repr, conn.execute(f"SELECT * FROM {table}"))
                    )
            finally:
                conn.close()
        elif path.is_file():
            files[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            files[rel] = "dir"
    return {"files": files, "rows": rows}


@pytest.fixture
def make_plugin(tmp_path: Path) -> Callable[..., Path]:
    """``make_plugin(name, version, **options)``: a plugin folder (see ``write_plugin``)."""
    return lambda name, version="1.0.0", **options: write_plugin(
        tmp_path / "src", name, version, **options
    )


@pytest.fixture
def snap() -> Callable[[Path], dict[str, Any]]:
    return snapshot
