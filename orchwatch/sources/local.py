"""The embedded store: one SQLite file (or memory) holding everything orchwatch shows.

Its tables mirror the Google Cloud stores they stand in for, so the demo, the
snapshots captured from Google Cloud and the tests all go through one schema:

- `firestore_completion`, `firestore_phase_meta`: the `{phase}_completion/{date}`
  documents, one row per processor field and one per document's `_` metadata;
- `phase_completions`, `phase_execution_log`, `failed_processor_queue`: the
  BigQuery tables of the same names.

Timestamps are stored as ISO 8601 UTC text, dates as `YYYY-MM-DD`.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

from orchwatch.files import atomic_target
from orchwatch.model import (
    BackupRow,
    BackupSummary,
    CompletionRecord,
    Condition,
    ConditionState,
    DateCompletions,
    ExecutionLogRow,
    FailedQueueItem,
    LogEntry,
    PhaseDocument,
    Revision,
    ServiceState,
    TrafficStatus,
    may_be_evidence,
)
from orchwatch.sources.base import LogBatch, SourceError, StreamHealth

SCHEMA_VERSION = 1
T = TypeVar("T")

BIGQUERY_TABLES = ("phase_completions", "phase_execution_log", "failed_processor_queue")
"""The tables that mirror BigQuery's, column for column."""
STATE_TABLES = (
    "firestore_completion",
    "firestore_phase_meta",
    *BIGQUERY_TABLES,
    "cloud_run_service",
    "cloud_run_revision",
)
"""The tables of what the sources show, less the log (a recording keeps those per moment)."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS firestore_completion (
    phase TEXT NOT NULL, game_date TEXT NOT NULL, processor TEXT NOT NULL,
    status TEXT NOT NULL, completed_at TEXT, record_count INTEGER,
    correlation_id TEXT, execution_id TEXT,
    PRIMARY KEY (phase, game_date, processor)
);
CREATE TABLE IF NOT EXISTS firestore_phase_meta (
    phase TEXT NOT NULL, game_date TEXT NOT NULL,
    triggered INTEGER NOT NULL DEFAULT 0, triggered_at TEXT, completed_count INTEGER,
    mode TEXT, trigger_reason TEXT, last_update TEXT,
    PRIMARY KEY (phase, game_date)
);
CREATE TABLE IF NOT EXISTS phase_completions (
    phase TEXT NOT NULL, game_date TEXT NOT NULL, processor_name TEXT NOT NULL,
    status TEXT NOT NULL, record_count INTEGER, correlation_id TEXT, execution_id TEXT,
    completed_at TEXT NOT NULL, is_incremental INTEGER NOT NULL DEFAULT 0,
    inserted_at TEXT
);
CREATE INDEX IF NOT EXISTS phase_completions_by_date
    ON phase_completions (game_date, phase, processor_name, completed_at);
CREATE TABLE IF NOT EXISTS phase_execution_log (
    execution_timestamp TEXT NOT NULL, phase_name TEXT NOT NULL, game_date TEXT NOT NULL,
    correlation_id TEXT, duration_seconds REAL, games_processed INTEGER, status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cloud_run_service (
    name TEXT PRIMARY KEY, latest_created TEXT NOT NULL, latest_ready TEXT NOT NULL,
    traffic TEXT NOT NULL, terminal TEXT, uri TEXT
);
CREATE TABLE IF NOT EXISTS cloud_run_revision (
    service TEXT NOT NULL, name TEXT NOT NULL, create_time TEXT NOT NULL, creator TEXT,
    labels TEXT NOT NULL, image TEXT, env TEXT NOT NULL, conditions TEXT NOT NULL,
    PRIMARY KEY (service, name)
);
CREATE TABLE IF NOT EXISTS log_entry (
    id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL, severity TEXT NOT NULL,
    text TEXT NOT NULL, service TEXT, revision TEXT, instance TEXT, insert_id TEXT
);
CREATE INDEX IF NOT EXISTS log_entry_by_time ON log_entry (timestamp);
CREATE TABLE IF NOT EXISTS failed_processor_queue (
    game_date TEXT NOT NULL, processor_name TEXT NOT NULL, status TEXT NOT NULL,
    retry_count INTEGER NOT NULL DEFAULT 0, error_message TEXT,
    first_failure_at TEXT, last_retry_at TEXT
);
"""

