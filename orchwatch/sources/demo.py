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

import bisect
import hashlib
import json
import os
import pickle
import random
import sys
import tempfile
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

from orchwatch.clock import Clock
from orchwatch.config import Config, PhaseSpec, ProcessorSpec
from orchwatch.model import (
    BackupRow,
    CompletionRecord,
    Condition,
    ConditionState,
    ExecutionLogRow,
    FailedQueueItem,
    LogEntry,
    Revision,
    RunStatus,
    TrafficStatus,
)
from orchwatch.sources.demo_logs import (
    CRASH_SERVICE,
    FIXED_LABEL,
    LOOP_LABEL,
    PROCESSOR_SERVICES,
    DemoLogStream,
    completion_lines,
)
from orchwatch.sources.local import LocalStore

DEMO_START = datetime(2026, 2, 1, 11, 30, tzinfo=UTC)
"""Where the live demo's clock starts: 06:30 in New York (03:30 in us-west2) on the last
incident date. phase3-to-phase4-orchestrator has served 00025 since 00026 failed on
Jan 29; 00027 lands at 04:28 Pacific, about a minute into the demo."""
FIRST_DATE = date(2026, 1, 19)
LAST_DATE = date(2026, 2, 1)
REPLAY_SPAN = (datetime.combine(FIRST_DATE, time(0), UTC), DEMO_START + timedelta(days=2))
"""The moments a frozen clock (`--as-of`) may replay the demo to: its story's dates, and two
days of the live demo after its start. Past that the simulator would invent log lines for
every minute up to the moment asked for (a month took 7 s and 800 MB)."""

UNTRACKED: dict[date, dict[str, frozenset[str]]] = {
    day: {"phase3": frozenset({"team_defense_game_summary", "upcoming_player_game_context"})}
    for day in (date(2026, 1, 31), date(2026, 2, 1))
}
"""Processors whose completion messages the orchestrator lost, per date and phase: they
first finish after the phase's orchestrator started crash-looping (`CrashWindow`)."""
_CRASH_AFTER = timedelta(minutes=1)
"""How long after the last recorded processor's first run a crash window opens."""

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


class Run(NamedTuple):
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


@dataclass(frozen=True, slots=True)
class CrashWindow:
    """A service crash-looping from `at` until `until` (None: until a fix serves).

    A completion message pushed to the service inside the window is lost; the service
    logs its traceback and exit only inside one."""

    at: datetime
    service: str
    until: datetime | None

    def covers(self, moment: datetime) -> bool:
        """Whether the service is crash-looping at `moment`."""
        return self.at <= moment and (self.until is None or moment < self.until)


@dataclass(frozen=True, slots=True)
class RevisionChanged:
    """A revision appears or its conditions change."""

    at: datetime
    revision: Revision


@dataclass(frozen=True, slots=True)
class ServiceChanged:
    """A service's latest revisions or traffic change."""

    at: datetime
    service: str
    latest_created: str
    latest_ready: str
    traffic: tuple[TrafficStatus, ...]


Event = Run | Trigger | Queued | CrashWindow | RevisionChanged | ServiceChanged
BOUNDARIES = (CrashWindow, RevisionChanged, ServiceChanged)
"""Events that change what the services log: the logs before one are written first."""


