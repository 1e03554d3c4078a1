"""Who decides inline (issue 13 §1): the host's trust policy, never the plugin's manifest."""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path

import pytest
from support import write_plugin

from pliers_lab import Engine, EngineError, TrustPolicy
from pliers_lab.trust import decide_isolation

PID = """
import os
from pliers_lab import hook

@hook("submission.afterSave")
def pid(ctx):
    return os.getpid()
"""
HOOK = {"submission.afterSave": {}}
KEY = "0123456789abcdef"


def asker(root: Path, name: str = "asker", **extra: object) -> Path:
    """A plugin folder whose manifest asks to run inline; its handler answers its pid."""
    return write_plugin(root, name, PID, HOOK, isolation="inline", **extra)


def pid_of(engine: Engine) -> int:
    (answer,) = engine.fire("submission.afterSave", {}).value
    return int(answer)


def test_an_untrusted_folder_asking_inline_runs_sandboxed_with_a_warning(tmp_path: Path) -> None:
    with Engine() as engine:
        plugin = engine.load(asker(tmp_path))
        assert plugin.isolation == "process" and plugin.trust_reason is None
        assert pid_of(engine) != os.getpid()  # the handler really ran in another process
        (warning,) = plugin.warnings
        for part in (
            "'asker'",
            'manifest.json: isolation: "inline"',
            "TrustPolicy(plugins={'asker'})",
            "engine.trust('asker')",
            "TrustPolicy(keys=...)",
            "TrustPolicy(folders=...)",
            "--trust asker",
            "--trust-folder",
        ):
            assert part in warning
        logged = [e for e in engine.logs.for_plugin("asker") if e.level == "warning"]
        assert warning in [e.message for e in logged]
        installed = [e for e in engine.activity.recent if e["type"] == "plugin.installed"]
        assert installed[-1]["data"]["warnings"] == [warning]
        info = engine.isolation("asker")
        assert info["warnings"] == [warning] and info["trusted"] is None
        assert info["placement"] == "untrusted: its inline request is refused"


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("id", "trusted id"),
        ("folder", "under trusted folder"),
        ("engine.trust", "trusted by engine.trust"),
    ],
)
def test_the_same_folder_trusted_by_the_host_runs_inline(
    tmp_path: Path, how: str, reason: str
) -> None:
    folder = asker(tmp_path / "plugins")
    policy = {
        "id": TrustPolicy(plugins={"asker"}),
        "folder": TrustPolicy(folders=[tmp_path / "plugins"]),
        "engine.trust": None,
    }[how]
    with Engine(trust=policy) as engine:
        if how == "engine.trust":
            engine.trust("asker")
            assert "asker" in engine.trust_policy.plugins
        plugin = engine.load(folder)
        assert plugin.isolation == "inline" and plugin.warnings == ()
        assert plugin.trust_reason is not None and plugin.trust_reason.startswith(reason)
        assert pid_of(engine) == os.getpid()


def test_a_bundle_is_sandboxed_even_under_an_inline_default(tmp_path: Path) -> None:
    plain = write_plugin(tmp_path, "plain", PID, HOOK)
    with Engine(default_isolation="inline") as engine:
        local = engine.load(asker(tmp_path))  # the host's own folder: its blanket choice
        assert local.isolation == "inline" and local.warnings == ()
        engine.unload("asker")
        bundled = engine.load(asker(tmp_path), origin="bundle")
        assert bundled.isolation == "process" and bundled.origin == "bundle"
        assert "not signed by a verified, trusted key" in bundled.warnings[0]
        quiet = engine.load(plain, origin="bundle")  # asks nothing: sandboxed, no warning
        assert quiet.isolation == "process" and quiet.warnings == ()
        assert quiet.placement == "untrusted bundle: always sandboxed"
        pids = engine.fire("submission.afterSave", {}).value
        assert len(pids) == 2 and os.getpid() not in pids


def test_a_bundle_signed_by_a_trusted_key_runs_where_it_asks(tmp_path: Path) -> None:
    with Engine(trust=TrustPolicy(keys={KEY})) as engine:
        plugin = engine.load(asker(tmp_path), origin="bundle", signer=KEY)
        assert plugin.isolation == "inline" and plugin.signer == KEY
        assert plugin.trust_reason == f"signed by trusted key {KEY}"
        engine.unload("asker")
        other = engine.load(asker(tmp_path), origin="bundle", signer="f" * 16)
        assert other.isolation == "process"
        unknown = f"signed by key {'f' * 16}, which TrustPolicy.keys does not list"
        assert unknown in other.warnings[0]


