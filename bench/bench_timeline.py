"""Issue 14's timeline figure: the timeline of a day with 10,000 log entries and 20
services, from data already loaded (the date's completions, the services' revisions, the
log entries), grouping the entries included."""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

import msgspec

from bench.bench_logs import generate_entries
from bench.bench_revisions import NOW, make_service
from bench.common import report


def main() -> None:
    from orchwatch.analysis.daily import Fetched
    from orchwatch.analysis.revisions import service_verdict
    from orchwatch.analysis.timeline import TimelineInputs, timeline
    from orchwatch.analysis.tracebacks import group_entries
    from orchwatch.clock import FrozenClock
    from orchwatch.config import load_config
    from orchwatch.gather import gather_timeline
    from orchwatch.sources.demo import DEMO_START
    from orchwatch.sources.factory import SourceOptions, build_sources

    print("timeline (issue 14)")
    config = load_config(None)
    sources = build_sources(SourceOptions(demo=True), config, clock=FrozenClock(DEMO_START))
    try:
        demo = gather_timeline(config, sources, DEMO_START.date())
    finally:
        for closer in sources.closers:
            closer.close()  # type: ignore[attr-defined]
    shift = DEMO_START - NOW  # the synthetic services and logs, moved onto the demo's day
    verdicts = [service_verdict(make_service(i, 100), NOW) for i in range(20)]
    entries = [
        msgspec.structs.replace(e, timestamp=e.timestamp + shift) for e in generate_entries(10_000)
    ]
    assert len(entries) == 10_000
    runs: list[float] = []
    events = 0
    for _ in range(10):
        start = time.perf_counter()
        groups = group_entries(entries)
        inputs = TimelineInputs(
            demo.game_date,
            DEMO_START + timedelta(hours=2),
            demo.status,
            Fetched(verdicts),
            Fetched(groups),
        )
        events = len(timeline(inputs, config.shown_zone).events)
        runs.append(time.perf_counter() - start)
    report(
        "a day: 10,000 log entries, 20 services x 100 revisions (median of 10)",
        statistics.median(runs) * 1000,
        "ms",
        300,
    )
    print(f"  {events} events on the axis")


if __name__ == "__main__":
    main()
