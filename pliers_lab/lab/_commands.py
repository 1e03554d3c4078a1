"""The ``%pliers`` subcommands. Each is a thin call into the public engine API; what they
return is displayed by the notebook (DataFrames, a Plugin, a HookResult, a Picture), so
``df = %pliers list`` hands the user the data behind what they saw.
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from ._payloads import MISSING, parse_value, resolve_payload
from ._router import COMMANDS, Call, arg, command, dispatch

if TYPE_CHECKING:
    from ..engine import Engine
    from ..plugin import Plugin
    from .magics import PliersMagics

__all__ = ["COMMANDS", "run"]

_LEVELS = ("debug", "info", "warning", "error")


def run(magics: PliersMagics, line: str, cell: str | None) -> Any:
    """Entry point of the ``%pliers`` magic."""
    return dispatch(magics, line, cell)


def _frame(rows: list[tuple[Any, ...]], columns: tuple[str, ...]) -> Any:
    from ..observe.frames import frame

    return frame(rows, columns)


def _say(plugin: Plugin, verb: str) -> None:
    layers = f", layers: {', '.join(plugin.layers)}" if plugin.layers else ""
    print(f"{verb} {plugin.key}: {plugin.state.value} ({plugin.isolation}{layers})")
    for warning in plugin.warnings:  # a refused inline request (issue 13 §1)
        print(f"⚠ {warning}")


# ---------------------------------------------------------------------- loading
def _extensions(call: Call) -> Path | None:
    from ._default import extensions_folder

    return extensions_folder(call.magics.extensions)


def _manifest_name(folder: Path) -> str | None:
    try:
        name = json.loads((folder / "manifest.json").read_text("utf-8")).get("name")
    except (OSError, ValueError, AttributeError):
        return None
    return name if isinstance(name, str) else None


def _load_entry_point(engine: Engine, name: str) -> Plugin | None:
    from ..engine.loader import iter_entry_points

    if not any(ep.name == name for ep in iter_entry_points()):
        return None
    loaded = engine.load_entry_points(names=[name])
    return loaded[0] if loaded else None


def _load_one(
    call: Call,
    target: str,
    config: dict[str, Any] | None,
    activate: bool,
    isolation: str | None = None,
) -> None:
    engine = call.engine
    path = Path(target).expanduser()
    folder = _extensions(call)
    if not (path.exists() or "/" in target) and folder is not None and (folder / target).is_dir():
        path = folder / target
    if path.exists():
        root = path.parent if path.is_file() else path
        name = _manifest_name(root)
        if name is not None and name in engine and engine.plugin(name).root == root.resolve():
            print(f"{engine.plugin(name).key} is already loaded (use %pliers reload {name})")
            return
        _say(engine.load(path, config=config, activate=activate, isolation=isolation), "loaded")
        return
    plugin = _load_entry_point(engine, target)
    if plugin is not None:
        _say(plugin, "loaded entry point")
        return
    known = sorted(p.parent.name for p in folder.glob("*/manifest.json")) if folder else []
    where = f"; plugin folders in {folder}: {', '.join(known)}" if known else ""
    raise UsageError(f"%pliers load: no plugin folder or entry point named {target!r}{where}")


@command(
    "load",
    "load plugin folders by path or name (--all: every folder under extensions/)",
    arg(
        "targets",
        nargs="*",
        metavar="PATH|NAME",
        help="a plugin folder or its manifest.json, a folder name under extensions/, "
        "or the name of an installed entry point (group pliers_lab.plugins)",
    ),
    arg("--all", action="store_true", dest="all_", help="load every plugin under extensions/"),
    arg("--config", help="configuration to apply, as JSON"),
    arg("--no-activate", action="store_true", help="stop at LOADED (do not activate)"),
    arg(
        "--isolation",
        choices=("inline", "process"),
        help="run it inline or in a sandboxed worker, whatever its manifest and "
        "PliersMagics.isolation say (reloads keep the choice)",
    ),
)
def _load(call: Call) -> None:
    """Load plugins into the default engine. A plugin already loaded from the same folder
    is left alone (use reload to pick up edits)."""
    args = call.args
    if not args.targets and not args.all_:
        raise UsageError("%pliers load: name a plugin folder or NAME, or use --all")
    config = resolve_payload(args.config, None) if args.config else None
    if config is not None and not isinstance(config, dict):
        raise UsageError("%pliers load --config: a JSON object is expected")
    if args.all_ and args.isolation:
        raise UsageError("%pliers load --isolation: name the plugins (not with --all)")
    if args.all_:
        folder = _extensions(call)
        if folder is None:
            raise UsageError(
                "%pliers load --all: no extensions/ folder found; "
                "set %config PliersMagics.extensions = '/path/to/extensions'"
            )
        engine = call.engine
        before = len(engine.errors)
        for plugin in engine.load_all(folder):
            _say(plugin, "loaded")
        for error in list(engine.errors)[before:]:
            print(f"✗ {error.plugin_id}: {str(error).splitlines()[0]}")
    for target in args.targets:
        _load_one(call, target, config, not args.no_activate, args.isolation)


_ID = arg("plugin", metavar="ID", help="a plugin id (its manifest name)")


@command("unload", "unload plugins", arg("plugins", nargs="+", metavar="ID"))
def _unload(call: Call) -> None:
    """Stop and forget plugins (refused while others depend on them)."""
    for plugin_id in call.args.plugins:
        key = call.engine.plugin(plugin_id).key
        call.engine.unload(plugin_id)
        print(f"unloaded {key}")


@command("reload", "reload plugins from their folders", arg("plugins", nargs="+", metavar="ID"))
def _reload(call: Call) -> None:
    """Import each plugin's folder again; a broken edit keeps the old version serving."""
    for plugin_id in call.args.plugins:
        _say(call.engine.reload(plugin_id), "reloaded")


