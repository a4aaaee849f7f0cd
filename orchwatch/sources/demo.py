"""The demo scenario: two weeks of the pipeline in PIPELINE.md, replayed live.

The scenario is a time-ordered list of events (a processor run lands in
BigQuery, the orchestrator records it in Firestore, a phase triggers the
next one...), generated from the configuration and a seed. Building the store
"as of" a moment applies every event up to it; the live demo keeps applying
events as its accelerated clock moves on. One code path for history and
live data, fully determined by (config, seed, clock).

The incidents it replays:
- 2026-01-24: p2_bdl_box_scores fails (GSW@MIN, 0022500644, final with no box
  score) and sits in failed_processor_queue;
- 2026-01-31 and 2026-02-01: two phase-3 processors write to BigQuery but their
  completion messages are lost, so Firestore shows 3/5 and phase 4 never triggers;
- upcoming_team_game_context runs twice a day by design, every day.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from orchwatch.clock import Clock
from orchwatch.config import Config, PhaseSpec, ProcessorSpec
from orchwatch.model import (
    BackupRow,
    CompletionRecord,
    ExecutionLogRow,
    FailedQueueItem,
    RunStatus,
)
from orchwatch.sources.local import LocalStore

DEMO_START = datetime(2026, 2, 1, 14, 0, tzinfo=UTC)
"""Where the live demo's clock starts: 09:00 in New York on the last incident date."""
FIRST_DATE = date(2026, 1, 19)
LAST_DATE = date(2026, 2, 1)

UNTRACKED: dict[date, dict[str, frozenset[str]]] = {
    day: {"phase3": frozenset({"team_defense_game_summary", "upcoming_player_game_context"})}
    for day in (date(2026, 1, 31), date(2026, 2, 1))
}
"""Processors whose completion messages the orchestrator lost, per date and phase."""

FAILED_RUNS: dict[date, dict[str, frozenset[str]]] = {
    date(2026, 1, 24): {"phase2": frozenset({"p2_bdl_box_scores"})},
}
FAILED_ERROR = (
    "Game 0022500644 (GSW@MIN) is final in the schedule but no box score was found in any source"
)

RUNS_PER_DAY: dict[str, int] = {
    "p2_bdl_box_scores": 40,
    "p2_odds_game_lines": 96,
    "p2_nbacom_schedule": 24,
    "p2_nbacom_gamebook_pdf": 30,
    "p2_bigdataball_pbp": 20,
    "p2_br_season_roster": 1,
    "player_game_summary": 208,
    "team_defense_game_summary": 87,
    "team_offense_game_summary": 87,
    "upcoming_player_game_context": 90,
    "upcoming_team_game_context": 2,
    "prediction_coordinator": 1,
}
"""Runs a day per processor (one January date of the real pipeline); others run 10 times."""

_FIRST_PHASE_START = timedelta(hours=4, minutes=30)
_LAST_RUN = timedelta(hours=23, minutes=30)
_PHASE_GAP = timedelta(minutes=15)
_TRIGGER_DELAY = timedelta(seconds=20)


@dataclass(frozen=True, slots=True)
class Run:
    """A processor run: a BigQuery row, and (unless the message is lost) a Firestore field."""

    at: datetime
    row: BackupRow
    tracked: bool


@dataclass(frozen=True, slots=True)
class Trigger:
    """The orchestrator triggering the next phase."""

    at: datetime
    phase: str
    game_date: date
    log: ExecutionLogRow


@dataclass(frozen=True, slots=True)
class Queued:
    """A failure entering failed_processor_queue."""

    at: datetime
    item: FailedQueueItem


Event = Run | Trigger | Queued


def apply_events(store: LocalStore, events: Sequence[Event]) -> None:
    """Write a batch of events, in bulk, in the order the orchestrator would."""
    runs = [e for e in events if isinstance(e, Run)]
    store.insert_backup_rows(run.row for run in runs)
    # Firestore keeps one field per processor: only the newest run of a batch survives.
    latest = {
        (run.row.phase, run.row.game_date, run.row.processor_name): run
        for run in runs
        if run.tracked
    }
    store.record_firestore(
        (run.row.phase, run.row.game_date, _firestore_record(run.row)) for run in latest.values()
    )
    for event in events:
        if isinstance(event, Trigger):
            store.mark_triggered(event.phase, event.game_date, event.at, "all_complete", "same_day")
            store.insert_execution_log([event.log])
        elif isinstance(event, Queued):
            store.upsert_failed_queue(event.item)


def _firestore_record(row: BackupRow) -> CompletionRecord:
    return CompletionRecord(
        processor=row.processor_name,
        status=row.status,
        completed_at=row.completed_at,
        record_count=row.record_count,
        correlation_id=row.correlation_id,
        execution_id=row.execution_id,
    )


def generate_events(config: Config, seed: int) -> list[Event]:
    """The whole scenario, oldest first, for the configured phases and processors."""
    rng = random.Random(seed)
    events: list[Event] = []
    day = FIRST_DATE
    while day <= LAST_DATE:
        events.extend(_day_events(config, day, rng))
        day += timedelta(days=1)
    events.sort(key=lambda e: e.at)
    return events


