"""The SQLite registry: publishing checks, versions, tags, maintainers, counts."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from pliers_lab.market import (
    AlreadyExistsError,
    BundleError,
    NotFoundError,
    Registry,
    RegistryAccessError,
    SignatureError,
    SigningKey,
    UnsafePluginError,
    build_bundle,
)

from .conftest import EXAMPLES, EXTENSIONS, SHELL_CODE


def test_examples_publish_with_their_metadata(registry: Registry, examples) -> None:
    assert [p.name for p in registry.plugins()] == sorted(EXAMPLES)
    record = registry.version("csv-export", "1.0.0")
    assert record.publisher == "ann" and record.score == 100
    assert record.changes == ("first release",)
    assert record.bundle.is_file() and record.bundle.parent == registry.root / "bundles/csv-export"
    assert record.readme is not None and record.readme.startswith("#")
    assert record.categories == ("reporting", "data-transform")
    plugin = registry.plugin("csv-export")
    assert plugin.tags == {"latest": "1.0.0"} and plugin.maintainers == {"ann": "owner"}


def test_the_registry_persists_in_its_folder(registry: Registry, examples) -> None:
    again = Registry(registry.root)
    assert [p.name for p in again.plugins()] == sorted(EXAMPLES)
    assert again.keys("ann").keys() == registry.keys("ann").keys()


def test_a_version_is_published_once(registry: Registry, publish, snap) -> None:
    publish("dup", "1.0.0")
    before = snap(registry.root)
    with pytest.raises(AlreadyExistsError, match=r"dup@1.0.0 is already published; bump") as info:
        publish("dup", "1.0.0")
    assert info.value.code == "PLUGIN_ALREADY_EXISTS" and info.value.status == 409
    assert snap(registry.root) == before


def test_an_unpublished_version_number_is_never_reused(registry: Registry, publish) -> None:
    first = publish("gone", "1.0.0")
    publish("gone", "1.1.0")
    bundle = registry.version("gone", "1.0.0").bundle
    registry.unpublish("gone", "1.0.0", user="ann")
    assert not bundle.exists()
    assert [v.version for v in registry.plugin("gone").versions] == ["1.1.0"]
    with pytest.raises(NotFoundError, match=r"gone has no version '1.0.0' \(published: 1.1.0\)"):
        registry.version("gone", "1.0.0")
    with pytest.raises(
        AlreadyExistsError, match="published and then unpublished; a version number"
    ):
        publish("gone", "1.0.0")
    assert first.checksum


def test_unsigned_and_foreign_signatures_are_refused(
    registry: Registry, dist: Path, other_key: SigningKey, snap
) -> None:
    before = snap(registry.root)
    plain = build_bundle(EXTENSIONS / "audit-log", dist)
    with pytest.raises(
        SignatureError, match=r"cannot publish audit-log@1\.0\.0: audit-log@1\.0\.0 is not signed"
    ):
        registry.publish(plain, user="ann")
    foreign = build_bundle(EXTENSIONS / "audit-log", dist / "f.zip", signing_key=other_key)
    with pytest.raises(SignatureError, match=f"key {other_key.key_id}, which is not registered"):
        registry.publish(foreign, user="ann")
    registry.register_key("bob", other_key.public_key)
    with pytest.raises(SignatureError, match="which is registered to 'bob', not 'ann'"):
        registry.publish(foreign, user="ann")
    assert snap(registry.root)["files"] == before["files"]


def test_a_key_belongs_to_one_user(registry: Registry, key: SigningKey) -> None:
    assert registry.register_key("ann", key.public_key) == key.key_id  # idempotent
    with pytest.raises(AlreadyExistsError, match="already registered to 'ann'"):
        registry.register_key("eve", key.public_key)


def test_unsigned_bundles_may_be_allowed_by_the_registry(tmp_path: Path, dist: Path) -> None:
    open_registry = Registry(tmp_path / "open", require_signature=False)
    result = open_registry.publish(build_bundle(EXTENSIONS / "audit-log", dist), user="zoe")
    assert result.key_id is None and open_registry.version("audit-log", "1.0.0").key_id is None


def test_an_invalid_manifest_is_refused_with_its_problems(
    registry: Registry, tmp_path: Path, key: SigningKey, snap
) -> None:
    from pliers_lab.market import sign_bundle

    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", json.dumps({"name": "Bad Name", "version": "1"}))
    sign_bundle(path, key)
    before = snap(registry.root)
    with pytest.raises(BundleError, match=r"entry 'manifest.json': invalid manifest") as info:
        registry.publish(path, user="ann")
    paths = {tuple(p["path"]) for p in info.value.details["problems"]}
    assert {("name",), ("version",), ("description",)} <= paths
    assert snap(registry.root) == before


def test_a_failed_scan_is_refused_with_the_report(registry: Registry, publish, snap) -> None:
    before = snap(registry.root)
    with pytest.raises(
        UnsafePluginError, match=r"security score 60 .*critical process-execution at plugin.py:1"
    ) as info:
        publish(
            "shell",
            code=SHELL_CODE,
        )
    assert info.value.details["scan"]["safe"] is False
    assert snap(registry.root) == before


def test_the_minimum_score_is_a_setting(tmp_path: Path, key: SigningKey, make_plugin, dist) -> None:
    strict = Registry(tmp_path / "strict", min_score=95)
    strict.register_key("ann", key.public_key)
    code = SHELL_CODE.replace("import subprocess", "A = 'https://x.test'")
    bundle = build_bundle(make_plugin("hosty", code=code), dist, signing_key=key)
    with pytest.raises(UnsafePluginError, match=r"security score 92 \(minimum 95"):
        strict.publish(bundle, user="ann")
    lenient = Registry(tmp_path / "lenient", min_score=90)
    lenient.register_key("ann", key.public_key)
    assert lenient.publish(bundle, user="ann").scan.score == 92


def test_latest_follows_the_highest_stable_version(registry: Registry, publish) -> None:
    assert publish("tagged", "1.0.0").tags == ("latest",)
    assert publish("tagged", "2.0.0-beta.1").tags == ()
    assert publish("tagged", "1.1.0").tags == ("latest",)
    assert publish("tagged", "1.0.1").tags == ()  # a patch of an older line
    plugin = registry.plugin("tagged")
    assert plugin.tags == {"latest": "1.1.0"}
    assert [v.version for v in plugin.versions] == ["2.0.0-beta.1", "1.1.0", "1.0.1", "1.0.0"]
    registry.tag("tagged", "2.0.0-beta.1", "beta", user="ann")
    assert registry.resolve_version("tagged", "beta").version == "2.0.0-beta.1"
    assert registry.resolve_version("tagged").version == "1.1.0"
    assert registry.resolve_version("tagged", "~1.0").version == "1.0.1"
    assert registry.resolve_version("tagged", "1.0.0").version == "1.0.0"
    with pytest.raises(
        NotFoundError, match=r"no version matching '\^3' .*tags: beta=2.0.0-beta.1, latest=1.1.0"
    ):
        registry.resolve_version("tagged", "^3")
    registry.untag("tagged", "beta", user="ann")
    with pytest.raises(NotFoundError, match="has no tag 'beta'"):
        registry.untag("tagged", "beta", user="ann")
    with pytest.raises(ValueError, match="not a version number"):
        registry.tag("tagged", "1.0.0", "2.0.0", user="ann")


def test_maintainer_roles(registry: Registry, publish, key: SigningKey, snap) -> None:
    publish("team", "1.0.0")
    registry.register_key("bob", SigningKey.generate().public_key)
    with pytest.raises(
        RegistryAccessError, match=r"'bob' may not tag team: 'bob' is not a maintainer"
    ):
        registry.tag("team", "1.0.0", "stable", user="bob")
    registry.add_maintainer("team", "bob", user="ann")
    assert registry.maintainers("team") == {"ann": "owner", "bob": "maintainer"}
    registry.tag("team", "1.0.0", "stable", user="bob")
    with pytest.raises(
        RegistryAccessError,
        match=r"'bob' may not unpublish team: 'bob' is a maintainer \(allowed: owner\)",
    ) as info:
        registry.unpublish("team", "1.0.0", user="bob")
    assert info.value.code == "PERMISSION_DENIED" and info.value.status == 403
    with pytest.raises(RegistryAccessError, match="may not add maintainers to team"):
        registry.add_maintainer("team", "eve", user="bob")
    with pytest.raises(RegistryAccessError, match="team would have no owner left"):
        registry.remove_maintainer("team", "ann", user="ann")
    registry.add_maintainer("team", "bob", user="ann", role="owner")
    registry.remove_maintainer("team", "ann", user="ann")
    assert registry.maintainers("team") == {"bob": "owner"}
    with pytest.raises(NotFoundError, match="no plugin 'nope' in the registry"):
        registry.tag("nope", "1.0.0", "x", user="ann")


def test_per_plugin_permissions(registry: Registry, publish, key: SigningKey) -> None:
    """Spec ``setPermissions``: who may publish, tag, untag or unpublish, per plugin."""
    publish("team", "1.0.0")
    registry.add_maintainer("team", "bob", user="ann")
    assert registry.permissions("team")["tag"] == ["owner", "maintainer"]
    with pytest.raises(RegistryAccessError, match="may not set permissions on team"):
        registry.set_permissions("team", {"tag": ["maintainer"]}, user="bob")
    now = registry.set_permissions(
        "team", {"tag": ["owner", "user:ci"], "unpublish": ["user:bob"]}, user="ann"
    )
    assert now["tag"] == ["owner", "user:ci"] and now["unpublish"] == ["user:bob"]
    with pytest.raises(RegistryAccessError, match=r"\(allowed: owner, user:ci\)"):
        registry.tag("team", "1.0.0", "stable", user="bob")
    registry.tag("team", "1.0.0", "stable", user="ci")  # named, though not a maintainer
    registry.tag("team", "1.0.0", "beta", user="ann")  # owners always may
    registry.set_permissions("team", {"tag": None}, user="ann")  # back to the default
    registry.tag("team", "1.0.0", "rc", user="bob")
    registry.unpublish("team", "1.0.0", user="bob")
    with pytest.raises(ValueError, match="unknown action 'delete'"):
        registry.set_permissions("team", {"delete": ["owner"]}, user="ann")
    with pytest.raises(ValueError, match="'everyone'"):
        registry.set_permissions("team", {"tag": ["everyone"]}, user="ann")
    actions = [a["action"] for a in registry.audit("team")]
    assert actions.count("set-permissions") == 2


def test_a_stranger_cannot_publish_a_taken_name(
    registry: Registry, publish, tmp_path, make_plugin, dist
) -> None:
    publish("taken", "1.0.0")
    eve = SigningKey.generate()
    registry.register_key("eve", eve.public_key)
    folder = make_plugin("taken", "2.0.0")
    with pytest.raises(RegistryAccessError, match="'eve' may not publish taken"):
        registry.publish(build_bundle(folder, dist, signing_key=eve), user="eve")


def test_ratings_downloads_flags_and_audit(registry: Registry, publish) -> None:
    publish("rated", "1.0.0")
    assert registry.rate("rated", 5, user="ann") == 5.0
    assert registry.rate("rated", 2, user="bob") == 3.5
    assert registry.rate("rated", 4, user="bob") == 4.5  # one rating per user
    for bad in (6, -1, 2.5, True):
        with pytest.raises(ValueError, match="integer from 0 to 5"):
            registry.rate("rated", bad, user="ann")  # type: ignore[arg-type]
    path = registry.download("rated", "1.0.0")
    registry.download("rated", "1.0.0")
    assert path.is_file()
    plugin = registry.plugin("rated")
    assert (plugin.downloads, plugin.rating, plugin.rating_count) == (2, 4.5, 2)
    registry.set_verified("rated")
    registry.set_featured("rated")
    plugin = registry.plugin("rated")
    assert plugin.verified and plugin.featured
    actions = [row["action"] for row in registry.audit("rated")]
    assert actions == ["publish", "set-verified", "set-featured"]


def test_unknown_plugins_are_not_found(registry: Registry) -> None:
    with pytest.raises(NotFoundError, match="no plugin 'ghost' in the registry") as info:
        registry.plugin("ghost")
    assert info.value.code == "PLUGIN_NOT_FOUND" and str(info.value).startswith("no plugin")


def test_the_catalog_holds_every_live_version(registry: Registry, publish) -> None:
    publish("base", "1.0.0")
    publish("base", "2.0.0")
    publish("child", "1.0.0", dependencies={"base": "^1.0.0"})
    catalog = registry.catalog()
    assert [s.version for s in catalog.versions("base")] == ["2.0.0", "1.0.0"]
    (req,) = catalog.get("child", "1.0.0").requires
    assert (req.name, req.range, req.scope, req.required_by) == (
        "base",
        "^1.0.0",
        "runtime",
        "child",
    )


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    import sqlite3

    from pliers_lab.market._registry import MIGRATIONS

    Registry(tmp_path / "r")
    conn = sqlite3.connect(tmp_path / "r/registry.db")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(
        RuntimeError,
        match=rf"schema version 99, newer than this pliers_lab knows \({len(MIGRATIONS)}\)",
    ):
        Registry(tmp_path / "r")