@command("enable", "activate stopped plugins", arg("plugins", nargs="+", metavar="ID"))
def _enable(call: Call) -> None:
    """Activate plugins that are stopped (or failed)."""
    for plugin_id in call.args.plugins:
        _say(call.engine.enable(plugin_id), "enabled")


@command(
    "disable",
    "stop plugins (their handlers stop answering)",
    arg("plugins", nargs="+", metavar="ID"),
    arg("--reason", default="disabled from the notebook", help="recorded in the lifecycle"),
)
def _disable(call: Call) -> None:
    """Stop plugins; they stay loaded and can be enabled again."""
    for plugin_id in call.args.plugins:
        _say(call.engine.disable(plugin_id, call.args.reason), "disabled")


@command("reset", "close the default engine (unloading everything) and start a fresh one")
def _reset(call: Call) -> None:
    """Close the default engine; the next command creates a new, empty one."""
    from ._default import reset_default_engine
    from .hostlink import forget_default_host

    forget_default_host()
    reset_default_engine()
    print("the default engine was reset (no plugins loaded)")


# ---------------------------------------------------------------------- looking
@command("list", "loaded plugins: version, state, isolation, layers, hooks (a DataFrame)")
def _list(call: Call) -> Any:
    """One row per plugin. ``isolation`` is where its code runs (inline or process) and
    ``layers`` the sandbox layers in force there."""
    rows = []
    for p in call.engine.plugins:
        hooks = ", ".join(f"{h}({c.priority})" for h, c in p.manifest.hooks.items())
        layers = ", ".join(p.layers)  # names; `%pliers info ID` has the details
        rows.append(
            (
                p.id,
                p.version,
                p.state.value,
                p.isolation,
                layers,
                hooks,
                p.stats.count,
                p.stats.errors,
            )
        )
    return _frame(
        rows, ("plugin_id", "version", "state", "isolation", "layers", "hooks", "calls", "errors")
    )


