"""Foundation figures: process start to first frame with data; grid populate; cell updates."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta

from bench.common import median_of, report
from orchwatch.analysis.completion import reconcile_dates
from orchwatch.clock import FrozenClock
from orchwatch.config import PhaseSpec, ProcessorSpec, load_config
from orchwatch.model import BackupSummary, CompletionRecord, DateCompletions, PhaseDocument
from orchwatch.sources.base import Sources
from orchwatch.sources.local import LocalStore
from tests.settle import wait_workers


def first_frame(runs: int = 5) -> tuple[float, float]:
    """Seconds from `orchwatch --demo` starting to its first frame with data on screen:
    the first start (no scenario cache), and the median of later starts."""
    import os
    import tempfile

    cold = []
    warm = []
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "ORCHWATCH_CACHE_DIR": cache}
        for n in range(runs + 1):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "orchwatch", "--demo", "--exit-after-first-data"],
                check=True,
                capture_output=True,
                env=env,
            )
            (cold if n == 0 else warm).append(time.perf_counter() - start)
    return cold[0], median_of(warm)


def history(days: int, processors: int) -> tuple[object, dict[date, DateCompletions], list[date]]:
    """A config of 4 phases holding `processors` processors, and `days` dates of completions."""
    base = load_config(None)
    per_phase = processors // 4
    phases = tuple(
        PhaseSpec(
            f"phase{i}",
            "",
            f"phase{i}_completion",
            None,
            f"phase{i + 1}" if i < 3 else None,
            tuple(
                ProcessorSpec(f"proc_{i}_{j}", True, "continuous", timedelta(hours=9))
                for j in range(per_phase)
            ),
        )
        for i in range(4)
    )
    config = base.__class__(
        **{**{f: getattr(base, f) for f in base.__dataclass_fields__}, "phases": phases}
    )
    end = date(2026, 2, 1)
    dates = [end - timedelta(days=k) for k in range(days - 1, -1, -1)]
    at = datetime(2026, 2, 1, 12, tzinfo=UTC)
    data = {}
    for day in dates:
        firestore = {}
        bigquery = {}
        for phase in phases:
            records = {p.name: CompletionRecord(p.name, "success", at) for p in phase.processors}
            firestore[phase.name] = PhaseDocument(
                phase.name, day, records, triggered=True, triggered_at=at
            )
            bigquery[phase.name] = {
                p.name: BackupSummary(p.name, 9, 9, "success", at, at) for p in phase.processors
            }
        data[day] = DateCompletions(day, firestore, bigquery)
    return config, data, dates


async def populate(days: int = 90, processors: int = 16) -> tuple[float, float]:
    """Seconds to reconcile and render a `days` x `processors` history; then 100 cell updates."""
    from orchwatch.tui.app import OrchwatchApp
    from orchwatch.tui.widgets.completion_grid import CompletionGrid
    from orchwatch.tui.widgets.overview import OverviewStrip

    config, data, dates = history(days, processors)
    now = datetime(2026, 2, 1, 23, tzinfo=UTC)
    store = LocalStore()
    sources = Sources("file", "bench", FrozenClock(now), store)
    app = OrchwatchApp(config, sources, refresh_seconds=3600, wall=lambda: 0.0)  # type: ignore[arg-type]
    async with app.run_test(size=(200, 60)) as pilot:
        await wait_workers(app)
        await pilot.pause()
        overview, grid = app.query_one(OverviewStrip), app.query_one(CompletionGrid)
        start = time.perf_counter()
        statuses = reconcile_dates(config, data, dates, now)  # type: ignore[arg-type]
        overview.show(statuses, dates[-1])
        for day in dates:  # every date through the grid, as paging through history does
            grid.show(statuses[day], now, config.timezone)  # type: ignore[attr-defined]
        await pilot.pause()
        populate_s = time.perf_counter() - start

        # 100 cells change: alternate a processor's state on successive refreshes.
        last = dates[-1]
        start = time.perf_counter()
        for k in range(100):
            phase = f"phase{k % 4}"
            proc = f"proc_{k % 4}_{(k // 4) % (processors // 4)}"
            doc = data[last].firestore[phase]
            records = dict(doc.records)
            records.pop(proc, None)
            firestore = {
                **data[last].firestore,
                phase: PhaseDocument(phase, last, records, True, now),
            }
            data[last] = DateCompletions(last, firestore, data[last].bigquery)
            status = reconcile_dates(config, data, [last], now)[last]  # type: ignore[arg-type]
            grid.show(status, now, config.timezone)  # type: ignore[attr-defined]
        await pilot.pause()
        updates_s = time.perf_counter() - start
    return populate_s, updates_s


def daily_end_to_end(runs: int = 5) -> float:
    """Median seconds for `orchwatch daily --demo` from process start to exit."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "orchwatch", "daily", "--demo", "--date", "2026-02-01"],
            capture_output=True,
            check=False,
        )
        samples.append(time.perf_counter() - start)
    return median_of(samples)


def main() -> None:
    print("foundation (issue 2)")
    cold, warm = first_frame()
    # issue 27 tightened the goal from 0.8 s
    report("process start -> first frame with data (--demo, median of 5)", warm, "s", 0.5)
    report("  the very first start (building the scenario cache)", cold, "s")
    populate_s, updates_s = asyncio.run(populate())
    report(
        "grid populate, 90 dates x 16 processors (reconcile+render)", populate_s * 1000, "ms", 300
    )
    report("100 cell updates (reconcile+update_cell+repaint)", updates_s * 1000, "ms", 150)
    print()
    print("morning walkthrough (issue 8)")
    report(
        "orchwatch daily --demo, process start to exit (median of 5)", daily_end_to_end(), "s", 1.5
    )


if __name__ == "__main__":
    main()
