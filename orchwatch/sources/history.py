"""The recording: what `orchwatch record` read, moment by moment, kept to rewind to.

One SQLite file in WAL mode (readers never block the recorder), append-only:

- `moment`: one row per poll, with its capture time and the dates it read;
- `part`: what one table of the store (or Pub/Sub's reading) held from a moment on, as a
  compressed blob shared by every moment that read the same; written only when it
  changes, so an unchanged poll costs one `moment` row. A part without a blob holds
  why its source could not be read then: an outage is recorded as one, never as empty;
- `log_batch`: each poll's new log entries, compressed;
- `action`: the audit log's records, as the recorder found them.

A moment is rewound to by loading its parts into an in-memory store, the format of a
snapshot, so every pane, explain, the timeline and the walkthrough read it exactly as
they read a snapshot captured then.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import sqlite3
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import msgspec

from orchwatch.model import (
    DateCompletions,
    ExecutionLogRow,
    FailedQueueItem,
    LogEntry,
    SchedulerJob,
    ServiceState,
    may_be_evidence,
)
from orchwatch.sources.base import LogBatch, SourceError
from orchwatch.sources.local import STATE_TABLES, from_text, to_text

KIND = "orchwatch-recording"
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS moment (
    id INTEGER PRIMARY KEY, captured_at TEXT NOT NULL, dates TEXT NOT NULL,
    took_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS moment_by_time ON moment (captured_at);
CREATE TABLE IF NOT EXISTS blob (
    id INTEGER PRIMARY KEY, digest BLOB NOT NULL UNIQUE, body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS part (
    name TEXT NOT NULL, moment INTEGER NOT NULL, blob INTEGER, error TEXT,
    PRIMARY KEY (name, moment)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_batch (
    id INTEGER PRIMARY KEY, moment INTEGER NOT NULL, first_at TEXT NOT NULL,
    last_at TEXT NOT NULL, entries INTEGER NOT NULL, body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS log_batch_by_moment ON log_batch (moment);
CREATE TABLE IF NOT EXISTS action (
    id INTEGER PRIMARY KEY, moment INTEGER NOT NULL, at TEXT NOT NULL,
    digest BLOB NOT NULL UNIQUE, record TEXT NOT NULL
);
"""

GROUPS: dict[str, tuple[str, ...]] = {
    "completions": STATE_TABLES[:5],
    "revisions": STATE_TABLES[5:],
    "pubsub": ("pubsub",),
    "logs": ("logs",),
    "invokers": ("invokers",),
    "scheduler": ("scheduler",),
}
"""Each source the recorder reads, and the parts its reading is kept as."""

BATCH_ENTRIES = 100_000
"""Log entries per batch at most."""

BATCH_PLACES = 1_000_000
"""A log entry's place in a recording is its batch's id times this plus its index."""

LOG_MARGIN = timedelta(days=1)
"""How much log before a moment's first date a rewind reads: a crash loop or traceback
that began the evening before still has its start."""


class RecordingError(Exception):
    """The recording cannot be read or written as asked (the message says why)."""


@dataclass(frozen=True)
class Moment:
    """One poll of the recorder."""

    id: int
    captured_at: datetime
    dates: tuple[date, ...]


@dataclass
class Poll:
    """What one poll read, to be appended."""

    captured_at: datetime
    dates: tuple[date, ...]
    parts: dict[str, bytes | None] = field(default_factory=dict)
    """Part name -> its content (JSON); None: the source has none to give."""
    outages: dict[str, str] = field(default_factory=dict)
    """Group (`GROUPS`) -> why it could not be read."""
    log: list[LogEntry] = field(default_factory=list)
    """Entries not recorded before."""
    actions: list[dict[str, Any]] = field(default_factory=list)
    """Audit records not recorded before."""
    took: timedelta = timedelta(0)