# The same aggregate the BigQuery source pushes down: per processor and date, the run
# count, the successes, and the latest run's fields.
_BACKUP_COUNTS_SQL = """
SELECT phase, game_date, processor_name, COUNT(*), SUM(status IN ('success', 'partial')),
       MIN(completed_at)
FROM phase_completions
WHERE game_date IN ({dates})
GROUP BY phase, game_date, processor_name
"""
_BACKUP_LAST_SQL = """
SELECT phase, game_date, processor_name, MAX(completed_at), status, record_count,
       correlation_id, execution_id
FROM phase_completions
WHERE game_date IN ({dates})
GROUP BY phase, game_date, processor_name
"""
"""Each processor's runs of a date aggregated, and its newest run: two GROUP BYs on the
(game_date, phase, processor_name, completed_at) index. The newest run's columns are
SQLite's bare columns of a query with one max() aggregate, which come from the row that
holds the max (documented behaviour). One query with window functions took five times
as long (53 ms for the demo's two weeks: a tenth of the first frame)."""


def to_text(moment: datetime | None) -> str | None:
    """A datetime as stored: ISO 8601 in UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: store aware datetimes only")
    return (moment if moment.tzinfo is UTC else moment.astimezone(UTC)).isoformat()


def from_text(text: str | None) -> datetime | None:
    """A stored timestamp back as an aware datetime."""
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_READS = (
    "read_log",
    "fetch_log",
    "fetch_services",
    "fetch_completions",
    "scalar_query",
    "fetch_failed_queue",
    "fetch_execution_log",
    "completion_times",
    "trigger_times",
    "get_meta",
)
_ROW_ERRORS = (ValueError, TypeError, KeyError, IndexError, sqlite3.DatabaseError)


def _reads_fail_as_source_errors(cls: type[T]) -> type[T]:
    """A store file with a bad row (an unparsable date, JSON or type) makes that read fail
    as a source error (its pane's error state, exit 2 in a verb), never an internal one."""
    for name in _READS:
        method = getattr(cls, name)

        @functools.wraps(method)
        def read(self: LocalStore, *args: Any, __method: Any = method, **kwargs: Any) -> Any:
            try:
                return __method(self, *args, **kwargs)
            except _ROW_ERRORS as exc:
                raise SourceError(
                    f"{self.path}: a bad row in the store ({__method.__name__}: "
                    f"{type(exc).__name__}: {exc})"[:300]
                ) from None

        setattr(cls, name, read)
    return cls


@_reads_fail_as_source_errors
class LocalStore:
    """The SQLite store. Thread-safe: one connection behind a lock."""

    def __init__(self, path: str | Path = ":memory:", *, create: bool = True) -> None:
        """Open (and, when `create`, initialise) a store.

        Raises:
            SourceError: the file does not exist (with create=False) or is not an orchwatch store.
        """
        self.path = str(path)
        self.log_health: StreamHealth = "stopped"
        """A store file is a snapshot: its log stream is stopped. The live demo says "live"."""
        self._lock = threading.Lock()
        self._copies: list[Path] = []
        if not create:
            self._db = self._open_read_only()
            _bigquery_functions(self._db)
            return
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False)
            _bigquery_functions(self._db)
            with self._lock, self._db:
                self._db.executescript(SCHEMA)
                self._db.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
        except sqlite3.DatabaseError as exc:
            raise SourceError(f"{self.path}: not an orchwatch store ({exc})") from None

    def _open_read_only(self) -> sqlite3.Connection:
        """Open an existing store for reading only: never created, migrated or written, so
        reading a snapshot cannot change it, and a read-only one opens (`immutable=1` where
        even a read-only open needs to lock)."""
        path = Path(self.path)
        if path.is_dir():
            raise SourceError(f"{self.path}: is a folder, not a store file")
        if not path.is_file():
            raise SourceError(f"{self.path}: no such store file")
        uri = path.resolve().as_uri()
        if _is_wal(path):
            # A WAL store opened read-only still makes its -wal and -shm files beside it;
            # reading must not change the folder read. Without a -wal file everything is
            # in the main file, and `immutable` reads it without touching anything; with
            # one, a private copy of both is read.
            if not Path(f"{path}-wal").exists():
                uri = f"{uri}?immutable=1&"
            else:
                uri = self._private_copy(path).as_uri() + "?"
        else:
            uri += "?"
        for mode in ("mode=ro", "mode=ro&immutable=1"):
            try:
                db = sqlite3.connect(f"{uri}{mode}", uri=True, check_same_thread=False)
                self._check_is_store(db)
                return db
            except sqlite3.OperationalError as exc:
                reason = str(exc)
                if "unable to open" not in reason and "locked" not in reason:
                    break
            except sqlite3.DatabaseError as exc:
                reason = str(exc)
                break
        raise SourceError(f"{self.path}: not an orchwatch store ({reason})")

    def _private_copy(self, path: Path) -> Path:
        """The store and its -wal file copied into a private folder, removed on close."""
        folder = Path(tempfile.mkdtemp(prefix="orchwatch-store-"))
        self._copies.append(folder)
        copy = folder / "store.db"
        try:
            shutil.copyfile(path, copy)
            shutil.copyfile(f"{path}-wal", f"{copy}-wal")
        except OSError as exc:
            raise SourceError(f"{self.path}: cannot be read ({exc.strerror or exc})") from None
        return copy

    def _check_is_store(self, db: sqlite3.Connection) -> None:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "meta" not in tables:
            raise SourceError(f"{self.path}: not an orchwatch store (no meta table)")
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = str(row[0]) if row else ""
        if not version.isdigit():
            raise SourceError(f"{self.path}: not an orchwatch store (no schema version)")
        if int(version) > SCHEMA_VERSION:
            raise SourceError(
                f"{self.path}: written by a newer orchwatch (store schema {version}; this one "
                f"reads up to {SCHEMA_VERSION}); upgrade orchwatch to open it"
            )
        missing = sorted(set(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", SCHEMA)) - tables)
        if missing:
            raise SourceError(
                f"{self.path}: an incomplete orchwatch store (missing tables: "
                f"{', '.join(missing)}); nothing was changed"
            )

    def backup_to(self, path: Path) -> None:
        """Write the whole store to a file, replacing it whole: written under a name of its
        own first, so that processes writing the same file at once never share one."""
        with self._lock, atomic_target(path, replace=True) as tmp:
            target = sqlite3.connect(tmp)
            try:
                self._db.backup(target)
            finally:
                target.close()

    def restore_from(self, path: Path) -> None:
        """Replace the store's contents with a file's (written by `backup_to`).

        Raises:
            sqlite3.Error: the file is not a store.
        """
        with self._lock:
            source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                source.backup(self._db)
            finally:
                source.close()

    def close(self) -> None:
        """Close the connection (and remove a private copy it read)."""
        with self._lock:
            self._db.close()
        for folder in self._copies:
            shutil.rmtree(folder, ignore_errors=True)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._db:
            yield self._db

    def _query(
        self, sql: str, params: Sequence[object] | dict[str, object] = ()
    ) -> list[tuple[object, ...]]:
        try:
            with self._lock:
                return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise SourceError(f"{self.path}: {exc}") from None

    def export_rows(self, table: str) -> list[dict[str, object]]:
        """Every row of one of the BigQuery-shaped tables, as column -> stored value.

        Raises:
            ValueError: `table` is not one of them.
        """
        if table not in BIGQUERY_TABLES:
            raise ValueError(f"{table}: expected one of {', '.join(BIGQUERY_TABLES)}")
        names, rows = self.table_rows(table)
        return [dict(zip(names, row, strict=True)) for row in rows]

    def table_rows(self, table: str) -> tuple[list[str], list[tuple[object, ...]]]:
        """The column names and every row of one of the tables of what the sources show
        (`STATE_TABLES`), as stored.

        Raises:
            ValueError: `table` is not one of them.
        """
        if table not in STATE_TABLES:
            raise ValueError(f"{table}: expected one of {', '.join(STATE_TABLES)}")
        with self._lock:
            cursor = self._db.execute(f"SELECT * FROM {table}")
            return [c[0] for c in cursor.description], cursor.fetchall()

    def load_rows(
        self, table: str, columns: Sequence[str], rows: Iterable[Sequence[object]]
    ) -> None:
        """Append rows to one of `STATE_TABLES`, as `table_rows` gave them.

        Raises:
            ValueError: `table` is not one of them, or a column is not one of its own.
        """
        if table not in STATE_TABLES:
            raise ValueError(f"{table}: expected one of {', '.join(STATE_TABLES)}")
        with self._lock:
            known = {c[1] for c in self._db.execute(f"PRAGMA table_info({table})")}
        unknown = sorted(set(columns) - known)
        if unknown:
            raise ValueError(f"{table}: no column {', '.join(unknown)}")
        marks = ", ".join("?" * len(columns))
        with self._transaction() as db:
            db.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", list(rows)
            )

    # --- meta ----------------------------------------------------------------------------------

    def attach_dataset(self, name: str) -> None:
        """Give the store an empty schema `name` (in memory) for the tables of the BigQuery
        dataset of that name: a custom check names them `dataset.table`, as in BigQuery.

        Raises:
            ValueError: `name` is not a dataset name (letters, digits and underscores).
        """
        if not re.fullmatch(r"[A-Za-z_]\w{0,1023}", name):
            raise ValueError(f"not a dataset name: {name!r}")
        with self._transaction() as db:
            db.execute(f"ATTACH DATABASE ':memory:' AS {name}")

    def execute(self, sql: str, rows: Iterable[Sequence[object]] = ((),)) -> None:
        """Run a statement of SQLite's once per row of parameters (a fixture's tables and
        rows)."""
        with self._transaction() as db:
            db.executemany(sql, rows)

    def set_meta(self, key: str, value: str) -> None:
        """Store a free-form setting (scenario name, capture time...)."""
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def get_meta(self, key: str) -> str | None:
        """A free-form setting, or None."""
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    # --- writes (demo simulator, snapshots, tests) ----------------------------------------------

    def record_firestore(self, writes: Iterable[tuple[str, date, CompletionRecord]]) -> None:
        """Set processors' fields in completion documents, as the orchestrator does.

        Keeps each touched document's `_completed_count` and `_last_update` in step.
        """
        rows = [
            (
                phase,
                game_date.isoformat(),
                r.processor,
                r.status,
                to_text(r.completed_at),
                r.record_count,
                r.correlation_id,
                r.execution_id,
            )
            for phase, game_date, r in writes
        ]
        touched: dict[tuple[str, str], str | None] = {}
        for row in rows:
            key = (row[0], row[1])
            touched[key] = max(filter(None, (touched.get(key), row[4])), default=None)
        with self._transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO firestore_completion VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows
            )
            for (phase, day), last_update in touched.items():
                db.execute(
                    "INSERT INTO firestore_phase_meta"
                    " (phase, game_date, completed_count, last_update)"
                    " SELECT ?, ?, COUNT(*), ? FROM firestore_completion"
                    " WHERE phase = ? AND game_date = ?"
                    " ON CONFLICT (phase, game_date) DO UPDATE SET"
                    " completed_count = excluded.completed_count,"
                    " last_update = excluded.last_update",
                    (phase, day, last_update, phase, day),
                )

    def mark_triggered(
        self, phase: str, game_date: date, at: datetime, reason: str, mode: str
    ) -> None:
        """Set `_triggered` and its companions on a completion document."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO firestore_phase_meta"
                " (phase, game_date, triggered, triggered_at, mode, trigger_reason, last_update)"
                " VALUES (?, ?, 1, ?, ?, ?, ?) ON CONFLICT (phase, game_date) DO UPDATE SET"
                " triggered = 1, triggered_at = excluded.triggered_at, mode = excluded.mode,"
                " trigger_reason = excluded.trigger_reason, last_update = excluded.last_update",
                (phase, game_date.isoformat(), to_text(at), mode, reason, to_text(at)),
            )

    def put_document(self, document: PhaseDocument) -> None:
        """Replace a whole completion document (snapshots)."""
        with self._transaction() as db:
            key = (document.phase, document.game_date.isoformat())
            db.execute("DELETE FROM firestore_completion WHERE phase = ? AND game_date = ?", key)
            db.executemany(
                "INSERT INTO firestore_completion VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        *key,
                        r.processor,
                        r.status,
                        to_text(r.completed_at),
                        r.record_count,
                        r.correlation_id,
                        r.execution_id,
                    )
                    for r in document.records.values()
                ],
            )
            db.execute(
                "INSERT OR REPLACE INTO firestore_phase_meta VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    *key,
                    int(document.triggered),
                    to_text(document.triggered_at),
                    document.completed_count,
                    document.mode,
                    document.trigger_reason,
                    to_text(document.last_update),
                ),
            )

    def insert_backup_rows(self, rows: Iterable[BackupRow]) -> None:
        """Append runs to `phase_completions`."""
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO phase_completions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?8)",
                [
                    (
                        r.phase,
                        r.game_date.isoformat(),
                        r.processor_name,
                        r.status,
                        r.record_count,
                        r.correlation_id,
                        r.execution_id,
                        to_text(r.completed_at),
                        int(r.is_incremental),
                    )
                    for r in rows
                ],
            )

    def insert_execution_log(self, rows: Iterable[ExecutionLogRow]) -> None:
        """Append rows to `phase_execution_log`."""
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO phase_execution_log VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        to_text(r.execution_timestamp),
                        r.phase_name,
                        r.game_date.isoformat(),
                        r.correlation_id,
                        r.duration_seconds,
                        r.games_processed,
                        r.status,
                    )
                    for r in rows
                ],
            )

    def upsert_failed_queue(self, item: FailedQueueItem) -> None:
        """Insert or update a `failed_processor_queue` item (keyed by date and processor)."""
        with self._transaction() as db:
            db.execute(
                "DELETE FROM failed_processor_queue WHERE game_date = ? AND processor_name = ?",
                (item.game_date.isoformat(), item.processor_name),
            )
            db.execute(
                "INSERT INTO failed_processor_queue VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    item.game_date.isoformat(),
                    item.processor_name,
                    item.status,
                    item.retry_count,
                    item.error_message,
                    to_text(item.first_failure_at),
                    to_text(item.last_retry_at),
                ),
            )

    def insert_log(self, entries: Iterable[LogEntry]) -> None:
        """Append log entries."""
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO log_entry (timestamp, severity, text, service, revision, instance,"
                " insert_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        to_text(e.timestamp),
                        e.severity,
                        e.text,
                        e.service,
                        e.revision,
                        e.instance,
                        e.insert_id,
                    )
                    for e in entries
                ],
            )

    def read_log(self, cursor: int | None, limit: int) -> LogBatch:
        """Entries after `cursor` (None: the newest `limit`), oldest first."""
        if cursor is None:
            rows = self._query(
                "SELECT * FROM (SELECT * FROM log_entry ORDER BY id DESC LIMIT ?) ORDER BY id",
                (limit,),
            )
        else:
            rows = self._query(
                "SELECT * FROM log_entry WHERE id > ? ORDER BY id LIMIT ?", (cursor, limit)
            )
        entries = [_log_entry(row) for row in rows]
        last = int(str(rows[-1][0])) if rows else (cursor or 0)
        return LogBatch(entries, last, self.log_health)

    def fetch_log(
        self, since: datetime, services: Sequence[str] | None, evidence_only: bool = False
    ) -> list[LogEntry]:
        """Every entry since a time (of the given services; with `evidence_only`, those
        that may be crash evidence), oldest first."""
        sql = "SELECT * FROM log_entry WHERE timestamp >= ?"
        params: list[object] = [to_text(since)]
        if services:
            sql += f" AND service IN ({', '.join('?' * len(services))})"
            params += list(services)
        entries = [_log_entry(row) for row in self._query(sql + " ORDER BY timestamp, id", params)]
        if evidence_only:
            entries = [e for e in entries if may_be_evidence(e.severity, e.text)]
        return entries

    def put_revision(self, revision: Revision) -> None:
        """Insert or replace a Cloud Run revision."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO cloud_run_revision VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    revision.service,
                    revision.name,
                    to_text(revision.create_time),
                    revision.creator,
                    json.dumps(dict(revision.labels), sort_keys=True),
                    revision.image,
                    json.dumps(dict(revision.env), sort_keys=True),
                    json.dumps([_condition_json(c) for c in revision.conditions]),
                ),
            )

    def put_service(
        self,
        name: str,
        latest_created: str,
        latest_ready: str,
        traffic: Iterable[TrafficStatus],
        terminal: Condition | None = None,
        uri: str = "",
        pinned_to: Sequence[str] = (),
        reconciling: bool = False,
    ) -> None:
        """Insert or replace a Cloud Run service's state (its revisions are kept)."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO cloud_run_service VALUES (?, ?, ?, ?, ?, ?)",
                (
                    name,
                    latest_created,
                    latest_ready,
                    json.dumps(
                        [[t.revision, t.percent, t.tag, t.follows_latest] for t in traffic]
                        # A trailing object: how the service routes (older files have none).
                        + [{"pinned_to": list(pinned_to), "reconciling": reconciling}]
                    ),
                    json.dumps(_condition_json(terminal)) if terminal else None,
                    uri,
                ),
            )

    # --- reads (the CompletionSource and RevisionSource contracts) -----------------------------

    def fetch_services(self, names: Sequence[str]) -> list[ServiceState]:
        """The named services that exist, each with its revisions newest first."""
        if not names:
            return []
        marks = ", ".join("?" * len(names))
        services = self._query(f"SELECT * FROM cloud_run_service WHERE name IN ({marks})", names)
        revisions: dict[str, list[Revision]] = {}
        for row in self._query(
            f"SELECT * FROM cloud_run_revision WHERE service IN ({marks})"
            " ORDER BY create_time DESC",
            names,
        ):
            service, name, created, creator, labels, image, env, conditions = row
            revisions.setdefault(str(service), []).append(
                Revision(
                    name=str(name),
                    service=str(service),
                    create_time=from_text(str(created)) or datetime.min.replace(tzinfo=UTC),
                    creator=str(creator or ""),
                    labels=_json_strings(labels, "labels"),
                    image=str(image or ""),
                    env=_json_strings(env, "env"),
                    conditions=tuple(_condition(c) for c in _json_list(conditions, "conditions")),
                )
            )
        result = []
        for name, latest_created, latest_ready, traffic, terminal, uri in services:
            routing = _json_list(traffic, "traffic")
            routed = next((s for s in routing if isinstance(s, dict)), {})
            result.append(
                ServiceState(
                    name=str(name),
                    latest_created_revision=str(latest_created),
                    latest_ready_revision=str(latest_ready),
                    traffic=tuple(
                        TrafficStatus(str(s[0]), int(s[1]), str(s[2]), bool(s[3:4] and s[3]))
                        for s in routing
                        if isinstance(s, list)
                    ),
                    pinned_to=tuple(str(r) for r in routed.get("pinned_to", ())),
                    reconciling=bool(routed.get("reconciling", False)),
                    revisions=tuple(revisions.get(str(name), ())),
                    terminal_condition=_condition(json.loads(str(terminal))) if terminal else None,
                    uri=str(uri or ""),
                )
            )
        order = {name: i for i, name in enumerate(names)}
        return sorted(result, key=lambda s: order[s.name])

    # --- completions ---------------------------------------------------------------------------

    def fetch_completions(self, dates: Sequence[date]) -> dict[date, DateCompletions]:
        """Both stores' records for each date, in three queries whatever the date count."""
        if not dates:
            return {}
        keys = [d.isoformat() for d in dates]
        marks = ", ".join("?" * len(keys))
        records: dict[tuple[str, str], dict[str, CompletionRecord]] = {}
        for phase, day, processor, status, at, count, corr, execution in self._query(
            f"SELECT * FROM firestore_completion WHERE game_date IN ({marks})", keys
        ):
            records.setdefault((str(phase), str(day)), {})[str(processor)] = CompletionRecord(
                processor=str(processor),
                status=str(status),
                completed_at=from_text(_opt_str(at)),
                record_count=_opt_int(count),
                correlation_id=_opt_str(corr),
                execution_id=_opt_str(execution),
            )
        documents: dict[str, dict[str, PhaseDocument]] = {k: {} for k in keys}
        metas = self._query(
            f"SELECT * FROM firestore_phase_meta WHERE game_date IN ({marks})", keys
        )
        for phase, day, triggered, triggered_at, count, mode, reason, last_update in metas:
            documents[str(day)][str(phase)] = PhaseDocument(
                phase=str(phase),
                game_date=date.fromisoformat(str(day)),
                records=records.pop((str(phase), str(day)), {}),
                triggered=bool(triggered),
                triggered_at=from_text(_opt_str(triggered_at)),
                completed_count=_opt_int(count),
                mode=_opt_str(mode),
                trigger_reason=_opt_str(reason),
                last_update=from_text(_opt_str(last_update)),
            )
        for (phase, day), orphan in records.items():  # fields without a meta row
            documents[day][phase] = PhaseDocument(phase, date.fromisoformat(day), orphan)
        backups: dict[str, dict[str, dict[str, BackupSummary]]] = {k: {} for k in keys}
        counts = {
            (str(phase), str(day), str(processor)): (runs, successes, first_at)
            for phase, day, processor, runs, successes, first_at in self._query(
                _BACKUP_COUNTS_SQL.format(dates=marks), keys
            )
        }
        for row in self._query(_BACKUP_LAST_SQL.format(dates=marks), keys):
            phase, day, processor, last_at, status, count, corr, execution = row
            runs, successes, first_at = counts[(str(phase), str(day), str(processor))]
            backups[str(day)].setdefault(str(phase), {})[str(processor)] = BackupSummary(
                processor=str(processor),
                runs=int(str(runs)),
                successes=int(str(successes)),
                last_status=str(status),
                first_completed_at=from_text(_opt_str(first_at)),
                last_completed_at=from_text(_opt_str(last_at)),
                last_record_count=_opt_int(count),
                last_correlation_id=_opt_str(corr),
                last_execution_id=_opt_str(execution),
            )
        return {
            d: DateCompletions(d, documents[d.isoformat()], backups[d.isoformat()]) for d in dates
        }

    def watch_date(self, day: date, on_change: Callable[[], None]) -> None:
        """A store cannot push changes; the app's polling sees them."""

    def scalar_query(self, sql: str, game_date: date) -> float | None:
        """Run a custom check's SQL (`{dataset}` removed, `@date` bound) and return its number.

        Raises:
            SourceError: the SQL fails; the message is SQLite's.
        """
        rows = self._query(sql.replace("{dataset}", ""), {"date": game_date.isoformat()})
        if not rows or rows[0][0] is None:
            return None
        return float(str(rows[0][0]))

    def fetch_failed_queue(self, game_date: date) -> list[FailedQueueItem]:
        """`failed_processor_queue` items for one date."""
        rows = self._query(
            "SELECT * FROM failed_processor_queue WHERE game_date = ? ORDER BY processor_name",
            (game_date.isoformat(),),
        )
        return [
            FailedQueueItem(
                game_date=date.fromisoformat(str(day)),
                processor_name=str(name),
                status=str(status),
                retry_count=int(str(retries)),
                error_message=str(error or ""),
                first_failure_at=from_text(_opt_str(first)),
                last_retry_at=from_text(_opt_str(last)),
            )
            for day, name, status, retries, error, first, last in rows
        ]

    def fetch_execution_log(self, game_date: date) -> list[ExecutionLogRow]:
        """`phase_execution_log` rows for one date, oldest first."""
        rows = self._query(
            "SELECT * FROM phase_execution_log WHERE game_date = ? ORDER BY execution_timestamp",
            (game_date.isoformat(),),
        )
        return [
            ExecutionLogRow(
                execution_timestamp=from_text(str(at)) or datetime.min.replace(tzinfo=UTC),
                phase_name=str(phase),
                game_date=date.fromisoformat(str(day)),
                correlation_id=_opt_str(corr),
                duration_seconds=None if duration is None else float(str(duration)),
                games_processed=_opt_int(games),
                status=str(status),
            )
            for at, phase, day, corr, duration, games, status in rows
        ]

    def completion_times(self, since: datetime, until: datetime) -> list[tuple[str, datetime]]:
        """(phase, completed_at) of every processor run that completed in [since, until),
        oldest first: when each completion message was published."""
        rows = self._query(
            "SELECT phase, completed_at FROM phase_completions "
            "WHERE completed_at >= ? AND completed_at < ? ORDER BY completed_at",
            (to_text(since), to_text(until)),
        )
        return [(str(phase), from_text(str(at)) or since) for phase, at in rows]

    def trigger_times(self, since: datetime, until: datetime) -> list[tuple[str, datetime]]:
        """(phase_name, execution_timestamp) of every transition run in [since, until),
        oldest first: when each trigger message was published."""
        rows = self._query(
            "SELECT phase_name, execution_timestamp FROM phase_execution_log "
            "WHERE execution_timestamp >= ? AND execution_timestamp < ? "
            "ORDER BY execution_timestamp",
            (to_text(since), to_text(until)),
        )
        return [(str(name), from_text(str(at)) or since) for name, at in rows]


