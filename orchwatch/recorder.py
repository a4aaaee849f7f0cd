"""`orchwatch record`: one process polls the sources and appends what it read to a
recording (`history.Recording`), for rewind, many viewers and postmortems.

Each poll reads what the dashboard reads: the recorded dates' completions (Firestore and
the BigQuery backup), the Cloud Run services and revisions, Pub/Sub, and the log tail;
the BigQuery execution log and failed queue every `slow_seconds` (each is a billed
query); and the audit log's new records. A source that fails is recorded as an outage
with its reason; the others are still recorded.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from orchwatch.analysis.fetched import Fetched
from orchwatch.analysis.pubsub import topics_of
from orchwatch.analysis.pubsub import window as pubsub_window
from orchwatch.config import Config, RecordSettings
from orchwatch.dates import business_date
from orchwatch.gather import read_platform
from orchwatch.model import LogEntry, ServiceState
from orchwatch.pubsub import SAMPLE_PERIOD, SETTLED_AFTER, PubSubReading
from orchwatch.snapshot import capture_completions, write_services
from orchwatch.sources.base import SourceError, Sources
from orchwatch.sources.history import Moment as RecordedMoment
from orchwatch.sources.history import (
    Poll,
    Recording,
    encode_exports,
    encode_invokers,
    encode_json,
    encode_records,
    encode_table,
    entry_key,
    log_since,
)
from orchwatch.sources.local import STATE_TABLES, LocalStore

SLOW_TABLES = ("phase_execution_log", "failed_processor_queue")
"""The BigQuery tables read every `slow_seconds`, not every poll."""

LOG_OVERLAP = timedelta(minutes=5)
"""How long an entry's key is remembered to drop it when a later read returns it again."""

TAIL_LIMIT = 1000
"""Entries asked for per tail read (the dashboard's page)."""

PRUNE_EVERY = timedelta(hours=1)
"""How often retention and the size bound are enforced (and at the first poll)."""

TAIL_READS = 5
"""Tail reads per poll at most: a burst beyond is read at the next poll."""


@dataclass
class PollResult:
    """What one poll wrote."""

    moment: int
    captured_at: datetime
    outages: dict[str, str]
    log_entries: int
    took: timedelta


