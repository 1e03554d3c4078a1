"""Rich HTML for the engine's objects: Engine, Plugin, HookResult and PluginError.

``%load_ext pliers_lab`` registers these with IPython's HTML formatter (``show_rich``):
the core classes have no ``_repr_html_`` and never import the lab (STYLE.md habit 10).
Only the standard library is used here: a notebook shows a result without importing
pandas or matplotlib.

Tables carry CSS classes (``pliers-outcomes``, ``pliers-plugins``, ``pliers-timeline``) and
rows carry ``data-plugin``/``data-status`` attributes so tests and browsers can find them
without matching text that also appears in the source.
"""

from __future__ import annotations

import dataclasses
import html
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..engine import Engine
    from ..engine.hook_results import HookResult
    from ..errors import PluginError
    from ..lifecycle import Transition
    from ..plugin import Plugin

__all__ = [
    "engine_html",
    "error_html",
    "forget_rich",
    "frame_html",
    "json_html",
    "outcomes_html",
    "plugin_html",
    "resources_html",
    "result_html",
    "show_rich",
    "state_html",
    "table_html",
    "timeline_html",
]

#: Colours of lifecycle states and outcome statuses (also used by the plots).
STATE_COLOURS = {
    "active": "#2e7d32",
    "loaded": "#0277bd",
    "loading": "#f9a825",
    "initializing": "#f9a825",
    "stopping": "#ef6c00",
    "stopped": "#757575",
    "unloading": "#ef6c00",
    "unloaded": "#bdbdbd",
    "error": "#c62828",
    "missing": "#6a1b9a",
    "excluded": "#ad1457",  # left out by dependency resolution
}
STATUS_COLOURS = {
    "ok": "#2e7d32",
    "error": "#c62828",
    "timeout": "#ef6c00",
    "skipped": "#757575",
    "overloaded": "#6a1b9a",  # the host's load, not the plugin's failure
}

# ``table[class]`` outweighs JupyterLab's right-aligned ``:not(...).jp-RenderedHTMLCommon th``.
STYLE = """<style>
.pliers-lab{font-family:var(--jp-ui-font-family,sans-serif);font-size:13px;line-height:1.4}
div.pliers-lab{max-width:100%;overflow-x:auto}
.pliers-lab table{border-collapse:collapse;margin:4px 0}
.pliers-lab table[class] thead th,.pliers-lab table[class] tbody td{text-align:left;
border-bottom:1px solid #ddd;padding:2px 8px;vertical-align:top}
.pliers-lab table[class] thead th{background:rgba(127,127,127,.12)}
.pliers-lab table[class] .num{text-align:right;font-variant-numeric:tabular-nums}
.pliers-lab pre{margin:2px 0;max-height:16em;overflow:auto;white-space:pre-wrap}
.pliers-badge{color:#fff;border-radius:3px;padding:0 5px;font-size:12px}
.pliers-muted{color:#777}
.pliers-warning{color:#b45309}
</style>"""

_MAX_TEXT = 4000

# A DataFrame wider than the output scrolls in its own box; a long text column wraps at a
# readable width instead of being squeezed to one word per line beside narrow ones.
# ``table.dataframe`` outweighs JupyterLab's ``.jp-RenderedHTMLCommon td`` (max-width: none).
FRAME_STYLE = """<style>
.pliers-frame{max-width:100%;overflow-x:auto}
.pliers-frame table.dataframe{table-layout:auto}
.pliers-frame table.dataframe td,.pliers-frame table.dataframe th{max-width:32em;
white-space:normal;overflow-wrap:break-word}
</style>"""

#: The least text a DataFrame cell shows (pandas cuts at 50 characters by default).
FRAME_TEXT = 2000


def esc(value: object) -> str:
    """HTML-escaped ``str(value)``."""
    return html.escape(str(value), quote=True)


def badge(text: str, colour: str | None = None) -> str:
    """A small coloured label (a state or a status)."""
    colour = colour or STATE_COLOURS.get(text) or STATUS_COLOURS.get(text) or "#555"
    return f'<span class="pliers-badge" style="background:{colour}">{esc(text)}</span>'


