"""Install, update, roll back and uninstall for real: registry → store → engine.

Every refusal is checked twice: the error names what and where, and a snapshot of the
store (files and database rows) is the same before and after.
"""

from __future__ import annotations

import json
import threading
import zipfile

import pytest

from pliers_lab import Engine, PluginState
from pliers_lab.market import (
    AlreadyExistsError,
    BundleError,
    DependencyConflictError,
    NotFoundError,
    PermissionsNotAcceptedError,
    PluginMarketplace,
    PluginStore,
    Registry,
    SignatureError,
    SigningKey,
    StartupError,
    UnsafePluginError,
    build_bundle,
)

from .conftest import EXTENSIONS, SHELL_CODE

FAILING_CODE = """\
from pliers_lab import hook


def on_load(plugin):
    raise RuntimeError("cannot reach the license server")


@hook("export.format")
def answer(ctx):
    return None
"""


def ask(engine: Engine, name: str) -> dict:
    result = engine.fire("export.format", {"format": name})
    assert result.ok, result.summary()
    return result.value


# --------------------------------------------------------------------------- install
def test_an_example_installs_goes_active_and_answers(
    market: PluginMarketplace, examples, engine: Engine, store: PluginStore
) -> None:
    result = market.install("csv-export")
    assert result.success and (result.plugin_id, result.version) == ("csv-export", "1.0.0")
    assert result.security == {"csv-export@1.0.0": 100}
    assert result.signatures["csv-export@1.0.0"]["status"] == "verified"
    assert engine.plugin("csv-export").state is PluginState.ACTIVE
    answer = engine.fire(
        "export.format",
        {"format": "csv", "form": {"id": "f", "name": "Contact", "fields": []}, "submissions": []},
    ).value
    assert answer["filename"] == "contact-submissions.csv"
    folder = store.root / "csv-export" / "1.0.0"
    assert (folder / "manifest.json").is_file() and engine.plugin("csv-export").root == folder
    installed = store.get("csv-export")
    assert (installed.version, installed.reason, installed.previous_version) == (
        "1.0.0",
        "explicit",
        None,
    )
    assert [h["action"] for h in store.history("csv-export")] == ["install"]
    json.dumps(result.to_dict())


def test_the_users_configuration_is_kept_across_restarts(
    market: PluginMarketplace, examples, engine: Engine, store: PluginStore, registry
) -> None:
    """Install-time config and later ``configure`` calls are kept in the store, so a new
    engine loading the store (a restarted server) runs the plugin as configured."""
    market.install("csv-export", config={"delimiter": ";"})
    assert engine.plugin("csv-export").config["delimiter"] == ";"
    assert store.config("csv-export") == {"delimiter": ";"}
    engine.configure("csv-export", {"escapeFormulas": False}, merge=True)
    assert store.config("csv-export") == {"delimiter": ";", "escapeFormulas": False}

    with Engine() as restarted:
        PluginMarketplace(registry, store).load_installed(restarted)
        config = restarted.plugin("csv-export").config
        assert (config["delimiter"], config["escapeFormulas"]) == (";", False)

    market.uninstall("csv-export", remove_data=True)
    assert store.config("csv-export") is None


def test_validation_example_answers_through_the_engine(market, examples, engine) -> None:
    market.install("advanced-validation")
    field = {"id": "p", "name": "phone", "label": "Phone", "type": "phone", "countryCode": "XX"}
    result = engine.fire("form.validate", {"form": {"id": "f", "fields": [field]}})
    assert result.value["valid"] is False
    assert "phone_country_code_unsupported" in json.dumps(result.value["errors"])


def test_dependencies_install_first_at_the_best_version(
    market: PluginMarketplace, publish, engine: Engine, store: PluginStore
) -> None:
    publish("base", "1.0.0")
    publish("base", "1.1.0")
    publish("base", "2.0.0")
    publish("child", "1.0.0", dependencies={"base": "^1.0.0"})
    result = market.install("child")
    assert result.dependencies == ({"name": "base", "version": "1.1.0", "installed": True},)
    assert ask(engine, "base")["version"] == "1.1.0"
    assert engine.plugin("child").state is PluginState.ACTIVE
    assert store.get("base").reason == "dependency"
    assert [h["detail"] for h in store.history("base")] == ["needed by child"]