def apply_events(store: LocalStore, events: Sequence[Event], track_all: bool = False) -> None:
    """Write a batch of events, in bulk, in the order the orchestrator would.

    With `track_all` (the crash loop is fixed), no completion message is lost any more.
    """
    runs = [e for e in events if isinstance(e, Run)]
    store.insert_backup_rows(run.row for run in runs)
    # Firestore keeps one field per processor: only the newest run of a batch survives.
    latest = {
        (run.row.phase, run.row.game_date, run.row.processor_name): run
        for run in runs
        if run.tracked or track_all
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
        elif isinstance(event, CrashWindow):
            windows = json.loads(store.get_meta(_WINDOWS_META) or "[]")
            windows.append(
                [event.service, event.at.isoformat(), event.until and event.until.isoformat()]
            )
            store.set_meta(_WINDOWS_META, json.dumps(windows))
        elif isinstance(event, RevisionChanged):
            store.put_revision(event.revision)
        elif isinstance(event, ServiceChanged):
            store.put_service(
                event.service,
                event.latest_created,
                event.latest_ready,
                event.traffic,
                uri=f"https://{event.service}-demo.a.run.app",
            )


_WINDOWS_META = "crash_windows"
"""The crash windows applied so far, kept with the store (a restored cache has them)."""


def stored_windows(store: LocalStore) -> list[CrashWindow]:
    """The crash windows the store's events have opened."""
    return [
        CrashWindow(
            datetime.fromisoformat(at), service, datetime.fromisoformat(until) if until else None
        )
        for service, at, until in json.loads(store.get_meta(_WINDOWS_META) or "[]")
    ]


def _firestore_record(row: BackupRow) -> CompletionRecord:
    return CompletionRecord(
        processor=row.processor_name,
        status=row.status,
        completed_at=row.completed_at,
        record_count=row.record_count,
        correlation_id=row.correlation_id,
        execution_id=row.execution_id,
    )


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
        runs = [run for run in runs if run.at <= last]
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


LOG_HISTORY = timedelta(hours=2)
"""How much log history the demo has at its start."""


class DemoSimulator:
    """Applies the scenario's events to a store as a clock moves past them."""

    def __init__(
        self,
        store: LocalStore,
        events: Sequence[Event],
        clock: Clock,
        logs: DemoLogStream | None = None,
        serving: ServingLookup | None = None,
        logged_until: datetime | None = None,
        config: Config | None = None,
    ) -> None:
        self.store = store
        self.clock: Clock = clock
        self.logs = logs
        self.serving = serving
        self.config = config
        self.spool = Path(tempfile.mkdtemp(prefix="orchwatch-demo-spool-"))
        """Deploy requests from the demo repo's scripts (see `orchwatch demo-deploy`)."""
        self._events = list(events)
        self._next = 0
        self._logged_until = logged_until or clock.now() - LOG_HISTORY
        self._logs_from = self._logged_until
        """The log window's start: a run before it is in the stores, not in the logs."""
        self._recorded: dict[tuple[str, date], set[str]] = {}
        """(phase, date) -> the processors Firestore holds, kept as runs are applied."""
        self._pending: list[LogEntry] = []
        """Lines of the runs applied, written with the others in time order (the tail
        shows lines in the order they were written)."""
        self._lock = threading.Lock()  # panes refresh from several worker threads

    def advance(self) -> int:
        """Apply every event due by the clock's now, and write the logs up to it; returns
        how many events and log entries were written.

        Time is walked forward: the logs up to a revision or service event are written
        with what served before it, then the event is applied. So a replay to any moment
        (`--as-of`) holds the logs the live demo wrote by then, and no service logs from a
        revision before that revision exists."""
        with self._lock:
            now = self.clock.now()
            self._read_spool(now)
            fixed = self.serving is not None and self.serving.get(CRASH_SERVICE)[1]
            applied = written = 0
            while self._next < len(self._events) and self._events[self._next].at <= now:
                end = self._next
                while end < len(self._events) and self._events[end].at <= now:
                    if isinstance(self._events[end], BOUNDARIES):
                        break
                    end += 1
                if end == self._next:  # a revision or service event: logs up to it first
                    written += self._log_until(self._events[end].at)
                    end += 1
                batch = self._events[self._next : end]
                self._log_completions(batch, fixed)
                apply_events(self.store, batch, track_all=fixed)
                if self.serving is not None and isinstance(batch[-1], BOUNDARIES):
                    self.serving.invalidate()
                self._next = end
                applied += len(batch)
            if fixed:
                self._trigger_after_fix(now)
            written += self._log_until(now)
            return applied + written

    def _log_completions(self, batch: Sequence[Event], fixed: bool) -> None:
        """The log lines of the runs in `batch` inside the log window: each processor's
        rows written and, when its message reached the orchestrator, the orchestrator's
        record with the Firestore count it makes (`completion_lines`)."""
        runs = [e for e in batch if isinstance(e, Run) and e.at > self._logs_from]
        if not runs or self.logs is None or self.config is None:
            return
        phases = {phase.name: phase for phase in self.config.phases}
        entries: list[LogEntry] = []
        for run in runs:
            phase = phases.get(run.row.phase)
            if phase is None or not phase.orchestrator:
                continue
            key = (run.row.phase, run.row.game_date)
            if key not in self._recorded:
                found = self.store.fetch_completions([run.row.game_date])[run.row.game_date]
                document = found.firestore.get(run.row.phase)
                self._recorded[key] = set(document.records) if document is not None else set()
            recorded: int | None = None
            if run.tracked or fixed:
                self._recorded[key].add(run.row.processor_name)
                recorded = len(self._recorded[key])
            processors = next(
                (s for s in PROCESSOR_SERVICES if s.startswith(f"nba-{run.row.phase}-")), None
            )
            entries += completion_lines(
                run.at,
                (phase.orchestrator, self._serving(phase.orchestrator)),
                (processors, self._serving(processors)) if processors else None,
                run.row,
                recorded,
                len(phase.processors),
            )
        self._pending += entries

    def _serving(self, service: str) -> str:
        return self.serving.get(service)[0] if self.serving is not None else ""

    def _log_until(self, moment: datetime) -> int:
        """Write the services' logs from where they stopped up to `moment` (with what
        serves now), the runs' lines among them, in time order; returns how many."""
        if self.logs is None:
            return 0
        due = [e for e in self._pending if e.timestamp <= moment]
        self._pending = [e for e in self._pending if e.timestamp > moment]
        entries = due
        if moment > self._logged_until:
            entries += self.logs.between(self._logged_until, moment)
            self._logged_until = moment
        entries.sort(key=lambda e: (e.timestamp, e.insert_id))
        self.store.insert_log(entries)
        return len(entries)

    def _read_spool(self, now: datetime) -> None:
        """Turn deploy requests into revision events: pending now, Ready (or failed,
        following the validator) half a minute later; a Ready fix of the crash-looping
        orchestrator carries the label that stops its crash loop. A rollback request
        moves the traffic 20 seconds later, as `update-traffic` does."""
        for request_path in sorted(self.spool.glob("*.json")):
            try:
                request = json.loads(request_path.read_text(encoding="utf-8"))
                service = str(request["service"])
                target = str(request["revision"]) if "revision" in request else None
                ok = bool(request.get("ok", False))
            except (OSError, ValueError, KeyError, AttributeError):
                request_path.unlink(missing_ok=True)
                continue
            request_path.unlink(missing_ok=True)
            if target is not None:
                self._move_traffic(service, target, now + timedelta(seconds=20))
                continue
            # The user's deploy supersedes whatever the scenario had scheduled for the service.
            self._events[self._next :] = [
                e
                for e in self._events[self._next :]
                if not (isinstance(e, RevisionChanged) and e.revision.service == service)
                and not (isinstance(e, ServiceChanged) and e.service == service)
            ]
            found = self.store.fetch_services([service])
            previous = found[0].latest_ready_revision if found else None
            number = (
                1 + max((int(r.name.rsplit("-", 2)[1]) for r in found[0].revisions), default=0)
                if found
                else 1
            )
            rng = random.Random(request_path.name)
            events, _, _ = _deploy(
                service, number, now, rng, previous, fails=not ok, settle=timedelta(seconds=30)
            )
            if ok and service == CRASH_SERVICE:
                events = [
                    RevisionChanged(
                        e.at, replace(e.revision, labels={**e.revision.labels, FIXED_LABEL: "true"})
                    )
                    if isinstance(e, RevisionChanged)
                    else e
                    for e in events
                ]
            for event in events:
                bisect.insort(self._events, event, lo=self._next, key=lambda e: e.at)

    def _move_traffic(self, service: str, revision: str, at: datetime) -> None:
        """All of `service`'s traffic to `revision` (pinned), if it has that revision."""
        found = self.store.fetch_services([service])
        if not found or revision not in {r.name for r in found[0].revisions}:
            return
        state = found[0]
        event = ServiceChanged(
            at,
            service,
            state.latest_created_revision,
            state.latest_ready_revision,
            (TrafficStatus(revision, 100),),
        )
        bisect.insort(self._events, event, lo=self._next, key=lambda e: e.at)

    def _trigger_after_fix(self, now: datetime) -> None:
        """With no message lost any more, a phase whose required processors are all in
        Firestore gets triggered, as the orchestrator would."""
        if self.config is None:
            return
        for day, phases in UNTRACKED.items():
            for phase_name in phases:
                spec = self.config.phase(phase_name)
                document = self.store.fetch_completions([day])[day].firestore.get(phase_name)
                required = [p.name for p in spec.processors if p.required]
                if document is None or document.triggered or spec.next_phase is None:
                    continue
                if all(name in document.records for name in required):
                    self.store.mark_triggered(phase_name, day, now, "all_complete", "same_day")
                    self.store.insert_execution_log(
                        [
                            ExecutionLogRow(
                                now,
                                f"{phase_name}_to_{spec.next_phase}",
                                day,
                                f"corr-{day:%Y%m%d}-{phase_name}-fix",
                                1.2,
                                9,
                                "success",
                            )
                        ]
                    )

    @property
    def applied(self) -> int:
        """Events applied so far."""
        return self._next

    @property
    def pending(self) -> int:
        """Events still in the future."""
        return len(self._events) - self._next


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
    cache = _cache_paths(cache_dir, config, scenario_seed) if starts_at_demo_start else None
    future = _restore(store, cache) if cache and path == ":memory:" else None
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
            _save(store, events[simulator.applied :], cache)
        simulator.clock = clock
    simulator.advance()
    store.set_meta("captured_at", clock.now().astimezone(UTC).isoformat())
    return store, simulator


class FrozenAt:
    """A clock stopped at one moment (to build the cacheable state at DEMO_START)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        """The moment."""
        return self.at


def _cache_paths(cache_dir: Path | None, config: Config, seed: int) -> tuple[Path, Path] | None:
    if cache_dir is None:
        return None
    digest = hashlib.sha256()
    for module in (
        Path(__file__),
        Path(__file__).with_name("demo_logs.py"),
        Path(__file__).with_name("local.py"),
    ):
        digest.update(module.read_bytes())
    digest.update(
        repr(
            (seed, config.phases, scenario_services(config), str(config.timezone), DEMO_START)
        ).encode()
    )
    name = f"demo-{digest.hexdigest()[:16]}"
    return cache_dir / f"{name}.db", cache_dir / f"{name}.events"


def _restore(store: LocalStore, cache: tuple[Path, Path]) -> list[Event] | None:
    database, events = cache
    try:
        future = pickle.loads(events.read_bytes())
        store.restore_from(database)
    except Exception:  # a missing, partial or foreign cache: build afresh
        return None
    return list(future)


def _save(store: LocalStore, future: Sequence[Event], cache: tuple[Path, Path]) -> None:
    database, events = cache
    try:
        database.parent.mkdir(parents=True, exist_ok=True)
        store.backup_to(database)
        tmp = events.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps(list(future)))
        os.replace(tmp, events)
    except OSError:  # a read-only cache dir only costs speed
        return


class DemoActions:
    """The demo takes its actions itself: a deploy script run with the spool in
    ORCHWATCH_DEMO_SPOOL hands its deploy to the simulator (`orchwatch demo-deploy`), and a
    rollback moves the simulator's traffic (`orchwatch demo-rollback`), never Google Cloud."""

    def __init__(self, spool: Path) -> None:
        self.spool = spool

    def environment(self) -> dict[str, str]:
        """orchwatch's environment, with the spool and the Python that serves the demo."""
        return {
            **os.environ,
            "ORCHWATCH_DEMO_SPOOL": str(self.spool),
            "ORCHWATCH_PYTHON": sys.executable,
        }

    def rollback_argv(self, service: str, revision: str) -> list[str]:
        """`orchwatch demo-rollback`, which asks the simulator to move the traffic."""
        return [
            sys.executable,
            "-m",
            "orchwatch",
            "demo-rollback",
            "--service",
            service,
            "--revision",
            revision,
        ]


class ServingLookup:
    """Which revision serves a service, cached until a revision event changes it."""

    def __init__(self, store: LocalStore) -> None:
        self.store = store
        self._cache: dict[str, tuple[str, bool, bool]] = {}
        self._windows: list[CrashWindow] | None = None

    def invalidate(self) -> None:
        """Forget every answer (a revision, a service or a crash window changed)."""
        self._cache.clear()
        self._windows = None

    def get(self, service: str) -> tuple[str, bool, bool]:
        """(serving revision name, whether it carries the demo's fix, whether it
        crash-loops)."""
        if service not in self._cache:
            self._cache[service] = self._lookup(service)
        return self._cache[service]

    def _lookup(self, service: str) -> tuple[str, bool, bool]:
        found = self.store.fetch_services([service])
        if not found:
            return f"{service}-00001-dmo", False, False  # no such service: no fix deployed
        state = found[0]
        name = state.traffic[0].revision if state.traffic else state.latest_ready_revision
        revision = next((r for r in state.revisions if r.name == name), None)
        labels = revision.labels if revision is not None else {}
        return name, labels.get(FIXED_LABEL) == "true", labels.get(LOOP_LABEL) == "true"

    def crashing(self, service: str, moment: datetime) -> bool:
        """Whether `service` is inside one of its crash windows at `moment`."""
        if self._windows is None:
            self._windows = stored_windows(self.store)
        return any(w.service == service and w.covers(moment) for w in self._windows)


# --- Cloud Run revision histories ----------------------------------------------------------------

PACIFIC = ZoneInfo("America/Los_Angeles")
"""us-west2's zone: deploy times below are as the Cloud console shows them there."""
DEPLOY_BOT = "deploy-bot@nba-props-platform.iam.gserviceaccount.com"
PEOPLE = ("alex.rivera@example.com", "sam.chen@example.com", "jordan.lee@example.com")
HEALTH_CHECK_FAILURE = Condition(
    "Ready",
    ConditionState.FAILED,
    "HealthCheckContainerError",
    "The user-provided container failed to start and listen on the port defined provided by "
    "the PORT=8080 environment variable within the allocated timeout. Logs: "
    "ModuleNotFoundError: No module named 'shared.validation.phase3_data_quality_check'",
)
STORY_SERVICE = "phase3-to-phase4-orchestrator"
"""00025 healthy, 00026 failed Jan 29 17:35 (traffic stays on 00025), 00027 healthy Feb 1 04:28."""
PENDING_SERVICE = "phase5-to-phase6-orchestrator"
"""Gets a revision that is pending for a while during the live demo."""
ROLLBACK_SERVICE = "self-heal"
"""Traffic was moved back by hand from a Ready revision to the one before it."""
LOOP_SERVICE = "auto-backfill-orchestrator"
"""Three hours into the demo, a deploy that turns Ready and then crash-loops, while the
revision before it served cleanly: the case a rollback (`b`) is for."""
LOOP_AT = DEMO_START + timedelta(hours=3)


def _pacific(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PACIFIC).astimezone(UTC)


def _revision(
    service: str, number: int, at: datetime, rng: random.Random, conditions: tuple[Condition, ...]
) -> Revision:
    suffix = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(3))
    creator = DEPLOY_BOT if rng.random() < 0.7 else rng.choice(PEOPLE)
    return Revision(
        name=f"{service}-{number:05d}-{suffix}",
        service=service,
        create_time=at,
        creator=creator,
        labels={"commit-sha": f"{rng.getrandbits(40):010x}", "managed-by": "deploy-script"},
        image=f"us-west2-docker.pkg.dev/nba-props-platform/gcf-artifacts/{service}:version_{number}",
        env={"LOG_LEVEL": "INFO", "GCP_PROJECT": "nba-props-platform", "BUILD": f"{number}"},
        conditions=conditions,
    )


