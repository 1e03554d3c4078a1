"""pliers_lab: the Pliers plugin engine and its notebook laboratory.

The public surface is small on purpose (STYLE.md habit 1); everything else lives in
modules that can move. Importing this package loads no heavy library: pandas, networkx,
matplotlib, IPython and jsonschema are imported when a feature first needs them.
"""

from . import _moved
from ._version import __version__ as __version__
from .catalog import CORE_HOOKS, HookPriority, ResultMode
from .context import HookContext
from .engine import Engine
from .engine.hook_results import HookResult, Outcome, Verdict, Veto
from .errors import EngineError, PliersError, PluginError, PluginErrorType
from .lifecycle import PluginState
from .plugin import Plugin, hook
from .trust import TrustPolicy

_moved.install()  # old module names (pliers_lab.dispatch...) still import, with a warning


# The distribution's doors to its outer packages, all on its face: the command line and
# the IPython extension (tests/test_layering.py names them; nothing else of the core
# imports lab, pdk, web, market, debug or replay).


def main(argv: list[str] | None = None) -> int:
    """``python -m pliers_lab``: the ``pliers`` command line (imported only now)."""
    from .pdk.cli import main as cli

    return cli(argv)


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext pliers_lab``: register the ``%pliers`` magics (imported only now)."""
    from .lab.magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: object) -> None:
    """``%unload_ext pliers_lab``."""
    from .lab.magics import unload_ipython_extension as unload

    unload(ipython)


__all__ = [
    "CORE_HOOKS",
    "Engine",
    "EngineError",
    "HookContext",
    "HookPriority",
    "HookResult",
    "Outcome",
    "PliersError",
    "Plugin",
    "PluginError",
    "PluginErrorType",
    "PluginState",
    "ResultMode",
    "TrustPolicy",
    "Verdict",
    "Veto",
    "hook",
    "main",
]
