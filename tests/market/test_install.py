"""Installed bundles reach the engine as bundles (issue 13 §1): sandboxed unless the host
trusts them, whatever their manifest asks and whatever the engine's default."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pliers_lab import Engine, TrustPolicy
from pliers_lab.market import (
    PluginMarketplace,
    PluginStore,
    Registry,
    SigningKey,
    UnsafePluginError,
    build_bundle,
)

from .conftest import Publish

PID_CODE = """\
import os
from pliers_lab import hook

VERSION = {version!r}


@hook("export.format")
def answer(ctx):
    if ctx.data.get("format") == {name!r}:
        return {{"pid": os.getpid(), "version": VERSION}}
    return None
"""


def pid_code(name: str, version: str = "1.0.0") -> str:
    return PID_CODE.format(name=name, version=version)


def ask(engine: Engine, name: str) -> dict:
    result = engine.fire("export.format", {"format": name})
    assert result.ok, result.summary()
    return result.value


def test_an_unsigned_bundle_asking_inline_runs_sandboxed_with_the_warning(
    tmp_path: Path, make_plugin, dist: Path, store: PluginStore
) -> None:
    lax = Registry(tmp_path / "lax", require_signature=False, require_safe=False, min_score=0)
    folder = make_plugin("pushy", code=pid_code("pushy"), isolation="inline")
    lax.publish(build_bundle(folder, dist), user="zoe")
    with Engine(default_isolation="inline") as engine:  # the lab's kind of engine
        market = PluginMarketplace(lax, store, engine=engine)
        with pytest.raises(UnsafePluginError, match=r"high inline-isolation at manifest\.json"):
            market.install("pushy", allow_unsigned=True)
        result = market.install("pushy", allow_unsigned=True, allow_unsafe=True)
        plugin = engine.plugin("pushy")
        assert plugin.isolation == "process" and plugin.origin == "bundle"
        assert plugin.signer is None and plugin.trust_reason is None
        assert ask(engine, "pushy")["pid"] != os.getpid()
        refused = [w for w in result.warnings if "asks to run inline" in w]
        assert refused == list(plugin.warnings)
        assert "not signed by a verified, trusted key" in refused[0]
        assert "pushy" in result.to_dict()["warnings"][-1]


def test_a_verified_signer_in_the_engines_policy_runs_inline(
    registry: Registry, store: PluginStore, key: SigningKey, publish: Publish
) -> None:
    publish("signed", code=pid_code("signed"))
    policy = TrustPolicy(keys={key.key_id})
    with Engine(default_isolation="inline", trust=policy) as engine:
        result = PluginMarketplace(registry, store, engine=engine).install("signed")
        plugin = engine.plugin("signed")
        assert plugin.isolation == "inline" and plugin.signer == key.key_id
        assert plugin.trust_reason == f"signed by trusted key {key.key_id}"
        assert ask(engine, "signed")["pid"] == os.getpid() and result.warnings == ()
    with Engine(default_isolation="inline") as engine:  # the key is trusted by the store only
        PluginMarketplace(registry, store).load_installed(engine)
        assert engine.plugin("signed").isolation == "process"
    with Engine(default_isolation="inline", trust=policy) as engine:  # a restart
        PluginMarketplace(registry, store).load_installed(engine)
        assert engine.plugin("signed").signer == key.key_id
        assert engine.plugin("signed").isolation == "inline"
    store.untrust_key(key.key_id)  # the store no longer vouches for the signature
    with Engine(default_isolation="inline", trust=policy) as engine:
        PluginMarketplace(registry, store).load_installed(engine)
        assert engine.plugin("signed").isolation == "process"


def test_an_untrusted_signer_is_not_passed_to_the_engine(
    tmp_path: Path, make_plugin, dist: Path, store: PluginStore
) -> None:
    stranger = SigningKey.generate()
    open_registry = Registry(tmp_path / "open")
    open_registry.register_key("zoe", stranger.public_key)
    folder = make_plugin("strange", code=pid_code("strange"))
    open_registry.publish(build_bundle(folder, dist, signing_key=stranger), user="zoe")
    with Engine(default_isolation="inline", trust=TrustPolicy(keys={stranger.key_id})) as engine:
        market = PluginMarketplace(open_registry, store, engine=engine)
        market.install("strange", allow_unsigned=True)  # signed, but the store does not trust it
        assert engine.plugin("strange").signer is None
        assert engine.plugin("strange").isolation == "process"


def test_updates_and_rollbacks_stay_bundles(
    registry: Registry, store: PluginStore, key: SigningKey, publish: Publish
) -> None:
    publish("notes", "1.0.0", code=pid_code("notes", "1.0.0"))
    publish("notes", "1.1.0", code=pid_code("notes", "1.1.0"))
    with Engine(default_isolation="inline") as engine:
        market = PluginMarketplace(registry, store, engine=engine)
        market.install("notes", "1.0.0")
        market.update("notes")
        new = engine.plugin("notes")
        assert (new.version, new.origin, new.isolation) == ("1.1.0", "bundle", "process")
        assert new.signer == key.key_id
        engine.trust_policy = TrustPolicy(keys={key.key_id})
        market.rollback("notes")
        back = engine.plugin("notes")
        assert (back.version, back.origin, back.isolation) == ("1.0.0", "bundle", "inline")
        assert ask(engine, "notes") == {"pid": os.getpid(), "version": "1.0.0"}
