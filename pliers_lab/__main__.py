"""``python -m pliers_lab``: the command line (``demo``, ``serve``; the PDK's ``pliers`` later)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pliers-lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="load extensions/ and fire the submission hooks")
    demo.add_argument("--extensions", type=Path, default=None, help="folder of plugin folders")
    web = sub.add_parser("serve", help="serve plugin endpoints and the management API (web extra)")
    web.add_argument("--extensions", type=Path, default=None, help="folder of plugin folders to load")
    web.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    web.add_argument("--port", type=int, default=8000, help="port (0: any free one)")
    web.add_argument("--with-host", action="store_true", help="attach a simulated Pliers host")
    web.add_argument("--db", default=None, help="the host's SQLite file (default: in memory)")
    web.add_argument("--isolation", choices=("inline", "process"), default=None)
    args = parser.parse_args(argv)
    if args.command == "serve":
        from .web.cli import run as serve

        return serve(args)
    if args.command == "demo":
        from .demo import run

        engine = run(args.extensions)
        engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
