"""``python -m pliers_lab``: the same command line as ``pliers`` (``demo``, ``serve``, the
PDK's ``create``, ``validate``, ``test``, ``docs``, ``simulate``, ``dev``, ``package``,
``publish``)."""

from __future__ import annotations

import sys

from .pdk.cli import main

if __name__ == "__main__":
    sys.exit(main())
