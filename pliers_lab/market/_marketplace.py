"""``PluginMarketplace``: discover plugins in a registry, install them into a store and an
engine, update, roll back, uninstall (spec: Plugin Marketplace Integration).

>>> market = PluginMarketplace(Registry("reg"), PluginStore("st"), engine=engine)  # doctest: +SKIP
>>> market.search("phone", category="validation")                               # doctest: +SKIP
>>> market.install("advanced-validation")                                        # doctest: +SKIP

Every method is synchronous and safe to call from several threads or processes sharing
one store (see ``store``). Refusals raise a :class:`~.errors.MarketError` whose ``code``
is the REST error code; operations that go through return the spec's result records.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import PliersError
from ..storage.sqlite import now
from ..versions import parse_version, satisfies
from ._listings import VersionRecord
from .install import (
    Progress,
    forget,
    load_chain,
    loaded,
    place,
    prepare,
    report,
    resolve_plan,
    signer_of,
    unplace,
)
from .query import CATEGORIES, MarketplaceQuery, PluginListing, SearchResult, listing
from .refusals import (
    AlreadyExistsError,
    DependencyConflictError,
    MarketError,
    NotFoundError,
    PermissionsNotAcceptedError,
    StartupError,
)
from .results import (
    InstallResult,
    PermissionDiff,
    UninstallResult,
    UpdatePlan,
    UpdateResult,
    diff_permissions,
)

if TYPE_CHECKING:
    import os

    from ..dependencies import Resolution
    from ..engine import Engine
    from ..manifest import Manifest
    from ._listings import PluginRecord
    from ._store import InstalledPlugin, PluginStore
    from .install import Prepared
    from .results import ValidationReport
    from .signing import VerificationResult
    from .sources import RegistrySource

__all__ = ["PluginMarketplace"]


class PluginMarketplace:
    """The marketplace over one ``registry`` and one ``store``.

    ``registry`` is a ``Registry``, a ``RemoteRegistry`` or a ``MirrorRegistry``, or what
    names one (``sources.open_registry``): a registry folder, a registry service's URL
    (``http://host:8080``), a mirror folder or its ``file://`` URL.

    Args:
        engine: where installs, updates and rollbacks take effect (optional; each call
            may pass its own). Without one only the store changes.
        pliers_version: the engine version plugins must run on (default: this engine's
            API version); used by dependency resolution and ``get_updates``.
    """

    def __init__(
        self,
        registry: RegistrySource | str | os.PathLike[str],
        store: PluginStore,
        *,
        engine: Engine | None = None,
        pliers_version: str | None = None,
    ) -> None:
        from ..engine.loader import API_VERSION
        from .sources import open_registry

        self.registry: RegistrySource = open_registry(registry)
        self.store = store
        self.engine = engine
        self.pliers_version = pliers_version or API_VERSION
        self._followed: set[int] = set()
        if engine is not None:
            self._follow(engine)

    def _follow(self, engine: Engine | None) -> None:
        """Keep, in the store, each configuration the user gives a store plugin in
        ``engine`` (``engine.configure``, ``PUT /v3/plugins/{id}/config``), so that a
        restart (``load_installed``), an update or a rollback applies it again."""
        if engine is None or id(engine) in self._followed:
            return
        self._followed.add(id(engine))
        store = self.store

        def keep(event: dict[str, Any]) -> None:
            name = event["pluginId"]
            if event["type"] != "plugin.config.updated" or name not in store:
                return
            store.save_config(name, engine.plugin(name).config_overrides)

        engine.activity.subscribe(keep)

    def __repr__(self) -> str:
        return f"PluginMarketplace({self.registry!r}, {self.store!r})"

    # ------------------------------------------------------------------ discovery
    def search(self, query: MarketplaceQuery | str | None = None, **options: Any) -> SearchResult:
        """Listings matching ``query`` with facets: a ``MarketplaceQuery``, or a text query
        and/or the query's fields as keywords (``category="validation", limit=5``)."""
        if not isinstance(query, MarketplaceQuery):
            query = MarketplaceQuery(query=query, **options)
        elif options:
            raise TypeError("pass a MarketplaceQuery or keyword options, not both")
        return self.registry.search(query)

    def get_plugin(self, plugin_id: str) -> dict[str, Any]:
        """The REST plugin-details shape: the listing plus long description, versions,
        dependencies, permissions, maintainers, dist-tags and what is installed."""
        plugin = self.registry.plugin(plugin_id)
        version = plugin.latest
        assert version is not None
        installed = self.store.installed().get(plugin_id)
        manifest = version.manifest
        deps = [
            {"name": name, "version": rng, "scope": scope, "optional": scope == "optional"}
            for key, scope in (
                ("dependencies", "runtime"),
                ("peerDependencies", "peer"),
                ("optionalDependencies", "optional"),
            )
            for name, rng in (manifest.get(key) or {}).items()
        ]
        return {
            **listing(plugin, version).to_dict(),
            "longDescription": version.readme or version.description,
            "versions": [v.to_dict() for v in plugin.versions],
            "screenshots": [],
            "dependencies": deps,
            "permissions": manifest.get("permissions") or {},
            "hooks": sorted(manifest.get("hooks") or {}),
            "maintainers": dict(plugin.maintainers),
            "distTags": dict(plugin.tags),
            "security": {"score": version.score, "safe": bool(version.scan.get("safe", True))},
            "checksum": version.checksum,
            "installed": installed.version if installed else None,
        }

    def get_versions(self, plugin_id: str) -> list[dict[str, Any]]:
        """``[{version, releaseDate, changes, downloads, tags}]``, highest first."""
        plugin = self.registry.plugin(plugin_id)
        tags_of: dict[str, list[str]] = {}
        for tag, version in plugin.tags.items():
            tags_of.setdefault(version, []).append(tag)
        return [
            {**v.to_dict(), "downloads": v.downloads, "tags": sorted(tags_of.get(v.version, []))}
            for v in plugin.versions
        ]

    def get_categories(self) -> list[dict[str, Any]]:
        """The ten categories with how many plugins list each one."""
        counts = self.registry.category_counts()
        return [
            {"id": str(cid), "name": title, "description": about, "count": counts.get(cid, 0)}
            for cid, (title, about) in CATEGORIES.items()
        ]

    def get_featured(self, limit: int = 6) -> list[PluginListing]:
        """Plugins the registry features, best rated first."""
        return self.registry.featured(limit)

    def get_popular(self, limit: int = 10) -> list[PluginListing]:
        """The most downloaded plugins."""
        return self.registry.popular(limit)

    def get_updates(self, installed: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Newer versions that run on this engine, for ``installed`` (name → version;
        default: the store). Each: ``{pluginId, currentVersion, latestVersion,
        releaseDate, changes, breaking, permissionsAdded}``."""
        if installed is None:
            installed = {n: p.version for n, p in self.store.installed().items()}
        updates = []
        for name, current in sorted(installed.items()):
            try:
                plugin = self.registry.plugin(name)
            except NotFoundError:
                continue
            newer = [
                v
                for v in plugin.versions
                if parse_version(v.version) > parse_version(current)
                and not v.prerelease
                and satisfies(self.pliers_version, v.engines_pliers, include_prerelease=True)
            ]
            if not newer:
                continue
            best = newer[0]
            old = self._manifest_of(plugin, current)
            diff = diff_permissions(old.permissions if old else None, _parse(best).permissions)
            updates.append(
                {
                    "pluginId": name,
                    "currentVersion": current,
                    "latestVersion": best.version,
                    "releaseDate": best.released_at,
                    "changes": [c for v in reversed(newer) for c in v.changes],
                    "breaking": parse_version(best.version).major > parse_version(current).major,
                    "permissionsAdded": diff.to_dict()["added"],
                }
            )
        return updates

    def _manifest_of(self, plugin: PluginRecord, version: str) -> Manifest | None:
        if version in self.store.installed().get(plugin.name, _NONE).versions:
            return self.store.manifest(plugin.name, version)
        record = plugin.get(version)
        return _parse(record) if record else None

    # --------------------------------------------------------------- installation
    def _prepare(
        self,
        resolution: Any,
        names: list[str],
        allow_unsigned: bool,
        allow_unsafe: bool,
        progress: Progress | None = None,
    ) -> list[Any]:
        """Verify, scan and stage each chosen version in ``names`` (nothing placed yet)."""
        return [
            prepare(
                self.registry,
                self.store,
                resolution.chosen[n].source,
                allow_unsigned=allow_unsigned,
                allow_unsafe=allow_unsafe,
                progress=progress,
            )
            for n in names
        ]

    def install(
        self,
        plugin_id: str,
        version: str | None = None,
        *,
        engine: Engine | None = None,
        config: Mapping[str, Any] | None = None,
        activate: bool = True,
        allow_unsigned: bool = False,
        allow_unsafe: bool = False,
        progress: Progress | None = None,
    ) -> InstallResult:
        """Install ``plugin_id`` (``version``: exact, tag or range; default ``latest``)
        with the dependencies it needs, then load them into the engine, dependencies
        first.

        Refused (``MarketError``, store and database unchanged): an unknown plugin or
        version (``NotFoundError``), one already installed (``AlreadyExistsError``: use
        ``update``), unsatisfiable dependencies (``DependencyConflictError`` with the
        conflicts and missing plugins), a corrupt or tampered bundle (``BundleError``),
        an unsigned or untrusted one unless ``allow_unsigned`` and a forged one always
        (``SignatureError``), a failed scan unless ``allow_unsafe``
        (``UnsafePluginError``), and a plugin that fails to start (``StartupError``).

        ``progress(step, detail)``, if given, is called as each step of ``install.STEPS``
        starts, so a caller can show where a long install is.
        """
        engine = engine or self.engine
        self._follow(engine)
        with self.store.lock():
            current = self.store.installed().get(plugin_id)
            if current is not None:
                raise AlreadyExistsError(
                    f"{plugin_id} {current.version} is already installed; use update() to "
                    "change its version",
                    plugin_id=plugin_id,
                )
            report(progress, "resolve", f"resolving {plugin_id}@{version or 'latest'}")
            target = self.registry.resolve_version(plugin_id, version)
            resolution = resolve_plan(
                self.registry,
                self.store,
                plugin_id,
                pin=target.version,
                pliers_version=self.pliers_version,
            )
            installed = self.store.installed()
            new = [n for n in resolution.order if n not in installed]
            items = self._prepare(resolution, new, allow_unsigned, allow_unsafe, progress)
            report(progress, "install", f"unpacking {', '.join(i.record.key for i in items)}")
            created = place(self.store, items)
            versions = {n: s.version for n, s in resolution.chosen.items()}
            try:
                with self.store.write() as db:
                    for item in items:
                        self.store.add_version(
                            db,
                            item.name,
                            item.version,
                            item.record.checksum,
                            _key_id(item),
                            str(self.registry.root),
                        )
                        reason = "explicit" if item.name == plugin_id else "dependency"
                        self.store.set_active(db, item.name, item.version, None, reason)
                        self.store.log(
                            db,
                            item.name,
                            "install",
                            None,
                            item.version,
                            None if reason == "explicit" else f"needed by {plugin_id}",
                        )
            except BaseException:
                unplace(created)
                raise
            started: list[str] = []
            if engine is not None:
                report(progress, "start", f"starting {', '.join(new)} in the engine")
                try:
                    started = load_chain(
                        engine,
                        self.store,
                        resolution.order,
                        versions,
                        config=lambda n: config if n == plugin_id else self.store.config(n),
                        activate=activate,
                        verified=_verified(items),
                    )
                except MarketError:
                    self._undo_install(new, created)
                    raise
            if config is not None:
                self.store.save_config(plugin_id, config)
            stamp = now()
        return InstallResult(
            success=True,
            plugin_id=plugin_id,
            version=target.version,
            installed_at=stamp,
            dependencies=tuple(
                {"name": n, "version": versions[n], "installed": n in new}
                for n in resolution.order
                if n != plugin_id
            ),
            conflicts=tuple(c.to_dict() for c in resolution.conflicts),
            warnings=tuple(w for item in items for w in item.warnings)
            + tuple(
                f"optional dependency {r.name} {r.range} is not available"
                for r in resolution.missing_optional
            )
            + _engine_warnings(engine, started),
            path=str(self.store.version_dir(plugin_id, target.version)),
            security={item.record.key: item.scan.score for item in items if item.scan},
            signatures={
                item.record.key: item.verification.to_dict() for item in items if item.verification
            },
        )

    def _undo_install(self, names: list[str], created: list[Any]) -> None:
        with self.store.write() as db:
            for name in names:
                self.store.forget(db, name)
                self.store.log(db, name, "install-undone", None, None, "failed to start")
        unplace(created)

    def update(
        self,
        plugin_id: str,
        version: str | None = None,
        *,
        accept_permissions: bool = False,
        engine: Engine | None = None,
        allow_unsigned: bool = False,
        allow_unsafe: bool = False,
        progress: Progress | None = None,
    ) -> UpdateResult:
        """Switch ``plugin_id`` to ``version`` (default: the newest that fits the other
        installed plugins and this engine), installing it beside the current one.

        A new version that asks for more permissions is refused with
        ``PermissionsNotAcceptedError`` listing them, unless ``accept_permissions``.
        In the engine the plugin is reloaded from the new folder, keeping its
        configuration; if the new version fails to start, the old one keeps serving and
        the store is switched back. Nothing to do gives ``updated=False``. ``plan_update``
        tells what this would do (the permission diff above all) without doing it;
        ``progress`` is as for ``install``.
        """
        engine = engine or self.engine
        self._follow(engine)
        with self.store.lock():
            report(progress, "resolve", f"resolving {plugin_id}@{version or 'newest'}")
            current, resolution, record = self._update_target(plugin_id, version)
            if record is None:
                return UpdateResult(
                    True,
                    plugin_id,
                    current.version,
                    current.version,
                    updated=False,
                    warnings=(f"{plugin_id} is already at {current.version}",),
                )
            diff = diff_permissions(
                self.store.manifest(plugin_id).permissions, _parse(record).permissions
            )
            if diff.added and not accept_permissions:
                raise PermissionsNotAcceptedError(
                    f"{plugin_id} {record.version} asks for new permissions: "
                    f"{PermissionDiff.text(diff.added)}; review them and pass "
                    "accept_permissions=True to update",
                    plugin_id=plugin_id,
                    details={"permissions": diff.to_dict(), "version": record.version},
                )
            installed = self.store.installed()
            new_deps = [n for n in resolution.order if n not in installed]
            wanted = [*new_deps, plugin_id]
            items = self._prepare(resolution, wanted, allow_unsigned, allow_unsafe, progress)
            report(progress, "install", f"unpacking {', '.join(i.record.key for i in items)}")
            created = place(self.store, items)
            versions = {n: s.version for n, s in resolution.chosen.items()}
            self._commit_switch(
                items, plugin_id, current.version, record.version, "update", created
            )
            if engine is not None and loaded(engine, plugin_id):
                report(progress, "start", f"reloading {record.key} in the engine")
                self._reload(
                    engine,
                    plugin_id,
                    record.version,
                    new_deps,
                    versions,
                    previous=current.version,
                    created=created,
                    undo_items=items,
                )
            older = parse_version(current.version)
            changes = self._changes(plugin_id, current.version, record.version)
        warnings = [w for item in items for w in item.warnings]
        warnings += _engine_warnings(engine, [*new_deps, plugin_id])
        if parse_version(record.version) < older:
            warnings.append(f"{plugin_id} moved down from {current.version} to {record.version}")
        return UpdateResult(
            True,
            plugin_id,
            current.version,
            record.version,
            updated_at=now(),
            permissions=diff,
            changes=changes,
            dependencies=tuple(
                {"name": n, "version": versions[n], "installed": True} for n in new_deps
            ),
            warnings=tuple(warnings),
        )

    def plan_update(self, plugin_id: str, version: str | None = None) -> UpdatePlan:
        """What ``update(plugin_id, version)`` would do, changing nothing: the version it
        would switch to, the permissions that version adds and drops, the release notes
        on the way and the dependencies it would install — what a user reviews before
        accepting. Refused as ``update`` refuses (``NotFoundError``,
        ``DependencyConflictError``)."""
        current, resolution, record = self._update_target(plugin_id, version)
        if record is None:
            return UpdatePlan(plugin_id, current.version, current.version)
        installed = self.store.installed()
        return UpdatePlan(
            plugin_id,
            current.version,
            record.version,
            permissions=diff_permissions(
                self.store.manifest(plugin_id).permissions, _parse(record).permissions
            ),
            changes=self._changes(plugin_id, current.version, record.version),
            dependencies=tuple(
                {"name": n, "version": resolution.chosen[n].version}
                for n in resolution.order
                if n not in installed
            ),
        )

    def _update_target(
        self, plugin_id: str, version: str | None
    ) -> tuple[InstalledPlugin, Resolution, VersionRecord | None]:
        """The installed plugin, the resolution an update to ``version`` gives, and the
        registry version it picks (None: it stays where it is)."""
        current = self.store.get(plugin_id)
        pin = self.registry.resolve_version(plugin_id, version).version if version else None
        resolution = resolve_plan(
            self.registry,
            self.store,
            plugin_id,
            pin=pin,
            pliers_version=self.pliers_version,
            action="update",
        )
        record = resolution.chosen[plugin_id].source
        if not isinstance(record, VersionRecord) or record.version == current.version:
            # only the installed version is in the catalog without a registry record
            return current, resolution, None
        return current, resolution, record

    def _changes(self, plugin_id: str, old: str, new: str) -> tuple[str, ...]:
        """The release notes of the versions above ``old`` up to ``new``, oldest first."""
        older, newer = parse_version(old), parse_version(new)
        return tuple(
            c
            for v in reversed(self.registry.plugin(plugin_id).versions)
            if older < parse_version(v.version) <= newer
            for c in v.changes
        )

    def _commit_switch(
        self,
        items: list[Prepared],
        plugin_id: str,
        old: str,
        new: str,
        action: str,
        created: list[Any],
    ) -> None:
        try:
            with self.store.write() as db:
                for item in items:
                    self.store.add_version(
                        db,
                        item.name,
                        item.version,
                        item.record.checksum,
                        _key_id(item),
                        str(self.registry.root),
                    )
                    if item.name != plugin_id:
                        self.store.set_active(db, item.name, item.version, None, "dependency")
                        self.store.log(
                            db, item.name, "install", None, item.version, f"needed by {plugin_id}"
                        )
                self.store.set_active(db, plugin_id, new, old, "explicit")
                self.store.log(db, plugin_id, action, old, new)
        except BaseException:
            unplace(created)
            raise

    def _reload(
        self,
        engine: Engine,
        plugin_id: str,
        version: str,
        new_deps: list[str],
        versions: Mapping[str, str],
        *,
        previous: str,
        created: list[Any],
        undo_items: list[Prepared],
    ) -> None:
        """Load new dependencies, then reload the plugin from its new folder; on failure
        put the store back on ``previous`` (the engine keeps the old version serving)."""
        verified = _verified(undo_items)
        try:
            load_chain(
                engine, self.store, new_deps, versions, config=self.store.config, verified=verified
            )
            engine.reload(
                plugin_id,
                self.store.version_dir(plugin_id, version),
                origin="bundle",
                signer=signer_of(self.store, plugin_id, version, verified),
            )
        except (MarketError, PliersError) as exc:
            forget(engine, reversed(new_deps))
            with self.store.write() as db:
                for name in new_deps:
                    self.store.forget(db, name)
                self.store.set_active(db, plugin_id, previous, None, "explicit")
                if self.store.version_dir(plugin_id, version) in created:
                    db.execute(
                        "DELETE FROM versions WHERE name = ? AND version = ?", (plugin_id, version)
                    )
                self.store.log(db, plugin_id, "update-undone", version, previous, str(exc)[:500])
            unplace(created)
            raise StartupError(
                f"{plugin_id}@{version} failed to start; {previous} keeps running: {exc}",
                plugin_id=plugin_id,
            ) from exc

    def rollback(self, plugin_id: str, *, engine: Engine | None = None) -> UpdateResult:
        """Switch back to the version that was active before the last switch (kept on
        disk). Refused when installed plugins would not accept that version, or its
        dependencies are not installed at versions it accepts."""
        engine = engine or self.engine
        self._follow(engine)
        with self.store.lock():
            current = self.store.get(plugin_id)
            previous = current.previous_version
            if previous is None or previous not in current.versions:
                raise NotFoundError(
                    f"{plugin_id} has no previous version to roll back to "
                    f"(active: {current.version})",
                    plugin_id=plugin_id,
                )
            old_manifest = self.store.manifest(plugin_id)
            target = self.store.manifest(plugin_id, previous)
            self._check_fits(plugin_id, target)
            diff = diff_permissions(old_manifest.permissions, target.permissions)
            with self.store.write() as db:
                self.store.set_active(db, plugin_id, previous, current.version, "explicit")
                self.store.log(db, plugin_id, "rollback", current.version, previous)
            if engine is not None and loaded(engine, plugin_id):
                try:
                    engine.reload(
                        plugin_id,
                        self.store.version_dir(plugin_id, previous),
                        origin="bundle",
                        signer=self.store.signer(plugin_id, previous),
                    )
                except PliersError as exc:
                    with self.store.write() as db:
                        self.store.set_active(db, plugin_id, current.version, previous, "explicit")
                        self.store.log(db, plugin_id, "rollback-undone", previous, current.version)
                    raise StartupError(
                        f"{plugin_id}@{previous} failed to start; {current.version} keeps "
                        f"running: {exc}",
                        plugin_id=plugin_id,
                    ) from exc
        return UpdateResult(
            True, plugin_id, current.version, previous, updated_at=now(), permissions=diff
        )

    def _check_fits(self, plugin_id: str, manifest: Manifest) -> None:
        installed = self.store.installed()
        version = str(manifest.version)
        problems = []
        for name, rng, scope in manifest.all_dependencies():
            have = installed.get(name)
            if scope == "optional" and have is None:
                continue
            if have is None or not satisfies(have.version, rng):
                problems.append(
                    f"{manifest.key} needs {name} {rng}, "
                    f"installed: {have.version if have else 'none'}"
                )
        for other in installed:
            if other == plugin_id:
                continue
            for name, rng, scope in self.store.manifest(other).all_dependencies():
                if name == plugin_id and scope != "optional" and not satisfies(version, rng):
                    problems.append(f"{other} needs {plugin_id} {rng}, not {version}")
        if problems:
            raise DependencyConflictError(
                f"cannot switch {plugin_id} to {version}: " + "; ".join(problems),
                plugin_id=plugin_id,
                details={"problems": problems},
            )

    def uninstall(
        self,
        plugin_id: str,
        *,
        remove_data: bool = False,
        force: bool = False,
        cascade: bool = False,
        engine: Engine | None = None,
    ) -> UninstallResult:
        """Remove every kept version of ``plugin_id`` (and its data with ``remove_data``).

        Refused while installed plugins depend on it, naming them — unless ``cascade``
        (they are uninstalled too) or ``force`` (they stay, broken, and are listed in
        ``affected_plugins``).
        """
        engine = engine or self.engine
        self._follow(engine)
        with self.store.lock():
            current = self.store.get(plugin_id)
            dependents = self.store.dependents(plugin_id)
            if dependents and not (force or cascade):
                raise DependencyConflictError(
                    f"cannot uninstall {plugin_id}: {', '.join(dependents)} depend"
                    f"{'s' if len(dependents) == 1 else ''} on it; uninstall them first, or pass "
                    "cascade=True (uninstall them too) or force=True (leave them broken)",
                    plugin_id=plugin_id,
                    details={"dependents": dependents},
                )
            doomed = [*reversed(dependents), plugin_id] if cascade else [plugin_id]
            if engine is not None:  # the engine's cascade also stops dependents left broken
                forget(engine, [n for n in doomed if n in engine])
            versions = {n: p.version for n, p in self.store.installed().items()}
            trash = self.store.staging()
            moved = []
            for name in doomed:
                folder = self.store.root / name
                if folder.exists():
                    folder.rename(trash / name)
                    moved.append(name)
            try:
                with self.store.write() as db:
                    for name in doomed:
                        self.store.log(
                            db,
                            name,
                            "uninstall",
                            versions.get(name),
                            None,
                            None if name == plugin_id else f"cascade from {plugin_id}",
                        )
                        self.store.forget(db, name)
            except BaseException:
                for name in moved:
                    (trash / name).rename(self.store.root / name)
                raise
            shutil.rmtree(trash, ignore_errors=True)
            removed_data = False
            if remove_data:
                for name in doomed:
                    self.store.save_config(name, None)
                    if self.store.data_dir(name).exists():
                        shutil.rmtree(self.store.data_dir(name))
                        removed_data = True
        return UninstallResult(
            True,
            plugin_id,
            current.version,
            removed=tuple(doomed),
            affected_plugins=tuple(dependents),
            data_removed=removed_data,
            warnings=tuple(
                f"{n} stays installed but cannot load without {plugin_id}"
                for n in dependents
                if force and not cascade
            ),
        )

    # ---------------------------------------------------------------- validation
    def validate(self, bundle: str | os.PathLike[str]) -> ValidationReport:
        """The REST ``POST /plugins/validate`` check of a bundle file; never raises for
        what is wrong with the bundle, it reports it."""
        from .validate import validate_bundle

        return validate_bundle(self, bundle)

    def load_installed(self, engine: Engine | None = None) -> list[str]:
        """Load every installed plugin's active version into ``engine``, dependencies
        first (a server or notebook starting on an existing store)."""
        from ..dependencies import Catalog, PluginSpec, resolve

        target = engine or self.engine
        self._follow(target)
        if target is None:
            raise ValueError("no engine: pass one, or give the marketplace one")
        installed = self.store.installed()
        catalog = Catalog(PluginSpec.from_manifest(self.store.manifest(n)) for n in installed)
        resolution = resolve(catalog, strategy="manual", pliers_version=self.pliers_version)
        versions = {n: p.version for n, p in installed.items()}
        return load_chain(target, self.store, resolution.order, versions, config=self.store.config)


class _NoneInstalled:
    versions: tuple[str, ...] = ()


_NONE: Any = _NoneInstalled()


def _parse(record: VersionRecord) -> Manifest:
    from ..manifest import parse_manifest

    return parse_manifest(record.manifest, source=f"{record.key} (registry)")


def _verified(items: list[Prepared]) -> dict[str, VerificationResult]:
    return {item.name: item.verification for item in items if item.verification is not None}


def _engine_warnings(engine: Engine | None, names: list[str]) -> tuple[str, ...]:
    """What the engine said about the plugins just loaded (a refused inline request)."""
    if engine is None:
        return ()
    return tuple(w for n in names if loaded(engine, n) for w in engine.plugin(n).warnings)


def _key_id(item: Prepared) -> str | None:
    return item.verification.key_id if item.verification else item.record.key_id
