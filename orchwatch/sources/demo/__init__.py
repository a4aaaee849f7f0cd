"""The demo: two weeks of the pipeline in PIPELINE.md, replayed live, with no cloud.

One job per module:
- `scenario`: the story as a time-ordered list of events, from the config and a seed;
- `events`: the events' shapes, and how a store applies them;
- `revisions`: the services' invented Cloud Run histories, the story's revisions in them;
- `logs`: the services' log lines for any window of time;
- `serving`: which revision serves a service, and its crash windows;
- `pubsub`: the completion messages, pushed to the orchestrators, and what became of them;
- `simulator`: the live demo, and the stand-ins for the deploy and rollback commands;
- `cache`: the state at the demo's start kept on disk (data, never code), shared safely;
- `moments`: when the story starts and what a replay may reach.

`build_demo` puts them together.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from pathlib import Path

from orchwatch.clock import Clock
from orchwatch.config import Config
from orchwatch.sources.demo.cache import cache_paths, restore, save
from orchwatch.sources.demo.logs import DemoLogStream
from orchwatch.sources.demo.moments import (
    DEMO_START,
    FIRST_DATE,
    LAST_DATE,
    LOG_HISTORY,
    REPLAY_SPAN,
)
from orchwatch.sources.demo.platform import DemoBuilds, DemoExports, DemoInvokers, DemoScheduler
from orchwatch.sources.demo.pubsub import DemoPubSub
from orchwatch.sources.demo.scenario import UNTRACKED, generate_events, scenario_services
from orchwatch.sources.demo.serving import ServingLookup
from orchwatch.sources.demo.simulator import DemoActions, DemoSimulator, FrozenAt
from orchwatch.sources.local import LocalStore

__all__ = [
    "DEMO_START",
    "FIRST_DATE",
    "LAST_DATE",
    "LOG_HISTORY",
    "REPLAY_SPAN",
    "UNTRACKED",
    "DemoActions",
    "DemoBuilds",
    "DemoExports",
    "DemoInvokers",
    "DemoPubSub",
    "DemoScheduler",
    "DemoSimulator",
    "build_demo",
    "generate_events",
    "scenario_services",
]


def build_demo(
    config: Config,
    clock: Clock,
    seed: int | None = None,
    path: str = ":memory:",
    cache_dir: Path | None = None,
) -> tuple[LocalStore, DemoSimulator]:
    """A store holding the scenario up to the clock's now, and the simulator that moves it on.

    With `cache_dir`, the scenario's state at `DEMO_START` (and its future events) is kept
    there, keyed by the seed, the configuration and the scenario's own code, so later
    starts restore it instead of generating it again (0.2 s of a 0.8 s start-up).
    """
    scenario_seed = config.demo_seed if seed is None else seed
    store = LocalStore(path)
    store.log_health = "live"
    serving = ServingLookup(store)
    logs = DemoLogStream(scenario_seed, scenario_services(config), serving.get, serving.crashing)
    starts_at_demo_start = DEMO_START <= clock.now() < DEMO_START + timedelta(minutes=1)
    cache = (
        cache_paths(
            cache_dir,
            config,
            scenario_seed,
            (config.phases, scenario_services(config), str(config.timezone), DEMO_START),
        )
        if starts_at_demo_start
        else None
    )
    future = restore(store, cache) if cache and path == ":memory:" else None
    if future is not None:
        simulator = DemoSimulator(
            store, future, clock, logs, serving, logged_until=DEMO_START, config=config
        )
    else:
        store.set_meta("scenario", "demo")
        store.set_meta("seed", str(scenario_seed))
        events = generate_events(config, scenario_seed)
        # Built as of the demo's start, or of an earlier moment asked for (nothing after it
        # may be in the store), then moved on with the clock.
        built_at = min(DEMO_START, clock.now())
        simulator = DemoSimulator(store, events, FrozenAt(built_at), logs, serving, config=config)
        simulator.advance()
        if cache and path == ":memory:":
            save(store, events[simulator.applied :], cache)
        simulator.clock = clock
    simulator.advance()
    store.set_meta("captured_at", clock.now().astimezone(UTC).isoformat())
    return store, simulator
