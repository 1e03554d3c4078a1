"""``python -m pliers_lab serve``: plugins and the management API over HTTP until Ctrl-C.

``--extensions`` plugins are the operator's own (origin ``local``: they follow
``--isolation``); what is installed over HTTP is a bundle and runs sandboxed unless
``--trust ID`` or ``--trust-folder DIR`` trusts it (issue 13 §1).

``--registry DIR|URL --store DIR`` gives the server a marketplace (``/v3`` installs,
updates, search; the store's installed plugins are loaded at start) and an
``AdvisoryWatch`` over it (issue 19 §2): ``--advisory-policy warn|disable`` (default
warn) is its policy, checked at start and every ``--advisory-interval`` seconds, and by
``GET /v3/advisories``.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """Load ``--extensions``, serve, print the URL and an admin token, wait for Ctrl-C."""
    from ..engine import Engine
    from ..pdk.cli import trust_policy
    from ._server import serve
    from ._settings import WebSettings

    mistake = _mistake(args)
    if mistake:
        print(f"pliers-lab serve: {mistake}", file=sys.stderr)
        return 2
    options: dict[str, Any] = {"default_isolation": args.isolation} if args.isolation else {}
    if getattr(args, "security_store", None):
        options["security_store"] = args.security_store
    engine = Engine(trust=trust_policy(args), **options)
    host: Any = None
    watch: Any = None
    try:
        if args.extensions is not None:
            engine.load_all(args.extensions)
            for plugin in engine.plugins:
                for warning in plugin.warnings:
                    print(f"warning: {warning}", file=sys.stderr, flush=True)
        if args.with_host:
            from ..host import Host

            host = Host(engine, args.db or ":memory:")
        market = _marketplace(args, engine)
        roots = (args.extensions.resolve(),) if args.extensions is not None else ()
        server = serve(
            engine,
            args.host,
            args.port,
            pliers_host=host,
            settings=WebSettings(plugin_roots=roots),
            marketplace=market,
            log_level="info",
        )
        if market is not None:
            from ..market import AdvisoryWatch

            watch = AdvisoryWatch(market, engine=engine, policy=args.advisory_policy)
            server.app.state.pliers.advisories = watch
        active = [p.id for p in engine.plugins if p.state.value == "active"]
        names = ", ".join(active) or "-"
        print(f"pliers-lab web: {server.url}  ({len(active)} active plugins: {names})")
        print(f"endpoints: {server.url}/plugins/...   management: {server.url}/v3/plugins")
        print(f"admin token (7 days): {server.token}", flush=True)
        if watch is not None:
            print(
                f"marketplace: registry {args.registry}, store {args.store}; advisories: "
                f"policy {watch.policy}, checked every {args.advisory_interval:g} s",
                flush=True,
            )
            watch.start(args.advisory_interval)
        try:
            while server.running:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
        return 0 if not server.error else 1
    except Exception as exc:
        print(f"pliers-lab serve: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        if watch is not None:
            watch.stop()
        if host is not None and hasattr(host, "close"):
            host.close()
        engine.close()


def _mistake(args: argparse.Namespace) -> str | None:
    """What is wrong with the marketplace options, naming them; None if nothing."""
    registry = getattr(args, "registry", None)
    if registry is None:
        given = [
            flag
            for flag, value in (
                ("--store", getattr(args, "store", None)),
                ("--advisory-policy", getattr(args, "advisory_policy", None)),
            )
            if value is not None
        ]
        if given:
            return f"{' and '.join(given)} need --registry DIR|URL (the registry to watch)"
        return None
    if getattr(args, "store", None) is None:
        return f"--registry {registry} needs --store DIR (where installs go)"
    interval = getattr(args, "advisory_interval", 300.0)
    if not interval > 0:
        return f"--advisory-interval must be a number of seconds > 0, got {interval:g}"
    return None


def _marketplace(args: argparse.Namespace, engine: Any) -> Any:
    """The ``--registry``/``--store`` marketplace, the store's plugins loaded; or None."""
    if getattr(args, "registry", None) is None:
        return None
    from ..market import PluginMarketplace, PluginStore

    market = PluginMarketplace(args.registry, PluginStore(args.store), engine=engine)
    market.load_installed()
    args.advisory_policy = args.advisory_policy or "warn"
    return market
