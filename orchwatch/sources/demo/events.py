"""The scenario's events, and how a store applies them (in bulk, in the order the
orchestrator would)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

from orchwatch.model import (
    BackupRow,
    CompletionRecord,
    ExecutionLogRow,
    FailedQueueItem,
    Revision,
    TrafficStatus,
)
from orchwatch.sources.local import LocalStore


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
    pinned_to: tuple[str, ...] = ()
    """The revisions the traffic is pinned to (a rollback); empty: it follows the latest
    Ready revision, as a gen2 function's traffic does after every deploy."""


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
        (run.row.phase, run.row.game_date, firestore_record(run.row)) for run in latest.values()
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
                pinned_to=event.pinned_to,
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


def firestore_record(row: BackupRow) -> CompletionRecord:
    return CompletionRecord(
        processor=row.processor_name,
        status=row.status,
        completed_at=row.completed_at,
        record_count=row.record_count,
        correlation_id=row.correlation_id,
        execution_id=row.execution_id,
    )
