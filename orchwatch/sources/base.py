"""What every data source promises. No Textual here: sources are plain Python.

Sources are called from worker threads; every method may block and may raise.
A raised exception is shown as the error state of the pane that asked, so a
source reports failure by raising `SourceError` with a message for the user
(other exceptions are shown by type and text).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal, Protocol

from orchwatch.clock import Clock
from orchwatch.model import (
    BuildTrigger,
    DateCompletions,
    ExecutionLogRow,
    FailedQueueItem,
    LogEntry,
    LogLine,
    SchedulerJob,
    ServiceState,
    StoredObject,
)
from orchwatch.pubsub import OutgoingMessage, PubSubReading

SourceKind = Literal["demo", "file", "gcp"]
StreamHealth = Literal["live", "reconnecting", "gap backfilled", "stopped", "replay"]
"""How a log stream is: "replay" is a moment of the past (`--as-of`), where nothing new
arrives however long one waits."""


class SourceError(Exception):
    """A source failed in a way the user can act on; the message says how."""


class CompletionSource(Protocol):
    """Per-date completion records from Firestore and their BigQuery backup."""

    def fetch_completions(self, dates: Sequence[date]) -> dict[date, DateCompletions]:
        """Both stores' records for each date.

        Contract: one call per refresh, however many dates; a date with no records
        may be absent from the result or present and empty. Must not pull
        per-run rows to aggregate locally when the backing store can aggregate.

        Raises:
            SourceError: the store cannot be read; the message says why.
        """
        ...

    def fetch_failed_queue(self, game_date: date) -> list[FailedQueueItem]:
        """`failed_processor_queue` items for one date, any status."""
        ...

    def fetch_execution_log(self, game_date: date) -> list[ExecutionLogRow]:
        """`phase_execution_log` rows for one date, oldest first."""
        ...

    def scalar_query(self, sql: str, game_date: date) -> float | None:
        """A custom check: SQL returning one number, `@date` bound to the date."""
        ...

    def watch_date(self, day: date, on_change: Callable[[], None]) -> None:
        """Push changes to one date's records: `on_change` is called (from any thread) when
        they change. Sources that cannot push do nothing; the app polls them anyway."""
        ...


class RevisionSource(Protocol):
    """Cloud Run services and their revision histories."""

    def fetch_services(self, names: Sequence[str]) -> list[ServiceState]:
        """The named services with all their revisions (newest first).

        Contract: a service that does not exist is left out of the result (the pane
        says so); any other failure raises.

        Raises:
            SourceError: the API cannot be read; the message says why.
        """
        ...


class ExportSource(Protocol):
    """The pipeline's exported files in Cloud Storage."""

    def fetch_objects(self, wanted: Sequence[tuple[str, str]]) -> list[StoredObject]:
        """The objects of `wanted` (bucket, name) that exist; an absent one is left out.

        Raises:
            SourceError: the objects cannot be read (a denied bucket, a timeout).
        """
        ...


class BuildSource(Protocol):
    """The project's Cloud Build triggers in the pipeline's region, each with its newest
    build."""

    def fetch_triggers(self) -> list[BuildTrigger]:
        """Every trigger.

        Raises:
            SourceError: the triggers or their builds cannot be listed.
        """
        ...


class SchedulerSource(Protocol):
    """The project's Cloud Scheduler jobs in the pipeline's region."""

    def fetch_jobs(self) -> list[SchedulerJob]:
        """Every job, enabled or not.

        Raises:
            SourceError: the jobs cannot be listed (the check is unknown, never a pass).
        """
        ...


class InvokerSource(Protocol):
    """Who may invoke each Cloud Run service: the members of its IAM policy holding
    `roles/run.invoker` (`serviceAccount:...`, `allUsers`)."""

    def fetch_invokers(self, services: Sequence[str]) -> dict[str, frozenset[str]]:
        """Each named service's invokers; a service that does not exist is absent.

        Raises:
            SourceError: a policy cannot be read (the check is unknown, never a pass).
        """
        ...


@dataclass(frozen=True)
class LogBatch:
    """Entries read from a log stream since a cursor, and the stream's health."""

    entries: list[LogEntry]
    cursor: int
    """Pass back to read on from here."""
    health: StreamHealth
    notice: str = ""
    """What the stream said (suppressed entries, rate limits, a backfilled gap)."""


class LogSource(Protocol):
    """Log entries of the watched services."""

    def read_log(self, cursor: int | None, limit: int) -> LogBatch:
        """Entries after `cursor` (None: the newest `limit`), oldest first.

        Contract: never blocks for long; returns an empty batch when nothing is new.
        """
        ...

    def fetch_log(
        self, since: datetime, services: Sequence[str] | None, evidence_only: bool = False
    ) -> list[LogEntry]:
        """Every entry since a time (of the given services; with `evidence_only`, those
        that may be crash evidence, `model.may_be_evidence`: the crash-loop read needs no
        more), oldest first."""
        ...


