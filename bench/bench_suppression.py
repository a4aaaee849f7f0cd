"""Issue 17's suppression figure: Cloud Logging list calls per minute while the tail
reports suppressed entries every half second (a rate-limited project), on the local
gRPC server through the official client. Each notice asks for a listing of what the
stream left out; the list budget (6 a minute) must hold, and every suppressed entry
must still arrive."""

from __future__ import annotations

import time
from datetime import timedelta

from bench.common import report

WINDOW = 90.0
"""Seconds of storm: longer than a minute, so the busiest 60 s of it is measured."""
EVERY = 0.5


def main() -> None:
    from dataclasses import replace

    from google.cloud.logging_v2.types import TailLogEntriesResponse

    from orchwatch.clock import FrozenClock
    from orchwatch.config import load_config
    from orchwatch.model import LogEntry
    from orchwatch.sources.demo import DEMO_START
    from orchwatch.sources.gcp import build_gcp_sources
    from tests.loopback.grpc_server import LocalGcpServer
    from tests.loopback.seed import entry_protos

    print("Cloud Logging under a suppression storm (issue 17)")
    project = "orchwatch-bench-storm"
    reason = TailLogEntriesResponse.SuppressionInfo.Reason.RATE_LIMIT
    server = LocalGcpServer().start()
    base = load_config(None)
    config = replace(
        base, gcp_project=project, gcp=replace(base.gcp, endpoints={"logging": server.endpoint})
    )
    sources = build_gcp_sources(config, project, FrozenClock(DEMO_START))
    logs = sources.logs
    assert logs is not None
    hidden = 0
    try:
        cursor = logs.read_log(None, 5000).cursor  # the first read opens the tail
        before = sources.meter.snapshot()  # type: ignore[attr-defined]
        start = time.monotonic()
        seen: set[str] = set()
        samples: list[tuple[float, int]] = [(0.0, 0)]
        n = 0
        while time.monotonic() - start < WINDOW:
            at = DEMO_START + timedelta(seconds=n)
            batch = [
                LogEntry(
                    at,
                    "ERROR",
                    f"hidden {n}.{i}",
                    "self-heal",
                    "self-heal-00001-a",
                    "",
                    f"h{n}-{i}",
                )
                for i in range(20)
            ]
            server.suppress_entries(entry_protos(batch, project, "us-west2"), reason)
            hidden += len(batch)
            n += 1
            time.sleep(EVERY)
            read = logs.read_log(cursor, 5000)
            cursor = read.cursor
            seen.update(e.text for e in read.entries if e.text.startswith("hidden"))
            listed = (sources.meter.snapshot() - before)[("logging", "ListLogEntries")]  # type: ignore[attr-defined]
            samples.append((time.monotonic() - start, listed))
        elapsed = time.monotonic() - start
        # The busiest 60 s: the most calls between two samples at most a minute apart.
        busiest = max(
            late - early
            for i, (t0, early) in enumerate(samples)
            for t1, late in samples[i:]
            if t1 - t0 <= 60.0
        )
        # Drain: once the storm ends, the pending listing catches up within the budget.
        deadline = time.monotonic() + 70
        while len(seen) < hidden and time.monotonic() < deadline:
            time.sleep(1)
            read = logs.read_log(cursor, 5000)
            cursor = read.cursor
            seen.update(e.text for e in read.entries if e.text.startswith("hidden"))
    finally:
        sources.close()
        server.stop()
    report("list calls in the storm's busiest minute", busiest, "calls", goal=6)
    print(f"  {n} suppression notices in {elapsed:.0f} s; {hidden} entries suppressed")
    print(f"  suppressed entries that arrived (listed) by 70 s after: {len(seen)} of {hidden}")


if __name__ == "__main__":
    main()
