"""Google Cloud sources against the loopback servers (issue: Google Cloud sources).

Prints, for the dashboard on its Google Cloud sources (the local servers seeded
with the demo's data):
- time to first data per pane, from process start (so the google libraries'
  import is counted), in a fresh process;
- API calls per minute per source in steady state (a 60 s window after all
  panes have data, at the configured 10 s refresh), then with the Pub/Sub view open
  (a 120 s window: it reads once per metric sample period);
- the calls of one walkthrough read (`w`), as the dashboard makes it;
- `orchwatch record`'s calls per minute on the same sources and schedule, over one
  whole slow interval (its BigQuery tables, invoker policies and Scheduler's jobs are
  read once in it), on a clock that runs in real time, against one dashboard that
  reads what the recording keeps: the main screen with the Pub/Sub view open, and the
  walkthrough read once per slow interval (the recording serves every viewer both at
  every moment); the main screen alone is printed beside it;
- bytes per BigQuery refresh: what the dry run reports (the emulator has no
  cost model and says 0), and what BigQuery would scan for the same query on
  the same rows, computed from its column sizes, with the 10 MB minimum it bills.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

from bench.common import report

STEADY_SECONDS = 60.0
PUBSUB_SECONDS = 120.0


def child(config_path: str, as_of: str) -> None:
    """Run the dashboard headless; print first-data times and steady-state call counts."""
    started = time.monotonic()
    from orchwatch.clock import FrozenClock
    from orchwatch.config import load_config
    from orchwatch.dates import parse_instant
    from orchwatch.sources.factory import SourceOptions, build_sources
    from orchwatch.tui.app import OrchwatchApp

    config = load_config(Path(config_path))
    sources = build_sources(SourceOptions(), config, clock=FrozenClock(parse_instant(as_of)))
    app = OrchwatchApp(config, sources)
    result: dict[str, object] = {}

    async def drive() -> None:
        async with app.run_test(size=(160, 45)) as pilot:
            while not app.dashboard.panes_ready:
                await pilot.pause(0.01)
            result["first_data"] = {
                pane.LABEL: pane.loaded_at - started  # type: ignore[operator]
                for pane in app.dashboard.panes
            }
            result["per_minute"] = await measured(pilot, sources, STEADY_SECONDS)
            result["estimates"] = sources.completions.bigquery.estimates  # type: ignore[attr-defined]
            result["errors"] = [str(p.border_subtitle) for p in app.dashboard.panes]
            from orchwatch.tui.screens.pubsub import PubSubScreen

            await pilot.press("P")
            while not (isinstance(app.screen, PubSubScreen) and app.screen.view is not None):
                await pilot.pause(0.01)
            result["pubsub_per_minute"] = await measured(pilot, sources, PUBSUB_SECONDS)
            from orchwatch.tui.screens.daily import DailyScreen

            await pilot.press("escape")
            while isinstance(app.screen, PubSubScreen):
                await pilot.pause(0.01)
            before = sources.meter.snapshot()
            await pilot.press("w")
            while not (isinstance(app.screen, DailyScreen) and app.screen.results):
                await pilot.pause(0.01)
            walk = sources.meter.snapshot() - before
            result["walkthrough_calls"] = {f"{a} {m}": n for (a, m), n in sorted(walk.items())}

    asyncio.run(drive())
    sources.close()
    result["recorder_per_minute"] = recorder_calls(config, as_of)
    result["slow_seconds"] = config.record.slow_interval.total_seconds()
    print(json.dumps(result))


def recorder_calls(config: object, as_of: str) -> dict[str, float]:
    """`orchwatch record` on the same sources at the same schedule: API calls per minute
    after its first poll (as the dashboard's, after first data), over one slow interval
    (whatever it reads at the slow pace is read once in the window), on a clock that runs
    in real time from `as_of`."""
    from orchwatch.clock import AcceleratedClock
    from orchwatch.dates import parse_instant
    from orchwatch.recorder import Recorder
    from orchwatch.sources.factory import SourceOptions, build_sources
    from orchwatch.sources.history import Recording

    clock = AcceleratedClock(parse_instant(as_of), 1.0)
    sources = build_sources(SourceOptions(), config, clock=clock)  # type: ignore[arg-type]
    settings = config.record  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory(prefix="orchwatch-bench-record-") as folder:
        recording = Recording(Path(folder) / "r.db", write=True)
        try:
            recorder = Recorder(config, sources, recording, settings)  # type: ignore[arg-type]
            every = settings.interval.total_seconds()
            polls = round(settings.slow_interval.total_seconds() / every)
            recorder.poll()
            before = sources.meter.snapshot()  # type: ignore[attr-defined]
            window = time.monotonic()
            for n in range(1, polls + 1):
                time.sleep(max(0.0, window + n * every - time.monotonic()))
                recorder.poll()
            elapsed = time.monotonic() - window
            calls = sources.meter.snapshot() - before  # type: ignore[attr-defined]
        finally:
            recording.close()
            sources.close()
    return rates(calls, elapsed)


def rates(calls: Counter[tuple[str, str]], elapsed: float) -> dict[str, float]:
    """Calls per minute by "api method"."""
    return {f"{api} {method}": n * 60 / elapsed for (api, method), n in sorted(calls.items())}


async def measured(pilot: Any, sources: Any, seconds: float) -> dict[str, float]:
    """The API calls per minute `sources` makes while the app runs for `seconds`."""
    before = sources.meter.snapshot()
    window = time.monotonic()
    await pilot.pause(seconds)
    return rates(sources.meter.snapshot() - before, time.monotonic() - window)


COLUMN_BYTES = {"DATE": 8, "TIMESTAMP": 8, "INT64": 8, "FLOAT64": 8, "BOOL": 1}


def scanned_bytes(dates: list[date] | None) -> tuple[int, int]:
    """What BigQuery's on-demand pricing counts for the completion query over `dates`
    (every date for None: an unpartitioned table): the referenced columns of the rows in
    the partitions read (STRING: 2 + length); and how many rows those are."""
    from orchwatch.clock import FrozenClock
    from orchwatch.config import load_config
    from orchwatch.sources.demo import DEMO_START, build_demo

    store, _ = build_demo(
        load_config(None), FrozenClock(DEMO_START), cache_dir=Path(tempfile.mkdtemp())
    )
    kinds = {
        "phase": "STRING",
        "game_date": "DATE",
        "processor_name": "STRING",
        "status": "STRING",
        "completed_at": "TIMESTAMP",
        "record_count": "INT64",
        "correlation_id": "STRING",
        "execution_id": "STRING",
    }
    wanted = {d.isoformat() for d in dates} if dates is not None else None
    total = rows = 0
    for row in store.export_rows("phase_completions"):
        if wanted is not None and row["game_date"] not in wanted:
            continue
        rows += 1
        for column, kind in kinds.items():
            value = row[column]
            if value is None:
                continue
            total += 2 + len(str(value).encode()) if kind == "STRING" else COLUMN_BYTES[kind]
    store.close()
    return total, rows


def main() -> None:
    from orchwatch.sources.demo import DEMO_START
    from orchwatch.sources.gcp.bigquery import format_bytes
    from tests.loopback.__main__ import start_and_seed

    print("Google Cloud sources, against the local servers seeded with the demo")
    folder = Path(tempfile.mkdtemp(prefix="orchwatch-bench-"))
    emulators, server, config = start_and_seed(folder)
    try:
        as_of = DEMO_START.strftime("%Y-%m-%dT%H:%M")
        out = subprocess.run(
            [sys.executable, "-m", "bench.bench_gcp", "--child", str(config), as_of],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if out.returncode != 0:
            print(out.stderr[-3000:])
            raise SystemExit("the dashboard run failed")
        result = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        server.stop()
        for emulator in emulators:
            emulator.stop()
    for pane, seconds in result["first_data"].items():
        report(f"time to first data: {pane} (from process start)", seconds, "s")
    print(f"  API calls per minute in steady state ({STEADY_SECONDS:g} s window, 10 s refresh):")
    for name, rate in result["per_minute"].items():
        print(f"    {name:<56} {rate:>10.1f} /min")
    viewing = result["pubsub_per_minute"]
    print(f"  the same dashboard with the Pub/Sub view open ({PUBSUB_SECONDS:g} s window):")
    for name, rate in viewing.items():
        print(f"    {name:<56} {rate:>10.1f} /min")
    walk = result["walkthrough_calls"]
    print("  one walkthrough read (w) in the same dashboard:")
    for name, count in walk.items():
        print(f"    {name:<56} {count:>10d} calls")
    recorder = result["recorder_per_minute"]
    print("  orchwatch record on the same sources and schedule, over one slow interval:")
    for name, rate in recorder.items():
        print(f"    {name:<56} {rate:>10.1f} /min")
    slow_minutes = result["slow_seconds"] / 60
    tui_total, recorder_total = sum(result["per_minute"].values()), sum(recorder.values())
    keeping = sum(viewing.values()) + sum(walk.values()) / slow_minutes
    report("API calls per minute: one dashboard, main screen", tui_total, "/min")
    report(
        "API calls per minute: one dashboard with the Pub/Sub view open",
        sum(viewing.values()),
        "/min",
    )
    report(
        f"  and the walkthrough read every {slow_minutes:g} min (what the recording keeps)",
        keeping,
        "/min",
    )
    report(
        "API calls per minute: the recorder (goal: equal to one dashboard's)",
        recorder_total,
        "/min",
        goal=keeping,
    )
    print(
        f"    the recorder / the same dashboard: {recorder_total / keeping:.2f}; "
        f"/ the main screen alone: {recorder_total / tui_total:.2f} (it does not read the "
        "Pub/Sub counts or the walkthrough's platform a recording serves at every moment)"
    )
    listed = result["per_minute"].get("logging ListLogEntries", 0.0)
    report("Cloud Logging list calls per minute", listed, "/min", goal=6)
    estimates = result["estimates"]
    print(
        f"  BigQuery dry-run estimate per refresh: {format_bytes(max(estimates or [0]))} "
        f"({len(estimates)} dry runs; the emulator has no cost model and reports 0)"
    )
    dates = [DEMO_START.date().fromordinal(DEMO_START.date().toordinal() - i) for i in range(14)]
    scanned, _ = scanned_bytes(dates)
    print(
        f"  BigQuery bytes the 14-date completion query reads on these rows: "
        f"{format_bytes(scanned)}, billed as the 10 MB minimum per query"
    )
    if any(result["errors"]):
        print(f"  pane errors during the run: {result['errors']}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        main()
