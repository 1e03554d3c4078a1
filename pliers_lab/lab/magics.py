"""``%pliers`` and ``%%pliers``: the engine from a notebook, one subcommand at a time.

This module is imported by ``%load_ext pliers_lab`` and kept light: the subcommands (and
everything they need) live in :mod:`.commands`, imported on the first ``%pliers`` call.
Settings are traits, so ``%config PliersMagics.isolation = "process"`` works (STYLE.md
habit 13); user mistakes raise ``UsageError``: one line, no traceback (habit 12).
"""

from __future__ import annotations

from typing import Any

from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from traitlets import Bool, Int, Unicode, observe

from ._displays import forget_rich, show_rich

__all__ = ["PliersMagics", "load_ipython_extension", "unload_ipython_extension"]


@magics_class
class PliersMagics(Magics):
    """The ``%pliers`` magics and their settings (``%config PliersMagics``)."""

    extensions = Unicode(
        None,
        allow_none=True,
        config=True,
        help="Folder where `%pliers load NAME` finds plugin folders (default: $PLIERS_EXTENSIONS, "
        "then ./extensions or ../extensions, then the source tree's extensions/).",
    )
    isolation = Unicode(
        "inline",
        config=True,
        help="Where the default engine runs plugins whose manifest names no isolation: "
        "inline (the lab's default: fast, for plugins you are writing or trust) or process "
        "(the sandbox: a locked-down worker per plugin, the bare Engine's default).",
    )
    tracebacks = Bool(
        False,
        config=True,
        help="Raise engine errors with their traceback instead of a one-line UsageError.",
    )
    max_rows = Int(
        50, config=True, help="Rows shown by list, hooks, errors and logs (the newest ones)."
    )

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        from ._default import configure_defaults

        configure_defaults(isolation=self.isolation)

    @observe("isolation")
    def _isolation_changed(self, change: dict[str, Any]) -> None:
        from ._default import configure_defaults

        configure_defaults(isolation=change["new"])

    @no_var_expand  # `$var` names a notebook variable holding a payload; we resolve it
    @line_cell_magic
    def pliers(self, line: str, cell: str | None = None) -> Any:
        """Drive the pliers_lab default engine: ``%pliers SUBCOMMAND [ARGS]``.

        Subcommands (each takes ``--help``)::

          load PATH|NAME [...] | --all   load plugin folders (NAME: a folder under extensions/
                                         or an installed entry point); --isolation process
                                         sandboxes the ones named
          unload ID / reload ID          unload, or reload the plugin's folder
          enable ID / disable ID         activate or stop a plugin
          list                           plugins: state, isolation, layers, hooks (a DataFrame)
          hooks [PATTERN]                the hook catalog with its handlers in order
          info ID                        one plugin in full
          fire HOOK [PAYLOAD]            fire a hook; PAYLOAD is JSON, @file or $variable;
                                         --user/--session set the context's metadata
          simulate [SUBMISSION]          push a submission through the host's pipeline
          graph                          draw the dependency graph
          isolation                      the sandbox's layers here: active, missing, how to get them
          metrics [ID] [--plot KIND]     metrics as a DataFrame, or durations/errors/timeline
          errors [ID] [--detail ERR]     recorded plugin errors
          logs [ID] [--level LEVEL]      plugin log entries
          activity [ID] [--type TYPE]    status changes, installs, errors, config updates
          config ID [KEY=VALUE ...]      show or set (validated) a plugin's configuration
          security [ID] [--show WHAT]    behaviour per version, anomalies, threats, actions
                                         (DataFrames) or a plot of them over time
          quarantine ID REASON           stop a plugin until released (recorded)
          release ID [REASON]            lift its quarantine and start it again
          advisories --registry R --store S [--policy warn|disable]
                                         advisories affecting the plugins, the fixing update
          trust NAME[@VERSION] --registry R   a trust score: each signal, weight, points
          reset                          close the default engine and start a fresh one

        Cell form: ``%%pliers plugin NAME`` defines an inline plugin from the cell (handlers
        decorated with ``@hook``; an optional leading JSON object is merged into the
        manifest); ``%%pliers fire HOOK`` takes the cell as the payload; ``%%pliers config
        ID`` applies the cell's JSON; ``%%pliers simulate`` takes the submission.

        The default engine is ``pliers_lab.lab.default_engine()``; settings are traits of
        ``PliersMagics`` (``%config PliersMagics``).
        """
        from ._commands import run

        return run(self, line, cell)


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics, make their settings visible to ``%config`` and draw the
    engine's objects and DataFrames the lab's way (``displays.show_rich``)."""
    magics = PliersMagics(ipython)
    ipython.register_magics(magics)
    configurables = ipython.configurables
    configurables[:] = [c for c in configurables if not isinstance(c, PliersMagics)]
    configurables.append(magics)
    show_rich(ipython)  # the engine's objects drawn; wide DataFrames scroll, text whole


def unload_ipython_extension(ipython: Any) -> None:
    """Forget the settings (IPython keeps magic names registered until restart)."""
    ipython.configurables[:] = [c for c in ipython.configurables if not isinstance(c, PliersMagics)]
    forget_rich(ipython)
