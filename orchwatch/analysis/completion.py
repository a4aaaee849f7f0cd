"""Firestore vs BigQuery reconciliation: one state per processor, phase and date.

The rules, most alarming first (see `cell_state`):

| Firestore        | BigQuery               | state      |
|------------------|------------------------|------------|
| latest failed    | any                    | FAILED     |
| any              | latest run failed      | FAILED     |
| none             | has a successful run   | UNTRACKED  |
| has a completion | no row                 | UNBACKED   |
| partial          | any, or latest partial | PARTIAL    |
| success          | success                | COMPLETE   |
| none             | no row, due            | MISSING    |
| none             | no row, not yet due    | NOT_DUE    |

A low run count is never a state of its own: a once-daily processor with one
run is as complete as one with two hundred.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from orchwatch.config import Config, PhaseSpec, ProcessorSpec
from orchwatch.model import (
    BackupSummary,
    CellState,
    CompletionCell,
    CompletionRecord,
    DateCompletions,
    DateStatus,
    PhaseStatus,
    RunStatus,
)

_DONE = frozenset({CellState.COMPLETE, CellState.UNTRACKED, CellState.UNBACKED, CellState.PARTIAL})
"""States in which some store shows the processor has run."""


def due_at(spec: ProcessorSpec, game_date: date, zone: ZoneInfo) -> datetime:
    """When a processor's completion for `game_date` is due (aware, in `zone`)."""
    start = datetime.combine(game_date, time(0), tzinfo=zone)
    return start + spec.due_after


def cell_state(
    firestore: CompletionRecord | None,
    backup: BackupSummary | None,
    *,
    due: bool,
) -> tuple[CellState, str]:
    """Reconcile one processor's records in both stores.

    Args:
        firestore: the processor's field in the Firestore document, if any.
        backup: the aggregate of its BigQuery rows, if any.
        due: whether a completion is expected by now.

    Returns:
        The state and one sentence explaining it.
    """
    fs_status = firestore.status if firestore else None
    bq_status = backup.last_status if backup else None
    bq_ok = backup is not None and backup.successes > 0
    if fs_status == RunStatus.FAILED:
        return CellState.FAILED, "Firestore records the latest run as failed."
    if bq_status == RunStatus.FAILED and not (firestore and _is_newer(firestore, backup)):
        runs = f"{backup.runs} run(s)" if backup else "runs"
        return CellState.FAILED, f"BigQuery's latest of {runs} failed."
    if firestore is None and bq_ok:
        assert backup is not None
        return (
            CellState.UNTRACKED,
            f"BigQuery has {backup.runs} run(s) but Firestore has no completion: "
            "the orchestrator never counted it (a lost Pub/Sub message?).",
        )
    if firestore is not None and backup is None:
        return (
            CellState.UNBACKED,
            "Firestore has a completion but BigQuery has no row: the backup write was lost.",
        )
    if RunStatus.PARTIAL in (fs_status, bq_status):
        return CellState.PARTIAL, "The latest run completed partially."
    if firestore is not None:
        return CellState.COMPLETE, "Both stores hold a successful completion."
    if due:
        return CellState.MISSING, "Due, and neither store has a completion."
    return CellState.NOT_DUE, "Not due yet."


def _is_newer(firestore: CompletionRecord, backup: BackupSummary | None) -> bool:
    """Whether Firestore's (successful) record is newer than BigQuery's latest run."""
    if backup is None or firestore.completed_at is None or backup.last_completed_at is None:
        return False
    return firestore.completed_at > backup.last_completed_at


