"""Google Cloud sources: Firestore, BigQuery, Cloud Run, Cloud Logging, Pub/Sub and
Cloud Monitoring.

Importing this package imports no google library: the clients (and their
libraries) are built by the first worker that needs them, after orchwatch has
painted its first frame. See `clients.py` for endpoints and credentials.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date

from orchwatch.clock import Clock, SystemClock
from orchwatch.config import Config, valid_project
from orchwatch.model import BackupSummary, DateCompletions, ExecutionLogRow, FailedQueueItem
from orchwatch.sources.base import SourceError, Sources
from orchwatch.sources.gcp.bigquery import BigQueryTables, format_bytes
from orchwatch.sources.gcp.builds import GcpBuilds
from orchwatch.sources.gcp.clients import GcpClients, is_loopback
from orchwatch.sources.gcp.firestore import FirestoreCompletions
from orchwatch.sources.gcp.log_analytics import LogAnalyticsSearch
from orchwatch.sources.gcp.logs import CloudLogging
from orchwatch.sources.gcp.pubsub import GcpPubSub
from orchwatch.sources.gcp.run import RunRevisions
from orchwatch.sources.gcp.scheduler import GcpScheduler
from orchwatch.sources.gcp.storage import GcpExports

Backups = dict[date, dict[str, dict[str, BackupSummary]]]

__all__ = ["GcpCompletions", "build_gcp_sources", "resolve_project"]


def resolve_project(
    flag: str | None, config: Config, environ: Mapping[str, str] = os.environ
) -> str | None:
    """The project: `--project`, then the config's `[gcp] project`, then GOOGLE_CLOUD_PROJECT."""
    return flag or config.gcp_project or environ.get("GOOGLE_CLOUD_PROJECT") or None


NOTE_SPACING = 60.0
"""From this spacing on, the pane says why its BigQuery data is older than its refresh."""


SUMMARY_SHARE = 0.1
"""The share of the daily budget the completion summary keeps however much the other
queries spend: the pane's data is read at least at that pace."""


def spaced_interval(estimate: int, daily_budget: int, floor: float, others: int = 0) -> float:
    """Seconds between reads that each scan `estimate` bytes so that a day of them, with
    the `others` bytes a day the process's other queries spend, stays within
    `daily_budget` (the reads keep `SUMMARY_SHARE` of it at least); never less than
    `floor`."""
    left = max(daily_budget - others, daily_budget * SUMMARY_SHARE)
    return max(floor, estimate * 86_400 / left)


