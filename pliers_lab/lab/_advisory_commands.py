"""``%pliers advisories`` and ``%pliers trust``: security advisories and trust scores
(issue 19 §2) from a notebook. They return the records the lab draws (an
``AdvisoryWatch``, a ``TrustScore``); ``.frame()`` on either is the DataFrame."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError

from ._router import Call, arg, command

__all__: list[str] = []


def _registry(where: str) -> Any:
    from pathlib import Path

    from ..market import Registry

    if where.startswith(("http://", "https://", "file:")):
        from ..market.sources import open_registry

        return open_registry(where)
    if not (Path(where) / "registry.db").is_file():
        raise UsageError(f"%pliers: --registry {where}: not a registry (no registry.db)")
    return Registry(where)


def _store(where: str | None) -> Any:
    if where is None:
        return None
    from pathlib import Path

    from ..market import PluginStore

    if not (Path(where) / "store.db").is_file():
        raise UsageError(f"%pliers: --store {where}: not a plugin store (no store.db)")
    return PluginStore(where)


@command(
    "advisories",
    "advisories affecting the default engine's plugins, the fixing update, the policy's action",
    arg("--registry", required=True, metavar="DIR|URL", help="the registry folder or service"),
    arg("--store", required=True, metavar="DIR", help="the plugin store installs go to"),
    arg("--policy", choices=("warn", "disable"), default="warn",
        help="disable: stop the affected plugins (recorded as plugin.advisory)"),
)  # fmt: skip
def _advisories(call: Call) -> Any:
    """Check the registry's advisories against what the default engine runs and the store
    holds; returns the ``AdvisoryWatch`` (drawn as a table; ``.frame()``, ``.fix(id)``)."""
    from ..market import AdvisoryWatch, PluginMarketplace

    args = call.args
    market = PluginMarketplace(_registry(args.registry), _store(args.store), engine=call.engine)
    watch = AdvisoryWatch(market, policy=args.policy)
    watch.check()
    return watch


@command(
    "trust",
    "a plugin version's trust score: each signal's value, weight and points",
    arg("plugin", metavar="NAME[@VERSION]"),
    arg("--registry", required=True, metavar="DIR|URL", help="the registry folder or service"),
    arg("--store", metavar="DIR", help="adds whether this store trusts the signer"),
)
def _trust(call: Call) -> Any:
    """The ``TrustScore`` of NAME[@VERSION] (default: latest), with the default engine's
    runtime record of it."""
    from ..market import PluginVerification

    args = call.args
    name, _, version = args.plugin.partition("@")
    verification = PluginVerification(
        _registry(args.registry), store=_store(args.store), engine=call.engine
    )
    return verification.get_trust_score(name, version or None)
