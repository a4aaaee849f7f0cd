"""`orchwatch snapshot`: capture what the sources show into a store file.

The file is the embedded store's format, so `orchwatch --source FILE` opens
it offline with every pane, judged as of the capture time: for handoffs and
postmortems. What is captured, for the dates asked for:

- the Firestore completion documents, as they are;
- the BigQuery backup as orchwatch reads it (per processor: runs, successes,
  first and last run). BigQuery's rows are never pulled, so each aggregate is
  written as the fewest rows that aggregate back to it: the last run as it
  was, plus plain rows standing for the earlier runs;
- `phase_execution_log` and `failed_processor_queue` rows of each date;
- the Cloud Run services and all their revisions;
- the log entries of every service that logged an error (WARNING and up, or a
  traceback), from the first date's start to the capture;
- each date's Pub/Sub reading (topics, subscriptions, Monitoring's counts), or why
  Pub/Sub could not be read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path

from orchwatch.analysis.pubsub import topics_of
from orchwatch.analysis.pubsub import window as pubsub_window
from orchwatch.analysis.tracebacks import Reassembler
from orchwatch.config import Config
from orchwatch.files import atomic_target
from orchwatch.model import (
    BackupRow,
    BackupSummary,
    LogEntry,
    RunStatus,
    ServiceState,
    severity_rank,
)
from orchwatch.sources.base import SourceError, Sources
from orchwatch.sources.local import LocalStore, to_text
from orchwatch.sources.stored_pubsub import READINGS, UNREAD, encode_readings

Progress = Callable[[str, int, int], None]
"""Called with (what is being captured, steps done, steps in all)."""

_OK = (RunStatus.SUCCESS.value, RunStatus.PARTIAL.value)


@dataclass(frozen=True)
class SnapshotSummary:
    """What a snapshot holds."""

    path: Path
    captured_at: datetime
    dates: tuple[date, ...]
    documents: int
    backup_rows: int
    services: int
    revisions: int
    log_entries: int


def summary_rows(phase: str, game_date: date, summary: BackupSummary) -> list[BackupRow]:
    """The fewest `phase_completions` rows whose aggregate is `summary`.

    The last run is kept whole; the earlier runs become rows at the first run's time
    with only a status, as many successes as the aggregate counts.
    """
    last_ok = summary.last_status in _OK
    earlier = max(summary.runs - 1, 0)
    earlier_ok = max(summary.successes - (1 if last_ok else 0), 0)
    first_at = summary.first_completed_at or summary.last_completed_at
    last_at = summary.last_completed_at or summary.first_completed_at
    if first_at is None or last_at is None:
        return []
    rows = [
        BackupRow(
            phase,
            game_date,
            summary.processor,
            RunStatus.SUCCESS.value if i < earlier_ok else RunStatus.FAILED.value,
            first_at,
        )
        for i in range(earlier)
    ]
    rows.append(
        BackupRow(
            phase,
            game_date,
            summary.processor,
            summary.last_status,
            last_at,
            summary.last_record_count,
            summary.last_correlation_id,
            summary.last_execution_id,
        )
    )
    return rows


def error_entries(entries: Sequence[LogEntry]) -> list[LogEntry]:
    """The entries of every service that logged an error (WARNING and up, or a traceback).

    A service's quieter lines are kept too: they end split tracebacks, and without them
    two tracebacks could be read as one.
    """
    reassembler = Reassembler()
    events = reassembler.feed(entries) + reassembler.flush()
    warning = severity_rank("WARNING")
    noisy = {event.service for event in events} | {
        e.service for e in entries if severity_rank(e.severity) >= warning
    }
    return [e for e in entries if e.service in noisy]


def _capture_pubsub(
    config: Config,
    sources: Sources,
    dates: Sequence[date],
    now: datetime,
    store: LocalStore,
) -> None:
    """Each date's Pub/Sub reading, as the view reads it; Pub/Sub that cannot be read is
    kept as the reason (the rest of the snapshot is still worth having)."""
    assert sources.pubsub is not None
    readings = []
    try:
        for day in dates:
            span = pubsub_window(day, config.timezone, now)
            if span is not None:
                readings.append(sources.pubsub.read_pubsub(topics_of(config), *span))
    except SourceError as exc:
        store.set_meta(UNREAD, str(exc))
        return
    store.set_meta(READINGS, encode_readings(readings))


def capture_completions(
    config: Config,
    sources: Sources,
    dates: Sequence[date],
    store: LocalStore,
    step: Callable[[str], None] = lambda what: None,
    *,
    bigquery_tables: bool = True,
) -> tuple[int, int]:
    """Write the dates' Firestore documents, BigQuery backup, and (with `bigquery_tables`)
    execution log and failed queue into `store`; returns (documents, backup rows) written.

    Raises:
        SourceError: a store cannot be read.
    """
    completions = sources.completions.fetch_completions(dates)
    documents = backup_rows = 0
    for day, found in completions.items():
        for document in found.firestore.values():
            store.put_document(document)
            documents += 1
        # Stored as the store keys them: a phase keyed by its processing date under the
        # next day (documents, log rows and queue items say their own).
        rows = [
            row
            for phase, by_processor in found.bigquery.items()
            for summary in by_processor.values()
            for row in summary_rows(phase, _stored_date(config, phase, day), summary)
        ]
        store.insert_backup_rows(rows)
        backup_rows += len(rows)
    for day in dates if bigquery_tables else ():
        step(f"execution log {day}")
        store.insert_execution_log(sources.completions.fetch_execution_log(day))
        step(f"failed processor queue {day}")
        for item in sources.completions.fetch_failed_queue(day):
            store.upsert_failed_queue(item)
    return documents, backup_rows


def capture_services(config: Config, sources: Sources, store: LocalStore) -> tuple[int, int]:
    """Write the watched Cloud Run services and all their revisions into `store`; returns
    (services, revisions) written.

    Raises:
        SourceError: Cloud Run cannot be read.
    """
    services = sources.revisions.fetch_services(config.services) if sources.revisions else []
    return write_services(services, store)


def write_services(services: Sequence[ServiceState], store: LocalStore) -> tuple[int, int]:
    """Write services as read, and all their revisions, into `store`; returns (services,
    revisions) written."""
    revisions = 0
    for state in services:
        for revision in state.revisions:
            store.put_revision(revision)
            revisions += 1
        store.put_service(
            state.name,
            state.latest_created_revision,
            state.latest_ready_revision,
            state.traffic,
            state.terminal_condition,
            state.uri,
            state.pinned_to,
            state.reconciling,
        )
    return len(services), revisions


def capture(
    config: Config,
    sources: Sources,
    dates: Sequence[date],
    out: Path,
    progress: Progress = lambda what, done, total: None,
    *,
    replace: bool = False,
) -> SnapshotSummary:
    """Read everything the panes show for `dates` and write it to `out` (atomically; an
    existing regular file is replaced only with `replace`).

    Raises:
        SourceError: a source cannot be read (nothing is written).
    """
    captured_at = sources.clock.now()
    dates = sorted(dates)
    steps = 4 + 2 * len(dates)
    done = 0

    def step(what: str) -> None:
        nonlocal done
        progress(what, done, steps)
        done += 1

    with atomic_target(out, replace=replace) as tmp:
        store = LocalStore(tmp)
        try:
            step("completions (Firestore and BigQuery)")
            documents, backup_rows = capture_completions(config, sources, dates, store, step)
            step("Cloud Run services and revisions")
            services, revisions = capture_services(config, sources, store)
            step("error log entries")
            kept: list[LogEntry] = []
            if sources.logs is not None:
                since = datetime.combine(dates[0], time(0), config.timezone)
                kept = error_entries(sources.logs.fetch_log(since, None))
                store.insert_log(kept)
            step("Pub/Sub")
            if sources.pubsub is not None:
                _capture_pubsub(config, sources, dates, captured_at, store)
            store.set_meta("captured_at", to_text(captured_at) or "")
            store.set_meta("captured_from", sources.description)
            store.set_meta("dates", ",".join(d.isoformat() for d in dates))
            progress("done", steps, steps)
        finally:
            store.close()
    return SnapshotSummary(
        out,
        captured_at,
        tuple(dates),
        documents,
        backup_rows,
        services,
        revisions,
        len(kept),
    )


def _stored_date(config: Config, phase: str, game_date: date) -> date:
    """The date the store keeps `phase`'s records of `game_date` under."""
    try:
        return config.phase(phase).keyed_date(game_date)
    except KeyError:  # a phase the config no longer names: as it was read
        return game_date