def _log_entry(row: tuple[object, ...]) -> LogEntry:
    _, at, severity, text, service, revision, instance, insert_id = row
    return LogEntry(
        timestamp=from_text(str(at)) or datetime.min.replace(tzinfo=UTC),
        severity=str(severity),
        text=str(text),
        service=str(service or ""),
        revision=str(revision or ""),
        instance=str(instance or ""),
        insert_id=str(insert_id or ""),
    )


def _condition_json(condition: Condition) -> dict[str, object]:
    return {
        "type": condition.type,
        "state": condition.state.value,
        "reason": condition.reason,
        "message": condition.message,
        "last_transition_time": to_text(condition.last_transition_time),
    }


def _is_wal(path: Path) -> bool:
    """Whether a SQLite file is in WAL mode (bytes 18 and 19 of its header are 2)."""
    try:
        with path.open("rb") as handle:
            header = handle.read(20)
    except OSError:
        return False
    return header.startswith(b"SQLite format 3\x00") and header[18:20] == b"\x02\x02"


def _json_strings(text: object, column: str) -> dict[str, str]:
    """A column holding a JSON object of strings (labels, env).

    Raises:
        ValueError: it holds anything else (a store row is judged by its shape, not trusted).
    """
    value = json.loads(str(text))
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError(f"{column}: expected a JSON object of strings")
    return value


