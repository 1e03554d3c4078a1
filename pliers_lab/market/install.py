"""The steps of an install, each undoable: resolve, fetch and verify, place, load.

Every check happens before the store changes: all bundles of a plan are fetched,
verified (checksum, signature, manifest) and scanned first; then they are unpacked into
``.staging`` and moved into ``<store>/<name>/<version>/`` (a rename on one filesystem);
only then is the database written, in one transaction. A failure at any step removes
what the earlier steps created, so the store and its database end as they began.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import PliersError
from .bundle import Bundle, open_bundle
from .refusals import (
    BundleError,
    DependencyConflictError,
    StartupError,
    UnsafePluginError,
)

if TYPE_CHECKING:
    from ..dependencies import Resolution
    from ..engine import Engine
    from ._listings import VersionRecord
    from ._store import PluginStore
    from .scan import SecurityScanResult
    from .signing import VerificationResult
    from .sources import RegistrySource

__all__ = [
    "STEPS",
    "Prepared",
    "Progress",
    "load_chain",
    "place",
    "prepare",
    "resolve_plan",
    "signer_of",
    "unplace",
]

#: The steps an install or update reports to its ``progress`` callback, in this order
#: (``download``, ``verify`` and ``scan`` once per new bundle, dependencies included):
#: a notebook or a server shows where a long install is instead of going quiet.
STEPS = ("resolve", "download", "verify", "scan", "install", "start")

#: ``progress(step, detail)``: ``step`` is one of ``STEPS``, ``detail`` a short sentence
#: naming the plugin and version (``"downloading notes@1.1.0"``).
Progress = Callable[[str, str], None]


def report(progress: Progress | None, step: str, detail: str) -> None:
    """Tell ``progress`` (if any) that ``step`` starts."""
    if progress is not None:
        progress(step, detail)


@dataclass
class Prepared:
    """One version ready to be placed: fetched, verified and scanned (or already kept
    in the store, ``reused``)."""

    record: VersionRecord
    bundle: Bundle | None = None
    verification: VerificationResult | None = None
    scan: SecurityScanResult | None = None
    reused: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def version(self) -> str:
        return self.record.version


def manifest_problems(exc: Any) -> list[dict[str, Any]]:
    return [{"path": list(p.path), "message": p.message, "hint": p.hint} for p in exc.problems]


def resolve_plan(
    registry: RegistrySource,
    store: PluginStore,
    target: str,
    *,
    pin: str | None,
    pliers_version: str | None,
    action: str = "install",
) -> Resolution:
    """Versions for ``target`` and its dependencies, from the registry and the store.

    Installed plugins keep their versions (they are pinned); installed plugins that
    depend on ``target`` are roots too, so an update that would break them is refused.
    """
    from ..dependencies import DependencyError, PluginSpec, resolve

    catalog = registry.catalog()
    installed = store.installed()
    for name, plugin in installed.items():
        if catalog.get(name, plugin.version) is None:  # unpublished since, or from elsewhere
            catalog.add(PluginSpec.from_manifest(store.manifest(name)))
    pins = {name: p.version for name, p in installed.items() if name != target}
    if pin is not None:
        pins[target] = pin
    roots = [target, *(d for d in store.dependents(target) if d != target)]
    try:
        return resolve(catalog, roots, strategy="latest", pins=pins, pliers_version=pliers_version)
    except DependencyError as exc:
        missing = sorted({c.dependency for c in exc.conflicts if c.dependency not in catalog})
        lines = [str(c) for c in exc.conflicts]
        raise DependencyConflictError(
            f"cannot {action} {target}" + (f"@{pin}" if pin else "") + ": dependencies cannot be "
            "satisfied\n" + "\n".join(f"  {line}" for line in lines),
            plugin_id=target,
            details={"conflicts": [c.to_dict() for c in exc.conflicts], "missing": missing},
        ) from None


def prepare(
    registry: RegistrySource,
    store: PluginStore,
    record: VersionRecord,
    *,
    allow_unsigned: bool,
    allow_unsafe: bool,
    progress: Progress | None = None,
) -> Prepared:
    """Fetch ``record``'s bundle and check it; raise the refusal, store untouched."""
    from ..manifest import ManifestError
    from .scan import scan_bundle
    from .signing import verify_bundle

    kept = store.checksum(record.name, record.version)
    if kept is not None:
        if kept != record.checksum:
            raise BundleError(
                str(record.bundle),
                f"the store keeps {record.key} with checksum {kept}, the registry offers "
                f"{record.checksum}: same version, different content; refusing to mix them",
                plugin_id=record.name,
            )
        return Prepared(record, reused=True)
    report(progress, "download", f"downloading {record.key}")
    bundle = open_bundle(registry.download(record.name, record.version), limits=registry.limits)
    if bundle.checksum != record.checksum or bundle.metadata.key != record.key:
        raise BundleError(
            str(bundle.path),
            f"holds {bundle.metadata.key} {bundle.checksum}, but the registry published "
            f"{record.key} {record.checksum} (changed on disk since)",
            plugin_id=record.name,
        )
    report(progress, "verify", f"verifying the signature of {record.key}")
    verification = verify_bundle(bundle, store.trusted_keys())
    prepared = Prepared(record, bundle, verification)
    verification.require(allow_unsigned=allow_unsigned, plugin_id=record.key)
    if not verification.valid:
        prepared.warnings.append(f"{record.key}: {verification.reason} (allowed by allow_unsigned)")
    try:
        bundle.manifest  # noqa: B018 - validates, raising the problems
    except ManifestError as exc:
        raise BundleError(
            str(bundle.path),
            f"invalid manifest: {exc}",
            entry="manifest.json",
            plugin_id=record.name,
            details={"problems": manifest_problems(exc)},
        ) from None
    report(progress, "scan", f"scanning {record.key}")
    scan = prepared.scan = scan_bundle(bundle)
    if not scan.safe and not allow_unsafe:
        worst = "; ".join(f"{i.severity} {i.type} at {i.location}" for i in scan.issues[:5])
        raise UnsafePluginError(
            f"{record.key} failed the security scan (score {scan.score}): {worst}; "
            "pass allow_unsafe=True to install it anyway",
            plugin_id=record.name,
            details={"scan": scan.to_dict()},
        )
    if scan.issues:
        prepared.warnings.append(
            f"{record.key}: {len(scan.issues)} security issue(s), score {scan.score}: "
            + "; ".join(f"{i.severity} {i.type} at {i.location}" for i in scan.issues[:3])
        )
    return prepared


