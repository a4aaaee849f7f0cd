"""The recording (issue: the incident bridge): its size after 14 days of the demo pipeline
recorded at the default schedule, and the time to rewind to any moment of them.

The demo is recorded from its first date on a fast-forwarded clock, one poll every
`[record] interval_seconds` of scenario time (10 s by default: 120,960 polls), exactly as
`orchwatch record --demo` would over 14 days. Then 50 moments spread over the 14 days are
rewound to: the moment found and its stores loaded, the completions of its dates read (the
grid's first answer: the seek), and its log read (the tail's first answer).

`ORCHWATCH_BENCH_RECORD_DAYS` shortens the span (the figures are then not the goal's).
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import report

DAYS = float(os.environ.get("ORCHWATCH_BENCH_RECORD_DAYS", "14"))


def main() -> None:
    from orchwatch.clock import FrozenClock
    from orchwatch.config import load_config
    from orchwatch.recorder import Recorder
    from orchwatch.sources.demo import FIRST_DATE
    from orchwatch.sources.factory import SourceOptions, build_sources
    from orchwatch.sources.history import Recording
    from orchwatch.sources.recorded import rewind

    config = load_config(None)
    settings = config.record
    start = datetime.combine(FIRST_DATE, datetime.min.time(), UTC) + timedelta(minutes=1)
    end = start + timedelta(days=DAYS)
    print(
        f"recording: {DAYS:g} days of the demo, a poll every "
        f"{settings.interval.total_seconds():g} s of scenario time"
    )
    with tempfile.TemporaryDirectory(prefix="orchwatch-bench-recording-") as folder:
        out = Path(folder) / "bridge.db"
        clock = FrozenClock(start)
        sources = build_sources(SourceOptions(demo=True), config, clock=clock)
        recording = Recording(out, write=True)
        polls = 0
        began = time.perf_counter()
        try:
            recorder = Recorder(config, sources, recording, settings)
            while clock.now() < end:
                clock.advance(settings.interval)
                recorder.poll()
                polls += 1
            data = recording.data_bytes()
        finally:
            recording.close()
            sources.close()
        took = time.perf_counter() - began
        size = sum(p.stat().st_size for p in Path(folder).glob("bridge.db*"))
        report(f"polls recorded ({took:.0f} s, {took / polls * 1000:.1f} ms a poll)", polls, "")
        goal = 50.0 if DAYS >= 14 else None
        report(f"recording's size after {DAYS:g} days (data in use)", data / 1e6, "MB", goal)
        report("recording's file on disk (with its WAL)", size / 1e6, "MB")

        rng = random.Random(14)
        moments = sorted(start + (end - start) * rng.random() for _ in range(50))
        seeks, logs = [], []
        for at in moments:
            began = time.perf_counter()
            rewound = rewind(out, at)
            try:
                rewound.completions.fetch_completions(list(rewound.rewound.moment.dates))  # type: ignore[attr-defined]
                seeks.append(time.perf_counter() - began)
                assert rewound.logs is not None
                began = time.perf_counter()
                rewound.logs.read_log(None, config.log_capacity)
                logs.append(time.perf_counter() - began)
            finally:
                rewound.close()
        seek_p95 = statistics.quantiles(seeks, n=20)[-1] * 1000
        report("--as-of seek: moment found, stores loaded, grid read (p95)", seek_p95, "ms", 200)
        report("  max of 50", max(seeks) * 1000, "ms")
        report(
            "the moment's log tail read after (p95)",
            statistics.quantiles(logs, n=20)[-1] * 1000,
            "ms",
        )


if __name__ == "__main__":
    main()