def encode_table(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """A table's rows as one canonical JSON document (sorted, so an unchanged table gives
    the same bytes and is stored once)."""
    ordered = sorted((list(row) for row in rows), key=lambda r: json.dumps(r, default=str))
    return json.dumps({"columns": list(columns), "rows": ordered}, separators=(",", ":")).encode()


def decode_table(body: bytes) -> tuple[list[str], list[list[object]]]:
    """The inverse of `encode_table`."""
    data = json.loads(body)
    return list(data["columns"]), list(data["rows"])


def _entry_json(entry: LogEntry) -> list[object]:
    return [
        to_text(entry.timestamp),
        entry.severity,
        entry.text,
        entry.service,
        entry.revision,
        entry.instance,
        entry.insert_id,
    ]


def _entry(row: Sequence[Any]) -> LogEntry:
    at = from_text(row[0])
    assert at is not None
    return LogEntry(at, row[1], row[2], row[3], row[4], row[5], row[6])


def entry_key(entry: LogEntry) -> bytes:
    """What tells one log entry from another across polls (an overlapping read returns
    some twice)."""
    return hashlib.blake2b(
        json.dumps(_entry_json(entry), separators=(",", ":")).encode(), digest_size=12
    ).digest()


class Recording:
    """A recording file: written by one recorder, read by any number of viewers."""

    def __init__(self, path: Path, *, write: bool = False) -> None:
        """Open a recording (with `write`, create it if absent, and check that a file left
        by a killed recorder is whole).

        Raises:
            RecordingError: it is not a recording, is damaged, or cannot be opened.
        """
        self.path = path
        self.write = write
        self._lock = threading.Lock()
        try:
            if write:
                self._db = sqlite3.connect(path, check_same_thread=False, timeout=10)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._check_whole()
                with self._db:
                    self._db.executescript(SCHEMA)
                    self._db.execute("INSERT OR IGNORE INTO meta VALUES ('kind', ?)", (KIND,))
                    self._db.execute(
                        "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                        (str(SCHEMA_VERSION),),
                    )
            else:
                if not path.is_file():
                    raise RecordingError(f"{path}: no such recording")
                self._db = sqlite3.connect(
                    f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
                )
            self._check_kind()
        except sqlite3.Error as exc:
            raise RecordingError(f"{path}: cannot be opened as a recording ({exc})") from None

    @staticmethod
    def is_recording(path: Path) -> bool:
        """Whether `path` is a recording (not a snapshot or anything else)."""
        try:
            db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            try:
                row = db.execute("SELECT value FROM meta WHERE key = 'kind'").fetchone()
            finally:
                db.close()
        except sqlite3.Error:
            return False
        return bool(row) and row[0] == KIND

    def _check_whole(self) -> None:
        """A recording a killed recorder left must still be whole before it is added to."""
        row = self._db.execute("PRAGMA quick_check").fetchone()
        if row is None or row[0] != "ok":
            raise RecordingError(
                f"{self.path}: damaged ({row[0] if row else 'no answer'}); move it aside and "
                "start a new recording"
            )

    def _check_kind(self) -> None:
        rows = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        if rows.get("kind") != KIND:
            raise RecordingError(f"{self.path}: not an orchwatch recording")
        version = str(rows.get("schema_version", ""))
        if not version.isdigit() or int(version) > SCHEMA_VERSION:
            raise RecordingError(
                f"{self.path}: recording schema {version or '?'}; this orchwatch reads up to "
                f"{SCHEMA_VERSION}"
            )

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._db:
            yield self._db

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        try:
            with self._lock:
                return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise RecordingError(f"{self.path}: {exc}") from None

    # --- meta ------------------------------------------------------------------------------

    def set_meta(self, key: str, value: str) -> None:
        """Keep a setting of the recording (its source, its interval)."""
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def get_meta(self, key: str) -> str | None:
        """A setting of the recording, or None."""
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    # --- writing ---------------------------------------------------------------------------

    def last_states(self) -> dict[str, tuple[int | None, str | None]]:
        """Each part's latest (blob, error), to write only what changes."""
        rows = self._query(
            "SELECT p.name, p.blob, p.error FROM part p JOIN (SELECT name, MAX(moment) m "
            "FROM part GROUP BY name) l ON p.name = l.name AND p.moment = l.m"
        )
        return {str(name): (blob, error) for name, blob, error in rows}

    def recent_log_keys(self, since: datetime) -> set[bytes]:
        """The keys of the entries recorded at `since` or later (a new recorder's first read
        overlaps what the last one wrote)."""
        keys: set[bytes] = set()
        for (body,) in self._query(
            "SELECT body FROM log_batch WHERE last_at >= ?", (to_text(since),)
        ):
            keys.update(entry_key(_entry(row)) for row in json.loads(zlib.decompress(body)))
        return keys

    def append(self, poll: Poll, known: dict[str, tuple[int | None, str | None]]) -> int:
        """Write one poll as a moment in one transaction (a kill mid-way loses only it);
        `known` (from `last_states`) is updated. Returns the moment's id.

        Raises:
            OSError: the disk is full (errno ENOSPC) or the file cannot be written.
        """
        try:
            with self._transaction() as db:
                cursor = db.execute(
                    "INSERT INTO moment (captured_at, dates, took_ms) VALUES (?, ?, ?)",
                    (
                        to_text(poll.captured_at),
                        ",".join(d.isoformat() for d in poll.dates),
                        int(poll.took.total_seconds() * 1000),
                    ),
                )
                moment = int(cursor.lastrowid or 0)
                states: dict[str, tuple[int | None, str | None]] = {}
                for name, body in poll.parts.items():
                    states[name] = (self._blob(db, body) if body is not None else None, None)
                for group, reason in poll.outages.items():
                    for name in GROUPS[group]:
                        states[name] = (None, reason)
                for name, state in states.items():
                    if known.get(name) != state:
                        db.execute("INSERT INTO part VALUES (?, ?, ?, ?)", (name, moment, *state))
                for start in range(0, len(poll.log), BATCH_ENTRIES):
                    chunk = poll.log[start : start + BATCH_ENTRIES]
                    times = [e.timestamp for e in chunk]
                    db.execute(
                        "INSERT INTO log_batch (moment, first_at, last_at, entries, body) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (
                            moment,
                            to_text(min(times)),
                            to_text(max(times)),
                            len(chunk),
                            zlib.compress(json.dumps([_entry_json(e) for e in chunk]).encode(), 6),
                        ),
                    )
                for record in poll.actions:
                    text = json.dumps(record, sort_keys=True)
                    db.execute(
                        "INSERT OR IGNORE INTO action (moment, at, digest, record) "
                        "VALUES (?, ?, ?, ?)",
                        (
                            moment,
                            str(record.get("time", "")),
                            hashlib.blake2b(text.encode(), digest_size=16).digest(),
                            text,
                        ),
                    )
        except sqlite3.Error as exc:
            if "full" in str(exc).lower():
                import errno

                raise OSError(errno.ENOSPC, f"{self.path}: the disk is full") from None
            raise OSError(f"{self.path}: cannot be written ({exc})") from None
        known.update(states)
        return moment

    @staticmethod
    def _blob(db: sqlite3.Connection, body: bytes) -> int:
        digest = hashlib.blake2b(body, digest_size=16).digest()
        row = db.execute("SELECT id FROM blob WHERE digest = ?", (digest,)).fetchone()
        if row:
            return int(row[0])
        cursor = db.execute(
            "INSERT INTO blob (digest, body) VALUES (?, ?)", (digest, zlib.compress(body, 6))
        )
        return int(cursor.lastrowid or 0)

    def prune(self, now: datetime, retention: timedelta, max_bytes: int) -> int:
        """Forget moments older than `retention`, and the oldest further while the data
        outgrows `max_bytes`; returns how many moments were forgotten. The newest moment is
        always kept."""
        forgotten = self._forget_before(now - retention)
        while self.data_bytes() > max_bytes:
            oldest = self._query("SELECT MIN(captured_at), MAX(captured_at) FROM moment")[0]
            first, last = from_text(oldest[0]), from_text(oldest[1])
            if first is None or last is None or first >= last:
                break
            step = max((last - first) / 10, timedelta(minutes=1))
            gone = self._forget_before(min(first + step, last))
            if not gone:
                break
            forgotten += gone
        return forgotten

    def _forget_before(self, cutoff: datetime) -> int:
        with self._transaction() as db:
            keep = db.execute(
                "SELECT MIN(id) FROM moment WHERE captured_at >= ?", (to_text(cutoff),)
            ).fetchone()[0]
            if keep is None:
                keep = db.execute("SELECT MAX(id) FROM moment").fetchone()[0]
            if keep is None:
                return 0
            # Each part's state at the first moment kept is the newest row before it.
            db.execute(
                "DELETE FROM part WHERE moment < (SELECT MAX(p.moment) FROM part p "
                "WHERE p.name = part.name AND p.moment <= ?)",
                (keep,),
            )
            gone = db.execute("DELETE FROM moment WHERE id < ?", (keep,)).rowcount
            first_kept = db.execute("SELECT dates FROM moment WHERE id = ?", (keep,)).fetchone()
            floor = _log_floor(_dates(first_kept[0]) if first_kept else ())
            if floor is not None:
                db.execute(
                    "DELETE FROM log_batch WHERE moment < ? AND last_at < ?",
                    (keep, to_text(floor)),
                )
            db.execute("DELETE FROM action WHERE moment < ? AND at < ?", (keep, to_text(cutoff)))
            db.execute(
                "DELETE FROM blob WHERE id NOT IN (SELECT blob FROM part WHERE blob IS NOT NULL)"
            )
            return int(gone)

    def data_bytes(self) -> int:
        """The bytes the recording's data fill (pages in use; freed pages are reused)."""
        (pages,), (free,), (size,) = (
            self._query("PRAGMA page_count")[0],
            self._query("PRAGMA freelist_count")[0],
            self._query("PRAGMA page_size")[0],
        )
        return int((pages - free) * size)

    # --- reading ---------------------------------------------------------------------------

    def moments(self) -> list[Moment]:
        """Every moment recorded, oldest first."""
        return [
            Moment(int(i), _at(at), _dates(dates))
            for i, at, dates in self._query("SELECT id, captured_at, dates FROM moment ORDER BY id")
        ]

    def span(self) -> tuple[Moment, Moment] | None:
        """The first and the last moment, or None when nothing is recorded yet."""
        rows = self._query(
            "SELECT id, captured_at, dates FROM moment WHERE id IN "
            "((SELECT MIN(id) FROM moment), (SELECT MAX(id) FROM moment)) ORDER BY id"
        )
        if not rows:
            return None
        first, last = rows[0], rows[-1]
        return (
            Moment(int(first[0]), _at(first[1]), _dates(first[2])),
            Moment(int(last[0]), _at(last[1]), _dates(last[2])),
        )

    def moment_at(self, at: datetime | None) -> Moment:
        """The moment that shows `at`: the last one captured at or before it (None: the
        latest).

        Raises:
            RecordingError: nothing is recorded, `at` is before the first moment or after the
                last, or the recorder was not running then (a gap of more than three polls).
        """
        span = self.span()
        if span is None:
            raise RecordingError(f"{self.path}: nothing recorded yet")
        first, last = span
        if at is None:
            return last
        if not first.captured_at <= at <= last.captured_at:
            raise RecordingError(
                f"--as-of {at:%Y-%m-%dT%H:%M:%S}Z: the recording {self.path} covers "
                f"{first.captured_at:%Y-%m-%dT%H:%M:%S}Z to {last.captured_at:%Y-%m-%dT%H:%M:%S}Z"
            )
        row = self._query(
            "SELECT id, captured_at, dates FROM moment WHERE captured_at <= ? "
            "ORDER BY captured_at DESC, id DESC LIMIT 1",
            (to_text(at),),
        )[0]
        moment = Moment(int(row[0]), _at(row[1]), _dates(row[2]))
        interval = float(self.get_meta("interval_seconds") or 0)
        if interval and at - moment.captured_at > timedelta(seconds=3 * interval) + timedelta(
            seconds=30
        ):
            after = self._query(
                "SELECT MIN(captured_at) FROM moment WHERE captured_at > ?", (to_text(at),)
            )[0][0]
            raise RecordingError(
                f"--as-of {at:%Y-%m-%dT%H:%M:%S}Z: the recorder was not running then (nothing "
                f"recorded from {moment.captured_at:%Y-%m-%dT%H:%M:%S}Z to "
                f"{_at(after):%Y-%m-%dT%H:%M:%S}Z)"
            )
        return moment

    def step(self, moment: Moment, moments: int) -> Moment | None:
        """The moment `moments` polls after `moment` (before, when negative); None when the
        recording ends first."""
        if moments >= 0:
            sql = (
                "SELECT id, captured_at, dates FROM moment WHERE id > ? ORDER BY id "
                "LIMIT 1 OFFSET ?"
            )
        else:
            sql = (
                "SELECT id, captured_at, dates FROM moment WHERE id < ? ORDER BY id DESC "
                "LIMIT 1 OFFSET ?"
            )
        if moments == 0:
            return moment
        rows = self._query(sql, (moment.id, abs(moments) - 1))
        return Moment(int(rows[0][0]), _at(rows[0][1]), _dates(rows[0][2])) if rows else None

    def parts_at(self, moment: Moment) -> dict[str, tuple[bytes | None, str | None]]:
        """Each part's content (or the reason it was unread) as of `moment`."""
        rows = self._query(
            "SELECT p.name, b.body, p.error FROM part p JOIN (SELECT name, MAX(moment) m "
            "FROM part WHERE moment <= ? GROUP BY name) l ON p.name = l.name AND p.moment = l.m "
            "LEFT JOIN blob b ON b.id = p.blob",
            (moment.id,),
        )
        return {
            str(name): (zlib.decompress(body) if body is not None else None, error)
            for name, body, error in rows
        }

    def log_until(self, moment: Moment, since: datetime) -> list[tuple[int, LogEntry]]:
        """The entries recorded by `moment` with timestamps from `since`, in the order
        they were read, each with its place in the recording (`BATCH_PLACES` per batch)."""
        entries: list[tuple[int, LogEntry]] = []
        for batch, body in self._query(
            "SELECT id, body FROM log_batch WHERE moment <= ? AND last_at >= ? ORDER BY id",
            (moment.id, to_text(since)),
        ):
            for i, row in enumerate(json.loads(zlib.decompress(body))):
                entry = _entry(row)
                if entry.timestamp >= since:
                    entries.append((int(batch) * BATCH_PLACES + i, entry))
        return entries

    def actions_seen(self, first: int, last: int) -> list[dict[str, Any]]:
        """The audit records the recorder found from moment `first` to `last`, in order."""
        return [
            json.loads(record)
            for (record,) in self._query(
                "SELECT record FROM action WHERE moment BETWEEN ? AND ? ORDER BY id",
                (first, last),
            )
        ]

    def changed_moments(self, first: int, last: int) -> list[int]:
        """The moments from `first` to `last` at which a part changed."""
        return [
            int(m)
            for (m,) in self._query(
                "SELECT DISTINCT moment FROM part WHERE moment BETWEEN ? AND ? ORDER BY moment",
                (first, last),
            )
        ]

    def outages_between(self, first: int, last: int) -> list[tuple[datetime, str, str]]:
        """Each source that became unreadable from moment `first` to `last`: when, which
        (its group) and why, in order (a group's parts fail together: said once)."""
        found: list[tuple[datetime, str, str]] = []
        for at, name, error in self._query(
            "SELECT m.captured_at, p.name, p.error FROM part p JOIN moment m ON m.id = p.moment "
            "WHERE p.moment BETWEEN ? AND ? AND p.error IS NOT NULL ORDER BY p.moment, p.name",
            (first, last),
        ):
            group = next(g for g, names in GROUPS.items() if name in names)
            entry = (_at(at), group, str(error))
            if entry not in found:
                found.append(entry)
        return found


