"""The domain model: frozen records of what the stores hold and what orchwatch derives.

Everything here is plain data. Sources build the store-side records
(`CompletionRecord`, `PhaseDocument`, `BackupSummary`); the analysis layer
derives the rest (`CompletionCell`, `PhaseStatus`, `DateStatus`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import NamedTuple

import msgspec


class RunStatus(StrEnum):
    """The status a processor reports for one run."""

    SUCCESS = "success"
    PARTIAL = "partial"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class CompletionRecord:
    """One processor's field in a Firestore completion document.

    Firestore keeps only the latest completion per processor and date.
    """

    processor: str
    status: str
    completed_at: datetime | None
    record_count: int | None = None
    correlation_id: str | None = None
    execution_id: str | None = None


@dataclass(frozen=True, slots=True)
class PhaseDocument:
    """A Firestore document `{phase}_completion/{date}`: processor fields plus `_` metadata."""

    phase: str
    game_date: date
    records: Mapping[str, CompletionRecord]
    triggered: bool = False
    triggered_at: datetime | None = None
    completed_count: int | None = None
    mode: str | None = None
    trigger_reason: str | None = None
    last_update: datetime | None = None


@dataclass(frozen=True, slots=True)
class BackupSummary:
    """BigQuery `phase_completions` rows of one processor and date, aggregated.

    BigQuery keeps one row per run; orchwatch only ever needs the aggregate
    (the GCP source computes it with GROUP BY, never by pulling rows).
    """

    processor: str
    runs: int
    successes: int
    last_status: str
    first_completed_at: datetime | None
    last_completed_at: datetime | None
    last_record_count: int | None = None
    last_correlation_id: str | None = None
    last_execution_id: str | None = None


@dataclass(frozen=True, slots=True)
class DateCompletions:
    """What both completion stores hold for one business date."""

    game_date: date
    firestore: Mapping[str, PhaseDocument] = field(default_factory=dict)
    """Phase name -> its Firestore document (absent when no document exists)."""
    bigquery: Mapping[str, Mapping[str, BackupSummary]] = field(default_factory=dict)
    """Phase name -> processor name -> aggregate of its BigQuery rows."""


class CellState(StrEnum):
    """The reconciled state of one processor on one date."""

    COMPLETE = "complete"
    """Both stores hold a successful completion."""
    UNTRACKED = "untracked"
    """BigQuery has a completion, Firestore does not: the orchestrator never counted it."""
    UNBACKED = "unbacked"
    """Firestore has a completion, BigQuery does not: the backup write was lost."""
    FAILED = "failed"
    PARTIAL = "partial"
    MISSING = "missing"
    """Due, and no store has a completion."""
    NOT_DUE = "not due"
    """No completion yet, and none is expected yet (cadence or time of day)."""


@dataclass(frozen=True, slots=True)
class CompletionCell:
    """One processor of one phase on one date, reconciled across both stores."""

    phase: str
    processor: str
    required: bool
    state: CellState
    reason: str
    """One sentence saying why the cell has its state, for the detail view."""
    firestore: CompletionRecord | None
    backup: BackupSummary | None
    due_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PhaseStatus:
    """One phase on one date: its cells and the counts its header shows."""

    phase: str
    label: str
    game_date: date
    cells: tuple[CompletionCell, ...]
    document: PhaseDocument | None
    next_phase: str | None
    direct: bool = False
    """No orchestrator: the next phase's processors are pushed this phase's completions by
    a subscription of their own (the runbook's phase 2 -> 3), so nothing in Firestore
    records the trigger; the next phase's own records show it happened."""
    next_offset: int = 0
    """Days from this date to the game date of the next phase it triggers (1: phase 3 of
    game date D triggers phase 4 of D+1, the runbook's pipeline)."""

    @property
    def expected(self) -> int:
        """How many processors the configuration expects."""
        return len(self.cells)

    @property
    def firestore_count(self) -> int:
        """Processors with a non-failed completion in Firestore."""
        return sum(1 for c in self.cells if _stored_ok(c.firestore))

    @property
    def bigquery_count(self) -> int:
        """Processors with at least one successful or partial run in BigQuery."""
        return sum(1 for c in self.cells if c.backup is not None and c.backup.successes > 0)

    @property
    def untracked(self) -> tuple[str, ...]:
        """Processors BigQuery has and Firestore does not."""
        return tuple(c.processor for c in self.cells if c.state is CellState.UNTRACKED)

    @property
    def unbacked(self) -> tuple[str, ...]:
        """Processors Firestore has and BigQuery does not."""
        return tuple(c.processor for c in self.cells if c.state is CellState.UNBACKED)

    @property
    def required_missing(self) -> tuple[str, ...]:
        """Required processors without a Firestore completion (what blocks the trigger)."""
        return tuple(c.processor for c in self.cells if c.required and not _stored_ok(c.firestore))

    @property
    def triggered(self) -> bool:
        """Whether the orchestrator triggered the next phase (`_triggered`)."""
        return self.document is not None and self.document.triggered

    @property
    def stores_agree(self) -> bool:
        """True when no processor is untracked or unbacked."""
        return not self.untracked and not self.unbacked

    @property
    def worst_state(self) -> CellState | None:
        """The most alarming cell state of the phase, None when it has no processors."""
        if not self.cells:
            return None
        return min((c.state for c in self.cells), key=STATE_SEVERITY.index)


@dataclass(frozen=True, slots=True)
class DateStatus:
    """All phases of one business date."""

    game_date: date
    phases: tuple[PhaseStatus, ...]

    def phase(self, name: str) -> PhaseStatus:
        """The status of the phase called `name`.

        Raises:
            KeyError: no such phase.
        """
        for status in self.phases:
            if status.phase == name:
                return status
        raise KeyError(name)


STATE_SEVERITY: tuple[CellState, ...] = (
    CellState.FAILED,
    CellState.UNTRACKED,
    CellState.MISSING,
    CellState.UNBACKED,
    CellState.PARTIAL,
    CellState.NOT_DUE,
    CellState.COMPLETE,
)
"""Cell states from most to least alarming."""


def _stored_ok(record: CompletionRecord | None) -> bool:
    return record is not None and record.status != RunStatus.FAILED


class BackupRow(NamedTuple):
    """One row of BigQuery `phase_completions`: one processor run.

    A NamedTuple, not a frozen dataclass: the demo and snapshots build tens of
    thousands, and a frozen dataclass costs ten times as much to construct.
    """

    phase: str
    game_date: date
    processor_name: str
    status: str
    completed_at: datetime
    record_count: int | None = None
    correlation_id: str | None = None
    execution_id: str | None = None
    is_incremental: bool = False


@dataclass(frozen=True, slots=True)
class ExecutionLogRow:
    """One row of BigQuery `phase_execution_log`: a phase transition the orchestrator ran."""

    execution_timestamp: datetime
    phase_name: str
    game_date: date
    correlation_id: str | None
    duration_seconds: float | None
    games_processed: int | None
    status: str


@dataclass(frozen=True, slots=True)
class FailedQueueItem:
    """One row of BigQuery `failed_processor_queue`."""

    game_date: date
    processor_name: str
    status: str
    retry_count: int
    error_message: str
    first_failure_at: datetime | None
    last_retry_at: datetime | None


# --- Cloud Run (Admin API v2 shapes) -----------------------------------------------------------


class ConditionState(StrEnum):
    """`google.cloud.run_v2.Condition.State`."""

    UNSPECIFIED = "STATE_UNSPECIFIED"
    PENDING = "CONDITION_PENDING"
    RECONCILING = "CONDITION_RECONCILING"
    FAILED = "CONDITION_FAILED"
    SUCCEEDED = "CONDITION_SUCCEEDED"


@dataclass(frozen=True, slots=True)
class Condition:
    """A revision's or service's condition (`Ready`, `ContainerHealthy`, ...)."""

    type: str
    state: ConditionState
    reason: str = ""
    message: str = ""
    last_transition_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class Revision:
    """A Cloud Run revision: an immutable deploy of a service."""

    name: str
    """Short name, e.g. `phase3-to-phase4-orchestrator-00026-xyz`."""
    service: str
    create_time: datetime
    creator: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    image: str = ""
    env: Mapping[str, str] = field(default_factory=dict)
    conditions: tuple[Condition, ...] = ()

    @property
    def ready(self) -> Condition | None:
        """The `Ready` condition, if reported."""
        return next((c for c in self.conditions if c.type == "Ready"), None)

    @property
    def commit(self) -> str | None:
        """The commit the revision was deployed from, where one of the usual places has it."""
        return self.commit_from(COMMIT_SOURCES)

    def commit_from(self, sources: Sequence[str]) -> str | None:
        """The commit the first of `sources` holds: `label:NAME` (a Cloud Run label),
        `env:NAME` (an environment variable of the revision's container) or `image-tag`
        (the image's tag, when it looks like a commit). Cloud Run sets none of these itself;
        deploys put one there (see README, "Drift")."""
        for source in sources:
            kind, _, name = source.partition(":")
            value = (
                self.labels.get(name)
                if kind == "label"
                else self.env.get(name)
                if kind == "env"
                else _image_tag_commit(self.image)
                if kind == "image-tag"
                else None
            )
            if value:
                return value
        return None


COMMIT_SOURCES = (
    "label:commit-sha",
    "label:commit",
    "label:git-sha",
    "label:git_commit",
    "env:BUILD_COMMIT",
    "env:COMMIT_SHA",
    "env:GIT_COMMIT",
    "image-tag",
)
"""Where a revision's commit is looked for, in order, unless `[services] commit_from` says."""


def _image_tag_commit(image: str) -> str | None:
    tag = image.rsplit("/", 1)[-1].partition(":")[2].partition("@")[0]
    return tag if re.fullmatch(r"[0-9a-f]{7,40}", tag) else None


@dataclass(frozen=True, slots=True)
class TrafficStatus:
    """Where a share of the service's traffic goes."""

    revision: str
    percent: int
    tag: str = ""
    follows_latest: bool = False
    """Cloud Run sends this share to "the latest Ready revision" (a LATEST-type target, the
    default of a gen2 function); `revision` is that revision, resolved as gcloud does."""


@dataclass(frozen=True, slots=True)
class ServiceState:
    """A Cloud Run service and its revisions (newest first)."""

    name: str
    latest_created_revision: str
    latest_ready_revision: str
    traffic: tuple[TrafficStatus, ...]
    revisions: tuple[Revision, ...]
    terminal_condition: Condition | None = None
    uri: str = ""
    pinned_to: tuple[str, ...] = ()
    """The revisions the service's desired traffic (`Service.traffic`) names when no target
    follows the latest revision: after `update-traffic --to-revisions`, new deploys get no
    traffic. Empty when traffic follows the latest Ready revision."""
    reconciling: bool = False
    """Cloud Run is still rolling out a change to the service."""
    read_error: str = ""
    """Why this service's revisions could not be read ("" when they were): its row says
    so, and its verdict is never healthy; the other services are unaffected."""


# --- logs --------------------------------------------------------------------------------------

SEVERITIES: tuple[str, ...] = (
    "DEFAULT",
    "DEBUG",
    "INFO",
    "NOTICE",
    "WARNING",
    "ERROR",
    "CRITICAL",
    "ALERT",
    "EMERGENCY",
)
"""Cloud Logging severities, least to most severe."""


def severity_rank(severity: str) -> int:
    """A severity's place in `SEVERITIES` (unknown ones rank as DEFAULT)."""
    try:
        return SEVERITIES.index(severity.upper())
    except ValueError:
        return 0


EXIT_PATTERNS = re.compile(
    r"Container called exit\(\d+\)"
    r"|(?:STARTUP|LIVENESS) (?:TCP|HTTP|GRPC) probe failed"
    r"|Uncaught signal: \d+"
    r"|Memory limit of \S+ exceeded",
    re.IGNORECASE,
)
"""Lines Cloud Run writes when an instance dies or fails its probes."""

EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Group))\b")
"""The last line of a Python traceback: `ModuleNotFoundError: No module named 'x'`."""