def state_html(state: object) -> str:
    """A lifecycle state as a coloured badge."""
    return badge(str(state))


def jsonable(value: Any) -> Any:
    """``value`` made JSON-friendly: dataclasses become dicts, unknown objects their repr."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


def to_json(value: Any, limit: int = _MAX_TEXT) -> str:
    """Indented JSON of ``value`` (non-JSON objects shown by repr), cut at ``limit``."""
    text = json.dumps(jsonable(value), indent=2, ensure_ascii=False, sort_keys=False)
    return (
        text if len(text) <= limit else text[:limit] + f"\n… ({len(text) - limit} more characters)"
    )


def json_html(value: Any, css_class: str = "pliers-json") -> str:
    """``value`` as indented JSON in a ``<pre>``."""
    return f'<pre class="{css_class}">{esc(to_json(value))}</pre>'


def table_html(
    columns: Sequence[str],
    rows: Iterable[Sequence[str]],
    css_class: str,
    row_attrs: Iterable[Mapping[str, str]] | None = None,
    numeric: Sequence[str] = (),
) -> str:
    """An HTML table; cells are already HTML. ``numeric`` columns are right-aligned."""
    head = "".join(
        f'<th class="num">{esc(c)}</th>' if c in numeric else f"<th>{esc(c)}</th>" for c in columns
    )
    attrs = iter(row_attrs) if row_attrs is not None else None
    body = []
    for row in rows:
        extra = ""
        if attrs is not None:
            extra = "".join(f' {k}="{esc(v)}"' for k, v in next(attrs).items())
        cells = "".join(
            f'<td class="num">{cell}</td>' if col in numeric else f"<td>{cell}</td>"
            for col, cell in zip(columns, row, strict=True)
        )
        body.append(f"<tr{extra}>{cells}</tr>")
    if not body:
        span = len(columns)
        body.append(f'<tr><td colspan="{span}" class="pliers-muted">nothing yet</td></tr>')
    rows_html = "".join(body)
    return (
        f'<table class="{css_class}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{rows_html}</tbody></table>"
    )


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "—"
    return time.strftime("%H:%M:%S", time.localtime(epoch)) + f".{int(epoch % 1 * 1000):03d}"


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------------- hook results
def outcomes_html(result: HookResult, css_class: str = "pliers-outcomes") -> str:
    """One row per plugin that ran: order, priority, status, duration, retries, error."""
    columns = ("#", "plugin", "priority", "status", "ms", "retries", "error", "answer")
    rows, attrs = [], []
    for i, o in enumerate(result.outcomes, 1):
        error = f"{badge(o.error.type.value, '#c62828')} {esc(o.error.message)}" if o.error else ""
        rows.append(
            (
                str(i),
                esc(o.plugin_id),
                str(o.priority),
                badge(o.status),
                f"{o.duration_ms:.3f}",
                str(o.retries),
                error,
                f"<code>{esc(_short(o.value))}</code>" if o.value is not None else "",
            )
        )
        attrs.append({"data-plugin": o.plugin_id, "data-status": o.status})
    return table_html(columns, rows, css_class, attrs, numeric=("#", "priority", "ms", "retries"))


def result_html(result: HookResult) -> str:
    """A hook result: header, value, per-plugin outcomes and the shared state."""
    meta = result.metadata
    who = " ".join(
        f"{k} <code>{esc(v)}</code>"
        for k, v in (("user", meta.user_id), ("session", meta.session_id))
        if v is not None
    )
    status = badge("ok") if result.ok else badge("error")
    state = result.state
    return (
        f'{STYLE}<div class="pliers-lab pliers-result" data-hook="{esc(result.hook)}">'
        f"<b>{esc(result.hook)}</b> <span class='pliers-muted'>({esc(result.mode)})</span> "
        f"{status} execution <code>{esc(result.execution_id)}</code> at {_when(result.started)} "
        f"· {len(result.rows)} plugin{'s' if len(result.rows) != 1 else ''} "
        f"· {result.duration_ms:.3f} ms {who}"
        f"<div><b>value</b>{json_html(result.value, 'pliers-value')}</div>"
        f"{outcomes_html(result)}"
        + (f"<div><b>shared state</b>{json_html(state, 'pliers-state')}</div>" if state else "")
        + "</div>"
    )


# ---------------------------------------------------------------------- errors
def error_html(error: PluginError) -> str:
    """A plugin error: type, culprit (plugin, hook, execution), message, cause, stack."""
    facts = [
        ("plugin", error.plugin_id),
        ("hook", error.hook),
        ("execution", error.execution_id),
        ("error id", error.id),
        ("at", _when(error.timestamp)),
        ("recovery", error.recovery),
        ("cause", type(error.cause).__name__ if error.cause is not None else None),
    ]
    rows = [(esc(k), f"<code>{esc(v)}</code>") for k, v in facts if v is not None]
    stack = (
        f"<details><summary>stack</summary><pre>{esc(error.stack)}</pre></details>"
        if error.stack
        else ""
    )
    return (
        f'{STYLE}<div class="pliers-lab pliers-error">{badge(error.type.value, "#c62828")} '
        f"<pre>{esc(error.message)}</pre>{table_html(('', ''), rows, 'pliers-error-facts')}"
        f"{stack}</div>"
    )


# ---------------------------------------------------------------------- plugins
def timeline_html(transitions: Sequence[Transition], css_class: str = "pliers-timeline") -> str:
    """Lifecycle transitions, oldest first, with time since the first one."""
    origin = transitions[0].timestamp if transitions else 0.0
    rows = [
        (
            _when(t.timestamp),
            f"+{(t.timestamp - origin) * 1000:.1f}",
            f"{state_html(t.source.value)} → {state_html(t.target.value)}",
            esc(t.reason or ""),
            esc(t.error_id or ""),
        )
        for t in transitions
    ]
    attrs = [{"data-target": t.target.value} for t in transitions]
    return table_html(
        ("at", "+ms", "transition", "reason", "error"), rows, css_class, attrs, numeric=("+ms",)
    )


def permissions_html(plugin: Plugin) -> str:
    """The permissions the manifest asks for, one row per category and verb."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for category, verb, pattern in plugin.manifest.permissions.as_rows():
        grouped.setdefault((category, verb), []).append(pattern)
    rows = [(esc(c), esc(v), esc(", ".join(patterns))) for (c, v), patterns in grouped.items()]
    return table_html(("category", "verb", "resources"), rows, "pliers-permissions")


