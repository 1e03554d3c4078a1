"""``python -m pliers_lab``: the same command line as ``pliers`` (``demo``, ``serve``,
``doctor``, ``key`` and the PDK's ``create``, ``validate``, ``test``, ``docs``, ``simulate``,
``dev``, ``package``, ``publish``), through the package's door ``pliers_lab.main``."""

from __future__ import annotations

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
