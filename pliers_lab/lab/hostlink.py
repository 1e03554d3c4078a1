"""The lab's link to the simulated Pliers host (``pliers_lab.host``).

``%pliers simulate`` pushes a submission through the host's whole pipeline on the
default engine and returns a :class:`Simulation`: the host's answer, the pipeline trace,
its DataFrame and its timeline. The default host keeps its database in memory and has
the host's sample forms installed; code can swap it (``set_default_host``).
"""

from __future__ import annotations

import itertools
import threading
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from ._displays import STYLE, badge, esc, table_html

if TYPE_CHECKING:
    from ..engine import Engine
    from ..host import Host
    from .plots import Picture

__all__ = [
    "Simulation",
    "default_host",
    "forget_default_host",
    "host_available",
    "pipeline_frame",
    "plot_pipeline",
    "set_default_host",
    "simulate",
]

_host: Host | None = None
_lock = threading.Lock()
_seeds = itertools.count(1)


def host_module() -> Any | None:
    """``pliers_lab.host`` when it is importable and offers ``Host``, else None."""
    try:
        import pliers_lab.host as host
    except ImportError:
        return None
    return host if hasattr(host, "Host") else None


def host_available() -> bool:
    return host_module() is not None


def default_host(engine: Engine | None = None) -> Host:
    """A host on ``engine`` (default: the default engine), in memory, sample forms
    installed; the same one until the engine changes."""
    global _host
    module = host_module()
    if module is None:
        raise UsageError("the simulated host (pliers_lab.host) is not installed")
    if engine is None:
        from ._default import default_engine

        engine = default_engine()
    with _lock:
        if _host is None or _host.engine is not engine:
            old, _host = _host, module.Host.in_memory(engine)
            if old is not None:
                old.close()
            from ..host import sample_forms as samples

            samples.install(_host)
        return _host


def forget_default_host() -> None:
    """Close the default host (the next simulation makes a new one)."""
    global _host
    with _lock:
        host, _host = _host, None
    if host is not None:
        host.close()


def set_default_host(host: Host) -> Host:
    """Make ``host`` the one ``%pliers simulate`` uses (it must be on the default engine
    to be kept)."""
    global _host
    with _lock:
        _host = host
    return host


# ---------------------------------------------------------------------- pipeline data
def pipeline_frame(trace: Any) -> Any:
    """The trace's DataFrame (one row per plugin call or host step) plus ``start_ms``
    (from the first step; plugins of a step one after another) and ``label`` (step, and
    plugin when there is one)."""
    trace = getattr(trace, "trace", trace)  # a Simulation holds its trace
    frame = trace.frame() if hasattr(trace, "frame") else trace.copy()
    if len(frame):
        origin = frame["started"].min()
        frame["start_ms"] = (frame["started"] - origin).dt.total_seconds() * 1000.0
        # Plugins of one step share the step's start; each really began when the one
        # before it in the step finished.
        earlier = frame.groupby(["trace_id", "step"])["duration_ms"].cumsum() - frame["duration_ms"]
        frame["start_ms"] += earlier.where(frame["plugin"].notna(), 0.0)
        plugin = frame["plugin"].fillna("")
        frame["label"] = (
            frame["step"].astype(str).str.zfill(2)
            + " "
            + frame["name"]
            + plugin.where(plugin == "", " · " + plugin)
        )
    return frame


def plot_pipeline(trace: Any, title: str | None = None) -> Picture:
    """The submission pipeline as a timeline: one lane per step (and plugin), coloured by
    status; ``picture.frame`` is ``pipeline_frame(trace)``."""
    from .plots import plot_timeline

    frame = pipeline_frame(trace)
    trace = getattr(trace, "trace", trace)
    name = (
        title or f"{getattr(trace, 'operation', 'pipeline')} {getattr(trace, 'target', '') or ''}"
    )
    return plot_timeline(
        frame,
        label="label",
        start="start_ms",
        duration="duration_ms",
        colour="status",
        title=name.strip(),
    )


