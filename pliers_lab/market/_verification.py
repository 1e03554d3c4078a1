"""The spec's ``PluginVerification`` interface (Security Considerations): the trust score,
security reports and advisories of a registry's plugins, under the spec's names.

>>> verification = PluginVerification(registry, store=store, engine=engine)  # doctest: +SKIP
>>> print(verification.get_trust_score("csv-export"))                         # doctest: +SKIP
>>> verification.report_security("csv-export", issue, reporter="bob")         # doctest: +SKIP
>>> verification.get_security_advisories("csv-export")                        # doctest: +SKIP

The work is done by ``_advisories`` (reports, advisories) and ``_trust_score``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._advisories import Advisories, Advisory, SecurityReport
from ._trust_score import TrustScore, trust_score

if TYPE_CHECKING:
    from ..engine import Engine
    from ._registry import Registry
    from ._store import PluginStore
    from .scan import SecurityIssue

__all__ = ["PluginVerification"]


class PluginVerification:
    """Trust scores, reports and advisories over one ``registry``; ``store`` and
    ``engine`` add the installer's key trust and the runtime record to scores."""

    def __init__(
        self,
        registry: Registry,
        *,
        store: PluginStore | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.registry = registry
        self.store = store
        self.engine = engine
        self.advisories = Advisories(registry)

    def get_trust_score(self, plugin_id: str, version: str | None = None) -> TrustScore:
        """``getTrustScore``: the score of ``plugin_id@version`` (default: latest), with
        its signals."""
        return trust_score(self.registry, plugin_id, version, store=self.store, engine=self.engine)

    def report_security(
        self,
        plugin_id: str,
        issue: SecurityIssue | Mapping[str, Any],
        *,
        version: str | None = None,
        reporter: str,
    ) -> SecurityReport:
        """``reportSecurity``: store a report against ``plugin_id@version``."""
        return self.advisories.report(plugin_id, issue, version=version, reporter=reporter)

    def get_security_advisories(self, plugin_id: str) -> list[Advisory]:
        """``getSecurityAdvisories``: every advisory of ``plugin_id``, oldest first."""
        return self.advisories.advisories(plugin_id)
