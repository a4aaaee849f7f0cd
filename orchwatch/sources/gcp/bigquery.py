"""The BigQuery backup tables: aggregated in BigQuery, never pulled row by row.

Every query is dry-run first; a query whose estimate exceeds
`gcp.maximum_bytes_billed` is refused before it runs, and the real run carries
the same cap so BigQuery itself refuses it too. The completion backup is read
as one GROUP BY per refresh over the `game_date` partitions asked for: one row
per phase, date and processor, whatever the number of runs, so months of
history stay cheap. Every query's billed bytes go to a ledger (`ScanLedger`):
the summary's reads are spaced so that they and every other query of the
process (the recorder's slow tables, the walkthrough's checks, Log Analytics)
stay within `[gcp] daily_scan_budget_bytes` together.
"""

from __future__ import annotations

import collections
import concurrent.futures
import socket
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from orchwatch.config import Config
from orchwatch.model import BackupSummary, ExecutionLogRow, FailedQueueItem
from orchwatch.sources.base import SourceError
from orchwatch.sources.gcp.clients import GcpClients
from orchwatch.sources.gcp.errors import api_errors

QUEUE_TTL = 120.0
LEDGER_WINDOW = 3600.0
"""How far back the ledger looks to tell what the other queries spend a day."""
LEDGER_MIN_SPAN = 300.0
"""The shortest span the ledger divides by: a process younger than this counts what it
spent as spent in this many seconds (the recorder's slow tables, read once at start-up
and every 5 minutes, are counted at their pace from the first read)."""
CALL_DEADLINE = 30.0
"""How long one query may take, retries included (the library's default is 10 minutes).
A query still running then is cancelled, not left to run (and bill) unseen."""
MIN_BILLED = 10_000_000
"""BigQuery's on-demand pricing bills at least 10 MB per query and per table referenced."""

_UNREACHABLE = (
    "Connection refused",
    "Name or service not known",
    "Temporary failure in name resolution",
    "nodename nor servname provided",
    "No address associated with hostname",
)
"""What a refused connection or a failed name lookup says, through requests and urllib3."""


def unreachable(exc: BaseException) -> bool:
    """Whether `exc` says nothing listens at the address or the name does not resolve:
    the same answer will come back, so it is not worth the deadline's retries."""
    seen: set[int] = set()
    walk: BaseException | None = exc
    while walk is not None and id(walk) not in seen:
        seen.add(id(walk))
        if isinstance(walk, ConnectionRefusedError | socket.gaierror):
            return True
        if any(marker in str(walk) for marker in _UNREACHABLE):
            return True
        walk = walk.__cause__ or walk.__context__
    return False


def call_retry() -> Any:
    """The retry of one BigQuery call: transient errors within `CALL_DEADLINE`, but a
    refused connection or an unknown host only once (a morning check against a dead
    endpoint answers in seconds, not at its deadline). One per call: it counts."""
    from google.api_core.retry import Retry, if_transient_error

    refused = 0

    def predicate(exc: Exception) -> bool:
        nonlocal refused
        if unreachable(exc):
            refused += 1
            return refused <= 1
        return bool(if_transient_error(exc))

    return Retry(predicate=predicate, initial=0.2, maximum=5.0, timeout=CALL_DEADLINE)


BACKUP_SUMMARY_SQL = """
SELECT phase, game_date, processor_name,
  COUNT(*) AS runs,
  COUNTIF(status IN ('success', 'partial')) AS successes,
  MIN(completed_at) AS first_at,
  ARRAY_AGG(STRUCT(
      status AS status, completed_at AS completed_at, record_count AS record_count,
      correlation_id AS correlation_id, execution_id AS execution_id)
    ORDER BY completed_at DESC LIMIT 1)[OFFSET(0)] AS last_run
FROM `{table}`
WHERE game_date IN UNNEST(@dates)
GROUP BY phase, game_date, processor_name
"""

EXECUTION_LOG_SQL = """
SELECT execution_timestamp, phase_name, game_date, correlation_id, duration_seconds,
  games_processed, status
FROM `{table}`
WHERE game_date = @date
ORDER BY execution_timestamp
"""

FAILED_QUEUE_SQL = """
SELECT game_date, processor_name, status, retry_count, error_message, first_failure_at,
  last_retry_at
FROM `{table}`
WHERE game_date = @date
ORDER BY processor_name
"""


def format_bytes(count: int) -> str:
    """`1.2 GB`-style sizes (decimal units, as BigQuery bills)."""
    size = float(count)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


class ScanLedger:
    """The bytes billed by the queries other than the completion summary, over the last
    `LEDGER_WINDOW` seconds (or since the process started, and at least
    `LEDGER_MIN_SPAN`): what they would spend in a day at that pace is what the
    summary's spacing leaves them (`GcpCompletions.backup_interval`)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._started = clock()
        self._lock = threading.Lock()
        self._entries: collections.deque[tuple[float, int]] = collections.deque()

    def add(self, billed: int) -> None:
        """A query other than the summary billed `billed` bytes now."""
        with self._lock:
            self._entries.append((self._clock(), billed))

    def per_day(self) -> int:
        """The other queries' bytes of the last window, at that pace for a day."""
        now = self._clock()
        span = min(LEDGER_WINDOW, max(LEDGER_MIN_SPAN, now - self._started))
        with self._lock:
            while self._entries and self._entries[0][0] < now - LEDGER_WINDOW:
                self._entries.popleft()
            total = sum(billed for _, billed in self._entries)
        return round(total * 86_400 / span)