def test_an_installed_dependency_is_reused_or_is_the_conflict(
    market: PluginMarketplace, publish, store: PluginStore, snap
) -> None:
    publish("base", "1.0.0")
    publish("base", "2.0.0")
    market.install("base", "1.0.0")
    publish("fits", dependencies={"base": "^1.0.0"})
    assert market.install("fits").dependencies == (
        {"name": "base", "version": "1.0.0", "installed": False},
    )
    publish("needs-two", dependencies={"base": "^2.0.0"})
    before = snap(store.root)
    with pytest.raises(DependencyConflictError, match=r"cannot install needs-two@1.0.0") as info:
        market.install("needs-two")
    assert "base" in str(info.value) and "^2.0.0" in str(info.value)
    assert info.value.code == "DEPENDENCY_CONFLICT" and info.value.details["conflicts"]
    assert snap(store.root) == before


def test_missing_dependencies_are_named(market, publish, store, snap) -> None:
    publish("lonely", dependencies={"ghost": "^1.0.0"})
    before = snap(store.root)
    with pytest.raises(DependencyConflictError, match="ghost") as info:
        market.install("lonely")
    assert info.value.details["missing"] == ["ghost"]
    assert snap(store.root) == before


def test_unknown_plugins_and_versions(market, examples, store, snap) -> None:
    before = snap(store.root)
    with pytest.raises(NotFoundError, match="no plugin 'ghost' in the registry"):
        market.install("ghost")
    with pytest.raises(
        NotFoundError, match=r"csv-export has no version matching '9.9.9' \(published: 1.0.0"
    ):
        market.install("csv-export", "9.9.9")
    assert snap(store.root) == before


def test_installing_twice_is_refused(market, examples) -> None:
    market.install("audit-log")
    with pytest.raises(
        AlreadyExistsError, match=r"audit-log 1.0.0 is already installed; use update"
    ):
        market.install("audit-log")


def test_a_tampered_bundle_in_the_registry_is_refused(
    market, examples, registry: Registry, store, snap, engine
) -> None:
    path = registry.version("csv-export", "1.0.0").bundle
    edited = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(edited, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, data + b"\nimport os" if info.filename == "plugin.py" else data)
    edited.replace(path)
    before = snap(store.root)
    with pytest.raises(
        BundleError, match=r"csv-export-1.0.0.zip: entry 'plugin.py': content does not match"
    ):
        market.install("csv-export")
    assert snap(store.root) == before and "csv-export" not in engine


def test_a_swapped_bundle_is_refused(
    market, examples, registry, store, snap, key, make_plugin
) -> None:
    impostor = build_bundle(make_plugin("csv-export"), registry.root / "x.zip", signing_key=key)
    impostor.replace(registry.version("csv-export", "1.0.0").bundle)
    before = snap(store.root)
    with pytest.raises(BundleError, match=r"but the registry published csv-export@1\.0\.0 sha256:"):
        market.install("csv-export")
    assert snap(store.root) == before


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("truncate", r"csv-export-1\.0\.0\.zip: not a readable zip archive"),
        ("zip-slip", r"entry '\.\./\.\./evil\.py': '\.\.' in the path \(zip-slip"),
    ],
)
def test_a_damaged_registry_file_is_refused(
    market, examples, registry: Registry, store, snap, damage: str, message: str
) -> None:
    path = registry.version("csv-export", "1.0.0").bundle
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:200])
    else:
        with zipfile.ZipFile(path, "a") as zf:
            zf.writestr("../../evil.py", "import os")
    before = snap(store.root)
    with pytest.raises(BundleError, match=message):
        market.install("csv-export")
    assert snap(store.root) == before


