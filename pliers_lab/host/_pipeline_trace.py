"""The pipeline trace: every step of one host operation, what each plugin did, and the
data before and after.

Recording is cheap on purpose: a step keeps references (the data the step received, the
data it produced, the engine's ``HookResult``) and two clock readings. Plugins never
change ``ctx.data`` in place (extensions/README.md) and the host builds new dicts at each
step, so references are faithful snapshots. Rows, per-plugin before/after pairs and the
DataFrame are built only when someone asks (``records()``, ``frame()``).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, final

if TYPE_CHECKING:
    from ..engine.hook_results import HookResult

__all__ = ["COLUMNS", "Step", "Trace"]

perf = time.perf_counter
_ids = itertools.count(1)

#: Columns of ``Trace.records()`` / ``Trace.frame()``, one row per plugin call or host step.
COLUMNS = (
    "trace_id",
    "operation",
    "step",
    "name",
    "kind",
    "mode",
    "plugin",
    "priority",
    "status",
    "started",
    "duration_ms",
    "error_type",
    "error",
    "before",
    "after",
    "answer",
    "note",
)


@final
class Step:
    """One step: a hook firing (``kind="hook"``), the host's own work (``"host"``) or an
    event delivery (``"event"``)."""

    __slots__ = (
        "after",
        "before",
        "index",
        "kind",
        "mode",
        "name",
        "note",
        "result",
        "status",
        "t0",
        "t1",
    )

    def __init__(
        self,
        index: int,
        name: str,
        kind: str,
        mode: str | None,
        before: Any,
        after: Any,
        result: HookResult | None,
        t0: float,
        t1: float,
        status: str,
        note: str,
    ) -> None:
        self.index = index
        self.name = name
        self.kind = kind
        self.mode = mode
        self.before = before
        self.after = after
        self.result = result
        self.t0 = t0
        self.t1 = t1
        self.status = status
        self.note = note

    @property
    def duration_ms(self) -> float:
        return (self.t1 - self.t0) * 1000.0

    @property
    def plugins(self) -> list[str]:
        """The plugins that ran (or were skipped) at this step, in order."""
        return [o.plugin_id for o in self.result.outcomes] if self.result is not None else []

    def __repr__(self) -> str:
        return f"<Step {self.index} {self.name} {self.status} {self.duration_ms:.3f} ms>"


@final
class Trace:
    """The steps of one host operation, in order; ``status`` is ``running``, ``ok`` or
    ``aborted`` (with ``error``)."""

    __slots__ = ("_p0", "_raw", "_steps", "error", "id", "operation", "started", "status", "target")

    def __init__(self, operation: str, target: str | None = None) -> None:
        self.id = f"trace-{next(_ids)}"
        self.operation = operation
        self.target = target
        self.started = time.time()
        self._p0 = perf()
        # Steps are recorded as plain tuples (the hot path) and become ``Step``s on read.
        self._raw: list[tuple[Any, ...]] = []
        self._steps: list[Step] | None = None
        self.status = "running"
        self.error: BaseException | None = None

    # ------------------------------------------------------------------ recording
    def hook(
        self,
        name: str,
        before: Any,
        result: HookResult | None,
        t0: float,
        after: Any,
        status: str = "ok",
        note: str = "",
    ) -> None:
        """Record a hook step (``result`` is None when no plugin handles the hook)."""
        self._raw.append((name, "hook", before, after, result, t0, perf(), status, note))

    def host(
        self,
        name: str,
        before: Any,
        after: Any,
        t0: float,
        status: str = "ok",
        note: str = "",
        kind: str = "host",
    ) -> None:
        """Record a step of the host's own work (core validation, save, transition...)."""
        self._raw.append((name, kind, before, after, None, t0, perf(), status, note))

    @property
    def steps(self) -> list[Step]:
        """Every step so far, in order."""
        if self._steps is None or len(self._steps) != len(self._raw):
            self._steps = [
                Step(
                    i,
                    name,
                    kind,
                    result.mode if result is not None else None,
                    before,
                    after,
                    result,
                    t0,
                    t1,
                    status,
                    note or ("no plugins" if kind == "hook" and result is None else ""),
                )
                for i, (name, kind, before, after, result, t0, t1, status, note) in enumerate(
                    self._raw
                )
            ]
        return self._steps

    def finish(self, error: BaseException | None = None) -> None:
        self.status = "ok" if error is None else "aborted"
        self.error = error

    # ------------------------------------------------------------------ reading
    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self._raw)

    def step(self, name: str) -> Step:
        """The first step called ``name`` (KeyError listing the steps)."""
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(
            f"no step {name!r} in {self.id}; steps: {', '.join(s.name for s in self.steps)}"
        )

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.steps]

    @property
    def duration_ms(self) -> float:
        return (self._raw[-1][6] - self._p0) * 1000.0 if self._raw else 0.0

    def records(self) -> list[dict[str, Any]]:
        """One dict per plugin call (per step for host steps and hooks nobody handles).

        For waterfall hooks each plugin's ``before``/``after`` is the data it received
        and the data it passed on; otherwise both are the step's.
        """
        rows: list[dict[str, Any]] = []
        for step in self.steps:
            base = {
                "trace_id": self.id,
                "operation": self.operation,
                "step": step.index,
                "name": step.name,
                "kind": step.kind,
                "mode": step.mode,
            }
            started = self.started + (step.t0 - self._p0)
            outcomes = step.result.outcomes if step.result is not None else []
            if not outcomes:
                rows.append(
                    {
                        **base,
                        "plugin": None,
                        "priority": None,
                        "status": step.status,
                        "started": started,
                        "duration_ms": step.duration_ms,
                        "error_type": None,
                        "error": None,
                        "before": step.before,
                        "after": step.after,
                        "answer": None,
                        "note": step.note,
                    }
                )
                continue
            data = step.before
            waterfall = step.mode == "waterfall"
            for o in outcomes:
                after = (
                    (o.value if o.value is not None and o.status == "ok" else data)
                    if waterfall
                    else step.after
                )
                rows.append(
                    {
                        **base,
                        "plugin": o.plugin_id,
                        "priority": o.priority,
                        "status": o.status,
                        "started": started,
                        "duration_ms": o.duration_ms,
                        "error_type": o.error.type.value if o.error else None,
                        "error": o.error.message if o.error else None,
                        "before": data if waterfall else step.before,
                        "after": after,
                        "answer": o.value,
                        "note": step.note,
                    }
                )
                if waterfall:
                    data = after
        return rows

    def frame(self) -> Any:
        """``records()`` as a pandas DataFrame (pandas is imported here, not before)."""
        from ..observe.frames import frame

        rows = self.records()
        return frame(([r[c] for c in COLUMNS] for r in rows), COLUMNS, time_columns=("started",))

    def summary(self) -> str:
        """A readable report: one line per step, one indented line per plugin."""
        lines = [
            f"{self.operation} {self.target or ''} [{self.status}] "
            f"{self.duration_ms:.2f} ms ({self.id})"
        ]
        for step in self.steps:
            note = f"  {step.note}" if step.note else ""
            lines.append(
                f"  {step.index:>2} {step.name:<28} {step.status:<10} "
                f"{step.duration_ms:8.3f} ms{note}"
            )
            if step.result is not None:
                for o in step.result.outcomes:
                    err = f"  {o.error.type.value}: {o.error.message}" if o.error else ""
                    lines.append(
                        f"       {o.plugin_id:<26} {o.status:<10} {o.duration_ms:8.3f} ms{err}"
                    )
        if self.error is not None:
            lines.append(f"  error: {self.error}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Trace {self.id} {self.operation} {self.status} steps={len(self.steps)}>"