def hooks_html(plugin: Plugin) -> str:
    """The hooks a plugin declares with their options."""
    rows = [
        (
            f"<code>{esc(name)}</code>",
            str(cfg.priority),
            f"{cfg.timeout:g}",
            str(cfg.retries),
            "yes" if name in plugin.handlers else "—",
        )
        for name, cfg in plugin.manifest.hooks.items()
    ]
    return table_html(
        ("hook", "priority", "timeout ms", "retries", "bound"),
        rows,
        "pliers-hooks",
        numeric=("priority", "timeout ms", "retries"),
    )


def metrics_html(plugin: Plugin) -> str:
    """The spec's execution and health metrics of one plugin, then its resource figures
    (``resources_html``)."""
    m = plugin.metrics()
    e, h = m.execution, m.health
    rows = [
        ("calls", str(e.count)),
        ("successes", str(e.successCount)),
        ("errors", str(e.errorCount)),
        ("avg ms", f"{e.avgDuration:.3f}"),
        ("max ms", f"{e.maxDuration:.3f}"),
        ("total ms", f"{e.totalDuration:.3f}"),
        ("health", badge(h.status, _HEALTH[h.status])),
        ("uptime s", f"{h.uptime / 1000:.1f}"),
        ("restarts", str(h.restarts)),
        ("timeouts", str(plugin.stats.timeouts)),
        ("circuit breaker", h.circuit.replace("_", "-")),
        ("skipped (breaker open)", str(e.skippedCount)),
        ("host overloads", str(e.overloadedCount)),
    ]
    return table_html(
        ("metric", "value"), rows, "pliers-metrics", numeric=("value",)
    ) + resources_html(m.resources)


