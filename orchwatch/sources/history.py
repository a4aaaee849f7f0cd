"""The recording: what `orchwatch record` read, moment by moment, kept to rewind to.

One SQLite file in WAL mode (readers never block the recorder), append-only:

- `moment`: one row per poll, with its capture time and the dates it read;
- `part`: what one table of the store (or Pub/Sub's reading) held from a moment on, as a
  blob shared by every moment that read the same; written only when it changes, so an
  unchanged poll costs one `moment` row. A part without a blob holds why its source could
  not be read then: an outage is recorded as one, never as empty;
- `blob`: a part's content as sorted lines, compressed: whole, or as the lines it adds to
  and drops from the version before (a chain of at most `CHAIN` back to a whole one), so
  a Pub/Sub reading that gained a point costs that point;
- `log_batch`: each poll's new log entries, compressed against an earlier batch (a poll's
  few lines repeat the shapes of the ones before);
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
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import msgspec

from orchwatch.model import (
    BuildTrigger,
    DateCompletions,
    ExecutionLogRow,
    FailedQueueItem,
    LogEntry,
    SchedulerJob,
    ServiceState,
    StoredObject,
    may_be_evidence,
)
from orchwatch.sources.base import LogBatch, SourceError
from orchwatch.sources.local import STATE_TABLES, from_text, to_text

KIND = "orchwatch-recording"
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS moment (
    id INTEGER PRIMARY KEY, captured_at INTEGER NOT NULL, last_day INTEGER NOT NULL,
    days INTEGER NOT NULL, took_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS blob (id INTEGER PRIMARY KEY, body BLOB NOT NULL, base INTEGER);
CREATE TABLE IF NOT EXISTS part (
    name TEXT NOT NULL, moment INTEGER NOT NULL, blob INTEGER, error TEXT,
    PRIMARY KEY (name, moment)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_batch (
    id INTEGER PRIMARY KEY, moment INTEGER NOT NULL, first_at INTEGER NOT NULL,
    last_at INTEGER NOT NULL, entries INTEGER NOT NULL, body BLOB NOT NULL, base INTEGER
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
    "builds": ("builds",),
    "exports": ("exports",),
}
"""Each source the recorder reads, and the parts its reading is kept as."""

CHAIN = 720
"""Versions of a part stored as changes before a whole one is stored again: two hours of
polls at the default schedule (a rewind applies at most this many, each only its lines)."""

BATCH_ENTRIES = 100_000
"""Log entries per batch at most."""

DECODED_ENTRIES = 100_000
"""Log entries an opening keeps decoded: the moment shown holds the same entries, so what
this adds is the batches it no longer reads."""

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


# --- parts: documents of sorted lines, stored whole or as lines added and dropped ------------


def _document(header: str, lines: Iterable[str]) -> bytes:
    """A part's bytes: a header line, then its lines sorted (so the same content is the same
    bytes, stored once, and a new version differs from the last by whole lines)."""
    return "\n".join([header, *sorted(lines)]).encode()


def _lines(body: bytes) -> tuple[str, list[str]]:
    header, *lines = body.decode().split("\n")
    return header, lines


def encode_table(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """A table: its columns, then a line per row."""
    return _document(
        json.dumps(list(columns)),
        (json.dumps(list(row), separators=(",", ":"), default=str) for row in rows),
    )


def decode_table(body: bytes) -> tuple[list[str], list[list[object]]]:
    """The inverse of `encode_table`."""
    header, lines = _lines(body)
    return list(json.loads(header)), [json.loads(line) for line in lines]


_RECORD = (str, int, float, bool, type(None))

CHUNK = 4
"""Elements per line of a list of records (a time series' points): appending a point
changes the list's last line only."""

_CHUNKS = "[]"
"""The path step under which a list of records is kept in chunks."""


def _is_record(node: object) -> bool:
    return isinstance(node, _RECORD) or (
        isinstance(node, dict) and all(isinstance(v, _RECORD) for v in node.values())
    )


def encode_json(value: object) -> bytes:
    """A JSON value as lines: each scalar, each object of scalars only, and each `CHUNK`
    elements of a list of those (a time series' points), with its path. A reading that
    gained a point differs from the last by its series' last line."""
    lines: list[str] = []
    dumps = json.JSONEncoder(separators=(",", ":")).encode

    def walk(node: object, path: list[object]) -> None:
        if isinstance(node, list | tuple) and node and all(_is_record(e) for e in node):
            for k in range(0, len(node), CHUNK):
                lines.append(dumps([*path, _CHUNKS, k // CHUNK, node[k : k + CHUNK]]))
        elif isinstance(node, dict) and node and not _is_record(node):
            for key, child in node.items():
                walk(child, [*path, key])
        elif isinstance(node, list | tuple) and node:
            for index, child in enumerate(node):
                walk(child, [*path, index])
        else:
            lines.append(dumps([*path, node]))

    walk(value, [])
    return _document("json", lines)


def decode_json(body: bytes) -> Any:
    """The inverse of `encode_json`."""
    _, lines = _lines(body)
    root: dict[object, Any] = {}
    for line in lines:
        *path, leaf = json.loads(line)
        steps: list[object] = [None, *path]  # None: the root's own slot
        node = root
        for step in steps[:-1]:
            node = node.setdefault(step, {})
        node[steps[-1]] = leaf

    def build(node: Any) -> Any:
        if not isinstance(node, dict) or not node:
            return node
        if set(node) == {_CHUNKS}:
            chunks = node[_CHUNKS]
            return [e for k in range(len(chunks)) for e in chunks[k]]
        if all(isinstance(k, str) for k in node):
            return {k: build(v) for k, v in node.items()}
        if all(isinstance(k, int) for k in node):
            return [build(node[i]) for i in range(len(node))]
        raise RecordingError("a recorded document with mixed keys")

    return build(root[None]) if lines else None


def _delta(base: bytes, body: bytes) -> bytes | None:
    """`body` as the lines added to and dropped from `base` (None when the headers differ)."""
    base_header, base_lines = _lines(base)
    header, lines = _lines(body)
    if header != base_header:
        return None
    old, new = Counter(base_lines), Counter(lines)
    change = {"add": list((new - old).elements()), "drop": list((old - new).elements())}
    return json.dumps(change, separators=(",", ":")).encode()


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
        self._lock = threading.Lock()
        self._versions: dict[str, tuple[int, bytes, int]] = {}
        """Part name -> its last version (blob id, bytes, changes back to a whole one):
        what the next is stored against."""
        self._log_keyframe: tuple[int, bytes] | None = None
        """The log batch the next ones are compressed against (id, JSON)."""
        self._decoded: OrderedDict[int, list[LogEntry]] = OrderedDict()
        """Log batches already decoded, newest use last (a batch never changes once
        written): rewinds to many moments of one opening decode each batch once."""
        self._decoded_entries = 0
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
                self._db = sqlite3.connect(_read_only_uri(path), uri=True, check_same_thread=False)
            self._check_kind()
        except sqlite3.Error as exc:
            raise RecordingError(f"{path}: cannot be opened as a recording ({exc})") from None

    @staticmethod
    def is_recording(path: Path) -> bool:
        """Whether `path` is a recording (not a snapshot or anything else)."""
        try:
            db = sqlite3.connect(_read_only_uri(path), uri=True)
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
        for (batch,) in self._query(
            "SELECT id FROM log_batch WHERE last_at >= ?", (_micros(since),)
        ):
            keys.update(entry_key(_entry(row)) for row in json.loads(self._log_raw(int(batch))))
        return keys

    def _log_raw(self, batch: int) -> bytes:
        """A log batch's JSON, its dictionary batch read first where it has one."""
        rows = self._query(
            "SELECT b.body, k.body FROM log_batch b LEFT JOIN log_batch k ON k.id = b.base "
            "WHERE b.id = ?",
            (batch,),
        )
        if not rows:
            raise RecordingError(f"{self.path}: log batch {batch} is missing")
        body, base = rows[0]
        if base is None:
            return zlib.decompress(body)
        unpacked = _unpacked_log(body, zlib.decompress(base))
        assert unpacked is not None
        return unpacked

    def append(self, poll: Poll, known: dict[str, tuple[int | None, str | None]]) -> int:
        """Write one poll as a moment in one transaction (a kill mid-way loses only it);
        `known` (from `last_states`) is updated. Returns the moment's id.

        Raises:
            OSError: the disk is full (errno ENOSPC) or the file cannot be written.
        """
        try:
            with self._transaction() as db:
                cursor = db.execute(
                    "INSERT INTO moment (captured_at, last_day, days, took_ms) VALUES (?, ?, ?, ?)",
                    (
                        _micros(poll.captured_at),
                        max(poll.dates).toordinal() if poll.dates else 0,
                        len(poll.dates),
                        int(poll.took.total_seconds() * 1000),
                    ),
                )
                moment = int(cursor.lastrowid or 0)
                states: dict[str, tuple[int | None, str | None]] = {}
                for name, body in poll.parts.items():
                    blob = self._blob(db, name, body) if body is not None else None
                    states[name] = (blob, None)
                for group, reason in poll.outages.items():
                    for name in GROUPS[group]:
                        states[name] = (None, reason)
                for name, state in states.items():
                    if known.get(name) != state:
                        db.execute("INSERT INTO part VALUES (?, ?, ?, ?)", (name, moment, *state))
                for start in range(0, len(poll.log), BATCH_ENTRIES):
                    chunk = poll.log[start : start + BATCH_ENTRIES]
                    times = [e.timestamp for e in chunk]
                    raw = json.dumps([_entry_json(e) for e in chunk]).encode()
                    body, base = self._pack_log(raw)
                    cursor = db.execute(
                        "INSERT INTO log_batch (moment, first_at, last_at, entries, body, base) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (moment, _micros(min(times)), _micros(max(times)), len(chunk), body, base),
                    )
                    if base is None:  # stored whole: the next are packed against it
                        self._log_keyframe = (int(cursor.lastrowid or 0), raw)
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

    def _blob(self, db: sqlite3.Connection, name: str, body: bytes) -> int:
        """The id of a blob holding `body`: the part's last one when unchanged, else a
        new one, stored as the lines it adds to and drops from the part's last version
        when that is less than half the size of storing it whole, and the chain of such
        versions back to a whole one is shorter than `CHAIN`. A Pub/Sub reading differs
        from the last by a few points."""
        last = self._versions.get(name)
        if last is not None and last[1] == body:
            return last[0]  # unchanged since the last poll: the same blob
        whole = zlib.compress(body, 6)
        change = _delta(last[1], body) if last is not None and last[2] < CHAIN else None
        if last is not None and change is not None:
            delta = zlib.compress(change, 6)
            if len(delta) * 2 < len(whole):
                cursor = db.execute("INSERT INTO blob (body, base) VALUES (?, ?)", (delta, last[0]))
                blob = int(cursor.lastrowid or 0)
                self._versions[name] = (blob, body, last[2] + 1)
                return blob
        cursor = db.execute("INSERT INTO blob (body) VALUES (?)", (whole,))
        blob = int(cursor.lastrowid or 0)
        self._versions[name] = (blob, body, 0)
        return blob

    def blob_bytes(self, blob: int) -> bytes:
        """A blob's content: whole, or its chain of changes applied, oldest first, to the
        whole version it starts from (one query; each change costs its own lines)."""
        rows = self._query(
            "WITH RECURSIVE chain(id, body, base, depth) AS ("
            " SELECT id, body, base, 0 FROM blob WHERE id = ?"
            " UNION ALL SELECT b.id, b.body, b.base, c.depth + 1 FROM blob b"
            " JOIN chain c ON b.id = c.base"
            ") SELECT body, base FROM chain ORDER BY depth DESC",
            (blob,),
        )
        if not rows or rows[0][1] is not None:
            raise RecordingError(f"{self.path}: blob {blob} or a version it changes is missing")
        if len(rows) == 1:
            return zlib.decompress(rows[0][0])
        header, lines = _lines(zlib.decompress(rows[0][0]))
        kept = Counter(lines)
        for body, _ in rows[1:]:
            change = json.loads(zlib.decompress(body))
            kept.subtract(change["drop"])
            kept.update(change["add"])
        return _document(header, (+kept).elements())

    def _pack_log(self, raw: bytes) -> tuple[bytes, int | None]:
        """A log batch compressed, with the recording's last whole batch as the preset
        dictionary when that helps (a poll's few lines repeat the shapes of the last
        ones); returns (body, the dictionary batch's id or None)."""
        whole = zlib.compress(raw, 6)
        base = self._log_keyframe
        if base is not None:
            packer = zlib.compressobj(6, zdict=base[1])
            packed = packer.compress(raw) + packer.flush()
            if len(packed) * 10 < len(whole) * 9:  # any real gain: a few lines, few bytes
                return packed, base[0]
        return whole, None

    def prune(self, now: datetime, retention: timedelta, max_bytes: int) -> int:
        """Forget moments older than `retention`, and the oldest further while the data
        outgrows `max_bytes`; returns how many moments were forgotten. The newest moment is
        always kept."""
        forgotten = self._forget_before(now - retention)
        while self.data_bytes() > max_bytes:
            oldest = [
                _at(v) if v is not None else None
                for v in self._query("SELECT MIN(captured_at), MAX(captured_at) FROM moment")[0]
            ]
            first, last = oldest
            if first is None or last is None or first >= last:
                break
            step = max((last - first) / 10, timedelta(minutes=1))
            gone = self._forget_before(min(first + step, last))
            if not gone:
                break
            forgotten += gone
        if forgotten:  # what the next writes were to build on may be gone with them
            self._forget_versions()
        return forgotten

    def _forget_versions(self) -> None:
        """Drop the versions the next writes would build on that were forgotten."""
        self._versions = {
            name: version
            for name, version in self._versions.items()
            if self._query("SELECT 1 FROM blob WHERE id = ?", (version[0],))
        }
        if self._log_keyframe is not None and not self._query(
            "SELECT 1 FROM log_batch WHERE id = ?", (self._log_keyframe[0],)
        ):
            self._log_keyframe = None

    def _forget_before(self, cutoff: datetime) -> int:
        with self._transaction() as db:
            keep = db.execute(
                "SELECT MIN(id) FROM moment WHERE captured_at >= ?", (_micros(cutoff),)
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
            first_kept = db.execute(f"{_MOMENT} WHERE id = ?", (keep,)).fetchone()
            floor = _log_floor(_moment(first_kept).dates if first_kept else ())
            if floor is not None:
                db.execute(
                    "DELETE FROM log_batch WHERE moment < ? AND last_at < ? AND id NOT IN "
                    "(SELECT base FROM log_batch WHERE base IS NOT NULL)",
                    (keep, _micros(floor)),
                )
            db.execute("DELETE FROM action WHERE moment < ? AND at < ?", (keep, to_text(cutoff)))
            while db.execute(  # a chain's versions go once none is built on them
                "DELETE FROM blob WHERE id NOT IN (SELECT blob FROM part WHERE blob IS NOT NULL) "
                "AND id NOT IN (SELECT base FROM blob WHERE base IS NOT NULL)"
            ).rowcount:
                pass
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
        return [_moment(row) for row in self._query(f"{_MOMENT} ORDER BY id")]

    def span(self) -> tuple[Moment, Moment] | None:
        """The first and the last moment, or None when nothing is recorded yet."""
        rows = self._query(
            f"{_MOMENT} WHERE id IN "
            "((SELECT MIN(id) FROM moment), (SELECT MAX(id) FROM moment)) ORDER BY id"
        )
        if not rows:
            return None
        first, last = rows[0], rows[-1]
        return (
            _moment(first),
            _moment(last),
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
            f"{_MOMENT} WHERE captured_at <= ? ORDER BY captured_at DESC, id DESC LIMIT 1",
            (_micros(at),),
        )[0]
        moment = _moment(row)
        interval = float(self.get_meta("interval_seconds") or 0)
        if interval and at - moment.captured_at > timedelta(seconds=3 * interval) + timedelta(
            seconds=30
        ):
            after = self._query(
                "SELECT MIN(captured_at) FROM moment WHERE captured_at > ?", (_micros(at),)
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
            sql = f"{_MOMENT} WHERE id > ? ORDER BY id LIMIT 1 OFFSET ?"
        else:
            sql = f"{_MOMENT} WHERE id < ? ORDER BY id DESC LIMIT 1 OFFSET ?"
        if moments == 0:
            return moment
        rows = self._query(sql, (moment.id, abs(moments) - 1))
        return _moment(rows[0]) if rows else None

    def parts_at(self, moment: Moment) -> dict[str, tuple[bytes | None, str | None]]:
        """Each part's content (or the reason it was unread) as of `moment`."""
        rows = self._query(
            "SELECT p.name, p.blob, p.error FROM part p JOIN (SELECT name, MAX(moment) m "
            "FROM part WHERE moment <= ? GROUP BY name) l ON p.name = l.name AND p.moment = l.m",
            (moment.id,),
        )
        return {
            str(name): (self.blob_bytes(int(blob)) if blob is not None else None, error)
            for name, blob, error in rows
        }

    def log_until(self, moment: Moment, since: datetime) -> list[tuple[int, LogEntry]]:
        """The entries recorded by `moment` with timestamps from `since`, in the order
        they were read, each with its place in the recording (`BATCH_PLACES` per batch)."""
        entries: list[tuple[int, LogEntry]] = []
        keyframes: dict[int, bytes] = {}
        for batch, base in self._query(
            "SELECT id, base FROM log_batch WHERE moment <= ? AND last_at >= ? ORDER BY id",
            (moment.id, _micros(since)),
        ):
            decoded = self._decoded_batch(int(batch), base, keyframes)
            entries.extend(
                (int(batch) * BATCH_PLACES + i, entry)
                for i, entry in enumerate(decoded)
                if entry.timestamp >= since
            )
        return entries

    def _decoded_batch(
        self, batch: int, base: int | None, keyframes: dict[int, bytes]
    ) -> list[LogEntry]:
        """A log batch's entries, decoded once per opening (up to `DECODED_ENTRIES`)."""
        with self._lock:
            if batch in self._decoded:
                self._decoded.move_to_end(batch)
                return self._decoded[batch]
        rows = self._query("SELECT body FROM log_batch WHERE id = ?", (batch,))
        if not rows:
            raise RecordingError(f"{self.path}: log batch {batch} is missing")
        body = rows[0][0]
        if base is not None and base not in keyframes:
            keyframes[base] = self._log_raw(base)
        raw = _unpacked_log(body, keyframes.get(base)) if base is not None else None
        if raw is None:
            raw = zlib.decompress(body)
            keyframes[batch] = raw
        decoded = [_entry(row) for row in json.loads(raw)]
        with self._lock:
            self._decoded[batch] = decoded
            self._decoded_entries += len(decoded)
            while self._decoded_entries > DECODED_ENTRIES and len(self._decoded) > 1:
                _, dropped = self._decoded.popitem(last=False)
                self._decoded_entries -= len(dropped)
        return decoded

    def actions_seen(self, first: int, last: int) -> list[dict[str, Any]]:
        """The audit records the recorder found from moment `first` to `last`, in order."""
        return [
            json.loads(record)
            for (record,) in self._query(
                "SELECT record FROM action WHERE moment BETWEEN ? AND ? ORDER BY id",
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


def _read_only_uri(path: Path) -> str:
    """How a reader opens a recording: read-only, and, when no recorder has it open (no
    `-wal` file beside it), immutable, so that reading makes no file appear beside it."""
    uri = f"{path.resolve().as_uri()}?mode=ro"
    return uri if Path(f"{path}-wal").exists() else f"{uri}&immutable=1"


def _unpacked_log(body: bytes, dictionary: bytes | None) -> bytes | None:
    """A log batch packed against `dictionary` (the dictionary batch's JSON)."""
    if dictionary is None:
        return None
    unpacker = zlib.decompressobj(zdict=dictionary)
    return unpacker.decompress(body) + unpacker.flush()


_MOMENT = "SELECT id, captured_at, last_day, days FROM moment"
"""A moment's columns, as `_moment` reads them."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(moment: datetime) -> int:
    """A time as the recording keeps it: microseconds since the epoch (8 bytes, not 32)."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _at(micros: object) -> datetime:
    if not isinstance(micros, int):
        raise RecordingError(f"a moment without a time ({micros!r})")
    return _EPOCH + timedelta(microseconds=micros)


def _moment(row: Sequence[Any]) -> Moment:
    last, days = int(row[2]), int(row[3])
    dates = tuple(date.fromordinal(last - n) for n in range(days - 1, -1, -1)) if last else ()
    return Moment(int(row[0]), _at(row[1]), dates)


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
    """Each service's invokers."""
    return encode_json({k: sorted(v) for k, v in sorted(invokers.items())})


class RecordedInvokers:
    """The `InvokerSource` of a recorded moment: the policies read at the last slow poll."""

    def __init__(self, body: bytes) -> None:
        self._invokers = {k: frozenset(v) for k, v in (decode_json(body) or {}).items()}

    def fetch_invokers(self, services: Sequence[str]) -> dict[str, frozenset[str]]:
        """The recorded invokers of `services` (one not recorded is absent, as unknown)."""
        return {name: self._invokers[name] for name in services if name in self._invokers}


def encode_records(records: Sequence[SchedulerJob] | Sequence[BuildTrigger]) -> bytes:
    """Cloud Scheduler's jobs or Cloud Build's triggers as recorded."""
    return encode_json(msgspec.to_builtins(list(records)))


R = TypeVar("R")


def _records(data: object, kind: type[R], what: str) -> list[R]:
    """Records as `encode_records` kept them, decoded (`decode_json`).

    Raises:
        SourceError: they do not decode as `kind` (the message names `what`).
    """
    try:
        return msgspec.convert(data or [], type=list[kind])  # type: ignore[valid-type]
    except msgspec.ValidationError as exc:
        raise SourceError(f"a bad recorded {what} reading ({exc})") from None


class RecordedScheduler:
    """The `SchedulerSource` of a recorded moment."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def fetch_jobs(self) -> list[SchedulerJob]:
        """The jobs as the last slow poll read them."""
        return _records(decode_json(self._body), SchedulerJob, "Cloud Scheduler")


def encode_exports(asked: Sequence[tuple[str, str]], found: Sequence[StoredObject]) -> bytes:
    """The exports a slow poll asked for (bucket, name) and those that existed."""
    return encode_json({"asked": [list(a) for a in asked], "found": msgspec.to_builtins(found)})


class RecordedExports:
    """The `ExportSource` of a recorded moment: the exports of its dates, as read last."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def fetch_objects(self, wanted: Sequence[tuple[str, str]]) -> list[StoredObject]:
        """The recorded objects of `wanted`.

        Raises:
            SourceError: one of them was not asked for (a date the recorder did not read).
        """
        data = decode_json(self._body) or {}
        asked = {(str(b), str(n)) for b, n in data.get("asked", [])}
        found = _records(data.get("found"), StoredObject, "Cloud Storage")
        unasked = [f"gs://{b}/{n}" for b, n in wanted if (b, n) not in asked]
        if unasked:
            raise SourceError(f"the recording did not read {', '.join(unasked)}")
        held = {(o.bucket, o.name): o for o in found}
        return [held[key] for key in wanted if key in held]


class RecordedBuilds:
    """The `BuildSource` of a recorded moment."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def fetch_triggers(self) -> list[BuildTrigger]:
        """The triggers and their newest builds as the last slow poll read them."""
        return _records(decode_json(self._body), BuildTrigger, "Cloud Build")


def with_until(readings: Any, moment: Moment) -> Any:
    """Pub/Sub readings as recorded, a reading without an `until` given the moment's
    capture time: recorders before the one that reads once per metric sample period left a
    running day's `until` (the poll's own time) to the moment to say."""
    now = msgspec.to_builtins(moment.captured_at)
    for reading in readings if isinstance(readings, list) else ():
        if isinstance(reading, dict) and "until" not in reading:
            reading["until"] = now
    return readings