@command(
    "hooks",
    "the hook catalog (core and custom) with each hook's handlers in order",
    arg("pattern", nargs="?", help="only hooks matching this (glob or substring)"),
)
def _hooks(call: Call) -> Any:
    """Every hook the engine knows: result mode, who declared it, its handlers in the order
    they run (highest priority first)."""
    engine, pattern = call.engine, call.args.pattern
    rows = []
    for spec in engine.hooks():
        if pattern and not (fnmatch.fnmatch(spec.name, pattern) or pattern in spec.name):
            continue
        handlers = ", ".join(f"{i.plugin_id}({i.priority})" for i in engine.handlers(spec.name))
        rows.append(
            (spec.name, spec.mode.value, spec.custom, spec.declared_by, handlers, spec.description)
        )
    return _frame(rows, ("hook", "mode", "custom", "declared_by", "handlers", "description"))


@command("info", "one plugin in full (state, hooks, permissions, config, lifecycle)", _ID)
def _info(call: Call) -> Any:
    """The plugin object; a notebook shows it as a rich table."""
    return call.engine.plugin(call.args.plugin)


@command("isolation", "the isolation layers on this machine: active, missing, how to get them")
def _isolation(call: Call) -> Any:
    """Which kernel layers the default engine's sandbox has here; a missing required layer
    refuses untrusted plugins, a missing optional one is run without (``pliers doctor``)."""
    return call.engine.isolation_report()


@command(
    "graph",
    "draw the plugin dependency graph (.frame/.edges/.graph hold the data)",
)
def _graph(call: Call) -> Any:
    """Dependencies left of their dependents; colour = state, red = conflict, #n = load
    order. Returns a Picture: ``g = %pliers graph`` then ``g.frame``, ``g.edges``,
    ``g.graph`` (the networkx DiGraph)."""
    from ._graph import draw_dependency_graph

    return draw_dependency_graph(call.engine)


@command(
    "metrics",
    "per-plugin metrics (a DataFrame) or a plot of them",
    arg("plugin", nargs="?", metavar="ID"),
    arg(
        "--plot",
        choices=("durations", "errors", "timeline"),
        help="durations: box plots per plugin; errors: error rate per plugin; "
        "timeline: the recent plugin calls",
    ),
)
def _metrics(call: Call) -> Any:
    """Metrics from the engine's exact counters; ``--plot`` returns a Picture whose
    ``.frame`` is the data drawn."""
    from . import plots

    engine, args = call.engine, call.args
    if args.plot:
        if args.plugin:
            raise UsageError("%pliers metrics --plot draws every plugin; leave out the ID")
        draw = {
            "durations": plots.plot_durations,
            "errors": plots.plot_error_rates,
            "timeline": plots.plot_timeline,
        }[args.plot]
        return draw(engine)
    frame = engine.metrics_frame()
    if args.plugin:
        engine.plugin(args.plugin)
        frame = frame[frame["plugin_id"] == args.plugin].reset_index(drop=True)
    return frame


@command(
    "errors",
    "recorded plugin errors (a DataFrame), or one in full",
    arg("plugin", nargs="?", metavar="ID"),
    arg("--type", dest="type_", help="only this error type, e.g. runtime_error"),
    arg("--last", type=int, help="the newest N (default: PliersMagics.max_rows)"),
    arg("--detail", metavar="ERROR_ID", help="show one error in full (stack included)"),
)
def _errors(call: Call) -> Any:
    """Errors the engine kept, newest last; ``--detail err-7`` returns that PluginError."""
    engine, args = call.engine, call.args
    if args.detail:
        for error in engine.errors:
            if error.id == args.detail:
                return error
        raise UsageError(f"%pliers errors: no error {args.detail!r} is kept (see %pliers errors)")
    frame = engine.errors.frame()
    if args.plugin:
        engine.plugin(args.plugin)
        frame = frame[frame["plugin_id"] == args.plugin]
    if args.type_:
        frame = frame[frame["type"] == args.type_]
    return frame.tail(args.last or call.magics.max_rows).reset_index(drop=True)


