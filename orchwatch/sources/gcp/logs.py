"""Cloud Logging: a TailLogEntries stream, reopened when it ends, with gap backfill.

The tail runs on a thread of its own and fills a bounded buffer that the log
pane's worker drains through `read_log` without waiting. TailLogEntries ends
by itself (about hourly) and on any network trouble; the thread reopens it
with backoff, then lists what was written while it was down (ListLogEntries
from the last entry it saw), so the tail has no holes. List calls share one
budget (`gcp.log_list_calls_per_minute`, 6 by default: the project's quota is
60 a minute for everyone). Entries the stream suppressed (rate limit, not
consumed) are still stored: the tail lists them from the last entry it had
seen before the notice, when the list budget has room (without waiting, so a
stream under sustained suppression is not slowed to the budget's pace; a
backfill that finds no room stays pending until the next response). The
notice reaches the stream-health light with what the listing brought back.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from orchwatch.model import LogEntry
from orchwatch.sources.base import LogBatch, SourceError, StreamHealth
from orchwatch.sources.gcp.clients import GcpClients, RateLimiter
from orchwatch.sources.gcp.errors import api_errors
from orchwatch.sources.logfile import payload_text

PAGE_SIZE = 1000
INITIAL_PAGES = 3
"""List calls the first read may spend on history (the newest 3,000 entries at most)."""
BACKFILL_MAX = PAGE_SIZE * INITIAL_PAGES
"""The most entries a reconnect's backfill lists, newest first: after a laptop slept for
hours on a busy project, the gap is larger than the tail needs."""
BACKFILL_LOOKBACK = timedelta(minutes=2)
"""How far before the last entry seen a backfill starts: entries arrive late, with
earlier timestamps, and a backfill from exactly the last one would miss them."""
NOTICE_SECONDS = 60.0
"""How long a stream notice (suppression, backfill) stays next to the health light."""

LOSS_MARKERS = ("not read:", "was not backfilled")
"""What a notice of entries the tail could not read says."""
RECONNECT_MAX = 60.0
LIST_TIMEOUT = 30.0
SEEN_IDS = 20_000
"""insert ids remembered to drop entries both the stream and a backfill delivered."""


def to_log_entry(entry: Any, aliases: Mapping[str, str] | None = None) -> LogEntry:
    """A `logging_v2` LogEntry as the model's; `aliases` turn a Cloud Run service's name
    into the name orchwatch watches it by (`Config.run_aliases`)."""
    labels = entry.resource.labels
    service = labels.get("service_name") or labels.get("function_name") or ""
    if entry.text_payload:
        text = entry.text_payload
    elif entry.json_payload:
        text = payload_text(dict(entry.json_payload))
    else:
        text = ""
    return LogEntry(
        timestamp=_utc(entry.timestamp),
        severity=severity_name(entry.severity),
        text=text,
        service=aliases.get(service, service) if aliases else service,
        revision=labels.get("revision_name", ""),
        instance=entry.labels.get("instanceId") or entry.labels.get("instance_id") or "",
        insert_id=entry.insert_id,
    )


def severity_name(value: object) -> str:
    """A LogSeverity (enum member or number) as its name."""
    name = getattr(value, "name", None)
    if isinstance(name, str):
        return name
    from google.logging.type import log_severity_pb2

    try:
        return str(log_severity_pb2.LogSeverity.Name(int(str(value))))
    except ValueError:
        return "DEFAULT"


def _reason(reason: object) -> str:
    """`RATE_LIMIT` -> "rate limit", `NOT_CONSUMED` -> "not consumed"."""
    return str(getattr(reason, "name", reason)).lower().replace("_", " ")


def _utc(value: object) -> datetime:
    if not isinstance(value, datetime):
        return datetime.min.replace(tzinfo=UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def rfc3339(moment: datetime) -> str:
    """A filter timestamp: `2026-02-01T11:30:00.000000Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


AUDIT_LOGS = "cloudaudit.googleapis.com"
"""Cloud Audit Logs' log names (`.../logs/cloudaudit.googleapis.com%2Factivity`...)."""
REQUEST_LOG = "run.googleapis.com%2Frequests"
"""A line per request: never a traceback."""
SYSTEM_LOG = "run.googleapis.com%2Fvarlog%2Fsystem"
"""Cloud Run's platform events: mostly starts and scaling at INFO, but also the exits and
failed probes of a crash loop (`Container called exit(1).`, `STARTUP TCP probe failed`),
at WARNING and above, which the verdict of a Ready revision needs (`analysis.runtime`)."""


EVIDENCE_FILTER = (
    '(severity>=WARNING OR (severity=DEFAULT AND textPayload=~"(?im)'
    "^[a-z_][a-z0-9_.]*(error|exception|exit|interrupt|group)(:|$)"
    '|container called exit|probe failed|uncaught signal|memory limit of"))'
)
"""The entries that may be crash evidence (`model.may_be_evidence`) in the Logging query
language: WARNING and above, or no severity (DEFAULT: Cloud Run's plain stdout and
stderr, where a traceback arrives one line per entry) with a traceback's last line or an
exit in the text (an RE2 regular expression, `=~`). A busy project's print() noise at
DEFAULT and its INFO lines are not paged. The pattern is a superset of what the tally
matches (case-insensitive, ASCII names); it holds no quote or backslash to escape."""


def build_filter(
    services: Sequence[str],
    extra: str = "",
    since: datetime | None = None,
    *,
    request_logs: bool = False,
    run_names: Sequence[str] | None = None,
) -> str:
    """The Logging filter for the watched services' logs: their stdout, stderr and
    application logs, as Cloud Run revisions and as Cloud Functions (where a function's
    `CloudLoggingHandler` writes); request logs and the system log's INFO lines only when
    asked for (its warnings and errors are the exits of a crash loop); never the audit
    logs. A function's Cloud Run service may be named differently (`run_names`, in the
    order of `services`; gen2 lowercases). In the Logging query language OR binds tighter
    than AND: every group is parenthesized."""
    if services:
        # A gen2 function's own log lines (CloudLoggingHandler) come as `cloud_function`
        # resources named like its Cloud Run service: either name matches.
        quoted = " OR ".join(f'"{s}"' for s in dict.fromkeys([*services, *(run_names or ())]))
        run = " OR ".join(f'"{s}"' for s in dict.fromkeys(run_names or services))
        scope = (
            f'((resource.type="cloud_run_revision" AND resource.labels.service_name=({run}))'
            f' OR (resource.type="cloud_function" AND resource.labels.function_name=({quoted})))'
        )
    else:
        scope = '(resource.type="cloud_run_revision" OR resource.type="cloud_function")'
    # Cloud Audit Logs entries (deploys, and every read of a service when Data Access logs
    # are on: a dashboard's own) share the resource type; their payload is no text.
    parts = [scope, f'NOT logName:"{AUDIT_LOGS}"']
    if not request_logs:
        parts += [
            f'NOT logName:"{REQUEST_LOG}"',
            f'NOT (logName:"{SYSTEM_LOG}" AND severity<WARNING)',
        ]
    if since is not None:
        parts.append(f'timestamp>="{rfc3339(since)}"')
    if extra.strip():
        parts.append(f"({extra.strip()})")
    return " AND ".join(parts)


class CloudLogging:
    """The `LogSource` over Cloud Logging."""

    def __init__(
        self,
        clients: GcpClients,
        services: Sequence[str],
        capacity: int,
        now: Callable[[], datetime],
        initial_window: timedelta = timedelta(hours=6),
        monotonic: Callable[[], float] = time.monotonic,
        aliases: Mapping[str, str] | None = None,
        run_name: Callable[[str], str] = str.lower,
    ) -> None:
        self.clients = clients
        self.aliases = dict(aliases or {})
        """Cloud Run service name -> the watched name, where they differ."""
        self.unread = ""
        """What the last `fetch_log` did not read, when it stopped at its budget."""
        self.how = ""
        """Which path the last `fetch_log` read and what it covered."""
        self.not_analytics = ""
        """Why a configured Log Analytics view is not used, said with every wide read."""
        self.run_name = run_name
        """A watched name -> its Cloud Run service's (`Config.run_service`)."""
        self.services = tuple(services)
        self.capacity = capacity
        self._now = now
        self._initial_window = initial_window
        self._monotonic = monotonic
        self.limiter = RateLimiter(clients.settings.log_list_calls_per_minute, clock=monotonic)
        self._lock = threading.Lock()
        self._buffer: deque[tuple[int, LogEntry]] = deque(maxlen=capacity)
        self._seq = 0
        self._seen: deque[str] = deque(maxlen=SEEN_IDS)
        self._seen_set: set[str] = set()
        self._last_seen: datetime | None = None
        self._read_from: datetime | None = None
        """Where the first read began (the tail covers from there)."""
        self._backfilling = threading.Lock()
        self._suppressed_since: datetime | None = None
        """Where a listing of suppressed entries must start (None: nothing pending)."""
        self._health: StreamHealth = "stopped"
        self._notice = ""
        self._notice_at = 0.0
        self._loss = ""
        """The last notice of entries not read (`LOSS_MARKERS`), kept beside later ones."""
        self._loss_at = 0.0
        self._stop = threading.Event()
        self._stream_ended = threading.Event()
        """The open stream's: set when it ends, which ends its request thread."""
        self._backfiller: threading.Thread | None = None
        """The running backfill, if any (one at a time: a running one covers a new gap)."""
        self._thread: threading.Thread | None = None
        self._call: Any = None
        self.reconnects = 0
        self.last_error = ""

    @property
    def filter(self) -> str:
        """The filter of the tail (without a time bound)."""
        return self._filter_since(None)

    def _filter_since(self, since: datetime | None, services: Sequence[str] | None = None) -> str:
        """The tail's filter for `services` (default the watched ones) from `since` on."""
        names = self.services if services is None else services
        return build_filter(
            names,
            self.clients.settings.log_filter,
            since,
            request_logs=self.clients.settings.request_logs,
            run_names=[self.run_name(n) for n in names],
        )

    # --- the LogSource contract ------------------------------------------------------------------

    def read_log(self, cursor: int | None, limit: int) -> LogBatch:
        """Buffered entries after `cursor`; the first call lists the newest and starts the tail.

        Raises:
            SourceError: the first listing fails (the pane shows it and retries).
        """
        if cursor is None:
            entries = self._initial(limit)
            with self._lock:
                for entry in entries:
                    self._append(entry)
                cursor = self._seq
            self._start_tail()
            return LogBatch(entries, cursor, self.health, self.notice)
        if self._suppressed_since is not None:
            # A storm's last notice leaves a listing pending that no further response
            # would retry: the pane's next read does, when the budget has room.
            said = self._backfill_suppressed()
            if said and "when the list budget allows" not in said:
                self._say(None, f"suppressed entries: {said}")
        with self._lock:
            fresh = [(seq, e) for seq, e in self._buffer if seq > cursor][:limit]
        new_cursor = fresh[-1][0] if fresh else cursor
        return LogBatch([e for _, e in fresh], new_cursor, self.health, self.notice)

    def fetch_log(
        self, since: datetime, services: Sequence[str] | None, evidence_only: bool = False
    ) -> list[LogEntry]:
        """Every entry since a time (with `evidence_only`, those that may be crash
        evidence, in the filter, so Cloud Logging pages only those: `EVIDENCE_FILTER`),
        oldest first, paged through ListLogEntries.

        Raises:
            SourceError: Cloud Logging cannot be read.
        """
        wanted = tuple(services) if services else self.services
        query = self._filter_since(since, wanted)
        if evidence_only:
            query += f" AND {EVIDENCE_FILTER}"
        budget = self.clients.settings.log_read_max_entries
        # Newest first, so that a window larger than the budget keeps its latest entries.
        listed = list(reversed(self._list(query, "desc", max_entries=budget) or []))
        with self._lock:
            self.unread = (
                f"read the newest {budget:,} entries (gcp.log_read_max_entries): those "
                f"before {rfc3339(listed[0].timestamp)} were not read"
                if len(listed) >= budget
                else ""
            )
            self.how = f"Logging API: {len(listed):,} entries listed" + (
                f" ({self.not_analytics})" if self.not_analytics else ""
            )
        return listed

    @property
    def health(self) -> StreamHealth:
        """The tail's state, for the health light."""
        with self._lock:
            stale = self._monotonic() - self._notice_at >= NOTICE_SECONDS
            if self._health == "gap backfilled" and stale:
                self._health = "live"
            return self._health

    @property
    def notice(self) -> str:
        """What the stream last said, for a minute after it said it; and entries it could
        not read, for a minute too, whatever it said next (a reconnect that follows a
        backfill must not hide what the backfill left out)."""
        with self._lock:
            now = self._monotonic()
            said = [
                text
                for text, at in ((self._loss, self._loss_at), (self._notice, self._notice_at))
                if text and now - at < NOTICE_SECONDS
            ]
            return "; ".join(dict.fromkeys(said))

    def close(self) -> None:
        """Stop the tail."""
        self._stop.set()
        self._stream_ended.set()
        call = self._call
        if call is not None:
            with contextlib.suppress(Exception):
                call.cancel()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # --- listing ----------------------------------------------------------------------------------

    def _initial(self, limit: int) -> list[LogEntry]:
        since = self._now() - self._initial_window
        self._read_from = since
        newest = self._list(
            self._filter_since(since),
            "desc",
            max_entries=min(limit, PAGE_SIZE * INITIAL_PAGES),
        )
        return list(reversed(newest or []))

    def _list(
        self, filter_: str, order: str, max_entries: int | None = None, wait: bool = True
    ) -> list[LogEntry] | None:
        """Entries matching `filter_`, paged; None when `wait` is False and the budget is spent."""
        if not wait and not self.limiter.try_acquire():
            return None
        client_api = self.clients.api("logging")
        entries: list[LogEntry] = []
        with api_errors(client_api):
            client = self.clients.logging()
            request = {
                "resource_names": [f"projects/{self.clients.project}"],
                "filter": filter_,
                "order_by": f"timestamp {order}",
                "page_size": min(PAGE_SIZE, max_entries or PAGE_SIZE),
            }
            if wait and not self.limiter.acquire(self._stop):
                return entries
            self.clients.meter.count("logging", "ListLogEntries")
            # No retries inside the call: the tail's loop and the pane's refresh retry with
            # backoff, and an outage shows as soon as a call fails.
            pages = client.list_log_entries(request=request, retry=None, timeout=LIST_TIMEOUT).pages
            for page in pages:
                entries.extend(to_log_entry(e, self.aliases) for e in page.entries)
                if max_entries is not None and len(entries) >= max_entries:
                    return entries[:max_entries]
                if not page.next_page_token:
                    break
                # The next page is another list call: it waits for the budget like any other.
                if not self.limiter.acquire(self._stop):
                    break
                self.clients.meter.count("logging", "ListLogEntries")
        return entries

    # --- the tail ---------------------------------------------------------------------------------

    def _append(self, entry: LogEntry) -> bool:
        """Buffer an entry unless it was seen (caller holds the lock)."""
        if entry.insert_id:
            if entry.insert_id in self._seen_set:
                return False
            if len(self._seen) == self._seen.maxlen:
                self._seen_set.discard(self._seen[0])
            self._seen.append(entry.insert_id)
            self._seen_set.add(entry.insert_id)
        self._seq += 1
        self._buffer.append((self._seq, entry))
        if self._last_seen is None or entry.timestamp > self._last_seen:
            self._last_seen = entry.timestamp
        return True

    def _say(self, health: StreamHealth | None, notice: str | None = None) -> None:
        with self._lock:
            if health is not None:
                self._health = health
            if notice is not None:
                self._notice, self._notice_at = notice, self._monotonic()
                if any(marker in notice for marker in LOSS_MARKERS):
                    self._loss, self._loss_at = notice, self._notice_at

    def _start_tail(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._last_seen is None:
                    self._last_seen = self._now()
                self._health = "live"  # the stream is opening; a failure says "reconnecting"
            self._thread = threading.Thread(
                target=self._tail_forever, name="orchwatch-log-tail", daemon=True
            )
            self._thread.start()

    def _requests(self, ended: threading.Event) -> Iterator[Any]:
        from google.cloud.logging_v2.types import TailLogEntriesRequest

        yield TailLogEntriesRequest(
            resource_names=[f"projects/{self.clients.project}"], filter=self.filter
        )
        # The request side stays open while this stream is read; gRPC consumes it in a
        # thread of its own, which ends when this returns: with the stream, not with
        # orchwatch (an hourly reopen must not leave a thread behind each time).
        ended.wait()

    def _open_stream(self, ended: threading.Event) -> Any:
        """Start a TailLogEntries call without waiting for its first response.

        The generated client's wrapper waits for the first response before it returns,
        which on a quiet log can be minutes; the backfill must not wait that long. The
        transport's own callable starts the call and returns at once.
        """
        client = self.clients.logging()
        self.clients.meter.count("logging", "TailLogEntries")
        return client.transport.tail_log_entries(self._requests(ended))

    def _tail_forever(self) -> None:
        from google.api_core import exceptions
        from grpc import RpcError

        delay = 1.0
        first = True
        while not self._stop.is_set():
            stream_ended = threading.Event()
            self._stream_ended = stream_ended
            try:
                with api_errors(self.clients.api("logging")):
                    try:
                        self._call = self._open_stream(stream_ended)
                        # Entries written since the last one seen (before this stream
                        # was open) come from a listing; duplicates are dropped by id.
                        self._backfill(announce=not first)
                        if first:
                            self._say("live")
                        first = False
                        for response in self._call:
                            delay = 1.0
                            self._receive(response)
                        ended = "the tail stream ended"
                    except RpcError as exc:
                        error = (
                            exc
                            if isinstance(exc, exceptions.GoogleAPICallError)
                            else exceptions.from_grpc_error(exc)
                        )
                        if not isinstance(error, exceptions.OutOfRange):
                            raise error from exc
                        # How a tail session ends after its maximum duration (about an
                        # hour): a normal end, not a rejected request.
                        ended = "the tail session reached its maximum duration"
                        delay = 1.0
                if self._stop.is_set():
                    break
                self._say("reconnecting", f"{ended}; reopening it")
            except SourceError as exc:
                if self._stop.is_set():
                    break
                self.last_error = str(exc)
                self._say("reconnecting", f"{exc}; retrying in {delay:g} s")
            finally:
                stream_ended.set()  # the stream's request thread ends with it
            self.reconnects += 1
            if self._stop.wait(delay):
                break
            delay = min(delay * 2, RECONNECT_MAX)
        self._say("stopped")

    def _receive(self, response: Any) -> None:
        entries = [to_log_entry(e, self.aliases) for e in response.entries]
        with self._lock:
            # With nothing seen yet, what was suppressed is newer than the first read.
            before = self._last_seen or self._read_from
            for entry in entries:
                self._append(entry)
        suppressed = [
            f"{info.suppressed_count} entries suppressed ({_reason(info.reason)})"
            for info in response.suppression_info
            if info.suppressed_count
        ]
        if suppressed and before is not None:
            # The suppressed entries are older than nothing this response brought: list
            # from the last entry seen before it (or from an earlier pending start). The
            # pane's read must not make this listing half-way: it waits.
            with self._backfilling:
                pending = self._suppressed_since
                self._suppressed_since = before if pending is None else min(pending, before)
                said = self._list_pending()
        else:
            said = self._backfill_suppressed()
        if suppressed:
            self._say(None, "; ".join([*suppressed, *([said] if said else [])]))
        elif said:
            self._say(None, f"suppressed entries: {said}")

    def _backfill_suppressed(self) -> str:
        """List a pending range of suppressed entries if the budget has room now (one
        listing at a time: the tail's thread and the pane's reads both try)."""
        if not self._backfilling.acquire(blocking=False):
            return ""
        try:
            return self._list_pending()
        finally:
            self._backfilling.release()

    def _list_pending(self) -> str:
        """The listing itself (the caller holds `_backfilling`)."""
        since = self._suppressed_since
        if since is None:
            return ""
        try:
            listed = self._list(self._filter_since(since), "asc", wait=False)
        except SourceError as exc:
            self.last_error = str(exc)
            return f"listing them failed ({exc}); will retry"
        if listed is None:
            return "listing them when the list budget allows"
        with self._lock:
            if self._suppressed_since == since:
                self._suppressed_since = None
            added = sum(1 for e in listed if self._append(e))
        return f"listed {added} the stream had not delivered"

    def _backfill(self, announce: bool) -> None:
        """List what was written while no stream was open, on a thread of its own so the
        new stream is read at once (the listing may wait a minute for the list budget)."""
        with self._lock:
            since = self._last_seen
            going = self._backfiller is not None and self._backfiller.is_alive()
        if since is None or going:  # a running one lists from earlier: it covers this gap
            return
        thread = threading.Thread(
            target=self._backfill_gap,
            args=(since, announce),
            name="orchwatch-log-backfill",
            daemon=True,
        )
        with self._lock:
            self._backfiller = thread
        thread.start()

    def _backfill_gap(self, since: datetime, announce: bool) -> None:
        """The gap's newest `BACKFILL_MAX` entries, from a little before the last entry
        seen (`BACKFILL_LOOKBACK`: entries that arrive late carry earlier timestamps; the
        ones already seen are dropped by insert id); what the cap left is said."""
        start = since - BACKFILL_LOOKBACK
        try:
            newest = self._list(self._filter_since(start), "desc", max_entries=BACKFILL_MAX)
        except SourceError as exc:
            self._say(None, f"the gap since {since:%H:%M:%S} UTC was not backfilled: {exc}")
            return
        entries = list(reversed(newest or []))
        with self._lock:
            added = sum(1 for e in entries if self._append(e))
        capped = ""
        if len(entries) >= BACKFILL_MAX:
            capped = (
                f"; not read: the entries between {since:%H:%M:%S} and "
                f"{entries[0].timestamp:%H:%M:%S} UTC (the backfill keeps the newest "
                f"{BACKFILL_MAX:,}; `orchwatch errors --since` lists a window whole)"
            )
        if announce:
            self._say(
                "gap backfilled",
                f"reconnected; backfilled {added} entries written since "
                f"{since:%H:%M:%S} UTC{capped}",
            )