def test_a_forged_signature_is_refused_even_when_unsigned_is_allowed(
    market, examples, registry: Registry, store, snap, key, other_key
) -> None:
    import base64

    from pliers_lab.market._package import SIGNATURE_FILE, rewrite_metadata
    from pliers_lab.market.signing import signed_message

    record = registry.version("csv-export", "1.0.0")
    with zipfile.ZipFile(record.bundle) as zf:
        doc = json.loads(zf.read(SIGNATURE_FILE))
    message = signed_message("csv-export", "1.0.0", record.checksum)
    doc["signature"] = base64.b64encode(other_key.sign(message)).decode()  # keyId still ann's
    rewrite_metadata(record.bundle, {SIGNATURE_FILE: json.dumps(doc).encode()})
    before = snap(store.root)
    with pytest.raises(SignatureError, match=f"does not verify with trusted key {key.key_id}"):
        market.install("csv-export", allow_unsigned=True)
    assert snap(store.root) == before


def test_unsigned_and_untrusted_bundles_need_consent(tmp_path, dist, store, engine, snap) -> None:
    open_registry = Registry(tmp_path / "open", require_signature=False)
    open_registry.publish(build_bundle(EXTENSIONS / "audit-log", dist), user="zoe")
    stranger = SigningKey.generate()
    open_registry.register_key("zoe", stranger.public_key)
    open_registry.publish(
        build_bundle(EXTENSIONS / "csv-export", dist, signing_key=stranger), user="zoe"
    )
    market = PluginMarketplace(open_registry, store, engine=engine)
    before = snap(store.root)
    with pytest.raises(
        SignatureError, match=r"audit-log@1.0.0: audit-log@1.0.0 is not signed; pass allow_unsigned"
    ):
        market.install("audit-log")
    with pytest.raises(
        SignatureError, match=f"signed by key {stranger.key_id}, which is not trusted"
    ):
        market.install("csv-export")
    assert snap(store.root) == before
    result = market.install("audit-log", allow_unsigned=True)
    assert "is not signed (allowed by allow_unsigned)" in result.warnings[0]
    store.trust_key(stranger.public_key, "stranger")
    assert market.install("csv-export").signatures["csv-export@1.0.0"]["status"] == "verified"


def test_an_unsafe_plugin_needs_consent(
    tmp_path, key, make_plugin, dist, store, engine, snap
) -> None:
    lax = Registry(tmp_path / "lax", min_score=0, require_safe=False)
    lax.register_key("ann", key.public_key)
    lax.publish(
        build_bundle(make_plugin("shelly", code=SHELL_CODE), dist, signing_key=key), user="ann"
    )
    market = PluginMarketplace(lax, store, engine=engine)
    before = snap(store.root)
    with pytest.raises(
        UnsafePluginError,
        match=r"shelly@1.0.0 failed the security scan \(score 60\): "
        r"critical process-execution at plugin.py:1",
    ):
        market.install("shelly")
    assert snap(store.root) == before
    result = market.install("shelly", allow_unsafe=True)
    assert result.security == {"shelly@1.0.0": 60} and "process-execution" in result.warnings[0]


def test_a_plugin_that_fails_to_start_is_not_left_installed(
    market, publish, store, engine, snap
) -> None:
    publish("base", "1.0.0")
    publish("fragile", dependencies={"base": "^1.0.0"}, code=FAILING_CODE)
    before = snap(store.root)
    with pytest.raises(
        StartupError,
        match=r"fragile@1.0.0 was installed but failed to start, so the install was undone: "
        r".*license server",
    ) as info:
        market.install("fragile")
    assert info.value.code == "PLUGIN_STARTUP_FAILED"
    assert "fragile" not in engine and "base" not in engine
    after = snap(store.root)
    assert after["files"] == before["files"]

    def state(rows: dict) -> dict:  # the history keeps the attempt; nothing else changes
        return {k: v for k, v in rows.items() if "history" not in k and "sequence" not in k}

    assert state(after["rows"]) == state(before["rows"])
    assert [h["action"] for h in store.history()] == [
        "install",
        "install",
        "install-undone",
        "install-undone",
    ]