def place(store: PluginStore, items: Sequence[Prepared]) -> list[Path]:
    """Unpack every new version into ``<store>/<name>/<version>/``; returns the folders
    created. On failure, removes them and re-raises."""
    from ..manifest import ManifestError, load_manifest

    created: list[Path] = []
    try:
        for item in items:
            if item.reused:
                continue
            assert item.bundle is not None
            target = store.version_dir(item.name, item.version)
            if target.exists():
                raise BundleError(
                    str(item.bundle.path),
                    f"{target} exists but the store has no record of it; remove that "
                    "folder (left by another tool?) and try again",
                    plugin_id=item.name,
                )
            staged = item.bundle.extract(store.staging() / "plugin")
            try:
                load_manifest(staged)
            except ManifestError as exc:
                raise BundleError(
                    str(item.bundle.path),
                    f"does not load once unpacked: {exc}",
                    plugin_id=item.name,
                    details={"problems": manifest_problems(exc)},
                ) from None
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(staged, target)
            created.append(target)
    except BaseException:
        unplace(created)
        raise
    return created


def unplace(folders: Iterable[Path]) -> None:
    """Remove version folders (and a plugin folder left empty)."""
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(OSError):  # other versions are still there
            folder.parent.rmdir()


def loaded(engine: Engine, name: str) -> bool:
    from ..lifecycle import PluginState as S

    return name in engine and engine.plugin(name).state not in (S.ERROR, S.UNLOADED)


def forget(engine: Engine, names: Iterable[str]) -> None:
    """Unload ``names`` (dependents first) ignoring what is already gone."""
    for name in names:
        if name in engine:
            # a failing on_unload is recorded by the engine; the plugin is gone anyway
            with contextlib.suppress(PliersError):
                engine.unload(name, cascade=True)


def signer_of(
    store: PluginStore,
    name: str,
    version: str,
    verified: Mapping[str, VerificationResult] | None = None,
) -> str | None:
    """The verified signing key id of ``name@version`` for the engine (issue 13 §1): from
    this install's ``VerificationResult`` when it has one (``verified`` status only),
    else the key the store recorded for it, if the store trusts that key."""
    verification = (verified or {}).get(name)
    if verification is not None:
        return verification.key_id if verification.status == "verified" else None
    return store.signer(name, version)


def load_chain(
    engine: Engine,
    store: PluginStore,
    order: Sequence[str],
    versions: Mapping[str, str],
    *,
    config: Callable[[str], Mapping[str, Any] | None],
    activate: bool = True,
    verified: Mapping[str, VerificationResult] | None = None,
) -> list[str]:
    """Load ``order`` (dependencies first) into ``engine`` from the store, skipping what
    is loaded; on a failure unload what this call loaded and raise ``StartupError``.

    Each is a bundle to the engine (``origin="bundle"``), with its verified signer
    (``signer_of``): it runs sandboxed unless the engine's ``TrustPolicy`` trusts it.
    """
    done: list[str] = []
    for name in order:
        if loaded(engine, name):
            continue
        try:
            engine.load(
                store.version_dir(name, versions[name]),
                config=config(name),
                activate=activate,
                origin="bundle",
                signer=signer_of(store, name, versions[name], verified),
            )
        except PliersError as exc:
            forget(engine, [name, *reversed(done)])
            raise StartupError(
                f"{name}@{versions[name]} was installed but failed to start, so the install "
                f"was undone: {exc}",
                plugin_id=name,
                details={"cause": str(exc)},
            ) from exc
        done.append(name)
    return done
