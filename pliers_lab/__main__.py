"""``python -m pliers_lab``: the command line (``demo`` today; the PDK's ``pliers`` later)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pliers-lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="load extensions/ and fire the submission hooks")
    demo.add_argument("--extensions", type=Path, default=None, help="folder of plugin folders")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run

        engine = run(args.extensions)
        engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