def _ready(at: datetime) -> tuple[Condition, ...]:
    return (
        Condition("Ready", ConditionState.SUCCEEDED, "", "", at),
        Condition("ContainerHealthy", ConditionState.SUCCEEDED, "", "", at),
    )


def _pending(at: datetime) -> tuple[Condition, ...]:
    return (Condition("Ready", ConditionState.PENDING, "Pending", "Creating revision.", at),)


def _deploy(
    service: str,
    number: int,
    at: datetime,
    rng: random.Random,
    previous: str | None,
    *,
    fails: bool = False,
    settle: timedelta = timedelta(minutes=2),
) -> tuple[list[Event], str, bool]:
    """A deploy: the revision appears pending, then becomes Ready (taking the traffic) or fails.

    Returns the events, the new revision's name, and whether it became Ready.
    """
    pending = _revision(service, number, at, rng, _pending(at))
    done = at + settle
    if fails:
        unhealthy = Condition(
            "ContainerHealthy",
            ConditionState.FAILED,
            "HealthCheckContainerError",
            "Container exited with code 1 before listening on port 8080.",
            done,
        )
        failed = replace(HEALTH_CHECK_FAILURE, last_transition_time=done)
        final = replace(pending, conditions=(failed, unhealthy))
    else:
        final = replace(pending, conditions=_ready(done))
    ready_name = pending.name if not fails else (previous or pending.name)
    events: list[Event] = [
        RevisionChanged(at, pending),
        ServiceChanged(
            at,
            service,
            pending.name,
            previous or pending.name,
            (TrafficStatus(previous or pending.name, 100),),
        ),
        RevisionChanged(done, final),
        ServiceChanged(done, service, pending.name, ready_name, (TrafficStatus(ready_name, 100),)),
    ]
    return events, pending.name, not fails


