"""Small helpers shared by the benchmarks: timing and a uniform line format."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def best_of(fn: Callable[[], object], repeat: int = 5) -> float:
    """The fastest of `repeat` runs, in seconds (the least noisy estimate on a shared machine)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def median_of(samples: list[float]) -> float:
    """The median of samples."""
    return statistics.median(samples)


def report(
    name: str, value: float, unit: str, goal: float | None = None, lower_is_better: bool = True
) -> None:
    """Print one figure, and whether it meets its goal."""
    verdict = ""
    if goal is not None:
        ok = value <= goal if lower_is_better else value >= goal
        sign = "<=" if lower_is_better else ">="
        verdict = f"  (goal {sign} {goal:g} {unit}: {'ok' if ok else 'MISSED'})"
    print(f"  {name:<58} {value:>10.3f} {unit}{verdict}")