@dataclass
class Recorder:
    """Appends polls of `sources` to `recording`."""

    config: Config
    sources: Sources
    recording: Recording
    settings: RecordSettings = field(default_factory=RecordSettings)
    audit_path: Path | None = None
    monotonic: Callable[[], float] = time.monotonic
    _known: dict[str, tuple[int | None, str | None]] = field(default_factory=dict)
    _seen: dict[bytes, datetime] = field(default_factory=dict)
    _cursor: int | None = None
    _slow_at: datetime | None = None
    _audit_offset: int = 0
    _pruned_at: datetime | None = None
    _services: list[ServiceState] | None = None
    _settled: dict[date, PubSubReading] = field(default_factory=dict)
    """The readings of days whose counts are final (read after `SETTLED_AFTER`)."""
    _pubsub_at: datetime | None = None
    _watched: date | None = None

    def __post_init__(self) -> None:
        self._known = self.recording.last_states()
        self.recording.set_meta("source", self.sources.description)
        self.recording.set_meta("interval_seconds", f"{self.settings.interval.total_seconds():g}")
        self.recording.set_meta("pipeline", self.config.pipeline_name)
        environment = self.config.environment
        if environment is not None:  # its viewers show it, as the live dashboard does
            self.recording.set_meta(
                "environment",
                json.dumps(
                    {
                        "name": environment.name,
                        "project": environment.project,
                        "region": self.config.gcp_region,
                        "colour": environment.colour,
                        "production": environment.production,
                    }
                ),
            )

    def dates(self, now: datetime) -> tuple[date, ...]:
        """The dates a poll at `now` reads, oldest first, within what the source holds."""
        today = business_date(now, self.config.timezone)
        days = [today - timedelta(days=n) for n in range(self.settings.days - 1, -1, -1)]
        if self.sources.dates is not None:
            first, last = self.sources.dates
            days = [d for d in days if first <= d <= last]
        return tuple(days)

    def poll(self) -> PollResult:
        """Read every source once and append it as one moment.

        Raises:
            OSError: the recording cannot be written (a full disk: errno ENOSPC).
        """
        started = self.monotonic()
        self.sources.advance()
        now = self.sources.clock.now()
        dates = self.dates(now)
        poll = Poll(now, dates)
        scratch = LocalStore()
        try:
            slow = self._slow_at is None or now - self._slow_at >= self.settings.slow_interval
            if slow:
                self._slow_at = now
            self._watch(poll.dates)
            self._read_completions(poll, scratch, now, slow)
            self._read_revisions(poll, scratch)
            self._read_pubsub(poll, now)
            self._read_log(poll, now)
            if slow:
                self._read_platform(poll)
            poll.actions = self._read_audit()
        finally:
            scratch.close()
        poll.took = timedelta(seconds=self.monotonic() - started)
        moment = self.recording.append(poll, self._known)
        if self._pruned_at is None or now - self._pruned_at >= min(
            PRUNE_EVERY, self.settings.retention / 4
        ):
            self.recording.prune(now, self.settings.retention, self.settings.max_bytes)
            self._pruned_at = now
        return PollResult(moment, now, dict(poll.outages), len(poll.log), poll.took)

    def _watch(self, dates: tuple[date, ...]) -> None:
        """Watch the newest date where the store can push its changes (Firestore's
        listeners, as the dashboard watches its selected date): its documents are then
        read from memory, not polled."""
        if not dates or dates[-1] == self._watched:
            return
        self._watched = dates[-1]
        with contextlib.suppress(SourceError):  # then it is read at each poll
            self.sources.completions.watch_date(dates[-1], lambda: None)

    def _read_completions(self, poll: Poll, scratch: LocalStore, now: datetime, slow: bool) -> None:
        try:
            capture_completions(
                self.config, self.sources, poll.dates, scratch, bigquery_tables=slow
            )
        except SourceError as exc:
            poll.outages["completions"] = str(exc)
            return
        for table in STATE_TABLES[:5]:
            if slow or table not in SLOW_TABLES:
                poll.parts[table] = encode_table(*scratch.table_rows(table))

    def _read_platform(self, poll: Poll) -> None:
        """The walkthrough's platform (Cloud Scheduler's jobs, the invoker policies, Cloud
        Build's triggers, the exports of the recorded dates), read as the walkthrough
        reads it, at the slow pace: it changes by hand or by a deploy, rarely."""
        reads = read_platform(self.config, self.sources, poll.dates)
        encoders: dict[str, tuple[Fetched[Any] | None, Callable[[Any], bytes]]] = {
            "scheduler": (reads.scheduler, encode_records),
            "invokers": (reads.invokers, encode_invokers),
            "builds": (reads.builds, encode_records),
            "exports": (reads.exports, lambda found: encode_exports(reads.asked, found)),
        }
        for name, (fetched, encode) in encoders.items():
            if fetched is None:
                continue
            if fetched.value is None:
                poll.outages[name] = fetched.error
            else:
                poll.parts[name] = encode(fetched.value)

    def _read_revisions(self, poll: Poll, scratch: LocalStore) -> None:
        if self.sources.revisions is None:
            return
        try:
            services = self.sources.revisions.fetch_services(self.config.services)
        except SourceError as exc:
            poll.outages["revisions"] = str(exc)
            self._services = None
            return
        if services == self._services:
            return  # unchanged: the parts recorded before still hold (and cost nothing)
        self._services = services
        write_services(services, scratch)
        for table in STATE_TABLES[5:]:
            poll.parts[table] = encode_table(*scratch.table_rows(table))

    def _read_pubsub(self, poll: Poll, now: datetime) -> None:
        """Each recorded date's reading as the view reads it, once per metric sample period
        (`SAMPLE_PERIOD`: a read sooner finds no new point; the moments between keep the
        last reading, which says up to when it was read). A day whose counts are final is
        read once more and then kept."""
        if self.sources.pubsub is None:
            return
        half_poll = self.settings.interval / 2  # a poll a moment early is still on time
        if self._pubsub_at is not None and now - self._pubsub_at + half_poll < SAMPLE_PERIOD:
            return
        self._pubsub_at = now
        readings = []
        try:
            for day in poll.dates:
                span = pubsub_window(day, self.config.timezone, now)
                if span is None:
                    continue
                reading = self._settled.get(day)
                if reading is None:
                    reading = self.sources.pubsub.read_pubsub(topics_of(self.config), *span)
                    if now - span[1] >= SETTLED_AFTER:
                        self._settled[day] = reading
                readings.append(reading)
        except SourceError as exc:
            poll.outages["pubsub"] = str(exc)
            return
        finally:
            self._settled = {d: r for d, r in self._settled.items() if d in poll.dates}
        poll.parts["pubsub"] = encode_json(msgspec.to_builtins(readings))

    def _read_log(self, poll: Poll, now: datetime) -> None:
        """New entries: on the first poll, the log from where a rewind of its dates starts;
        then the tail from the cursor, as the dashboard reads it."""
        logs = self.sources.logs
        if logs is None:
            return
        entries: list[LogEntry] = []
        try:
            if self._cursor is None:
                since = log_since(RecordedMoment(0, now, poll.dates))
                self._seen = dict.fromkeys(self.recording.recent_log_keys(now - LOG_OVERLAP), now)
                entries = logs.fetch_log(since, None)
                batch = logs.read_log(None, TAIL_LIMIT)
                entries += batch.entries
                self._cursor = batch.cursor
            for _ in range(TAIL_READS):
                batch = logs.read_log(self._cursor, TAIL_LIMIT)
                entries += batch.entries
                self._cursor = batch.cursor
                if len(batch.entries) < TAIL_LIMIT:
                    break
        except SourceError as exc:
            poll.outages["logs"] = str(exc)
            return
        poll.parts["logs"] = None
        fresh: list[LogEntry] = []
        for entry in entries:
            key = entry_key(entry)
            if key not in self._seen:
                self._seen[key] = entry.timestamp
                fresh.append(entry)
        forget = now - LOG_OVERLAP
        self._seen = {k: at for k, at in self._seen.items() if at >= forget}
        poll.log = fresh

    def _read_audit(self) -> list[dict[str, Any]]:
        """The audit log's records written since the last poll (none if there is no log)."""
        if self.audit_path is None:
            return []
        try:
            with self.audit_path.open("rb") as handle:
                handle.seek(self._audit_offset)
                data = handle.read()
        except OSError:
            return []
        end = data.rfind(b"\n") + 1  # a record being written is read at the next poll
        self._audit_offset += end
        records = []
        for line in data[:end].splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
        return records


