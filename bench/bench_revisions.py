"""Revision figures: markers for 20 services x 1,000 revisions; a 1,000-revision history."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from bench.common import best_of, report
from orchwatch.analysis.revisions import derive_markers, service_verdict
from orchwatch.model import Condition, ConditionState, Revision, ServiceState, TrafficStatus
from tests.settle import wait_workers

NOW = datetime(2026, 2, 1, 12, tzinfo=UTC)


def make_service(index: int, count: int = 1000) -> ServiceState:
    """A service with `count` revisions (Cloud Run keeps at most 1,000), every 50th failed."""
    name = f"service-{index:02d}"
    revisions = []
    for n in range(1, count + 1):
        state = ConditionState.FAILED if n % 50 == 0 else ConditionState.SUCCEEDED
        revisions.append(
            Revision(
                name=f"{name}-{n:05d}-abc",
                service=name,
                create_time=NOW - timedelta(hours=count - n),
                creator="deploy-bot@example.com",
                labels={"commit-sha": f"{n:010x}"},
                image=f"img:{n}",
                env={"BUILD": str(n)},
                conditions=(Condition("Ready", state, "HealthCheckContainerError", "port 8080"),),
            )
        )
    serving = revisions[-1].name if count % 50 else revisions[-2].name
    return ServiceState(
        name,
        revisions[-1].name,
        serving,
        (TrafficStatus(serving, 100),),
        tuple(reversed(revisions)),
    )


async def render_history(service: ServiceState) -> float:
    from orchwatch.clock import FrozenClock
    from orchwatch.config import load_config
    from orchwatch.sources.base import Sources
    from orchwatch.sources.local import LocalStore
    from orchwatch.tui.app import OrchwatchApp
    from orchwatch.tui.screens.revisions import RevisionHistoryScreen

    config = load_config(None)
    store = LocalStore()
    app = OrchwatchApp(
        config,
        Sources("file", "bench", FrozenClock(NOW), store, revisions=store),
        refresh_seconds=3600,
        wall=lambda: 0.0,
    )
    verdict = service_verdict(service, NOW)
    async with app.run_test(size=(200, 60)) as pilot:
        await wait_workers(app)
        await pilot.pause()
        start = time.perf_counter()
        screen = RevisionHistoryScreen(verdict, NOW, config.timezone)
        await app.push_screen(screen)
        await pilot.pause()
        elapsed = time.perf_counter() - start
        assert screen.query_one("#history-table").row_count == len(verdict.rows)
        return elapsed


def main() -> None:
    print("revisions (issue 4)")
    services = [make_service(i) for i in range(20)]
    seconds = best_of(lambda: [service_verdict(s, NOW, rows=derive_markers(s)) for s in services])
    report("markers + verdicts, 20 services x 1,000 revisions", seconds * 1000, "ms", 300)
    seconds = asyncio.run(render_history(services[0]))
    report("render a 1,000-revision history screen (to idle)", seconds * 1000, "ms", 300)


if __name__ == "__main__":
    main()