def test_without_an_engine_only_the_store_changes(registry, store, examples) -> None:
    market = PluginMarketplace(registry, store)
    market.install("csv-export")
    assert "csv-export" in store


# ---------------------------------------------------------------------------- update
@pytest.fixture
def versions(publish) -> None:
    publish("notes", "1.0.0", changes=["first"])
    publish(
        "notes",
        "1.1.0",
        changes=["talks to the CRM"],
        permissions={"network": {"outbound": ["api.crm.test"]}, "events": ["subscribe"]},
    )
    publish("notes", "1.2.0-beta.1", changes=["beta"])


def test_update_shows_the_permission_diff_and_needs_acceptance(
    market: PluginMarketplace, versions, engine: Engine, store: PluginStore, snap
) -> None:
    market.install("notes", "1.0.0")
    engine.configure("notes", {"greeting": "hi"})
    before = snap(store.root)
    with pytest.raises(
        PermissionsNotAcceptedError,
        match=r"notes 1.1.0 asks for new permissions: events.subscribe, "
        r"network.outbound\[api.crm.test\]; review them and pass accept_permissions=True",
    ) as info:
        market.update("notes")
    assert info.value.status == 403
    assert {"category": "network", "verb": "outbound", "resource": "api.crm.test"} in (
        info.value.details["permissions"]["added"]
    )
    assert snap(store.root) == before and ask(engine, "notes")["version"] == "1.0.0"

    result = market.update("notes", accept_permissions=True)
    assert (result.from_version, result.to_version, result.updated) == ("1.0.0", "1.1.0", True)
    assert result.changes == ("talks to the CRM",)
    assert result.permissions.added == (
        ("events", "subscribe", "*"),
        ("network", "outbound", "api.crm.test"),
    )
    answer = ask(engine, "notes")
    assert answer == {"plugin": "notes", "version": "1.1.0", "config": {"greeting": "hi"}}
    assert engine.plugin("notes").state is PluginState.ACTIVE
    installed = store.get("notes")
    assert (installed.version, installed.previous_version, installed.versions) == (
        "1.1.0",
        "1.0.0",
        ("1.0.0", "1.1.0"),
    )
    assert (store.root / "notes/1.0.0/plugin.py").is_file()  # kept side by side
    assert result.to_dict()["oldVersion"] == "1.0.0"


def test_update_to_a_tag_and_nothing_to_do(market, versions, registry, engine) -> None:
    market.install("notes")
    assert ask(engine, "notes")["version"] == "1.1.0"  # latest, not the beta
    same = market.update("notes")
    assert not same.updated and same.warnings == ("notes is already at 1.1.0",)
    registry.tag("notes", "1.2.0-beta.1", "beta", user="ann")
    result = market.update("notes", "beta")
    assert result.to_version == "1.2.0-beta.1" and ask(engine, "notes")["version"] == "1.2.0-beta.1"


def test_update_refused_when_a_dependent_needs_the_old_major(market, publish, store, snap) -> None:
    publish("base", "1.0.0")
    publish("base", "2.0.0")
    publish("child", dependencies={"base": "^1.0.0"})
    market.install("child")
    assert not market.update("base").updated  # 2.0.0 would break child: 1.0.0 stays
    before = snap(store.root)
    with pytest.raises(
        DependencyConflictError,
        match=r"cannot update base@2.0.0: .*\n.*base 2.0.0 vs child \(\^1.0.0\)",
    ):
        market.update("base", "2.0.0")
    assert snap(store.root) == before


def test_update_brings_new_dependencies(market, publish, engine, store) -> None:
    publish("tool", "1.0.0")
    publish("helper", "1.0.0")
    publish("tool", "2.0.0", dependencies={"helper": "^1.0.0"})
    market.install("tool", "1.0.0")
    result = market.update("tool")
    assert result.dependencies == ({"name": "helper", "version": "1.0.0", "installed": True},)
    assert engine.plugin("helper").state is PluginState.ACTIVE
    assert ask(engine, "tool")["version"] == "2.0.0"
    assert store.get("helper").reason == "dependency"