def _revision_history(service: str, rng: random.Random) -> list[Event]:
    """A plausible history for one service, with the story's revisions where they belong."""
    events: list[Event] = []
    count = 25 if service == STORY_SERVICE else rng.randint(12, 30)
    # Regular deploys every few days, the newest on Jan 26-28 (before any story event).
    if service == STORY_SERVICE:
        newest = _pacific(2026, 1, 26, 10, 12)
    else:
        newest = _pacific(2026, 1, 26, 9, 0) + timedelta(hours=rng.uniform(0, 60))
    times = [newest]
    for _ in range(count - 1):
        times.append(times[-1] - timedelta(days=rng.uniform(2.5, 5.5), minutes=rng.randint(0, 600)))
    serving: str | None = None
    for number, at in enumerate(reversed(times), start=1):
        fails = service == "phase4-to-phase5-orchestrator" and number == count - 6
        new, name, ready = _deploy(service, number, at, rng, serving, fails=fails)
        events += new
        serving = name if ready else serving
    if service == STORY_SERVICE:
        new, _, _ = _deploy(
            service,
            26,
            _pacific(2026, 1, 29, 17, 35),
            rng,
            serving,
            fails=True,
            settle=timedelta(minutes=4),
        )
        events += new
        new, _, _ = _deploy(service, 27, _pacific(2026, 2, 1, 4, 28), rng, serving)
        events += new
    elif service == PENDING_SERVICE:
        new, _, _ = _deploy(
            service,
            count + 1,
            DEMO_START + timedelta(minutes=20),
            rng,
            serving,
            settle=timedelta(minutes=45),
        )
        events += new
    elif service == LOOP_SERVICE:
        # Its own random stream: the histories generated before it stay as they were.
        new, _, _ = _deploy(service, count + 1, LOOP_AT, random.Random(service), serving)
        events += [
            RevisionChanged(
                e.at, replace(e.revision, labels={**e.revision.labels, LOOP_LABEL: "true"})
            )
            if isinstance(e, RevisionChanged)
            else e
            for e in new
        ]
    elif service == ROLLBACK_SERVICE:
        previous = serving
        moved = _pacific(2026, 1, 30, 11, 5)
        new, name, _ = _deploy(service, count + 1, moved, rng, serving)
        events += new
        assert previous is not None
        events.append(
            ServiceChanged(
                moved + timedelta(hours=2), service, name, name, (TrafficStatus(previous, 100),)
            )
        )
    return events
