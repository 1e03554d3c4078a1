"""Shared timing helpers for the benchmarks: interleaved repeats, medians, RESULT lines."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable


def per_call(fn: Callable[[], object], number: int) -> float:
    """Seconds per call of ``fn`` over ``number`` calls."""
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def interleaved(
    cases: dict[str, Callable[[], object]], number: int, repeats: int
) -> dict[str, float]:
    """Median seconds per call of each case, the cases taking turns in every repeat."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for fn in cases.values():  # warm up, so bounded stores reach their steady state
        per_call(fn, number)
    for _ in range(repeats):
        for name, fn in cases.items():
            samples[name].append(per_call(fn, number))
    return {name: statistics.median(values) for name, values in samples.items()}


def interleaved_ratios(
    mine: Callable[[], object], peer: Callable[[], object], number: int, rounds: int
) -> tuple[float, float, list[float]]:
    """Per round, seconds per call of ``mine`` and of ``peer`` (taking turns, warmed up
    first); returns (median seconds of mine, of peer, sorted ratios mine/peer)."""
    per_call(mine, number)
    per_call(peer, number)
    mine_t, peer_t = [], []
    for _ in range(rounds):
        mine_t.append(per_call(mine, number))
        peer_t.append(per_call(peer, number))
    ratios = sorted(m / p for m, p in zip(mine_t, peer_t, strict=True))
    return statistics.median(mine_t), statistics.median(peer_t), ratios


def result_line(
    name: str,
    metric: str,
    value: float,
    op: str,
    target: float,
    spread: tuple[float, float] | None = None,
) -> str:
    """The DESIGN.md §4 line: ``RESULT name metric value target <op> target PASS|FAIL``;
    with ``spread`` (the min and max of the rounds whose median ``value`` is), the range
    follows the value: ``RESULT name metric 0.37 (0.29-0.46) target <= 0.2 FAIL``."""
    ok = value <= target if op == "<=" else value >= target
    shown = f"{value:.2f}" if spread is None else f"{value:.3f} ({spread[0]:.3f}-{spread[1]:.3f})"
    return f"RESULT {name} {metric} {shown} target {op} {target:g} {'PASS' if ok else 'FAIL'}"


class Collector:
    """Seconds the garbage collector ran while the block ran (``gc.callbacks``)."""

    def __enter__(self) -> Collector:
        self.seconds = 0.0
        self._start = 0.0
        gc.callbacks.append(self._tick)
        return self

    def _tick(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start

    def pause(self) -> None:
        """Stop counting (another case runs in between); ``resume`` goes on."""
        gc.callbacks.remove(self._tick)

    def resume(self) -> None:
        gc.callbacks.append(self._tick)

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._tick)