def test_a_new_version_that_fails_to_start_leaves_the_old_one_serving(
    market, publish, engine, store
) -> None:
    publish("steady", "1.0.0")
    publish("steady", "2.0.0", code=FAILING_CODE)
    market.install("steady", "1.0.0")
    with pytest.raises(
        StartupError, match=r"steady@2\.0\.0 failed to start; 1\.0\.0 keeps running"
    ):
        market.update("steady", "2.0.0")
    assert ask(engine, "steady")["version"] == "1.0.0"
    installed = store.get("steady")
    assert (installed.version, installed.versions) == ("1.0.0", ("1.0.0",))
    assert not (store.root / "steady/2.0.0").exists()


# -------------------------------------------------------------------------- rollback
def test_rollback_switches_back_and_forth(market, versions, engine, store) -> None:
    market.install("notes", "1.0.0")
    engine.configure("notes", {"greeting": "hey"})
    market.update("notes", accept_permissions=True)
    back = market.rollback("notes")
    assert (back.from_version, back.to_version) == ("1.1.0", "1.0.0")
    assert back.permissions.removed and not back.permissions.added
    assert ask(engine, "notes") == {
        "plugin": "notes",
        "version": "1.0.0",
        "config": {"greeting": "hey"},
    }
    assert store.get("notes").previous_version == "1.1.0"
    assert market.rollback("notes").to_version == "1.1.0"  # undo the rollback
    assert [h["action"] for h in store.history("notes")] == [
        "install",
        "update",
        "rollback",
        "rollback",
    ]


def test_rollback_needs_a_previous_version(market, examples) -> None:
    market.install("audit-log")
    with pytest.raises(
        NotFoundError, match=r"audit-log has no previous version to roll back to \(active: 1.0.0\)"
    ):
        market.rollback("audit-log")
    with pytest.raises(NotFoundError, match="plugin 'ghost' is not installed"):
        market.rollback("ghost")


def test_rollback_refused_when_a_dependent_needs_the_newer_version(
    market, publish, store, snap
) -> None:
    publish("base", "1.0.0")
    publish("base", "1.5.0")
    market.install("base", "1.0.0")
    market.update("base")
    publish("modern", dependencies={"base": ">=1.5.0"})
    market.install("modern")
    before = snap(store.root)
    with pytest.raises(
        DependencyConflictError,
        match=r"cannot switch base to 1.0.0: modern needs base >=1.5.0, not 1.0.0",
    ):
        market.rollback("base")
    assert snap(store.root) == before


# ------------------------------------------------------------------------- uninstall
@pytest.fixture
def family(market, publish) -> PluginMarketplace:
    publish("base", "1.0.0")
    publish("middle", dependencies={"base": "^1.0.0"})
    publish("top", dependencies={"middle": "^1.0.0"})
    market.install("top")
    return market


def test_uninstall_refuses_while_others_depend(family, store, engine, snap) -> None:
    before = snap(store.root)
    with pytest.raises(
        DependencyConflictError,
        match=r"cannot uninstall base: middle, top depend on it; "
        r"uninstall them first, or pass cascade=True",
    ) as info:
        family.uninstall("base")
    assert info.value.details["dependents"] == ["middle", "top"]
    assert snap(store.root) == before and engine.plugin("base").state is PluginState.ACTIVE


def test_uninstall_cascade_removes_the_dependents_too(family, store, engine) -> None:
    result = family.uninstall("base", cascade=True)
    assert result.removed == ("top", "middle", "base")
    assert result.affected_plugins == ("middle", "top")
    assert store.installed() == {} and not any(n in engine for n in ("base", "middle", "top"))
    assert sorted(p.name for p in store.root.iterdir() if not p.name.startswith(".")) == [
        "store.db",
        "store.db-shm",
        "store.db-wal",
    ]