def resources_html(resources: Mapping[str, Any]) -> str:
    """A plugin's resource figures: value and unit, and where it comes from, or *not
    measured* and why (``PluginMetrics.resources``); rows carry ``data-figure`` and
    ``data-measured`` (``yes``/``no``)."""
    from ..observe.metrics import resource_figures

    rows, attrs = [], []
    for figure, value, unit, note in resource_figures(dict(resources)):
        shown = (
            '<span class="pliers-muted">not measured</span>'
            if value is None
            else esc(_figure_text(value, unit))
        )
        rows.append((esc(figure), shown, esc(unit), esc(note)))
        attrs.append({"data-figure": figure, "data-measured": "no" if value is None else "yes"})
    return table_html(
        ("figure", "value", "unit", "source, or why not measured"),
        rows,
        "pliers-resources",
        row_attrs=attrs,
        numeric=("value",),
    )


def _figure_text(value: float, unit: str) -> str:
    """A figure for reading: bytes grouped by thousands, the rest to 1 decimal place."""
    if unit in ("bytes", "requests"):
        return f"{value:,.0f}"
    return f"{value:,.1f}"


_HEALTH = {"healthy": "#2e7d32", "warning": "#ef6c00", "critical": "#c62828"}


def layers_html(plugin: Plugin) -> str:
    """The sandbox layers in force, one per line (``none`` for inline plugins)."""
    if not plugin.layers:
        return "none (inline)" if plugin.isolation == "inline" else "none reported"
    return "<br>".join(f"<b>{esc(k)}</b>: {esc(v)}" for k, v in plugin.layers.items())


def plugin_html(plugin: Plugin) -> str:
    """A plugin: identity, state, isolation, hooks, permissions, config, metrics, timeline."""
    m = plugin.manifest
    layers = layers_html(plugin)
    facts = [
        (
            "state",
            state_html(plugin.state.value)
            + (
                f" <span class='pliers-muted'>{esc(plugin.disabled_reason)}</span>"
                if plugin.disabled_reason
                else ""
            ),
        ),
        ("description", esc(m.description)),
        ("author", esc(m.author)),
        (
            "isolation",
            f"<code>{esc(plugin.isolation)}</code>"
            + (
                f" <span class='pliers-muted'>{esc(plugin.placement)}</span>"
                if plugin.placement
                else ""
            ),
        ),
        ("trusted", esc(plugin.trust_reason) if plugin.trust_reason else "no"),
        ("layers", layers),
        ("folder", f"<code>{esc(plugin.root)}</code>" if plugin.root else "defined inline"),
    ]
    deps = [f"{n} {r} ({s})" for n, r, s in m.all_dependencies()]
    if deps:
        facts.append(("dependencies", esc(", ".join(deps))))
    for warning in plugin.warnings:
        facts.append(("warning", f"<span class='pliers-warning'>{esc(warning)}</span>"))
    if plugin.last_error is not None:
        facts.append(("last error", esc(str(plugin.last_error))))
    return (
        f'{STYLE}<div class="pliers-lab pliers-plugin" data-plugin="{esc(plugin.id)}">'
        f"<b>{esc(plugin.key)}</b>"
        f"{table_html(('', ''), [(esc(k), v) for k, v in facts], 'pliers-facts')}"
        f"<b>hooks</b>{hooks_html(plugin)}"
        f"<b>permissions</b>{permissions_html(plugin)}"
        f"<details><summary><b>configuration</b></summary>{json_html(plugin.config)}</details>"
        f"<details><summary><b>metrics</b></summary>{metrics_html(plugin)}</details>"
        f"<details><summary><b>lifecycle</b></summary>{timeline_html(plugin.transitions)}</details>"
        "</div>"
    )