def _at(text: object) -> datetime:
    moment = from_text(str(text))
    if moment is None:
        raise RecordingError(f"a moment without a time ({text!r})")
    return moment.astimezone(UTC)


def _dates(text: object) -> tuple[date, ...]:
    return tuple(date.fromisoformat(d) for d in str(text or "").split(",") if d)


def _log_floor(dates: Sequence[date]) -> datetime | None:
    """The earliest log a moment of these dates is rewound with."""
    if not dates:
        return None
    return datetime.combine(min(dates), datetime.min.time(), UTC) - LOG_MARGIN


def log_since(moment: Moment) -> datetime:
    """Where a rewind's log starts: a margin before the moment's first date."""
    return _log_floor(moment.dates) or moment.captured_at - LOG_MARGIN


class RecordedLogs:
    """The `LogSource` of a recorded moment: the entries the recorder had read by then.

    A tail cursor is an entry's place in the whole recording (its batch and its index in
    it), so a cursor from one moment reads on in a later one."""

    def __init__(self, recording: Recording, moment: Moment) -> None:
        self.recording = recording
        self.moment = moment
        self._entries: list[tuple[int, LogEntry]] | None = None
        self.log_health = "replay"

    def _all(self) -> list[tuple[int, LogEntry]]:
        if self._entries is None:
            try:
                entries = self.recording.log_until(self.moment, log_since(self.moment))
            except RecordingError as exc:
                raise SourceError(str(exc)) from None
            self._entries = [
                (place, e) for place, e in entries if e.timestamp <= self.moment.captured_at
            ]
        return self._entries

    def read_log(self, cursor: int | None, limit: int) -> LogBatch:
        """Entries after `cursor` (None: the newest `limit`), in the order recorded."""
        entries = self._all()
        if cursor is None:
            batch = entries[max(len(entries) - limit, 0) :]
        else:
            start = bisect.bisect_right(entries, cursor, key=lambda pair: pair[0])
            batch = entries[start : start + limit]
        last = batch[-1][0] if batch else (cursor if cursor is not None else 0)
        return LogBatch([e for _, e in batch], last, "replay")

    def fetch_log(
        self, since: datetime, services: Sequence[str] | None, evidence_only: bool = False
    ) -> list[LogEntry]:
        """Every entry recorded since a time, oldest first."""
        wanted = set(services) if services else None
        found = [
            e
            for _, e in self._all()
            if e.timestamp >= since
            and (wanted is None or e.service in wanted)
            and (not evidence_only or may_be_evidence(e.severity, e.text))
        ]
        return sorted(found, key=lambda e: e.timestamp)


