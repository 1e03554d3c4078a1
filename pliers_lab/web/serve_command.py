"""``python -m pliers_lab serve``: plugins and the management API over HTTP until Ctrl-C.

``--extensions`` plugins are the operator's own (origin ``local``: they follow
``--isolation``); what is installed over HTTP is a bundle and runs sandboxed unless
``--trust ID`` or ``--trust-folder DIR`` trusts it (issue 13 §1).
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

    options: dict[str, Any] = {"default_isolation": args.isolation} if args.isolation else {}
    if getattr(args, "security_store", None):
        options["security_store"] = args.security_store
    engine = Engine(trust=trust_policy(args), **options)
    host: Any = None
    try:
        if args.extensions is not None:
            engine.load_all(args.extensions)
            for plugin in engine.plugins:
                for warning in plugin.warnings:
                    print(f"warning: {warning}", file=sys.stderr, flush=True)
        if args.with_host:
            from ..host import Host

            host = Host(engine, args.db or ":memory:")
        roots = (args.extensions.resolve(),) if args.extensions is not None else ()
        server = serve(
            engine,
            args.host,
            args.port,
            pliers_host=host,
            settings=WebSettings(plugin_roots=roots),
            log_level="info",
        )
        active = [p.id for p in engine.plugins if p.state.value == "active"]
        names = ", ".join(active) or "-"
        print(f"pliers-lab web: {server.url}  ({len(active)} active plugins: {names})")
        print(f"endpoints: {server.url}/plugins/...   management: {server.url}/v3/plugins")
        print(f"admin token (7 days): {server.token}", flush=True)
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
        if host is not None and hasattr(host, "close"):
            host.close()
        engine.close()