@command(
    "logs",
    "plugin log entries (a DataFrame)",
    arg("plugin", nargs="?", metavar="ID"),
    arg("--level", choices=_LEVELS, help="this level and above"),
    arg("--last", type=int, help="the newest N (default: PliersMagics.max_rows)"),
)
def _logs(call: Call) -> Any:
    """What plugins logged through ``ctx.logger``, newest last."""
    engine, args = call.engine, call.args
    frame = engine.logs.frame()
    if args.plugin:
        engine.plugin(args.plugin)
        frame = frame[frame["plugin_id"] == args.plugin]
    if args.level:
        frame = frame[frame["level"].isin(_LEVELS[_LEVELS.index(args.level) :])]
    return frame.tail(args.last or call.magics.max_rows).reset_index(drop=True)


@command(
    "activity",
    "what happened to plugins: status changes, installs, errors, config (a DataFrame)",
    arg("plugin", nargs="?", metavar="ID"),
    arg("--type", dest="type_", metavar="TYPE", help="one event type, e.g. plugin.error.occurred"),
    arg("--last", type=int, help="the newest N (default: PliersMagics.max_rows)"),
)
def _activity(call: Call) -> Any:
    """The engine's activity feed (``engine.activity``), newest last."""
    from ..observe.activity import EVENT_TYPES

    engine, args = call.engine, call.args
    if args.plugin:
        engine.plugin(args.plugin)
    if args.type_ and args.type_ not in EVENT_TYPES:
        raise UsageError(
            f"%pliers activity: unknown type {args.type_!r} (known: {', '.join(EVENT_TYPES)})"
        )
    frame = engine.activity.frame(args.plugin)
    if args.type_:
        frame = frame[frame["type"] == args.type_]
    return frame.tail(args.last or call.magics.max_rows).reset_index(drop=True)


# ---------------------------------------------------------------------- acting
@command(
    "fire",
    "fire a hook with a JSON payload (inline, @file or $variable)",
    arg("hook", metavar="HOOK"),
    arg("--user", help="user id in the context's metadata"),
    arg("--session", help="session id in the context's metadata"),
    arg(
        "--sample",
        action="store_true",
        help="use a sample payload in the shape the host sends for this hook",
    ),
    payload=True,
    cell="the JSON payload",
)
def _fire(call: Call) -> Any:
    """Fire HOOK and return the HookResult: value, per-plugin outcomes, shared state.

    The payload follows the options: %pliers fire submission.beforeSave --session s1 $data
    (JSON inline such as {"form": {...}}, @path/to/file.json, or $name of a notebook
    variable)."""
    args = call.args
    user_ns = call.shell.user_ns if call.shell is not None else None
    data = resolve_payload(call.payload if call.payload is not None else call.cell, user_ns)
    if args.sample:
        if data is not MISSING:
            raise UsageError("%pliers fire: give a payload or --sample, not both")
        from ..samples import sample_payload

        data = sample_payload(args.hook)
    return call.engine.fire(
        args.hook, None if data is MISSING else data, user_id=args.user, session_id=args.session
    )