def _day_events(config: Config, day: date, rng: random.Random) -> Iterable[Event]:
    zone = config.timezone
    midnight = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    start: datetime | None = midnight + _FIRST_PHASE_START
    for phase in config.phases:
        if start is None:  # the previous phase never triggered this one
            return
        runs, first_tracked = _phase_runs(phase, day, start, midnight + _LAST_RUN, rng)
        yield from runs
        for run in runs:
            if run.row.status == RunStatus.FAILED and run.at == first_tracked.get(
                run.row.processor_name
            ):
                yield Queued(run.at, _queue_item(run, zone))
        required = [p.name for p in phase.processors if p.required]
        if phase.next_phase is None or not all(name in first_tracked for name in required):
            start = None
            continue
        trigger_at = max(first_tracked[name] for name in required) + _TRIGGER_DELAY
        yield Trigger(
            trigger_at,
            phase.name,
            day,
            ExecutionLogRow(
                execution_timestamp=trigger_at,
                phase_name=f"{phase.name}_to_{phase.next_phase}",
                game_date=day,
                correlation_id=f"corr-{day:%Y%m%d}-{phase.name}",
                duration_seconds=round(rng.uniform(0.8, 3.5), 2),
                games_processed=rng.randint(6, 12),
                status="success",
            ),
        )
        start = trigger_at + _PHASE_GAP


def _phase_runs(
    phase: PhaseSpec, day: date, start: datetime, last: datetime, rng: random.Random
) -> tuple[list[Run], dict[str, datetime]]:
    """Every run of a phase's processors on one day, and each tracked processor's first run."""
    untracked = UNTRACKED.get(day, {}).get(phase.name, frozenset())
    failing = FAILED_RUNS.get(day, {}).get(phase.name, frozenset())
    runs: list[Run] = []
    first_tracked: dict[str, datetime] = {}
    for processor in phase.processors:
        times = _run_times(processor, start, last, rng)
        tracked = processor.name not in untracked
        status = RunStatus.FAILED if processor.name in failing else RunStatus.SUCCESS
        for k, at in enumerate(times):
            runs.append(
                Run(
                    at,
                    BackupRow(
                        phase=phase.name,
                        game_date=day,
                        processor_name=processor.name,
                        status=status,
                        completed_at=at,
                        record_count=0
                        if status == RunStatus.FAILED
                        else 30 + int(rng.random() * 870),
                        correlation_id=f"corr-{day:%Y%m%d}-{phase.name}-{k:03d}",
                        execution_id=f"{rng.getrandbits(48):012x}",
                        is_incremental=k > 0,
                    ),
                    tracked,
                )
            )
        if tracked and times:
            first_tracked[processor.name] = times[0]
    return runs, first_tracked


def _run_times(
    processor: ProcessorSpec, start: datetime, last: datetime, rng: random.Random
) -> list[datetime]:
    count = RUNS_PER_DAY.get(processor.name, 1 if processor.cadence == "once-daily" else 10)
    first = start + timedelta(minutes=rng.uniform(2, 40))
    if count == 1:
        return [first]
    step = (last - first) / (count - 1)
    jitter = step.total_seconds() * 0.3
    return [
        first,
        *(
            first + step * k + timedelta(seconds=rng.uniform(-jitter, jitter))
            for k in range(1, count)
        ),
    ]


def _queue_item(run: Run, zone: ZoneInfo) -> FailedQueueItem:
    return FailedQueueItem(
        game_date=run.row.game_date,
        processor_name=run.row.processor_name,
        status="pending",
        retry_count=3,
        error_message=FAILED_ERROR,
        first_failure_at=run.at,
        last_retry_at=run.at + timedelta(hours=6),
    )


class DemoSimulator:
    """Applies the scenario's events to a store as a clock moves past them."""

    def __init__(self, store: LocalStore, events: Sequence[Event], clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._events = events
        self._next = 0

    def advance(self) -> int:
        """Apply every event due by the clock's now; returns how many were applied."""
        now = self.clock.now()
        end = self._next
        while end < len(self._events) and self._events[end].at <= now:
            end += 1
        batch = self._events[self._next : end]
        if batch:
            apply_events(self.store, batch)
        self._next = end
        return len(batch)

    @property
    def pending(self) -> int:
        """Events still in the future."""
        return len(self._events) - self._next


def build_demo(
    config: Config, clock: Clock, seed: int | None = None, path: str = ":memory:"
) -> tuple[LocalStore, DemoSimulator]:
    """A store holding the scenario up to the clock's now, and the simulator that moves it on."""
    store = LocalStore(path)
    store.set_meta("scenario", "demo")
    store.set_meta("seed", str(config.demo_seed if seed is None else seed))
    simulator = DemoSimulator(
        store, generate_events(config, config.demo_seed if seed is None else seed), clock
    )
    simulator.advance()
    return store, simulator
