"""Reconciliation rules, table by table."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from orchwatch.analysis.completion import (
    cell_state,
    due_at,
    reconcile_date,
    reconcile_phase,
    trigger_verdict,
)
from orchwatch.config import Config, PhaseSpec, ProcessorSpec
from orchwatch.dates import date_range
from orchwatch.model import (
    BackupSummary,
    CellState,
    CompletionRecord,
    DateCompletions,
    PhaseDocument,
)

T0 = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
DAY = date(2026, 2, 1)
NY = ZoneInfo("America/New_York")


def fs(status: str = "success", at: datetime = T0) -> CompletionRecord:
    return CompletionRecord("proc", status, at, 10, "corr", "exec")


def bq(
    last: str = "success", runs: int = 3, successes: int = 3, at: datetime = T0
) -> BackupSummary:
    return BackupSummary(
        "proc", runs, successes, last, at - timedelta(hours=2), at, 10, "corr", "exec"
    )


@pytest.mark.parametrize(
    ("firestore", "backup", "due", "expected"),
    [
        # both stores agree
        (fs(), bq(), True, CellState.COMPLETE),
        (fs(), bq(), False, CellState.COMPLETE),
        # the incident: BigQuery has it, Firestore does not
        (None, bq(), True, CellState.UNTRACKED),
        (None, bq(), False, CellState.UNTRACKED),
        (None, bq(last="partial", successes=1), True, CellState.UNTRACKED),
        # the backup write was lost
        (fs(), None, True, CellState.UNBACKED),
        # failures win over everything
        (fs("failed"), bq(), True, CellState.FAILED),
        (fs("failed"), None, True, CellState.FAILED),
        (None, bq(last="failed", successes=0), True, CellState.FAILED),
        (fs(at=T0 - timedelta(hours=1)), bq(last="failed", successes=2), True, CellState.FAILED),
        # ...unless Firestore's success is newer than the failed run (a retry succeeded)
        (
            fs(at=T0 + timedelta(minutes=5)),
            bq(last="failed", successes=2),
            True,
            CellState.COMPLETE,
        ),
        # partial
        (fs("partial"), bq(), True, CellState.PARTIAL),
        (fs(), bq(last="partial"), True, CellState.PARTIAL),
        # nothing anywhere
        (None, None, True, CellState.MISSING),
        (None, None, False, CellState.NOT_DUE),
        # BigQuery rows that all failed are not a completion
        (None, bq(last="failed", runs=2, successes=0), False, CellState.FAILED),
    ],
)
def test_cell_state(
    firestore: CompletionRecord | None, backup: BackupSummary | None, due: bool, expected: CellState
) -> None:
    state, reason = cell_state(firestore, backup, due=due)
    assert state is expected
    assert reason.endswith(".")


def phase_spec(*processors: ProcessorSpec, next_phase: str | None = "next") -> PhaseSpec:
    return PhaseSpec("ph", "label", "ph_completion", "orch", next_phase, processors)


def proc(
    name: str, required: bool = True, due: str = "09:00", cadence: str = "continuous"
) -> ProcessorSpec:
    hours, minutes = map(int, due.split(":"))
    return ProcessorSpec(name, required, cadence, timedelta(hours=hours, minutes=minutes))


@pytest.mark.parametrize(
    ("now_local", "due", "expected"),
    [
        ("08:59", "09:00", CellState.NOT_DUE),
        ("09:00", "09:00", CellState.MISSING),
        ("23:00", "30:00", CellState.NOT_DUE),  # due 06:00 the next morning
    ],
)
def test_due_time_is_read_in_the_business_timezone(
    now_local: str, due: str, expected: CellState
) -> None:
    hours, minutes = map(int, now_local.split(":"))
    now = datetime(2026, 2, 1, hours, minutes, tzinfo=NY)
    status = reconcile_phase(phase_spec(proc("a", due=due)), DateCompletions(DAY), now, NY)
    assert status.cells[0].state is expected
    assert due_at(proc("a", due=due), DAY, NY).tzinfo is NY


def document(records: dict[str, CompletionRecord], triggered: bool = False) -> PhaseDocument:
    return PhaseDocument(
        "ph",
        DAY,
        records,
        triggered=triggered,
        triggered_at=T0 if triggered else None,
        trigger_reason="all_complete" if triggered else None,
    )


def test_phase_counts_for_the_incident() -> None:
    spec = phase_spec(*(proc(n) for n in "abcde"))
    records = {n: CompletionRecord(n, "success", T0) for n in "ace"}
    backups = {n: BackupSummary(n, 5, 5, "success", T0, T0) for n in "abcde"}
    data = DateCompletions(DAY, {"ph": document(records)}, {"ph": backups})
    status = reconcile_phase(spec, data, T0, NY)
    assert (status.firestore_count, status.bigquery_count, status.expected) == (3, 5, 5)
    assert status.untracked == ("b", "d")
    assert status.required_missing == ("b", "d")
    assert not status.stores_agree
    assert status.worst_state is CellState.UNTRACKED
    alarm, text = trigger_verdict(status, T0, NY)
    assert alarm
    assert text == "→ next NOT triggered"


@pytest.mark.parametrize(
    ("states_in_bq", "states_in_fs", "triggered", "now_hour", "alarm", "text"),
    [
        ("ab", "ab", True, 12, False, "→ next at 07:00 (all_complete)"),
        ("ab", "a", False, 12, True, "→ next NOT triggered"),  # all done in BigQuery, not triggered
        ("a", "a", False, 8, False, "→ next NOT triggered"),  # b is not due yet
        ("a", "a", False, 12, True, "→ next NOT triggered"),  # b is overdue
        ("", "", False, 8, False, "→ next NOT triggered"),
    ],
)
def test_trigger_verdict(
    states_in_bq: str, states_in_fs: str, triggered: bool, now_hour: int, alarm: bool, text: str
) -> None:
    spec = phase_spec(proc("a"), proc("b"), proc("c", required=False))
    records = {n: CompletionRecord(n, "success", T0) for n in states_in_fs}
    backups = {n: BackupSummary(n, 1, 1, "success", T0, T0) for n in states_in_bq}
    data = DateCompletions(DAY, {"ph": document(records, triggered)}, {"ph": backups})
    now = datetime(2026, 2, 1, now_hour, tzinfo=NY)
    status = reconcile_phase(spec, data, now, NY)
    assert trigger_verdict(status, now, NY) == (alarm, text)


def test_last_phase_never_alarms_on_trigger() -> None:
    status = reconcile_phase(phase_spec(proc("a"), next_phase=None), DateCompletions(DAY), T0, NY)
    assert trigger_verdict(status, T0, NY) == (False, "last phase")


def test_once_daily_processor_with_one_run_is_complete() -> None:
    spec = phase_spec(proc("many"), proc("once", cadence="once-daily"))
    records = {n: CompletionRecord(n, "success", T0) for n in ("many", "once")}
    backups = {
        "many": BackupSummary("many", 208, 208, "success", T0, T0),
        "once": BackupSummary("once", 1, 1, "success", T0, T0),
    }
    status = reconcile_phase(
        spec, DateCompletions(DAY, {"ph": document(records)}, {"ph": backups}), T0, NY
    )
    assert [c.state for c in status.cells] == [CellState.COMPLETE, CellState.COMPLETE]


def test_optional_processor_does_not_block_required(config: Config) -> None:
    phase2 = config.phase("phase2")
    required = [p.name for p in phase2.processors if p.required]
    records = {n: CompletionRecord(n, "success", T0) for n in required}
    backups = {n: BackupSummary(n, 1, 1, "success", T0, T0) for n in required}
    data = DateCompletions(
        DAY, {"phase2": PhaseDocument("phase2", DAY, records)}, {"phase2": backups}
    )
    status = reconcile_date(config, data, datetime(2026, 2, 2, 12, tzinfo=NY)).phase("phase2")
    assert status.required_missing == ()
    assert sorted(c.processor for c in status.cells if c.state is CellState.MISSING) == [
        "p2_bigdataball_pbp",
        "p2_br_season_roster",
    ]


def test_date_range_is_oldest_first() -> None:
    assert date_range(DAY, 3) == [date(2026, 1, 30), date(2026, 1, 31), DAY]