@dataclass(frozen=True)
class ErrorLines:
    """The lines a grouping needs from a window, and what the window held."""

    lines: list[LogLine]
    """The lines that may belong to a traceback, with segment ends, in the API's order."""
    entries: int
    """Entries in the window."""
    earliest: datetime | None
    """The earliest entry in the window (how far back the groups can say "new since")."""
    services: frozenset[str]
    """The services with entries in the window."""
    how: str
    """Which path answered, and what it covered and cost."""


class ErrorSearch(Protocol):
    """A store that can pick the lines a traceback grouping needs out of a wide window of
    logs itself (Log Analytics), instead of handing over every entry."""

    @property
    def from_window(self) -> timedelta:
        """Windows at least this long are searched here; shorter ones read the logs."""
        ...

    def search_errors(
        self, since: datetime, services: Sequence[str] | None, until: datetime | None = None
    ) -> ErrorLines:
        """The lines since `since` (to `until`; of the given services) that may belong to a
        traceback, with the ends of the segments between them, and what the window held."""
        ...


class PubSubSource(Protocol):
    """Pub/Sub topics and subscriptions, and Cloud Monitoring's counts of their messages."""

    def read_pubsub(self, topics: Sequence[str], since: datetime, until: datetime) -> PubSubReading:
        """The topics (with every subscription attached to each) and the window's series.

        Contract: a topic that does not exist is in the result with `exists=False`; the
        metrics are read with one aggregated call per metric, whatever the number of
        subscriptions; when only the metrics cannot be read, the reading says why in
        `metrics_error` and still holds the configuration.

        Raises:
            SourceError: Pub/Sub cannot be read; the message says why.
        """
        ...

    def publish(self, topic: str, messages: Sequence[OutgoingMessage]) -> list[str]:
        """Publish messages to a topic, in order; returns their message IDs.

        Raises:
            SourceError: a message was not published; the message says which and why
                (the ones before it were).
        """
        ...


class Refreshable(Protocol):
    """A source whose data moves on by itself when polled (the live demo)."""

    def advance(self) -> int:
        """Bring the data up to the source's clock; returns how many changes were applied."""
        ...


class Closable(Protocol):
    """Anything with a `close()`."""

    def close(self) -> None:
        """Release the resource."""
        ...


class ActionTarget(Protocol):
    """A source that takes actions itself (the demo), instead of Google Cloud."""

    def environment(self) -> dict[str, str]:
        """The environment an action command runs in."""
        ...

    def rollback_argv(self, service: str, revision: str) -> list[str]:
        """The command that moves `service`'s traffic to `revision` here."""
        ...


@dataclass
class Sources:
    """Everything the app and the headless commands read from, built once by the CLI."""

    kind: SourceKind
    description: str
    """Shown in the header: "demo (live, ×60)", a file path, a GCP project."""
    clock: Clock
    completions: CompletionSource
    revisions: RevisionSource | None = None
    """None when the source has no Cloud Run data; the pane says so."""
    invokers: InvokerSource | None = None
    """None where the source holds no IAM (a store file): the check says so."""
    scheduler: SchedulerSource | None = None
    """None where the source holds no Cloud Scheduler jobs (a store file)."""
    builds: BuildSource | None = None
    """None where the source holds no Cloud Build triggers (a store file)."""
    exports: ExportSource | None = None
    """None where the source holds no Cloud Storage exports (a store file)."""
    logs: LogSource | None = None
    error_search: ErrorSearch | None = None
    """Where wide windows are grouped (Log Analytics); None: always from `logs`."""
    pubsub: PubSubSource | None = None
    """None when the source has no Pub/Sub (a store file); the view says so."""
    live: Refreshable | None = None
    """Set for the demo: advanced before every refresh."""
    where: str = "Cloud Run"
    """Where the revisions source looks for services, for "not found in ..." (a region
    and project on Google Cloud)."""
    actions: ActionTarget | None = None
    """Where action commands act, when not on Google Cloud: the demo hands its deploys and
    rollbacks to its simulator. None: the configured commands run as they are."""
    dates: tuple[date, date] | None = None
    """The first and last date the source holds data for (the demo's story, a snapshot's
    capture); None where any date may have data (Google Cloud): a date outside names
    nothing, and the dated verbs say so (exit 2) instead of judging an empty day."""
    closers: list[Closable] = field(default_factory=list)
    meter: object | None = None
    rewound: object | None = None
    """Set for a recorded moment (`sources.recorded.Rewound`): which one, for the banner."""
    """Google Cloud sources count their API calls here (`ApiMeter`); None elsewhere."""

    def close(self) -> None:
        """Release what the sources hold (listeners, streams, files); errors are ignored."""
        for closer in self.closers:
            try:
                closer.close()
            except Exception:
                continue

    def advance(self) -> None:
        """Let a live source catch up with its clock (a no-op for real stores)."""
        if self.live is not None:
            self.live.advance()
