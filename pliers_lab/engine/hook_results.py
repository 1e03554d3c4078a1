"""What a hook execution returns: the value, and per plugin what happened."""

from __future__ import annotations

import reprlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, final

from ..context import HookContext, clock_reads
from ..errors import PluginError

if TYPE_CHECKING:
    from ._dispatch import HookImpl, HookTable

__all__ = ["HookResult", "Outcome", "Verdict", "Veto", "rows_of"]

#: Outcome statuses. ``skipped``: not run (an earlier veto or first answer ended the
#: chain, the plugin's circuit breaker is open, or its workers were stopped while the
#: call waited: ``Outcome.reason`` says which);
#: ``overloaded``: the host had no worker for the call in its budget (``HostOverload``,
#: never counted against the plugin).
OK, ERROR, TIMEOUT, SKIPPED, OVERLOADED = "ok", "error", "timeout", "skipped", "overloaded"
_PLAIN = (OK, None, 0, None)
_CUT = "an earlier handler ended the chain (a veto or a first answer)"


@final
class Veto:
    """Returned by a handler of a ``veto`` hook to refuse the operation, with a reason."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"Veto({self.reason!r})"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The value of a ``veto`` hook: allowed, or refused by ``plugin`` for ``reason``."""

    allowed: bool
    reason: str | None = None
    plugin: str | None = None

    def __bool__(self) -> bool:
        return self.allowed


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one plugin did within one hook execution."""

    plugin_id: str
    status: str
    duration_ms: float
    error: PluginError | None = None
    retries: int = 0
    value: Any = None
    priority: int = 0
    reason: str | None = None
    """Why the plugin did not answer when the host decided so (``skipped``: an open
    circuit breaker, the end of the chain, workers stopped meanwhile; ``overloaded``: no
    worker in time)."""


#: One row per plugin call, built on the hot path and turned into ``Outcome`` on demand:
#: (impl, perf start, duration s, status, error, retries, value, reason).
Row = tuple["HookImpl", float, float, str, "PluginError | None", int, Any, "str | None"]

#: index → (status, error, retries, reason), only for calls that did not simply succeed.
Notes = dict[int, tuple[str, "PluginError | None", int, "str | None"]]


def rows_of(
    impls: tuple[HookImpl, ...], trail: list[float], answers: list[Any], notes: Notes | None
) -> list[Row]:
    """The rows of one execution from what dispatch kept: its handlers, its trail (the
    execution number, a clock read before the first handler, then each one's duration),
    the answers and the notes of calls that did not simply succeed."""
    rows: list[Row] = []
    notes = notes or {}
    starts = clock_reads(trail)
    for i, value in enumerate(answers):
        status, error, retries, reason = notes.get(i, _PLAIN)
        rows.append((impls[i], starts[i], trail[i + 2], status, error, retries, value, reason))
    end = starts[-1]
    rows.extend((impl, end, 0.0, SKIPPED, None, 0, None, _CUT) for impl in impls[len(rows) :])
    return rows


@final
class HookResult(HookContext):
    """The value of one hook execution plus the per-plugin rows behind it.

    It is the execution's context too: the handlers received this very object as their
    ``HookContext`` while they ran (``result.context is result``). ``data`` is the data
    the hook was fired with; ``rows`` and ``outcomes`` are built from the execution's
    trail on first use.
    """

    __slots__ = ("_answers", "_notes", "_outcomes", "_rows", "_table", "value")

    #: Dispatch builds a result empty and fills it in slot by slot. ``HookResult()``
    #: then runs ``object``'s own C ``__init__``: cheaper than ``object.__new__(cls)``,
    #: which goes through a wrapper, an argument tuple and a subtype check.
    if TYPE_CHECKING:

        def __init__(self) -> None: ...

    else:
        __init__ = object.__init__

    value: Any
    _table: HookTable
    _answers: list[Any]
    _notes: Notes | None

    @property
    def context(self) -> HookContext:
        """The context the handlers saw: this object (kept for readability)."""
        return self

    @property
    def mode(self) -> str:
        """The hook's result mode (``collect``, ``validate``, ``waterfall``, ...)."""
        return self._table.mode_name

    @property
    def impls(self) -> tuple[HookImpl, ...]:
        """The handlers the execution started with, in order."""
        return self._table.impls

    @property
    def answers(self) -> list[Any]:
        """Each handler's answer, in order (handlers a veto or first answer cut off are
        absent)."""
        return self._answers

    @property
    def calls(self) -> int:
        """How many handlers ran."""
        return len(self._answers)

    @property
    def rows(self) -> list[Row]:
        """One row per handler: (impl, perf start, duration s, status, error, retries,
        answer, reason); handlers a veto or first answer cut off come last, as skipped."""
        try:
            return self._rows
        except AttributeError:  # first use: built from the trail, then kept
            self._rows: list[Row] = rows_of(
                self._table.impls, self._trail, self._answers, self._notes
            )
            return self._rows

    @property
    def execution_id(self) -> str:
        return f"{self._env[1]}-{self._trail[0]}"

    @property
    def started(self) -> float:
        """Wall-clock start of the execution (epoch seconds)."""
        return self.timestamp

    @property
    def outcomes(self) -> list[Outcome]:
        """Per plugin, in execution order: status, duration, error, retries, value."""
        try:
            return self._outcomes
        except AttributeError:
            self._outcomes: list[Outcome] = [
                Outcome(
                    impl.plugin_id,
                    status,
                    duration * 1000.0,
                    error,
                    retries,
                    value,
                    impl.priority,
                    reason,
                )
                for impl, _start, duration, status, error, retries, value, reason in self.rows
            ]
            return self._outcomes

    @property
    def ok(self) -> bool:
        """True when no plugin failed (vetoes and invalid results are not failures)."""
        if self._notes is None:  # every call that ran simply succeeded
            return True
        return all(row[3] in (OK, SKIPPED) for row in self.rows)

    @property
    def errors(self) -> list[PluginError]:
        return [row[4] for row in self.rows if row[4] is not None]

    @property
    def duration_ms(self) -> float:
        return sum(row[2] for row in self.rows) * 1000.0

    def outcome(self, plugin_id: str) -> Outcome:
        """The outcome of one plugin (KeyError naming the plugins that ran)."""
        for outcome in self.outcomes:
            if outcome.plugin_id == plugin_id:
                return outcome
        ran = ", ".join(o.plugin_id for o in self.outcomes) or "none"
        raise KeyError(f"plugin {plugin_id!r} did not run on {self.hook!r} (ran: {ran})")

    def __repr__(self) -> str:
        if not hasattr(self, "value"):  # still running: a handler printed its context
            return HookContext.__repr__(self)
        statuses = ", ".join(f"{o.plugin_id}={o.status}" for o in self.outcomes)
        return f"<HookResult {self.hook} {self.execution_id} value={self.value!r} [{statuses}]>"

    def summary(self) -> str:
        """A readable multi-line report (used by the demo and the lab)."""
        when = time.strftime("%H:%M:%S", time.localtime(self.started))
        lines = [f"{self.hook} ({self.mode}) execution {self.execution_id} at {when}"]
        for o in self.outcomes:
            err = f"  {o.error.type.value}: {o.error.message}" if o.error else ""
            if not err and o.reason and o.status == SKIPPED and o.reason != _CUT:
                err = f"  {o.reason}"
            lines.append(
                f"  {o.plugin_id:<24} prio {o.priority:>4}  {o.status:<8} "
                f"{o.duration_ms:8.3f} ms{err}"
            )
        lines.append(f"  value: {_short.repr(self.value)}")
        return "\n".join(lines)


_short = reprlib.Repr()
_short.maxstring = 120
_short.maxother = 120
_short.maxdict = 6
_short.maxlist = 6
_short.maxlevel = 3