def test_the_hosts_explicit_choice_wins(tmp_path: Path) -> None:
    with Engine(default_isolation="inline") as engine:
        plugin = engine.load(asker(tmp_path), origin="bundle", isolation="inline")
        assert plugin.isolation == "inline" and plugin.warnings == ()
        assert plugin.placement == "the host chose inline (load(isolation='inline'))"


def test_an_untrusted_request_for_process_is_always_granted(tmp_path: Path) -> None:
    folder = write_plugin(tmp_path, "careful", PID, HOOK, isolation="process")
    with Engine(default_isolation="inline") as engine:
        assert engine.load(folder).isolation == "process"


def test_reload_and_hot_reload_keep_the_origin(tmp_path: Path) -> None:
    folder = asker(tmp_path)
    with Engine(default_isolation="inline") as engine:
        engine.load(folder, origin="bundle")
        again = engine.reload("asker")
        assert again.origin == "bundle" and again.isolation == "process" and again.warnings
        engine.watch(debounce_ms=10)
        (folder / "plugin.py").write_text(PID + "\nEDITED = True\n")
        deadline = time.monotonic() + 20
        while engine.plugin("asker") is again and time.monotonic() < deadline:
            time.sleep(0.05)
        hot = engine.plugin("asker")
        assert hot is not again, "the hot reload did not happen"
        assert hot.origin == "bundle" and hot.isolation == "process"
        engine.trust_policy = TrustPolicy(plugins={"asker"})  # decided again on reload
        assert engine.reload("asker").isolation == "inline"
        with pytest.raises(EngineError, match="origin must be one of local, bundle"):
            engine.reload("asker", origin="elsewhere")
        with pytest.raises(EngineError, match="origin must be one of local, bundle"):
            engine.load(folder, origin="web")


def test_a_symlink_out_of_a_trusted_folder_is_not_trusted(tmp_path: Path) -> None:
    outside = asker(tmp_path / "outside")
    trusted = tmp_path / "trusted"
    trusted.mkdir()
    (trusted / "asker").symlink_to(outside, target_is_directory=True)
    inside = asker(tmp_path / "real", "inner")
    (tmp_path / "alias").symlink_to(tmp_path / "real", target_is_directory=True)
    policy = TrustPolicy(folders=[trusted, tmp_path / "alias"])
    assert policy.reason("asker", root=trusted / "asker") is None
    assert policy.reason("inner", root=inside) == f"under trusted folder {tmp_path / 'real'}"
    with Engine(trust=policy) as engine:
        assert engine.load(trusted / "asker").isolation == "process"


def test_the_policy_is_checked_picklable_and_explains_itself() -> None:
    with pytest.raises(ValueError, match="not a key id"):
        TrustPolicy(keys={"alice"})

    class Key:
        key_id = KEY.upper()

    policy = TrustPolicy(plugins="one", keys=[Key()], folders="/srv/plugins")
    assert policy.plugins == frozenset({"one"}) and policy.keys == frozenset({KEY})
    assert pickle.loads(pickle.dumps(policy)) == policy
    assert hash(policy) == hash(TrustPolicy({"one"}, {KEY}, ["/srv/plugins"]))
    assert policy.reason("one") == "trusted id"
    assert policy.reason("two", signer=KEY) == f"signed by trusted key {KEY}"
    assert policy.reason("two", root="/srv/plugins/two") == "under trusted folder /srv/plugins"
    assert policy.reason("two", root="/srv/other", signer="f" * 16) is None
    assert not TrustPolicy() and policy.with_plugins("two").plugins == {"one", "two"}
    assert TrustPolicy(keys=KEY).keys == {KEY}  # one id, not its characters


@pytest.mark.parametrize(
    ("asked", "default", "origin", "trusted", "expected", "warned"),
    [
        (None, "process", "local", False, "process", False),
        (None, "inline", "local", False, "inline", False),
        ("inline", "inline", "local", False, "inline", False),
        ("inline", "process", "local", False, "process", True),
        ("process", "inline", "local", False, "process", False),
        (None, "inline", "bundle", False, "process", False),
        ("inline", "inline", "bundle", False, "process", True),
        ("inline", "process", "bundle", True, "inline", False),
        (None, "inline", "bundle", True, "inline", False),
        ("process", "inline", "local", True, "process", False),
    ],
)
def test_the_rule(
    asked: str | None, default: str, origin: str, trusted: bool, expected: str, warned: bool
) -> None:
    policy = TrustPolicy(plugins={"p"} if trusted else ())
    placed = decide_isolation("p", asked=asked, default=default, policy=policy, origin=origin)
    assert (placed.isolation, placed.warning is not None) == (expected, warned)
    assert (placed.trust is not None) == trusted and placed.origin == origin
