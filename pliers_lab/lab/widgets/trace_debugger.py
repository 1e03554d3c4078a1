"""The time-travel debugger in the lab: step through a recorded ``DebugTrace`` both ways,
see the code and the local variables at each step, break at a line and jump to it.

The engine records (``engine.debugger.trace``); this widget only moves the trace's cursor
over what really happened, so stepping back costs nothing and a breakpoint can be set
after the fact: on a line of the recording, it stops wherever that line ran.

``ReplayProgress`` is the progress bar of a long ``pliers_lab.replay.replay``: the replay
calls it as partitions finish.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ...debug.trace import DebugTrace, ExecutionFrame
from ...errors import EngineError
from .._displays import esc, table_html
from ._common import engine_or_default, message, panel

if TYPE_CHECKING:
    from ...engine import Engine

__all__ = ["ReplayProgress", "TraceDebugger"]

#: Source lines shown around the current one when its function is longer.
WINDOW = 12

_STYLE = """<style>
.pliers-source{font-family:var(--jp-code-font-family,monospace);font-size:12px}
.pliers-source td{padding:0 6px;white-space:pre;border:none}
.pliers-source td.pliers-gutter{color:#999;text-align:right;user-select:none}
.pliers-source tr.pliers-current td{background:#fff3c4}
.pliers-source tr.pliers-breakpoint td.pliers-gutter{color:#c62828;font-weight:bold}
.pliers-variables tr.pliers-changed td{background:#e8f5e9}
.pliers-variables td:first-child{white-space:nowrap}
.pliers-variables td:last-child code{white-space:pre-wrap;word-break:break-all}
</style>"""


class TraceDebugger(w.VBox):  # type: ignore[misc]
    """Step forward and back through a recorded trace, with breakpoints set after the fact.

    ``TraceDebugger(trace)`` (a ``DebugTrace``, or a trace id of the engine's debugger)
    starts where the trace's cursor is, or at its first event. The buttons move the
    trace's cursor, as ``trace.step()`` and ``trace.back()`` do.

    Breakpoints are line numbers typed in ``breakpoints`` (``8``, ``8, 11`` or
    ``plugin.py:8``; a bare number is a line of the current file). "Continue to
    breakpoint" goes forward to the next event on one of those lines or to a hit of a
    breakpoint the trace was recorded with; a line that never ran is said so.

    Attributes:
        back_button, step_button: one event back / forward.
        reverse_button, continue_button: to the previous / next breakpoint hit.
        frame: an IntSlider over the recording (scrub the tape).
        breakpoints: Text, the lines to break at.
        position: HTML: event i of n, kind, function, file and line (``data-line``,
            ``data-index`` attributes).
        message: HTML, one line: what the last action did, or why it could not.
        source: HTML: the code around the current line (``pliers-source``).
        variables: HTML: the local variables at this step (``pliers-variables``; rows
            ``data-name``, those changed by the previous step ``pliers-changed``).
    """

    def __init__(self, trace: DebugTrace | str, engine: Engine | None = None) -> None:
        if isinstance(trace, str):
            traces = engine_or_default(engine).debugger.traces
            if trace not in traces:
                raise EngineError(
                    f"no trace {trace!r} (traces: {', '.join(traces) or 'none'}); "
                    "record one with engine.debugger.trace(plugin_id)"
                )
            recorded: DebugTrace = traces[trace]
            trace = recorded
        self.trace = trace
        self.back_button = w.Button(description="Step back", icon="step-backward")
        self.step_button = w.Button(description="Step forward", icon="step-forward")
        self.reverse_button = w.Button(description="Back to breakpoint", icon="backward")
        self.continue_button = w.Button(
            description="Continue to breakpoint", icon="forward", button_style="primary"
        )
        for button in (self.reverse_button, self.continue_button):
            button.layout = w.Layout(width="auto")
        self.frame = w.IntSlider(
            min=0, max=0, description="event", continuous_update=False,
            layout=w.Layout(width="40em"),
        )  # fmt: skip
        self.breakpoints = w.Text(
            description="break at",
            placeholder="line(s): 8, or 8, 11, or plugin.py:8",
            layout=w.Layout(width="26em"),
        )
        self.position = w.HTML()
        self.message = w.HTML()
        self.source = w.HTML()
        self.variables = w.HTML()
        self._moving = False
        self.back_button.on_click(lambda _b: self.back())
        self.step_button.on_click(lambda _b: self.step())
        self.reverse_button.on_click(lambda _b: self.reverse_continue())
        self.continue_button.on_click(lambda _b: self.continue_())
        self.frame.observe(self._on_slider, "value")
        super().__init__(
            [
                w.HBox([self.back_button, self.step_button, self.frame]),
                w.HBox([self.breakpoints, self.reverse_button, self.continue_button]),
                self.message,
                self.position,
                w.HBox([self.source, self.variables]),
            ]
        )
        self.add_class("pliers-debugger")
        self.refresh()
        if self.trace.execution:
            current = self.trace.current
            self.goto(current.index if current is not None else 0)

    # ------------------------------------------------------------------ moving
    @property
    def current(self) -> ExecutionFrame | None:
        """The event shown (None when nothing was recorded)."""
        return self.trace.current

    def goto(self, index: int) -> ExecutionFrame | None:
        """Show event ``index`` of the recording (negative counts from the end)."""
        if not self.trace.execution:
            return None
        frame = self.trace.goto(index)
        self._moving = True
        try:
            self.frame.max = len(self.trace.execution) - 1  # the trace may have grown
            self.frame.value = frame.index
        finally:
            self._moving = False
        self._show()
        return frame

    def step(self) -> ExecutionFrame | None:
        """One event forward; what Step forward does."""
        return self._move(+1)

    def back(self) -> ExecutionFrame | None:
        """One event back in time; what Step back does."""
        return self._move(-1)

    def _move(self, delta: int) -> ExecutionFrame | None:
        current = self.current
        if current is None:
            return None
        target = current.index + delta
        if not 0 <= target < len(self.trace.execution):
            edge = "first" if delta < 0 else "last"
            self.message.value = message("info", f"this is the {edge} recorded event")
            return current
        self.message.value = ""
        return self.goto(target)

    def continue_(self) -> ExecutionFrame | None:
        """Forward to the next breakpoint hit; what Continue to breakpoint does."""
        return self._to_hit(forward=True)

    def reverse_continue(self) -> ExecutionFrame | None:
        """Back to the previous breakpoint hit; what Back to breakpoint does."""
        return self._to_hit(forward=False)

    def _to_hit(self, *, forward: bool) -> ExecutionFrame | None:
        current = self.current
        if current is None:
            return None
        hits = self.hits()
        if hits is None:  # the breakpoints could not be read: said so in message
            return current
        ahead = sorted(i for i in hits if (i > current.index if forward else i < current.index))
        if not ahead:
            where = "after" if forward else "before"
            what = "no breakpoint is set" if not hits else f"no breakpoint hit {where} this event"
            self.message.value = message("warning", what)
            return current
        frame = self.goto(ahead[0] if forward else ahead[-1])
        assert frame is not None
        self.message.value = message(
            "ok", f"breakpoint hit: line {frame.line} (event {frame.index})"
        )
        return frame

    # ------------------------------------------------------------------ breakpoints
    def hits(self) -> set[int] | None:
        """The events to stop at: the typed lines' and the trace's recorded hits (None,
        with the reason in ``message``, when a breakpoint is not a line that ran)."""
        hits = set(self.trace.hits)
        current = self.current
        for part in (p.strip() for p in self.breakpoints.value.replace(";", ",").split(",")):
            if not part:
                continue
            file, _, number = part.rpartition(":")
            if not number.isdigit():
                self.message.value = message(
                    "error", f"breakpoint {part!r} is not a line: write 8, or plugin.py:8"
                )
                return None
            line = int(number)
            where = file or (current.file if current is not None else None)
            found = self.trace.frames_at(line, where)
            if not found:
                self.message.value = message("error", self._never_ran(line, file, where))
                return None
            hits.update(found)
        return hits

    def _never_ran(self, line: int, typed: str, where: str | None) -> str:
        name = typed or (Path(where).name if where else "the recording")
        if typed and not self.trace.lines(typed):
            files = ", ".join(Path(f).name for f in self.trace.files())
            return f"no line of {typed!r} ran in this trace (files: {files})"
        ran = _ranges(self.trace.lines(where))
        return f"line {line} of {name} never ran in this trace (lines that ran: {ran})"

    # ------------------------------------------------------------------ showing
    def refresh(self) -> None:
        """Re-read the trace (it may still be recording) and redraw."""
        n = len(self.trace.execution)
        for button in (
            self.back_button, self.step_button, self.reverse_button, self.continue_button,
        ):  # fmt: skip
            button.disabled = n == 0
        self.frame.disabled = self.breakpoints.disabled = n == 0
        self._moving = True
        try:
            self.frame.max = max(n - 1, 0)
        finally:
            self._moving = False
        if n == 0:
            self.message.value = message(
                "info",
                f"{self.trace.id} of {self.trace.plugin_id}: nothing was recorded (the plugin "
                "ran no line while the trace was open)",
            )
            self.position.value = self.source.value = self.variables.value = ""
            return
        self._show()

    def _on_slider(self, change: dict[str, Any]) -> None:
        if not self._moving:
            self.message.value = ""
            self.goto(int(change["new"]))

    def _show(self) -> None:
        frame = self.current
        if frame is None:
            return
        n = len(self.trace.execution)
        self.back_button.disabled = frame.index == 0
        self.step_button.disabled = frame.index == n - 1
        what = {"return": "returned", "exception": "raised"}.get(frame.event)
        value = f" · {what} <code>{esc(frame.value)}</code>" if what else ""
        hook = f" · hook <code>{esc(frame.hook)}</code>" if frame.hook else ""
        self.position.value = panel(
            f'<span class="pliers-position" data-index="{frame.index}" '
            f'data-line="{frame.line}" data-event="{esc(frame.event)}">'
            f"event <b>{frame.index}</b> ({n} recorded) · {esc(frame.event)} in "
            f"<code>{esc(frame.function)}</code> · {esc(Path(frame.file).name)} line "
            f"<b class='pliers-line'>{frame.line}</b>{value}{hook}</span>",
            "pliers-debugger-position",
        )
        self.source.value = panel(_STYLE + self._source(frame), "pliers-debugger-source")
        self.variables.value = panel(_STYLE + self._variables(frame), "pliers-debugger-variables")

    def _source(self, frame: ExecutionFrame) -> str:
        """The lines of the current function that ran in the recording, current marked."""
        ran = [
            f.line
            for f in self.trace.execution
            if f.file == frame.file and f.function == frame.function
        ]
        first, last = min(ran), max(ran)
        if last - first > 2 * WINDOW:
            first, last = max(first, frame.line - WINDOW), min(last, frame.line + WINDOW)
        recorded = self.trace.source(frame.file)  # the code that ran, not today's
        lines = [(n, recorded[n - 1]) for n in range(first, last + 1) if n <= len(recorded)]
        if not any(text for _n, text in lines):
            return message("info", f"the source of {Path(frame.file).name} is not available")
        breaks = {self.trace.execution[i].line for i in self._quiet_hits()}
        rows = []
        for n, text in lines:
            classes = [
                name for name, on in (("pliers-current", n == frame.line),
                                      ("pliers-breakpoint", n in breaks)) if on
            ]  # fmt: skip
            mark = "▶" if n == frame.line else ("●" if n in breaks else "")
            rows.append(
                f'<tr data-line="{n}" class="{" ".join(classes)}">'
                f'<td class="pliers-gutter">{mark} {n}</td><td>{esc(text.rstrip())}</td></tr>'
            )
        return f'<table class="pliers-source"><tbody>{"".join(rows)}</tbody></table>'

    def _quiet_hits(self) -> set[int]:
        """The hits in the current file, without complaining (for drawing the gutter)."""
        current = self.current
        hits = set(self.trace.hits)
        for part in self.breakpoints.value.replace(";", ",").split(","):
            file, _, number = part.strip().rpartition(":")
            if number.isdigit():
                hits.update(self.trace.frames_at(int(number), file or None))
        return {
            i for i in hits if current is not None and self.trace.execution[i].file == current.file
        }

    def _variables(self, frame: ExecutionFrame) -> str:
        before = self.trace.execution[frame.index - 1] if frame.index > 0 else None
        same_call = before is not None and before.function == frame.function
        rows, attrs = [], []
        for name, value in frame.variables.items():
            changed = same_call and before is not None and before.variables.get(name) != value
            rows.append((f"<code>{esc(name)}</code>", f"<code>{esc(value)}</code>"))
            attrs.append({"data-name": name, **({"class": "pliers-changed"} if changed else {})})
        return "<b>variables</b>" + table_html(
            ("name", "value"), rows, "pliers-variables", row_attrs=attrs
        )


def _ranges(lines: list[int]) -> str:
    """``[1, 3, 4, 5, 9]`` as ``1, 3-5, 9``."""
    parts: list[str] = []
    for line in lines:
        if parts and parts[-1].split("-")[-1] == str(line - 1):
            parts[-1] = f"{parts[-1].split('-')[0]}-{line}"
        else:
            parts.append(str(line))
    return ", ".join(parts) or "none"


class ReplayProgress(w.VBox):  # type: ignore[misc]
    """A progress bar for ``replay(..., progress=bar)``: partitions done, events replayed
    and their rate, updated as Dask finishes each partition.

    Attributes:
        bar: the IntProgress (``max`` is the number of partitions).
        label: HTML, one line: how far, how many events, how fast.
    """

    def __init__(self, description: str = "replay") -> None:
        self.bar = w.IntProgress(value=0, min=0, max=1, description=description)
        self.label = w.HTML()
        self.started: float | None = None
        super().__init__([w.HBox([self.bar, self.label])])
        self.add_class("pliers-replay-progress")

    def __call__(self, done: int, total: int, events: int) -> None:
        """The ``progress`` callback of ``pliers_lab.replay.replay``."""
        if done == 0 or self.started is None:
            self.started = time.perf_counter()
        seconds = time.perf_counter() - self.started
        self.bar.max = max(total, 1)
        self.bar.value = done
        finished = done >= total
        self.bar.bar_style = "success" if finished else "info"
        rate = f" · {events / seconds:,.0f} events/s" if seconds > 0 and events else ""
        self.label.value = message(
            "ok" if finished else "info",
            f"{done}/{total} partitions · {events:,} events · {seconds:.1f} s{rate}",
        )