def reconcile_phase(
    spec: PhaseSpec,
    completions: DateCompletions,
    now: datetime,
    zone: ZoneInfo,
) -> PhaseStatus:
    """Reconcile every processor a phase expects on one date."""
    document = completions.firestore.get(spec.name)
    backups: Mapping[str, BackupSummary] = completions.bigquery.get(spec.name, {})
    cells = []
    for processor in spec.processors:
        due = due_at(processor, spec.keyed_date(completions.game_date), zone)
        record = document.records.get(processor.name) if document else None
        state, reason = cell_state(record, backups.get(processor.name), due=now >= due)
        cells.append(
            CompletionCell(
                phase=spec.name,
                processor=processor.name,
                required=processor.required,
                state=state,
                reason=reason,
                firestore=record,
                backup=backups.get(processor.name),
                due_at=due,
            )
        )
    return PhaseStatus(
        phase=spec.name,
        label=spec.label,
        game_date=completions.game_date,
        cells=tuple(cells),
        document=document,
        next_phase=spec.next_phase,
        direct=spec.orchestrator is None and spec.next_phase is not None,
        next_offset=spec.next_offset,
    )


def reconcile_date(config: Config, completions: DateCompletions, now: datetime) -> DateStatus:
    """Reconcile all configured phases of one date."""
    return DateStatus(
        game_date=completions.game_date,
        phases=tuple(
            reconcile_phase(spec, completions, now, config.timezone) for spec in config.phases
        ),
    )


def reconcile_dates(
    config: Config,
    completions: Mapping[date, DateCompletions],
    dates: Iterable[date],
    now: datetime,
) -> dict[date, DateStatus]:
    """Reconcile several dates; a date the source returned nothing for counts as empty."""
    return {
        day: reconcile_date(config, completions.get(day, DateCompletions(day)), now)
        for day in dates
    }


def trigger_verdict(status: PhaseStatus, now: datetime, zone: ZoneInfo) -> tuple[bool, str]:
    """Whether the phase's trigger of the next phase is a problem, and the header text.

    Returns:
        (alarm, text): alarm is True when the next phase should have been triggered
        (every required processor completed in BigQuery or the trigger is overdue)
        and was not.
    """
    if status.next_phase is None:
        return False, "last phase"
    if status.direct:  # no `_triggered` to read: the next phase's own records say it
        return False, f"→ {status.next_phase} by its own subscription (no orchestrator)"
    document = status.document
    if document is not None and document.triggered:
        when = (
            document.triggered_at.astimezone(zone).strftime("%H:%M")
            if document.triggered_at
            else "?"
        )
        reason = f" ({document.trigger_reason})" if document.trigger_reason else ""
        return False, f"→ {_next(status)} at {when}{reason}"
    required = [c for c in status.cells if c.required]
    all_done = all(c.state in _DONE for c in required)
    overdue = any(c.state is CellState.MISSING for c in required)
    alarm = all_done or overdue
    return alarm, f"→ {_next(status)} NOT triggered"


def _next(status: PhaseStatus) -> str:
    """The next phase, with its game date when it is not this one's (`phase4 of 02-02`)."""
    if not status.next_offset:
        return str(status.next_phase)
    return f"{status.next_phase} of {status.game_date + timedelta(days=status.next_offset):%m-%d}"


def blocked_phases(status: DateStatus, now: datetime, zone: ZoneInfo) -> dict[str, PhaseStatus]:
    """Phases that wait on an earlier phase which should have triggered the next one and
    did not: phase name -> that earlier phase. What the waiting phases lack follows from
    that one failure; the walkthrough and the grid say so rather than count it again.

    A phase that triggers the next one of a later game date (`next_offset`) blocks
    nothing on its own date: the next phase here was triggered the day before."""
    blocked: dict[str, PhaseStatus] = {}
    blocker: PhaseStatus | None = None
    for phase in status.phases:
        if phase.triggered:
            blocker = None
            continue
        if blocker is not None:
            blocked[phase.phase] = blocker
        elif (
            phase.next_phase is not None
            and not phase.next_offset
            and trigger_verdict(phase, now, zone)[0]
        ):
            blocker = phase
    return blocked


def blocked_text(blocker: PhaseStatus) -> str:
    """`blocked: phase3 never triggered phase4`."""
    return f"blocked: {blocker.phase} never triggered {blocker.next_phase}"