class Unrecorded:
    """A source the recorder could not read at a moment: every read says why, as the live
    pane said then (an outage, never an empty answer)."""

    def __init__(self, what: str, moment: Moment, reason: str) -> None:
        self.message = (
            f"{what} could not be read when this moment was recorded "
            f"({moment.captured_at:%Y-%m-%d %H:%M:%S}Z): {reason}"
        )

    def _unread(self) -> NoReturn:
        raise SourceError(self.message)

    def watch_date(self, day: date, on_change: Callable[[], None]) -> None:
        """Nothing to watch in a recording."""

    def fetch_completions(self, dates: Sequence[date]) -> dict[date, DateCompletions]:
        """Unread then."""
        self._unread()

    def fetch_failed_queue(self, game_date: date) -> list[FailedQueueItem]:
        """Unread then."""
        self._unread()

    def fetch_execution_log(self, game_date: date) -> list[ExecutionLogRow]:
        """Unread then."""
        self._unread()

    def scalar_query(self, sql: str, game_date: date) -> float | None:
        """Unread then."""
        self._unread()

    def fetch_services(self, names: Sequence[str]) -> list[ServiceState]:
        """Unread then."""
        self._unread()

    def fetch_invokers(self, services: Sequence[str]) -> dict[str, frozenset[str]]:
        """Unread then."""
        self._unread()

    def fetch_jobs(self) -> list[SchedulerJob]:
        """Unread then."""
        self._unread()

    def read_log(self, cursor: int | None, limit: int) -> LogBatch:
        """Unread then."""
        self._unread()

    def fetch_log(
        self, since: datetime, services: Sequence[str] | None, evidence_only: bool = False
    ) -> list[LogEntry]:
        """Unread then."""
        self._unread()