class BigQueryTables:
    """`phase_completions`, `phase_execution_log` and `failed_processor_queue`."""

    def __init__(
        self,
        config: Config,
        clients: GcpClients,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.clients = clients
        self._clock = clock
        self._lock = threading.Lock()
        self._queue_cache: dict[date, tuple[float, list[FailedQueueItem]]] = {}
        self.last_estimate: int | None = None
        """Bytes the last query's dry run said it would process."""
        self.estimates: list[int] = []
        """Every dry run's estimate, in order (the bench reports them)."""
        self.summary_estimate: int | None = None
        """Bytes the last completion summary's dry run said it would scan."""
        self.summary_billed: int | None = None
        """Bytes the last completion summary billed: the job's `total_bytes_billed` when
        BigQuery says it, else the estimate raised to the 10 MB minimum per query and per
        table referenced (what the scan budget counts)."""
        self._partitioning: dict[str, str] = {}
        self.ledger = ScanLedger(clock)
        """What the queries other than the completion summary bill."""

    def table(self, name: str) -> str:
        """A table's full id in the configured dataset."""
        return f"{self.clients.project}.{self.config.bigquery_dataset}.{name}"

    def query(self, sql: str, parameters: Sequence[Any]) -> list[Any]:
        """Dry-run, check the estimate against the cap, then run with the cap.

        Raises:
            SourceError: the query is refused, fails, or would bill more than the cap.
        """
        return self.estimated_query(sql, parameters)[0]

    def estimated_query(
        self, sql: str, parameters: Sequence[Any], summary: bool = False
    ) -> tuple[list[Any], int, int]:
        """`query`, with the bytes its own dry run estimated and the bytes it billed (the
        job's `total_bytes_billed`, else the estimate raised to BigQuery's minimum):
        `last_estimate` may be another thread's query by the time a caller reads it.
        What it billed goes to the ledger unless it is the completion `summary`, whose
        spacing counts it itself.

        Raises:
            SourceError: the query is refused, fails, or would bill more than the cap.
        """
        from google.cloud import bigquery

        limit = self.config.gcp.maximum_bytes_billed
        with api_errors(self.clients.api("bigquery")):
            client = self.clients.bigquery()
            dry = client.query(
                sql,
                job_config=bigquery.QueryJobConfig(
                    dry_run=True, use_query_cache=False, query_parameters=list(parameters)
                ),
                retry=call_retry(),
                timeout=CALL_DEADLINE,
                job_retry=None,  # the library's default wraps each call in a 600 s retry
            )
            self.clients.meter.count("bigquery", "jobs.insert (dry run)")
            estimate = int(dry.total_bytes_processed or 0)
            with self._lock:
                self.last_estimate = estimate
                self.estimates.append(estimate)
            check_estimate(estimate, limit)
            job = client.query(
                sql,
                job_config=bigquery.QueryJobConfig(
                    maximum_bytes_billed=limit, query_parameters=list(parameters)
                ),
                retry=call_retry(),
                timeout=CALL_DEADLINE,
                job_retry=None,
            )
            self.clients.meter.count("bigquery", "jobs.insert")
            try:
                rows = list(job.result(retry=call_retry(), timeout=CALL_DEADLINE))
            except concurrent.futures.TimeoutError:
                raise SourceError(self._cancel(job)) from None
            self.clients.meter.count("bigquery", "jobs.getQueryResults")
            tables = len(getattr(dry, "referenced_tables", None) or ()) or 1
            billed = int(getattr(job, "total_bytes_billed", None) or 0) or max(
                estimate, MIN_BILLED * tables
            )
            if not summary:
                self.ledger.add(billed)
            return rows, estimate, billed

    def _cancel(self, job: Any) -> str:
        """Cancel a query past its deadline; what to say about it."""
        what = f"BigQuery: the query was still running after {CALL_DEADLINE:g} s"
        try:
            self.clients.meter.count("bigquery", "jobs.cancel")
            job.cancel(retry=None, timeout=10.0)
        except Exception as exc:  # the cancel is best effort; the message says it failed
            return f"{what}; cancelling job {job.job_id} failed ({type(exc).__name__}: {exc})"
        return f"{what}; job {job.job_id} was cancelled (the next refresh runs it again)"

    def partitioning(self, name: str) -> str:
        """How a table is partitioned, from its metadata, as the cost line says it:
        `by game_date` (a read of some dates prunes to them), `by <column>` or
        `by ingestion time` (a read by game_date scans every partition), or
        `unpartitioned`. Read once per table.

        Raises:
            SourceError: the table's metadata cannot be read.
        """

        with self._lock:
            if name in self._partitioning:
                return self._partitioning[name]
        with api_errors(self.clients.api("bigquery")):
            table = self.clients.bigquery().get_table(
                self.table(name),
                retry=call_retry(),
                timeout=CALL_DEADLINE,
            )
            self.clients.meter.count("bigquery", "tables.get")
        described = describe_partitioning(table.time_partitioning, table.range_partitioning)
        with self._lock:
            self._partitioning[name] = described
        return described

    def summaries(self, dates: Sequence[date]) -> dict[date, dict[str, dict[str, BackupSummary]]]:
        """The backup aggregated per phase, date and processor, in one query."""
        from google.cloud import bigquery

        result: dict[date, dict[str, dict[str, BackupSummary]]] = {d: {} for d in dates}
        if not dates:
            return result
        sql = BACKUP_SUMMARY_SQL.format(table=self.table(self.config.completion_table))
        parameters = [bigquery.ArrayQueryParameter("dates", "DATE", list(dates))]
        rows, estimate, billed = self.estimated_query(sql, parameters, summary=True)
        with self._lock:
            self.summary_estimate = estimate
            self.summary_billed = billed
        for row in rows:
            last = row["last_run"] or {}
            day = row["game_date"]
            result.setdefault(day, {}).setdefault(row["phase"], {})[row["processor_name"]] = (
                BackupSummary(
                    processor=row["processor_name"],
                    runs=int(row["runs"]),
                    successes=int(row["successes"]),
                    last_status=str(last.get("status") or ""),
                    first_completed_at=_utc(row["first_at"]),
                    last_completed_at=_utc(last.get("completed_at")),
                    last_record_count=last.get("record_count"),
                    last_correlation_id=last.get("correlation_id"),
                    last_execution_id=last.get("execution_id"),
                )
            )
        return result

    def failed_queue(self, game_date: date) -> list[FailedQueueItem]:
        """`failed_processor_queue` items of a date (re-read at most every two minutes)."""
        from google.cloud import bigquery

        now = self._clock()
        with self._lock:
            cached = self._queue_cache.get(game_date)
            if cached is not None and now - cached[0] < QUEUE_TTL:
                return cached[1]
        rows = self.query(
            FAILED_QUEUE_SQL.format(table=self.table("failed_processor_queue")),
            [bigquery.ScalarQueryParameter("date", "DATE", game_date)],
        )
        items = [
            FailedQueueItem(
                game_date=row["game_date"],
                processor_name=row["processor_name"],
                status=row["status"],
                retry_count=int(row["retry_count"] or 0),
                error_message=row["error_message"] or "",
                first_failure_at=_utc(row["first_failure_at"]),
                last_retry_at=_utc(row["last_retry_at"]),
            )
            for row in rows
        ]
        with self._lock:
            self._queue_cache[game_date] = (now, items)
        return items

    def execution_log(self, game_date: date) -> list[ExecutionLogRow]:
        """`phase_execution_log` rows of a date, oldest first."""
        from google.cloud import bigquery

        rows = self.query(
            EXECUTION_LOG_SQL.format(table=self.table("phase_execution_log")),
            [bigquery.ScalarQueryParameter("date", "DATE", game_date)],
        )
        return [
            ExecutionLogRow(
                execution_timestamp=_utc(row["execution_timestamp"])
                or datetime.min.replace(tzinfo=UTC),
                phase_name=row["phase_name"],
                game_date=row["game_date"],
                correlation_id=row["correlation_id"],
                duration_seconds=row["duration_seconds"],
                games_processed=row["games_processed"],
                status=row["status"],
            )
            for row in rows
        ]

    def scalar(self, sql: str, game_date: date) -> float | None:
        """A custom check's SQL: `{dataset}` is the dataset (with its dot), `@date` the date."""
        from google.cloud import bigquery

        dataset = f"`{self.clients.project}.{self.config.bigquery_dataset}`."
        rows = self.query(
            sql.replace("{dataset}", dataset),
            [bigquery.ScalarQueryParameter("date", "DATE", game_date)],
        )
        if not rows or rows[0][0] is None:
            return None
        return float(rows[0][0])


def describe_partitioning(time_partitioning: Any, range_partitioning: Any) -> str:
    """`by game_date`, `by <column>`, `by ingestion time` or `unpartitioned`, from a
    table's `timePartitioning` and `rangePartitioning` (the REST resource's fields: a time
    partitioning without a field is by ingestion time)."""
    if time_partitioning is not None:
        column = getattr(time_partitioning, "field", None)
        return f"by {column}" if column else "by ingestion time"
    if range_partitioning is not None:
        column = getattr(range_partitioning, "field", None)
        return f"by {column}" if column else "by range"
    return "unpartitioned"


def check_estimate(estimate: int, limit: int) -> None:
    """Refuse a query whose dry run says it would process more than `limit` bytes.

    Raises:
        SourceError: naming both sizes and the setting to change.
    """
    if estimate > limit:
        raise SourceError(
            f"BigQuery: the query would process {format_bytes(estimate)}, over the "
            f"{format_bytes(limit)} cap (gcp.maximum_bytes_billed); not run"
        )


def _utc(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
