"""``POST /plugins/validate``: everything a marketplace would check of a bundle, reported
rather than raised — package soundness, manifest validity, signature, security scan and
whether its dependencies resolve against the registry and the installed plugins.

Validity (issue 13 §1): a forged, tampered or malformed signature makes a bundle invalid.
An unsigned bundle, or one signed by a key the store does not trust, stays valid — a
package is often validated before it is signed, and installing it is a separate consent
(``allow_unsigned``) — but ``warnings`` says so in words, with what it means for where
the plugin will run. An ``isolation: "inline"`` request is a high scan issue (not safe,
so not valid) and a warning too.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .refusals import BundleError
from .results import ValidationReport

if TYPE_CHECKING:
    from ..manifest import Manifest
    from ._marketplace import PluginMarketplace
    from .bundle import Bundle
    from .signing import VerificationResult

__all__ = ["trust_warnings", "validate_bundle"]


def trust_warnings(verification: VerificationResult, manifest: Manifest | None) -> list[str]:
    """What a bundle's signature and isolation request mean for where it will run, in
    sentences (``POST /v3/plugins/validate``, ``pliers validate``)."""
    out = []
    if verification.status == "unsigned":
        out.append(
            "unsigned: no .pliers/signature.json; it will run sandboxed and cannot be "
            "trusted by key (installing it needs allow_unsigned)"
        )
    elif verification.status == "untrusted":
        who = f" ({verification.signer})" if verification.signer else ""
        out.append(
            f"signed by key {verification.key_id}{who}, which is not trusted here: installing "
            "it needs allow_unsigned, and it will run sandboxed unless the host trusts it"
        )
    elif verification.status == "invalid":
        out.append(f"invalid signature: {verification.reason}; it cannot be installed")
    if manifest is not None and manifest.isolation == "inline":
        out.append(
            'asks for isolation: "inline" (manifest.json): only the host decides that; a '
            "bundle runs sandboxed unless the host trusts its id, its signing key or its "
            "folder (the scan counts the request as high risk)"
        )
    return out


def _empty_dependencies() -> dict[str, Any]:
    return {"resolved": [], "conflicts": [], "missing": []}


def validate_bundle(market: PluginMarketplace, path: str | os.PathLike[str]) -> ValidationReport:
    """The ``ValidationReport`` of the bundle at ``path`` (see ``results``)."""
    from ..manifest import ManifestError
    from .bundle import open_bundle
    from .scan import scan_bundle
    from .signing import verify_bundle

    try:
        bundle = open_bundle(path, limits=market.registry.limits)
    except BundleError as exc:
        return ValidationReport(
            valid=False,
            package={"valid": False, "errors": [exc.message], "entry": exc.entry},
            manifest={"valid": False, "errors": []},
            security={"safe": False, "issues": [], "score": 0, "recommendations": []},
            dependencies=_empty_dependencies(),
            signature={"valid": False, "status": "unsigned", "reason": "package unreadable"},
        )
    package = {
        "valid": True,
        "errors": [],
        "checksum": bundle.checksum,
        "size": bundle.metadata.size,
        "files": bundle.names(),
    }
    try:
        manifest = bundle.manifest
        manifest_report: dict[str, Any] = {
            "valid": True,
            "errors": [],
            "pluginId": manifest.name,
            "version": str(manifest.version),
        }
    except ManifestError as exc:
        manifest = None
        manifest_report = {
            "valid": False,
            "errors": [
                {"path": ".".join(map(str, p.path)), "message": p.message, "hint": p.hint}
                for p in exc.problems
            ],
            "pluginId": exc.plugin_id,
        }
    scan = scan_bundle(bundle)
    security = {
        "safe": scan.safe,
        "issues": [i.to_dict() for i in scan.issues],
        "score": scan.score,
        "recommendations": list(scan.recommendations),
    }
    verification = verify_bundle(bundle, market.store.trusted_keys())
    dependencies = _dependencies(market, bundle) if manifest is not None else _empty_dependencies()
    valid = (
        manifest is not None
        and scan.safe
        and verification.status != "invalid"
        and not dependencies["conflicts"]
        and not any(not m.get("optional") for m in dependencies["missing"])
    )
    return ValidationReport(
        valid=valid,
        package=package,
        manifest=manifest_report,
        security=security,
        dependencies=dependencies,
        signature=verification.to_dict(),
        warnings=tuple(trust_warnings(verification, manifest)),
    )


def _dependencies(market: PluginMarketplace, bundle: Bundle) -> dict[str, Any]:
    """Resolve the bundle's plugin against the registry plus what is installed."""
    from ..dependencies import DependencyError, PluginSpec, resolve

    manifest = bundle.manifest
    catalog = market.registry.catalog()
    installed = market.store.installed()
    for name, plugin in installed.items():
        if catalog.get(name, plugin.version) is None:
            catalog.add(PluginSpec.from_manifest(market.store.manifest(name)))
    catalog.add(PluginSpec.from_manifest(manifest))
    pins = {n: p.version for n, p in installed.items() if n != manifest.name}
    pins[manifest.name] = str(manifest.version)
    try:
        resolution = resolve(
            catalog,
            [manifest.name],
            strategy="latest",
            pins=pins,
            pliers_version=market.pliers_version,
        )
    except DependencyError as exc:
        # resolvelib explains the first dead end only: list every absent plugin too
        absent = {
            (name, rng, manifest.name)
            for name, rng, scope in manifest.all_dependencies()
            if scope != "optional" and name not in catalog
        }
        absent |= {
            (c.dependency, c.version1, c.plugin1)
            for c in exc.conflicts
            if c.dependency not in catalog
        }
        names = {name for name, _r, _p in absent}
        return {
            "resolved": [],
            "conflicts": [c.to_dict() for c in exc.conflicts if c.dependency not in names],
            "missing": [
                {"name": name, "range": rng, "requiredBy": by} for name, rng, by in sorted(absent)
            ],
        }
    return {
        "resolved": [
            {"name": n, "version": resolution.chosen[n].version, "installed": n in installed}
            for n in resolution.order
            if n != manifest.name
        ],
        "conflicts": [c.to_dict() for c in resolution.conflicts if c.severity == "error"],
        "missing": [
            {"name": r.name, "range": r.range, "requiredBy": r.required_by, "optional": True}
            for r in resolution.missing_optional
        ],
    }
