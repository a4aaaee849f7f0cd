"""Issue 15's figure: a resize from 200x55 to 80x24 (one pane at a time) and back, from the
resize to the first screen refresh after the new layout is applied, on the demo."""

from __future__ import annotations

import asyncio
import statistics
import time

from bench.common import report


async def resizes(rounds: int = 10) -> tuple[list[float], list[float]]:
    from orchwatch.clock import FrozenClock
    from orchwatch.config import load_config
    from orchwatch.sources.demo import DEMO_START
    from orchwatch.sources.factory import SourceOptions, build_sources
    from orchwatch.tui.app import OrchwatchApp
    from tests.settle import settle

    config = load_config(None)
    sources = build_sources(SourceOptions(demo=True), config, clock=FrozenClock(DEMO_START))
    app = OrchwatchApp(config, sources, refresh_seconds=3600, log_poll_seconds=3600)
    shrink: list[float] = []
    grow: list[float] = []
    async with app.run_test(size=(200, 55)) as pilot:
        await settle(pilot)
        loop = asyncio.get_running_loop()

        async def repainted_as(compact: bool) -> float:
            # The layout is applied (one pane alone, or all), then a refresh completes.
            while app.dashboard.logs.display == compact:
                await asyncio.sleep(0)
            done: asyncio.Future[float] = loop.create_future()
            app.call_after_refresh(lambda: done.done() or done.set_result(time.perf_counter()))
            return await done

        for _ in range(rounds):
            start = time.perf_counter()
            await pilot.resize_terminal(80, 24)
            shrink.append(await repainted_as(True) - start)
            await settle(pilot)
            start = time.perf_counter()
            await pilot.resize_terminal(200, 55)
            grow.append(await repainted_as(False) - start)
            await settle(pilot)
    return shrink, grow


def main() -> None:
    print("layout (issue 15)")
    shrink, grow = asyncio.run(resizes())
    report(
        "resize 200x55 -> 80x24, to the repaint (median of 10)",
        statistics.median(shrink) * 1000,
        "ms",
        150,
    )
    report("  the slowest of the 10", max(shrink) * 1000, "ms")
    report(
        "resize 80x24 -> 200x55, to the repaint (median of 10)",
        statistics.median(grow) * 1000,
        "ms",
        150,
    )


if __name__ == "__main__":
    main()