def _set_path(target: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    for key in keys[:-1]:
        child = target.get(key)
        if not isinstance(child, dict):
            child = target[key] = {}
        target = child
    target[keys[-1]] = value


@command(
    "config",
    "show a plugin's configuration, or set keys (validated against its schema)",
    _ID,
    arg(
        "assignments",
        nargs="*",
        metavar="KEY=VALUE",
        help='values are JSON when they parse (5, true, ["a"]) and text otherwise; '
        "dotted keys reach into objects",
    ),
    arg("--reset", action="store_true", help="back to the defaults"),
    arg("--schema", action="store_true", help="show the JSON Schema instead"),
    payload=True,
    cell="a JSON object merged into the configuration",
)
def _config(call: Call) -> Any:
    """Without assignments: the current configuration. With KEY=VALUE pairs (or a JSON
    object): the new configuration, applied only if it validates."""
    engine, args = call.engine, call.args
    plugin = engine.plugin(args.plugin)
    if args.schema:
        source = plugin.config_source
        return source.schema if source and source.schema else {}
    user_ns = call.shell.user_ns if call.shell is not None else None
    patch = resolve_payload(call.payload if call.payload is not None else call.cell, user_ns)
    if patch is not MISSING and not isinstance(patch, dict):
        raise UsageError("%pliers config: the JSON payload must be an object")
    changes: dict[str, Any] = {} if patch is MISSING else dict(patch)
    for item in args.assignments:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"%pliers config: {item!r} is not KEY=VALUE")
        _set_path(changes, key, parse_value(value))
    if args.reset:
        config = engine.configure(plugin.id, changes)
    elif changes:  # merged into what the user set before; defaults stay defaults
        config = engine.configure(plugin.id, changes, merge=True)
    else:
        return dict(plugin.config)
    print(f"configuration of {plugin.id} applied: {json.dumps(changes) if changes else 'defaults'}")
    return config


@command(
    "plugin",
    "define an inline plugin from the cell (%%pliers plugin NAME)",
    arg("name", metavar="NAME"),
    arg("--version", default="0.1.0"),
    arg(
        "--priority",
        action="append",
        default=[],
        metavar="HOOK=N",
        help="priority of one hook (default 100; higher runs earlier)",
    ),
    arg("--config", help="configuration as JSON"),
    cell="the plugin's code (and an optional leading JSON manifest header)",
)
def _plugin(call: Call) -> None:
    """Handlers are functions decorated with @hook("..."); hook and Veto are predefined.
    A leading JSON object in the cell is merged into the generated manifest. Running
    the cell again replaces the plugin."""
    from ._inline import define_plugin

    if call.cell is None:
        raise UsageError("%pliers plugin is a cell magic: %%pliers plugin NAME, code below")
    priorities = {}
    for item in call.args.priority:
        hook_name, _, value = item.partition("=")
        try:
            priorities[hook_name] = int(value)
        except ValueError:
            raise UsageError(f"--priority {item!r}: expected HOOK=N with N an integer") from None
    config = resolve_payload(call.args.config, None) if call.args.config else None
    plugin = define_plugin(
        call.engine,
        call.args.name,
        call.cell,
        version=call.args.version,
        priorities=priorities,
        config=config,
    )
    hooks = ", ".join(f"{h}({c.priority})" for h, c in plugin.manifest.hooks.items())
    print(f"defined {plugin.key}: {plugin.state.value}; hooks: {hooks or 'none'}")


@command(
    "simulate",
    "push a submission through the host's whole pipeline (a Simulation)",
    arg(
        "--form",
        help="form id (default: contact; the host's samples: contact, "
        "job-application, expense-claim)",
    ),
    arg("--user", help="user id"),
    arg("--session", help="session id"),
    payload=True,
    cell="the submission's answers as JSON",
)
def _simulate(call: Call) -> Any:
    """Submit answers to a form of the simulated host (default: a synthetic answer for
    the form) and return the Simulation: the saved submission, the pipeline trace as a
    table, ``.frame`` (one row per plugin call or host step) and ``.timeline()``. A
    submission a plugin refuses comes back too, stopped at the step that refused it."""
    from .hostlink import simulate

    user_ns = call.shell.user_ns if call.shell is not None else None
    answers = resolve_payload(call.payload if call.payload is not None else call.cell, user_ns)
    return simulate(
        call.engine,
        None if answers is MISSING else answers,
        form=call.args.form,
        user_id=call.args.user,
        session_id=call.args.session,
    )


# registers advisories, trust; security, quarantine, release
from . import _advisory_commands, _security_commands  # noqa: E402, F401