class Simulation:
    """One submission pushed through the host: what came out and how.

    Attributes:
        form: the form id. answers: what was submitted.
        value: the saved submission (None when the pipeline stopped).
        trace: the host's pipeline trace. warnings: validation warnings.
        error: the HostError that stopped the pipeline (None when it went through).
    """

    def __init__(
        self,
        form: str,
        answers: Any,
        value: Any,
        trace: Any,
        warnings: list[Any],
        error: BaseException | None,
    ) -> None:
        self.form = form
        self.answers = answers
        self.value = value
        self.trace = trace
        self.warnings = warnings
        self.error = error

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def frame(self) -> Any:
        """The pipeline as a DataFrame (see ``pipeline_frame``)."""
        return pipeline_frame(self.trace)

    def timeline(self) -> Picture:
        """The pipeline drawn as a timeline."""
        return plot_pipeline(self.trace)

    def __repr__(self) -> str:
        state = "ok" if self.ok else f"stopped: {self.error}"
        return f"<Simulation {self.form} {self.trace.id} {len(self.trace)} steps {state}>"

    def _repr_html_(self) -> str:
        rows, attrs = [], []
        for step in self.trace.steps:
            plugins = (
                ", ".join(f"{o.plugin_id} ({o.status})" for o in step.result.outcomes)
                if step.result is not None
                else ""
            )
            rows.append(
                (
                    str(step.index),
                    f"<code>{esc(step.name)}</code>",
                    esc(step.kind),
                    badge(step.status),
                    f"{step.duration_ms:.3f}",
                    esc(plugins),
                    esc(step.note),
                )
            )
            attrs.append({"data-step": step.name, "data-status": step.status})
        status = badge("ok") if self.ok else badge("error")
        saved = ""
        if isinstance(self.value, dict):
            saved = (
                f" · submission <code>{esc(self.value.get('id'))}</code> status "
                f"<code>{esc(self.value.get('status'))}</code>"
            )
        stopped = f"<div>{esc(self.error)}</div>" if self.error is not None else ""
        warnings = (
            f"<div>{len(self.warnings)} warning(s): "
            + esc("; ".join(str(w.get("message", w)) for w in self.warnings))
            + "</div>"
            if self.warnings
            else ""
        )
        return (
            f'{STYLE}<div class="pliers-lab pliers-simulation"><b>{esc(self.trace.operation)}</b> '
            f"form <code>{esc(self.form)}</code> {status} {self.trace.duration_ms:.2f} ms "
            f"({esc(self.trace.id)}){saved}{stopped}{warnings}"
            + table_html(
                ("#", "step", "kind", "status", "ms", "plugins", "note"),
                rows,
                "pliers-pipeline",
                attrs,
                numeric=("#", "ms"),
            )
            + "</div>"
        )


def simulate(
    engine: Engine,
    answers: Any,
    *,
    form: str | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
) -> Simulation:
    """Submit ``answers`` (default: a synthetic answer for the form) to ``form``
    (default: the sample contact form) through the host's whole pipeline."""
    if host_module() is None:
        raise UsageError(
            "%pliers simulate needs the simulated host (pliers_lab.host), which this install "
            "does not have; fire the submission hooks one by one with %pliers fire"
        )
    from ..host import HostError
    from ..host import sample_forms as samples

    host = default_host(engine)
    form_id = form or "contact"
    if answers is None:
        try:
            answers = next(samples.synthetic(form_id, 1, seed=next(_seeds)))
        except KeyError as exc:
            raise UsageError(f"%pliers simulate: {exc.args[0]}; give the answers as JSON") from None
    if not isinstance(answers, dict):
        raise UsageError("%pliers simulate: the answers must be a JSON object {field: value}")
    try:
        result = host.submit(form_id, answers, user_id=user_id, session_id=session_id)
    except HostError as exc:
        if exc.trace is None:  # nothing ran: a mistake in what was asked (unknown form...)
            raise
        return Simulation(form_id, answers, None, exc.trace, [], exc)
    return Simulation(form_id, answers, result.value, result.trace, list(result.warnings), None)