class GcpCompletions:
    """The `CompletionSource`: Firestore documents reconciled against the BigQuery backup."""

    def __init__(
        self,
        config: Config,
        clients: GcpClients,
        today: Callable[[], date],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.firestore = FirestoreCompletions(config, clients, clock=monotonic)
        self.bigquery = BigQueryTables(config, clients, clock=monotonic)
        self._today = today
        self._monotonic = monotonic
        self._pool = ThreadPoolExecutor(2, thread_name_prefix="orchwatch-completions")
        self._lock = threading.Lock()
        self._backup: tuple[float, tuple[date, ...], Backups]
        self._backup = (float("-inf"), (), {})
        self.backup_min_interval = config.refresh_seconds / 2
        """A listener-driven refresh within this many seconds of a query reuses its result."""

    def fetch_completions(self, dates: Sequence[date]) -> dict[date, DateCompletions]:
        """Both stores for each date: one `get_all` and one aggregated query, in parallel.

        Raises:
            SourceError: either store cannot be read.
        """
        wanted = tuple(dates)
        documents = self._pool.submit(self.firestore.documents, wanted, self._today())
        backups = self._pool.submit(self._summaries, wanted)
        docs, summaries = documents.result(), backups.result()
        return {d: DateCompletions(d, docs.get(d, {}), summaries.get(d, {})) for d in wanted}

    def backup_interval(self) -> float:
        """How long a summary read is reused: half the refresh interval, or longer when
        the reads of a day, with what the other queries spend at their pace (the
        recorder's slow tables, the walkthrough's checks), would pass
        `[gcp] daily_scan_budget_bytes`: an unpartitioned table, or BigQuery's 10 MB
        minimum a query."""
        estimate = self.bigquery.summary_billed or self.bigquery.summary_estimate or 0
        return spaced_interval(
            estimate,
            self.config.gcp.daily_scan_budget,
            self.backup_min_interval,
            self.bigquery.ledger.per_day(),
        )

    def notes(self) -> list[str]:
        """What the completions pane should say about how it reads: a dead listener, and
        what each BigQuery read scans when it cannot prune to the dates asked for."""
        notes = []
        if self.firestore.mode == "reading":
            notes.append("Firestore: reading each refresh (the listener is down)")
        estimate = self.bigquery.summary_estimate
        if estimate is None:
            return notes
        try:
            how = self.bigquery.partitioning(self.config.completion_table)
        except SourceError:
            how = "partitioning unknown"
        interval = self.backup_interval()
        if how != "by game_date" or interval >= NOTE_SPACING:
            line = f"BigQuery {self.config.completion_table} {how}: {format_bytes(estimate)} a read"
            billed = self.bigquery.summary_billed
            if billed is not None and billed != estimate:
                line += f" (billed as {format_bytes(billed)})"
            if interval > self.backup_min_interval:
                budget = format_bytes(self.config.gcp.daily_scan_budget)
                every = f"{interval:.0f} s" if interval < 120 else f"{interval / 60:.0f} min"
                line += f", read every {every} to stay under {budget} a day"
            notes.append(line)
        return notes

    def _summaries(self, dates: tuple[date, ...]) -> Backups:
        """The backup of `dates`, from the last read while it is fresh when that read
        covered them (the Pub/Sub view's or the walkthrough's date among the grid's);
        else read, the last read's dates again when they cover these (so the grid's next
        refresh finds them fresh), and these alone when they do not."""
        with self._lock:
            at, cached_dates, cached = self._backup
            covered = set(dates) <= set(cached_dates)
            if covered and self._monotonic() - at < self.backup_interval():
                return {d: cached.get(d, {}) for d in dates}
            if covered:
                dates = cached_dates
        result = self.bigquery.summaries(dates)
        with self._lock:
            self._backup = (self._monotonic(), dates, result)
        return result

    def watch_date(self, day: date, on_change: Callable[[], None]) -> None:
        """Listen to a date's Firestore documents; `on_change` fires when one changes."""
        self.firestore.watch(day, on_change)

    def fetch_failed_queue(self, game_date: date) -> list[FailedQueueItem]:
        """`failed_processor_queue` items for a date."""
        return self.bigquery.failed_queue(game_date)

    def fetch_execution_log(self, game_date: date) -> list[ExecutionLogRow]:
        """`phase_execution_log` rows for a date."""
        return self.bigquery.execution_log(game_date)

    def scalar_query(self, sql: str, game_date: date) -> float | None:
        """A custom check's number."""
        return self.bigquery.scalar(sql, game_date)

    def close(self) -> None:
        """Stop the listeners and the pool."""
        self.firestore.close()
        self._pool.shutdown(wait=False, cancel_futures=True)


def build_gcp_sources(
    config: Config,
    project: str,
    clock: Clock | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Sources:
    """Sources reading the project's Firestore, BigQuery, Cloud Run and Cloud Logging.

    Builds no client: each is built (and its library imported) on first use.

    Raises:
        SourceError: the project id is not a valid one.
    """
    if not valid_project(project):
        raise SourceError(
            f"project {project!r}: expected a Google Cloud project id (6-30 lowercase letters, "
            "digits and hyphens)"
        )
    clock = clock or SystemClock()
    clients = GcpClients(project, config.gcp_region, config.gcp, environ)

    def today() -> date:
        from orchwatch.dates import business_date

        return business_date(clock.now(), config.timezone)

    completions = GcpCompletions(config, clients, today)
    # Every Cloud Run service's logs by default: processors' tracebacks matter as much
    # as the orchestrators'. `[gcp] log_scope = "watched"` (or `log_filter`) narrows it.
    watched = config.services if config.gcp.log_scope == "watched" else ()
    logs = CloudLogging(
        clients,
        watched,
        config.log_capacity,
        clock.now,
        aliases=config.run_aliases,
        run_name=config.run_service,
    )
    run = RunRevisions(clients, config.run_service)
    search = None
    analytics = config.gcp.log_analytics
    if analytics is not None and config.gcp.log_filter.strip():
        # The filter is in the Logging query language, which SQL cannot apply.
        logs.not_analytics = (
            f"Log Analytics {analytics.table} not used: gcp.log_filter is a Logging query"
        )
    elif analytics is not None:
        search = LogAnalyticsSearch(
            analytics,
            completions.bigquery,
            watched,
            config.run_service,
            config.run_aliases,
            config.gcp.request_logs,
        )
    endpoints = config.gcp.endpoints.values()
    where = ""
    if endpoints:
        local = all(is_loopback(e) for e in endpoints)
        where = "local servers" if local else "custom endpoints"
    return Sources(
        kind="gcp",
        description=f"project {project}" + (f" ({where})" if where else ""),
        clock=clock,
        completions=completions,
        revisions=run,
        invokers=run,
        scheduler=GcpScheduler(clients),
        builds=GcpBuilds(clients),
        exports=GcpExports(clients) if config.daily_exports else None,
        where=f"Cloud Run {config.gcp_region} (project {project})",
        logs=logs,
        error_search=search,
        pubsub=GcpPubSub(clients),
        closers=[completions, logs],
        meter=clients.meter,
    )