EXIT_STOPPED, EXIT_UNREADABLE, EXIT_FULL = 0, 2, 74


def record_until_stopped(
    config: Config,
    sources: Sources,
    out: Path,
    settings: RecordSettings,
    polls: int | None = None,
    print_line: Callable[[str], None] = print,
    stop: threading.Event | None = None,
) -> int:
    """Poll every `settings.interval` until SIGTERM or SIGINT (which end it after the poll in
    progress), `stop` is set, or `polls` are done. Returns the exit code: 0 stopped, 2 the
    file is not a whole recording, 74 it cannot be written (a full disk)."""
    import errno

    from orchwatch.actions.audit import default_audit_path
    from orchwatch.plural import counted
    from orchwatch.sources.history import RecordingError

    stop = stop or threading.Event()
    restore = _stop_on_signals(stop)
    try:
        try:
            recording = Recording(out, write=True)
        except RecordingError as exc:
            print_line(f"orchwatch: {exc}")
            return EXIT_UNREADABLE
        try:
            recorder = Recorder(config, sources, recording, settings, default_audit_path())
            every = settings.interval.total_seconds()
            print_line(
                f"recording {sources.description} to {out} every {every:g} s, keeping "
                f"{settings.retention.total_seconds() / 86_400:g} days and at most "
                f"{settings.max_bytes / 1_000_000:,.0f} MB; SIGTERM or Ctrl-C stops it"
            )
            done = 0
            outages: dict[str, str] = {}
            while not stop.is_set() and (polls is None or done < polls):
                started = time.monotonic()
                try:
                    result = recorder.poll()
                except OSError as exc:
                    full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
                    print_line(
                        "orchwatch: record: "
                        + (f"{out}: the disk is full" if full else str(exc.strerror or exc))
                        + f"; stopped after {counted(done, 'poll')}, the recording holds "
                        "every poll before"
                    )
                    return EXIT_FULL
                done += 1
                for group, reason in result.outages.items():
                    if outages.get(group) != reason:
                        print_line(f"{result.captured_at:%H:%M:%S} {group} unread: {reason}")
                for group in set(outages) - set(result.outages):
                    print_line(f"{result.captured_at:%H:%M:%S} {group} read again")
                outages = result.outages
                if polls is None or done < polls:
                    stop.wait(max(every - (time.monotonic() - started), 0))
            span = recording.span()
            held = (
                f"; it holds {span[0].captured_at:%Y-%m-%d %H:%M:%S}Z to "
                f"{span[1].captured_at:%Y-%m-%d %H:%M:%S}Z"
                if span
                else ""
            )
            print_line(f"stopped after {counted(done, 'poll')}{held}")
            return EXIT_STOPPED
        finally:
            recording.close()
    finally:
        restore()


def _stop_on_signals(stop: threading.Event) -> Callable[[], None]:
    """Make SIGTERM and SIGINT set `stop` (the poll in progress is finished and written);
    returns what puts the handlers back. Off the main thread, signals are left alone."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {
        sig: signal.signal(sig, lambda signum, frame: stop.set())
        for sig in (signal.SIGTERM, signal.SIGINT)
    }

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