# ---------------------------------------------------------------------- engine
def plugins_table_html(engine: Engine) -> str:
    """One row per plugin: state, isolation, hooks and call counts."""
    rows, attrs = [], []
    for p in engine.plugins:
        s = p.stats
        hooks = ", ".join(f"{h}({c.priority})" for h, c in p.manifest.hooks.items())
        avg = s.total / s.count * 1000 if s.count else 0.0
        rows.append(
            (
                esc(p.id),
                esc(p.version),
                state_html(p.state.value),
                esc(p.isolation),
                esc(hooks),
                str(s.count),
                str(s.errors),
                f"{avg:.3f}",
            )
        )
        attrs.append({"data-plugin": p.id, "data-state": p.state.value})
    return table_html(
        (
            "plugin",
            "version",
            "state",
            "isolation",
            "hooks (priority)",
            "calls",
            "errors",
            "avg ms",
        ),
        rows,
        "pliers-plugins",
        attrs,
        numeric=("calls", "errors", "avg ms"),
    )


def engine_html(engine: Engine) -> str:
    """The engine: its plugins and how much it has observed."""
    n = len(engine.plugins)
    return (
        f'{STYLE}<div class="pliers-lab pliers-engine"><b>Engine</b> <code>{esc(engine.tag)}</code>'
        f" · {n} plugin{'s' if n != 1 else ''} · {engine.executions.total} executions"
        f" · {engine.errors.total} errors · default isolation <code>{esc(engine.default_isolation)}"
        f"</code>{plugins_table_html(engine)}</div>"
    )


# ---------------------------------------------------------------------- DataFrames
def frame_html(frame: Any) -> str | None:
    """A pandas DataFrame as the lab shows it: pandas' own table (its row and column
    limits, its styles), but each cell's text whole up to ``FRAME_TEXT`` characters (a
    conflict's reason, a sandbox's refusal is the point of the cell), in a box that scrolls
    sideways when the table is wider than the output. None when pandas shows no HTML."""
    import pandas as pd

    chosen = pd.get_option("display.max_colwidth")
    width = None if chosen is None else max(int(chosen), FRAME_TEXT)
    with pd.option_context("display.max_colwidth", width):
        inner = frame._repr_html_()
    if inner is None:
        return None
    return f'{FRAME_STYLE}<div class="pliers-frame">{inner}</div>'


#: Where ``DataFrame`` says it lives: ``pandas`` since pandas 3, ``pandas.core.frame`` before.
_FRAME_TYPES = ("pandas.DataFrame", "pandas.core.frame.DataFrame")


def _rich_types() -> dict[type, Any]:
    """The core's classes and how the lab draws each (the core knows nothing of this)."""
    from ..engine import Engine
    from ..engine.hook_results import HookResult
    from ..errors import PluginError
    from ..plugin import Plugin

    return {Engine: engine_html, Plugin: plugin_html, HookResult: result_html,
            PluginError: error_html}  # fmt: skip


def show_rich(ipython: Any) -> None:
    """Draw the engine's objects (``Engine``, ``Plugin``, ``HookResult``, ``PluginError``)
    and every DataFrame of this shell the lab's way (``%load_ext pliers_lab``). The lab
    registers itself with IPython's HTML formatter: the core has no ``_repr_html_`` and
    never imports the lab. DataFrames are registered by name, so pandas is not imported
    until a frame is shown."""
    formatter = ipython.display_formatter.formatters["text/html"]
    for cls, draw in _rich_types().items():
        formatter.for_type(cls, draw)
    for name in _FRAME_TYPES:
        formatter.for_type_by_name(*name.rsplit(".", 1), frame_html)
    from ._advisory_displays import NAMED  # the marketplace's trust records, by name

    for (module, name), draw in NAMED.items():
        formatter.for_type_by_name(module, name, draw)


def forget_rich(ipython: Any) -> None:
    """Give the engine's objects their plain repr and DataFrames pandas' own HTML back
    (``%unload_ext pliers_lab``); a printer someone else registered stays."""
    from ._advisory_displays import NAMED

    formatter = ipython.display_formatter.formatters["text/html"]
    ours = {frame_html, *_rich_types().values(), *NAMED.values()}
    named = tuple(".".join(key) for key in NAMED)
    for key in (*_rich_types(), *_FRAME_TYPES, *named):
        try:
            printer = formatter.lookup_by_type(key)
        except KeyError:
            continue
        if printer in ours:
            formatter.pop(key)
