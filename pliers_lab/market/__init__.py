"""The plugin marketplace: bundles, signatures, a security scan, a registry, a store.

>>> from pliers_lab.market import (PluginMarketplace, PluginStore, Registry, SigningKey,
...                                build_bundle)                          # doctest: +SKIP
>>> key = SigningKey.generate()                                            # doctest: +SKIP
>>> registry = Registry("registry"); registry.register_key("ann", key.public_key)  # doctest: +SKIP
>>> registry.publish(build_bundle("extensions/csv-export", "dist", signing_key=key),
...                  user="ann")                                           # doctest: +SKIP
>>> store = PluginStore("store"); store.trust_key(key.public_key, "ann")   # doctest: +SKIP
>>> PluginMarketplace(registry, store, engine=engine).install("csv-export")  # doctest: +SKIP

Modules, one job each: ``package`` (build bundles, their metadata and checksum),
``bundle`` (open a stranger's bundle defensively), ``signing`` (Ed25519 keys and
signatures), ``scan`` (static security scan; ``_pyscan`` reads Python), ``registry``
(publish, tags, maintainers, counts; ``records`` are what it returns), ``store``
(installed versions side by side, trusted keys), ``query`` (search), ``install`` (the
undoable install steps), ``marketplace`` (the facade), ``results`` (result records),
``validate`` (the REST validation report), ``errors`` (refusals with REST codes).
Nothing here is imported by ``import pliers_lab``; ``cryptography`` loads when a key is
first used.
"""

from ._listings import PluginRecord, PublishResult, VersionRecord
from ._marketplace import PluginMarketplace
from ._package import Limits, PackageMetadata, build_bundle
from ._registry import Registry
from ._store import InstalledPlugin, PluginStore
from .bundle import Bundle, open_bundle
from .query import CATEGORIES, MarketplaceQuery, PluginListing, SearchResult
from .refusals import (
    AlreadyExistsError,
    BundleError,
    DependencyConflictError,
    MarketError,
    NotFoundError,
    PermissionsNotAcceptedError,
    RegistryAccessError,
    SignatureError,
    StartupError,
    UnsafePluginError,
)
from .results import (
    InstallResult,
    PermissionDiff,
    UninstallResult,
    UpdatePlan,
    UpdateResult,
    ValidationReport,
    diff_permissions,
)
from .scan import SecurityIssue, SecurityScanResult, scan_bundle, scan_folder
from .signing import PublicKey, SigningKey, VerificationResult, sign_bundle, verify_bundle

__all__ = [
    "CATEGORIES",
    "AlreadyExistsError",
    "Bundle",
    "BundleError",
    "DependencyConflictError",
    "InstallResult",
    "InstalledPlugin",
    "Limits",
    "MarketError",
    "MarketplaceQuery",
    "NotFoundError",
    "PackageMetadata",
    "PermissionDiff",
    "PermissionsNotAcceptedError",
    "PluginListing",
    "PluginMarketplace",
    "PluginRecord",
    "PluginStore",
    "PublicKey",
    "PublishResult",
    "Registry",
    "RegistryAccessError",
    "SearchResult",
    "SecurityIssue",
    "SecurityScanResult",
    "SignatureError",
    "SigningKey",
    "StartupError",
    "UninstallResult",
    "UnsafePluginError",
    "UpdatePlan",
    "UpdateResult",
    "ValidationReport",
    "VerificationResult",
    "VersionRecord",
    "build_bundle",
    "diff_permissions",
    "open_bundle",
    "scan_bundle",
    "scan_folder",
    "sign_bundle",
    "verify_bundle",
]
