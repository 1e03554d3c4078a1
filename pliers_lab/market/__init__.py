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
``validate`` (the REST validation report), ``errors`` (refusals with REST codes),
``advisories`` (security reports, advisories), ``trust_score`` (a version's trust score
and its signals), ``verification`` (the spec's ``PluginVerification``), ``advisory_watch``
(an engine's advisories, the fixing update, the warn/disable policy).
Nothing here is imported by ``import pliers_lab``; ``cryptography`` loads when a key is
first used.
"""

from ._advisories import Advisories, Advisory, AdvisoryError, SecurityReport
from ._advisory_client import RemoteAdvisories
from ._advisory_watch import AdvisoryWatch, AffectedPlugin
from ._listings import PluginRecord, PublishResult, VersionRecord
from ._marketplace import PluginMarketplace
from ._package import Limits, PackageMetadata, build_bundle
from ._registry import Registry
from ._store import InstalledPlugin, PluginStore
from ._trust_score import TrustScore, TrustSignal, trust_score
from ._verification import PluginVerification
from .bundle import Bundle, open_bundle
from .mirror import MirrorRegistry, export_registry
from .query import CATEGORIES, MarketplaceQuery, PluginListing, SearchResult
from .refusals import (
    AlreadyExistsError,
    BundleError,
    DependencyConflictError,
    MarketError,
    NotFoundError,
    PermissionsNotAcceptedError,
    RegistryAccessError,
    RegistryUnavailableError,
    SignatureError,
    StartupError,
    UnsafePluginError,
)
from .remote import RemoteRegistry
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
from .sources import RegistrySource, open_registry

__all__ = [
    "CATEGORIES",
    "Advisories",
    "Advisory",
    "AdvisoryError",
    "AdvisoryWatch",
    "AffectedPlugin",
    "AlreadyExistsError",
    "Bundle",
    "BundleError",
    "DependencyConflictError",
    "InstallResult",
    "InstalledPlugin",
    "Limits",
    "MarketError",
    "MarketplaceQuery",
    "MirrorRegistry",
    "NotFoundError",
    "PackageMetadata",
    "PermissionDiff",
    "PermissionsNotAcceptedError",
    "PluginListing",
    "PluginMarketplace",
    "PluginRecord",
    "PluginStore",
    "PluginVerification",
    "PublicKey",
    "PublishResult",
    "Registry",
    "RegistryAccessError",
    "RegistrySource",
    "RegistryUnavailableError",
    "RemoteAdvisories",
    "RemoteRegistry",
    "SearchResult",
    "SecurityIssue",
    "SecurityReport",
    "SecurityScanResult",
    "SignatureError",
    "SigningKey",
    "StartupError",
    "TrustScore",
    "TrustSignal",
    "UninstallResult",
    "UnsafePluginError",
    "UpdatePlan",
    "UpdateResult",
    "ValidationReport",
    "VerificationResult",
    "VersionRecord",
    "build_bundle",
    "diff_permissions",
    "export_registry",
    "open_bundle",
    "open_registry",
    "scan_bundle",
    "scan_folder",
    "sign_bundle",
    "trust_score",
    "verify_bundle",
]
