"""Worker entry script: run as a file so that ``pliers_lab/__init__`` is never imported.

The real package pulls in pydantic and the engine (~100 ms); the worker needs only
``pliers_lab.sandbox``. A bare package object pointing at the source folder lets the
relative imports of ``worker``, ``guest``, ``wire`` and ``layers`` resolve, nothing more.

``_boot.py <fds>`` runs one worker; ``_boot.py template <control fd> <host pid>`` runs the
warm template (``_template``), whose forked children each become a worker here.
"""

import os
import sys
import types

_here = os.path.dirname(os.path.abspath(__file__))
_pkg = types.ModuleType("pliers_lab")
_pkg.__path__ = [os.path.dirname(_here)]
sys.modules["pliers_lab"] = _pkg
del sys.path[0]  # the sandbox folder itself must not shadow plugin imports

if sys.argv[1:2] == ["template"]:
    from pliers_lab.sandbox._template import serve

    sys.argv = serve(int(sys.argv[2]), int(sys.argv[3]))  # returns in each forked child
    del serve

from pliers_lab.sandbox.worker import main  # noqa: E402

main()
