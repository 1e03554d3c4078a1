"""Straight-line dispatch: a collect hook's handler loop, unrolled into one function.

A collect hook with a few handlers to a few hundred is the host's commonest hot path.
Run as a loop, each handler costs the interpreter an iterator step, a tuple unpacked
into three locals and two list appends that grow their lists step by step. The function
built here for one table calls the handlers one after the other, keeps each answer and
clock read in a local, compares each read with one deadline (the start plus the table's
shortest timeout) instead of working out a duration, and builds the answers and the
trail once, at their final size: about a fifth less work per handler, for the same
observations.

It handles the plain case only: every handler answers before the deadline. At the
first that raises or ends past it, what ran so far is handed to ``run_collect`` (which
checks that handler against its own timeout, retries, records a failure and runs the
rest), exactly as the loop would have.

Code is generated, as ``dataclasses`` and ``namedtuple`` do, from the number of handlers
alone: the table's handlers, plugin ids and shortest timeout are the generated
function's closure cells, never text in its source (so one compiled code object serves
every table of that size).
"""

from __future__ import annotations

import linecache
from collections.abc import Callable
from functools import lru_cache
from types import CodeType
from typing import TYPE_CHECKING, Any

from ._dispatch import FailureHandler, perf, run_collect

if TYPE_CHECKING:
    from ._dispatch import HookTable
    from .hook_results import HookResult

__all__ = ["LARGEST", "SMALLEST", "straight_line"]

#: Tables this size or larger and smaller get a straight-line function: one handler has
#: the dispatcher's own path, and a huge table would make a huge function.
SMALLEST, LARGEST = 2, 256

#: ``run(res, on_failure)``: runs the table's handlers for ``res`` (its trail started),
#: sets ``res._answers`` and ``res.value``; returns True when every handler simply
#: succeeded (the trail is then complete), False when ``run_collect`` took over.
Straight = Callable[["HookResult", FailureHandler], bool]


def straight_line(table: HookTable) -> Straight | None:
    """The unrolled runner of a collect table, or None when it has none (another mode,
    or a size outside ``SMALLEST``..``LARGEST``)."""
    count = len(table.entries)
    if not table.collect or not SMALLEST <= count <= LARGEST:
        return None
    namespace: dict[str, Any] = {"perf": perf, "_late": _late}
    exec(_compiled(count), namespace)
    make: Callable[..., Straight] = namespace["make"]
    shortest = min(timeout for _id, _fn, timeout in table.entries)
    return make(table.entries, shortest, *(part for entry in table.entries for part in entry[:2]))


@lru_cache(maxsize=64)
def _compiled(count: int) -> CodeType:
    """The code defining ``make`` for ``count`` handlers, compiled once per size (about
    0.14 ms per handler): a table rebuilt with as many handlers only runs it again."""
    source = _source(count)
    filename = f"<straight-line dispatch of {count} handlers>"
    # Registered as ``attrs`` does its generated methods: a traceback through the
    # runner, or a debugger stepping out of a handler into it, shows its lines.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return compile(source, filename, "exec")


def _source(count: int) -> str:
    """``make(entries, shortest, p0, f0, p1, f1, ...)`` returning the runner of
    ``count`` handlers.

    One clock read per handler, compared with one deadline: the execution's start plus
    the shortest timeout of the table. Until then no handler can have overrun its own;
    past it, ``_late`` checks the handler exactly."""
    cells = ", ".join(f"p{i}, f{i}" for i in range(count))
    lines = [
        f"def make(entries, shortest, {cells}):",
        "    def run(res, on_failure):",
        "        u = res._trail[1]",
        "        due = u + shortest",
    ]
    for i in range(count):
        before = f"u{i - 1}" if i else "u"
        lines += [
            f"        res.plugin_id = p{i}",
            "        try:",
            f"            v{i} = f{i}(res)",
            "        except BaseException as exc:",
            f"            return _late(res, on_failure, entries, locals(), {i}, exc)",
            f"        u{i} = perf()",
            f"        if u{i} > due:",
            f"            return _late(res, on_failure, entries, locals(), {i}, u{i} - {before})",
        ]
    answers = ", ".join(f"v{i}" for i in range(count))
    durations = ", ".join(f"u{i} - {f'u{i - 1}' if i else 'u'}" for i in range(count))
    some_none = " or ".join(f"v{i} is None" for i in range(count))
    lines += [
        f"        res._answers = answers = [{answers}]",
        f"        res._trail += ({durations},)",
        f"        res.value = [v for v in answers if v is not None] if {some_none} "
        f"else [{answers}]",
        "        return True",
        "    return run",
    ]
    return "\n".join(lines) + "\n"


def _late(
    res: HookResult,
    on_failure: FailureHandler,
    entries: tuple[tuple[str, Any, float], ...],
    names: dict[str, Any],
    index: int,
    failure: BaseException | float,
) -> bool:
    """Handler ``index`` raised, or ended past the execution's first deadline: record
    what ran before it as the loop would have, and let ``run_collect`` take the rest of
    the chain from there — from this handler if it failed (a raise, or a duration over
    its own timeout), from the next one if it merely ran late."""
    start = names["u"]
    ends = [names[f"u{i}"] for i in range(index)]
    res._answers = [names[f"v{i}"] for i in range(index)]
    res._trail += [end - began for end, began in zip(ends, [start, *ends], strict=False)]
    began = ends[-1] if ends else start
    if isinstance(failure, float) and failure <= entries[index][2]:  # late, not over
        res._answers.append(names[f"v{index}"])
        res._trail.append(failure)
        res.value = run_collect(res, on_failure, None, began + failure)
    else:
        res.value = run_collect(res, on_failure, failure, began)
    return False