def _json_list(text: object, column: str) -> list[Any]:
    """A column holding a JSON array (conditions, traffic).

    Raises:
        ValueError: it holds anything else.
    """
    value = json.loads(str(text))
    if not isinstance(value, list):
        raise ValueError(f"{column}: expected a JSON array")
    return value


def _condition(data: object) -> Condition:
    if not isinstance(data, dict):
        raise ValueError("a condition: expected a JSON object")
    return Condition(
        type=str(data["type"]),
        state=ConditionState(str(data["state"])),
        reason=str(data.get("reason") or ""),
        message=str(data.get("message") or ""),
        last_transition_time=from_text(_opt_str(data.get("last_transition_time"))),
    )


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def _opt_int(value: object) -> int | None:
    return None if value is None else int(str(value))


def _unix_date(value: object) -> int | None:
    """BigQuery's `UNIX_DATE`: days from 1970-01-01 to a date (`YYYY-MM-DD...`)."""
    if value is None:
        return None
    return (date.fromisoformat(str(value)[:10]) - date(1970, 1, 1)).days


def _bigquery_functions(db: sqlite3.Connection) -> None:
    """The BigQuery functions a custom check may use that SQLite lacks, so that one SQL
    text runs on both: `UNIX_DATE(date)` (date arithmetic without dialect)."""
    db.create_function("UNIX_DATE", 1, _unix_date, deterministic=True)