_WARNING = 4  # SEVERITIES.index("WARNING")


def may_be_evidence(severity: str, text: str) -> bool:
    """Whether an entry can be the evidence of a crash (an exit, a failed probe or a
    traceback's last line): at WARNING or above, or without a severity and shaped like
    one. Cloud Run writes a container's plain stdout and stderr with no severity (DEFAULT):
    that is where a Python traceback arrives, one line per entry. An entry a structured
    logger marked INFO or DEBUG is not."""
    rank = severity_rank(severity)
    if rank >= _WARNING:
        return True
    if rank != 0:
        return False
    return any(
        EXIT_PATTERNS.search(line) or EXCEPTION_LINE.match(line) for line in text.splitlines()
    )


class LogEntry(msgspec.Struct, frozen=True, gc=False):
    """One Cloud Logging entry, reduced to what orchwatch reads.

    A frozen msgspec Struct rather than a dataclass like its neighbours: it behaves the same
    (immutable, compared and hashed by value), and builds in a fifth of the time, which
    matters for the one model object made by the million (a gigabyte of logs)."""

    timestamp: datetime
    severity: str
    text: str
    """textPayload, or jsonPayload.message (+ stack_trace); may hold many lines."""
    service: str = ""
    revision: str = ""
    instance: str = ""
    insert_id: str = ""