def encode_invokers(invokers: dict[str, frozenset[str]]) -> bytes:
    """Each service's invokers, canonical."""
    return json.dumps({k: sorted(v) for k, v in sorted(invokers.items())}).encode()


class RecordedInvokers:
    """The `InvokerSource` of a recorded moment: the policies read at the last slow poll."""

    def __init__(self, body: bytes) -> None:
        self._invokers = {k: frozenset(v) for k, v in json.loads(body).items()}

    def fetch_invokers(self, services: Sequence[str]) -> dict[str, frozenset[str]]:
        """The recorded invokers of `services` (one not recorded is absent, as unknown)."""
        return {name: self._invokers[name] for name in services if name in self._invokers}


def encode_jobs(jobs: Sequence[SchedulerJob]) -> bytes:
    """Cloud Scheduler's jobs as recorded."""
    return msgspec.json.encode(list(jobs))


class RecordedScheduler:
    """The `SchedulerSource` of a recorded moment."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def fetch_jobs(self) -> list[SchedulerJob]:
        """The jobs as the last slow poll read them."""
        try:
            return msgspec.json.decode(self._body, type=list[SchedulerJob])
        except msgspec.DecodeError as exc:
            raise SourceError(f"a bad recorded Cloud Scheduler reading ({exc})") from None