def test_uninstall_force_leaves_dependents_broken_and_says_so(family, store, engine) -> None:
    result = family.uninstall("middle", force=True)
    assert result.removed == ("middle",) and result.affected_plugins == ("top",)
    assert result.warnings == ("top stays installed but cannot load without middle",)
    assert sorted(store.installed()) == ["base", "top"]
    assert "top" not in engine and engine.plugin("base").state is PluginState.ACTIVE


def test_uninstall_keeps_data_unless_asked(market, examples, store) -> None:
    market.install("audit-log")
    data = store.data_dir("audit-log")
    data.mkdir(parents=True)
    (data / "entries.json").write_text("[]")
    kept = market.uninstall("audit-log")
    assert not kept.data_removed and data.is_dir()
    market.install("audit-log")
    removed = market.uninstall("audit-log", remove_data=True)
    assert removed.data_removed and not data.exists()
    assert removed.to_dict()["dataRemoved"] is True


def test_uninstall_unknown(market) -> None:
    with pytest.raises(NotFoundError, match="plugin 'ghost' is not installed"):
        market.uninstall("ghost")


# ---------------------------------------------------------------- details and updates
def test_plugin_details_and_versions(market, versions, registry) -> None:
    details = market.get_plugin("notes")
    assert details["version"] == "1.1.0" and details["installed"] is None
    assert [v["version"] for v in details["versions"]] == ["1.2.0-beta.1", "1.1.0", "1.0.0"]
    assert details["versions"][1]["changes"] == ["talks to the CRM"]
    assert details["permissions"] == {
        "network": {"outbound": ["api.crm.test"]},
        "events": ["subscribe"],
    }
    assert details["maintainers"] == {"ann": "owner"} and details["distTags"] == {"latest": "1.1.0"}
    assert market.get_versions("notes")[1] == {
        "version": "1.1.0",
        "releaseDate": details["versions"][1]["releaseDate"],
        "changes": ["talks to the CRM"],
        "downloads": 0,
        "tags": ["latest"],
    }
    with pytest.raises(NotFoundError):
        market.get_plugin("ghost")


def test_get_updates_lists_newer_compatible_versions(market, versions, publish) -> None:
    market.install("notes", "1.0.0")
    publish("notes", "2.0.0", engines={"pliers": "^4.0.0", "python": ">=3.11"})
    (update,) = market.get_updates()
    assert (update["currentVersion"], update["latestVersion"], update["breaking"]) == (
        "1.0.0",
        "1.1.0",
        False,
    )
    assert update["changes"] == ["talks to the CRM"]
    assert {"category": "network", "verb": "outbound", "resource": "api.crm.test"} in update[
        "permissionsAdded"
    ]
    assert market.get_updates({"notes": "1.1.0", "ghost": "1.0.0"}) == []
    future = PluginMarketplace(market.registry, market.store, pliers_version="4.1.0")
    assert (
        future.get_updates()[0]["latestVersion"] == "2.0.0" and future.get_updates()[0]["breaking"]
    )


# -------------------------------------------------------------------- shared store
def test_a_fresh_engine_loads_what_is_installed(registry, store, publish) -> None:
    publish("base", "1.0.0")
    publish("child", dependencies={"base": "^1.0.0"})
    PluginMarketplace(registry, store).install("child")
    with Engine() as fresh:
        loaded = PluginMarketplace(Registry(registry.root), PluginStore(store.root)).load_installed(
            fresh
        )
        assert loaded == ["base", "child"]
        assert ask(fresh, "child")["version"] == "1.0.0"
    with pytest.raises(ValueError, match="no engine"):
        PluginMarketplace(registry, store).load_installed()


def test_two_marketplaces_on_one_store_install_concurrently(registry, store, examples) -> None:
    names = ["audit-log", "csv-export", "submission-guard", "submission-sanitizer"]
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            PluginMarketplace(Registry(registry.root), PluginStore(store.root)).install(name)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(store.installed()) == names
    assert all((store.root / n / "1.0.0" / "manifest.json").is_file() for n in names)