LogLine = tuple[datetime, str, tuple[str, str, str], str, str]
"""An entry as a file is read in bulk: (timestamp, insert id, (service, revision, instance),
severity, text). A plain tuple with the instance key built once, which the reassembly uses
as is (a dict key, a sort key); `LogEntry` is built only for the lines that can be part of
a traceback."""


SEGMENT_END = "-"
"""A line's text that only ends the traceback its instance had open (no traceback line looks
like it: `analysis.tracebacks` checks): what a reduced read (Log Analytics) puts where it
left out lines that could not belong to one."""


def log_line(entry: LogEntry) -> LogLine:
    """An entry as a `LogLine`."""
    key = (entry.service, entry.revision, entry.instance)
    return (entry.timestamp, entry.insert_id, key, entry.severity, entry.text)


def line_entry(line: LogLine) -> LogEntry:
    """A `LogLine` as a `LogEntry`."""
    timestamp, insert_id, (service, revision, instance), severity, text = line
    return LogEntry(timestamp, severity, text, service, revision, instance, insert_id)


@dataclass(frozen=True, slots=True)
class TracebackEvent:
    """One Python traceback, reassembled from however many entries carried it."""

    exception_type: str
    message: str
    frames: tuple[tuple[str, str], ...]
    """(file, function) of the final traceback's frames, outermost first."""
    text: str
    timestamp: datetime
    service: str
    revision: str
    instance: str
    entry_ids: tuple[str, ...] = ()
    """insert ids of the entries that carried it (to jump from a line to its group)."""


