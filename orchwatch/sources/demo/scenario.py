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
- 2026-01-31 and 2026-02-01: phase3-to-phase4-orchestrator crash-loops in windows. The
  completion messages pushed to it during a window are lost: three phase-3 processors
  finish before the window opens and are recorded, two finish inside it and are not, so
  Firestore shows 3/5 while all 5 wrote to BigQuery, and phase 4 never triggers. The
  Jan 31 window closes before the phases of Feb 1 start (a short healthy stretch, whose
  records are the Feb 1 three); the Feb 1 window stays open until a fix serves;
- upcoming_team_game_context runs twice a day by design, every day.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from orchwatch.config import Config, PhaseSpec, ProcessorSpec
from orchwatch.model import (
    BackupRow,
    ExecutionLogRow,
    FailedQueueItem,
    RunStatus,
)
from orchwatch.sources.demo.events import (
    CrashWindow,
    Event,
    Queued,
    Run,
    Trigger,
)
from orchwatch.sources.demo.moments import FIRST_DATE, LAST_DATE
from orchwatch.sources.demo.revisions import _revision_history

UNTRACKED: dict[date, dict[str, frozenset[str]]] = {
    day: {"phase3": frozenset({"team_defense_game_summary", "upcoming_player_game_context"})}
    for day in (date(2026, 1, 31), date(2026, 2, 1))
}
"""Processors whose completion messages the orchestrator lost, per date and phase: they
first finish after the phase's orchestrator started crash-looping (`CrashWindow`)."""
_CRASH_AFTER = timedelta(minutes=1)
"""How long after the last recorded processor's first run a crash window opens."""
_LOST_FOR = timedelta(minutes=40)
"""How long the processors whose messages were lost go on running for that date once the
window opened: their work for the date is done before the demo starts, so only a replay
(or a seek) brings their completions to Firestore, never a later run."""

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


STORY_SERVICES = frozenset({"auto-backfill-orchestrator", "self-heal"})
"""The services besides the orchestrators that the demo's story has revisions and logs
for; another name in `[services] extra` is not in the demo's Cloud Run, and is said to
be missing, never given an invented healthy history."""


def scenario_services(config: Config) -> tuple[str, ...]:
    """The watched services the demo's Cloud Run has: the phases' orchestrators and the
    story's own services."""
    orchestrators = {p.orchestrator for p in config.phases if p.orchestrator}
    return tuple(s for s in config.services if s in orchestrators or s in STORY_SERVICES)


def generate_events(config: Config, seed: int) -> list[Event]:
    """The whole scenario, oldest first, for the configured phases and processors."""
    rng = random.Random(seed)
    events: list[Event] = []
    starts: dict[tuple[date, str], datetime] = {}
    day = FIRST_DATE
    while day <= LAST_DATE:
        events.extend(_day_events(config, day, rng, starts))
        day += timedelta(days=1)
    # A window closes when the phase's processors of the next day start (the orchestrator
    # was healthy again by then); the last one stays open until a fix serves.
    phase_of = {p.orchestrator: p.name for p in config.phases if p.orchestrator}
    events = [
        replace(
            e,
            until=starts.get(
                (e.at.astimezone(config.timezone).date() + timedelta(days=1), phase_of[e.service])
            ),
        )
        if isinstance(e, CrashWindow)
        else e
        for e in events
    ]
    for service in scenario_services(config):
        events.extend(_revision_history(service, random.Random(f"{seed}:{service}")))
    events.sort(key=lambda e: e.at)
    return events


def _day_events(
    config: Config, day: date, rng: random.Random, starts: dict[tuple[date, str], datetime]
) -> Iterable[Event]:
    """One day of the pipeline; `starts` gets each phase's start (when its processors
    begin to run)."""
    zone = config.timezone
    midnight = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    start: datetime | None = midnight + _FIRST_PHASE_START
    for phase in config.phases:
        if start is None:  # the previous phase never triggered this one
            return
        starts[(day, phase.name)] = start
        runs, first_tracked, crash = _phase_runs(phase, day, start, midnight + _LAST_RUN, rng)
        if crash is not None and phase.orchestrator:
            yield CrashWindow(crash, phase.orchestrator, None)
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
) -> tuple[list[Run], dict[str, datetime], datetime | None]:
    """Every run of a phase's processors on one day, each recorded processor's first run,
    and when the phase's orchestrator started crash-looping that day (None: it did not).

    On a date with lost completions, the orchestrator starts crash-looping a minute after
    the last recorded processor's first run; the processors whose messages it lost run
    only after that, and no run after it is recorded."""
    untracked = UNTRACKED.get(day, {}).get(phase.name, frozenset())
    failing = FAILED_RUNS.get(day, {}).get(phase.name, frozenset())
    runs: list[Run] = []
    for processor in phase.processors:
        times = _run_times(processor, start, last, rng)
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
                    True,
                )
            )
    crash: datetime | None = None
    if untracked:
        crash = _CRASH_AFTER + max(
            (
                min(r.at for r in runs if r.row.processor_name == name)
                for name in {r.row.processor_name for r in runs} - untracked
            ),
            default=start,
        )
        runs = [
            _lost(run, crash - start)
            if run.row.processor_name in untracked
            else run._replace(tracked=run.at < crash)
            for run in runs
        ]
        runs = [
            run
            for run in runs
            if run.at <= last
            and (run.row.processor_name not in untracked or run.at <= crash + _LOST_FOR)
        ]
    first_tracked: dict[str, datetime] = {}
    for run in runs:
        name = run.row.processor_name
        if run.tracked and (name not in first_tracked or run.at < first_tracked[name]):
            first_tracked[name] = run.at
    return runs, first_tracked, crash


def _lost(run: Run, shift: timedelta) -> Run:
    """A run of a processor whose messages were lost: moved to after the crash loop began
    (the same draws, so the rest of the scenario does not change), and not recorded."""
    at = run.at + shift
    return Run(at, run.row._replace(completed_at=at), False)


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
