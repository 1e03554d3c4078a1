"""The spec's ``PluginVerification`` interface (Security Considerations): the trust score,
security reports and advisories of a registry's plugins, under the spec's names, whatever
the registry is: a local ``Registry`` (computed here), a registry service (asked over
HTTP: ``RemoteAdvisories``) or an exported folder (its ``advisories.json``).

>>> verification = PluginVerification(registry, store=store, engine=engine)  # doctest: +SKIP
>>> print(verification.get_trust_score("csv-export"))                         # doctest: +SKIP
>>> verification.report_security("csv-export", issue, reporter="bob")         # doctest: +SKIP
>>> verification.get_security_advisories("csv-export")                        # doctest: +SKIP
>>> verification.verify_signature("dist/csv-export-1.0.0.zip")               # doctest: +SKIP

The work is done by ``_advisories`` (reports, advisories) and ``_trust_score``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._advisories import Advisories, Advisory, SecurityReport
from ._trust_score import TrustScore, trust_score
from .refusals import MarketError

if TYPE_CHECKING:
    import os

    from ..engine import Engine
    from ._advisory_watch import AdvisorySource
    from ._store import PluginStore
    from .bundle import Bundle
    from .scan import SecurityIssue, SecurityScanResult
    from .signing import VerificationResult

__all__ = ["PluginVerification", "advisory_source"]


def advisory_source(registry: Any) -> AdvisorySource:
    """Where the advisories of ``registry`` are: its database (a ``Registry``), its
    service (anything with an ``http(s)`` ``url``: a ``RemoteRegistry``, whose user and
    key sign writes) or its exported folder (``advisories.json`` beside the mirror)."""
    from ._registry import Registry

    if isinstance(registry, Registry):
        return Advisories(registry)
    url = getattr(registry, "url", None)
    if isinstance(url, str) and url.startswith(("http://", "https://")):
        from ._advisory_client import RemoteAdvisories

        user, key = getattr(registry, "user", None), getattr(registry, "key", None)
        signer = {"user": user, "key": key} if user is not None and key is not None else {}
        return RemoteAdvisories(url, prefix="/v1", **signer)
    root = getattr(registry, "root", None)
    if isinstance(root, str | Path) and Path(root).is_dir():
        from ._advisory_files import FileAdvisories

        return FileAdvisories(root)
    raise TypeError(f"no advisories known for {registry!r}: not a registry, a URL or a folder")


class PluginVerification:
    """Trust scores, reports and advisories over one ``registry``; ``store`` and
    ``engine`` add the installer's key trust and the runtime record to scores."""

    def __init__(
        self,
        registry: Any,
        *,
        store: PluginStore | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.registry = registry
        self.store = store
        self.engine = engine
        self.advisories = advisory_source(registry)

    # ------------------------------------------------- code signing and verification
    def verify_signature(self, bundle: str | os.PathLike[str] | Bundle) -> VerificationResult:
        """``verifySignature``: ``bundle``'s signature against the store's trusted keys
        (without a store: the keys a local registry holds)."""
        from .signing import verify_bundle

        opened = self._open(bundle)
        if self.store is not None:
            trusted = self.store.trusted_keys()
        elif isinstance(self.advisories, Advisories):
            trusted = self.registry.keys()
        else:
            trusted = {}
        return verify_bundle(opened, trusted)

    def checksum(self, bundle: str | os.PathLike[str] | Bundle) -> str:
        """``checksum``: the SHA-256 over the bundle's files (checked as it opens)."""
        return self._open(bundle).checksum

    def scan(self, bundle: str | os.PathLike[str] | Bundle) -> SecurityScanResult:
        """``scan``: the static security scan of ``bundle`` (nothing is executed)."""
        from .scan import scan_bundle

        return scan_bundle(self._open(bundle))

    @staticmethod
    def _open(bundle: str | os.PathLike[str] | Bundle) -> Bundle:
        from .bundle import Bundle, open_bundle

        return bundle if isinstance(bundle, Bundle) else open_bundle(bundle)

    # --------------------------------------------------------- trust and reputation
    def get_trust_score(self, plugin_id: str, version: str | None = None) -> TrustScore:
        """``getTrustScore``: the score of ``plugin_id@version`` (default: latest), with
        its signals."""
        if isinstance(self.advisories, Advisories):
            return trust_score(
                self.registry, plugin_id, version, store=self.store, engine=self.engine
            )
        remote = getattr(self.advisories, "trust_score", None)
        if remote is None:
            raise MarketError(
                f"no trust score for {plugin_id}: the registry {self.registry!r} is an "
                "exported folder, which carries advisories but not the registry's signals",
                plugin_id=plugin_id,
            )
        score: TrustScore = remote(plugin_id, version, engine=self.engine)
        if self.store is not None:
            from ._trust_score import key_trust_signal

            key_id = self.registry.resolve_version(plugin_id, score.version).key_id
            score = score.with_signal(key_trust_signal(self.store, key_id))
        return score

    def report_security(
        self,
        plugin_id: str,
        issue: SecurityIssue | Mapping[str, Any],
        *,
        version: str | None = None,
        reporter: str | None = None,
    ) -> SecurityReport:
        """``reportSecurity``: store a report against ``plugin_id@version``. ``reporter``
        names who reports to a local registry; a service knows it from the signature."""
        if isinstance(self.advisories, Advisories):
            if reporter is None:
                raise ValueError(f"report on {plugin_id}: reporter= is needed (who reports)")
            return self.advisories.report(plugin_id, issue, version=version, reporter=reporter)
        report = getattr(self.advisories, "report", None)
        if report is None:
            raise MarketError(
                f"cannot report on {plugin_id}: the registry {self.registry!r} is read only",
                plugin_id=plugin_id,
            )
        found: SecurityReport = report(plugin_id, issue, version=version)
        return found

    def get_security_advisories(self, plugin_id: str) -> list[Advisory]:
        """``getSecurityAdvisories``: every advisory of ``plugin_id``, oldest first."""
        return self.advisories.advisories(plugin_id)