@dataclass(frozen=True, slots=True)
class ErrorGroup:
    """Traceback events with one fingerprint."""

    fingerprint: str
    exception_type: str
    message: str
    """The normalised message the group is keyed on."""
    count: int
    first_seen: datetime
    last_seen: datetime
    services: tuple[str, ...]
    revisions: tuple[str, ...]
    sample: str
    """The latest event's full text."""
    new_since: str | None = None
    """The revision this group first appeared after, when the logs cover its creation."""


@dataclass(frozen=True)
class StoredObject:
    """A Cloud Storage object, as `objects.get` describes it."""

    bucket: str
    name: str
    updated: datetime | None
    size: int = 0


@dataclass(frozen=True)
class Build:
    """A Cloud Build build, as `ListBuilds` describes it."""

    id: str
    status: str
    """`Build.Status` by name: SUCCESS, FAILURE, INTERNAL_ERROR, TIMEOUT, CANCELLED, EXPIRED,
    or PENDING, QUEUED, WORKING while it runs."""
    commit: str = ""
    """The commit it built (its `COMMIT_SHA` substitution, else the resolved source's);
    "" when not known."""
    created: datetime | None = None
    log_url: str = ""


@dataclass(frozen=True)
class BuildTrigger:
    """A Cloud Build trigger, as `ListBuildTriggers` describes it, with its latest build."""

    name: str
    id: str
    disabled: bool = False
    branch: str = ""
    """The branch pattern its pushes build (a regular expression, `^main$`); "" when it is
    not started by a branch push."""
    included_files: tuple[str, ...] = ()
    """Globs: a push touching none of them starts no build (empty: every file)."""
    ignored_files: tuple[str, ...] = ()
    last_build: Build | None = None
    """Its newest build; None when it has none."""


@dataclass(frozen=True)
class SchedulerJob:
    """A Cloud Scheduler job, as `ListJobs` describes it."""

    name: str
    """The job ID (the last part of `projects/P/locations/L/jobs/ID`)."""
    enabled: bool
    """ENABLED; a paused or disabled job is not judged."""
    target: str
    """What it calls: an HTTP target's URI, or `pubsub:TOPIC`."""
    schedule: str = ""
    last_attempt: datetime | None = None
    status: str = "OK"
    """The last attempt's `google.rpc.Code`, by name (`OK` before any attempt too)."""
    status_message: str = ""
    identity: str = ""
    """The service account its HTTP target's OIDC token is made for ("" without a token:
    the target must then allow unauthenticated calls)."""
