"""Completion documents from Firestore: `get_all` of known ids, a listener on one date.

The orchestrator keeps one document per phase and date (`{phase}_completion/
{YYYY-MM-DD}`), so orchwatch never scans a collection: it computes the ids and
reads them in one batched `get_all` call. The selected date is watched with
snapshot listeners instead (one per phase document); while they are live, its
documents come from memory and a change there refreshes the pane at once.
Dates other than today and the selected one change rarely: they are re-read
at most every `settled_ttl` seconds.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from orchwatch.config import Config
from orchwatch.model import CompletionRecord, PhaseDocument
from orchwatch.sources.base import SourceError
from orchwatch.sources.gcp.clients import GcpClients
from orchwatch.sources.gcp.errors import api_errors

SETTLED_TTL = 300.0
CALL_TIMEOUT = 20.0
"""No retries inside a call: the pane retries with backoff, and an outage shows at once."""


def parse_document(phase: str, game_date: date, data: Mapping[str, Any]) -> PhaseDocument:
    """A completion document's fields as a `PhaseDocument`.

    Processor fields are maps; fields starting with `_` are the orchestrator's metadata.
    Anything else (a stray scalar field) is ignored rather than trusted.
    """
    records: dict[str, CompletionRecord] = {}
    for name, value in data.items():
        if name.startswith("_") or not isinstance(value, Mapping):
            continue
        records[name] = CompletionRecord(
            processor=name,
            status=str(value.get("status") or "success"),
            completed_at=_moment(value.get("completed_at")),
            record_count=_int(value.get("record_count")),
            correlation_id=_str(value.get("correlation_id")),
            execution_id=_str(value.get("execution_id")),
        )
    return PhaseDocument(
        phase=phase,
        game_date=game_date,
        records=records,
        triggered=bool(data.get("_triggered", False)),
        triggered_at=_moment(data.get("_triggered_at")),
        completed_count=_int(data.get("_completed_count")),
        mode=_str(data.get("_mode")),
        trigger_reason=_str(data.get("_trigger_reason")),
        last_update=_moment(data.get("_last_update")),
    )


def document_fields(document: PhaseDocument) -> dict[str, Any]:
    """The Firestore fields of a `PhaseDocument` (seeding emulators, round trips)."""
    fields: dict[str, Any] = {
        name: {
            "status": r.status,
            "completed_at": r.completed_at,
            "record_count": r.record_count,
            "correlation_id": r.correlation_id,
            "execution_id": r.execution_id,
        }
        for name, r in document.records.items()
    }
    meta = {
        "_triggered": document.triggered,
        "_triggered_at": document.triggered_at,
        "_completed_count": document.completed_count,
        "_mode": document.mode,
        "_trigger_reason": document.trigger_reason,
        "_last_update": document.last_update,
    }
    fields.update({k: v for k, v in meta.items() if v is not None})
    return fields


def _moment(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: object) -> str | None:
    return None if value is None else str(value)


class FirestoreCompletions:
    """Reads completion documents; watches the selected date with snapshot listeners."""

    def __init__(
        self,
        config: Config,
        clients: GcpClients,
        clock: Callable[[], float] = time.monotonic,
        settled_ttl: float = SETTLED_TTL,
    ) -> None:
        self.config = config
        self.clients = clients
        self._clock = clock
        self._settled_ttl = settled_ttl
        self._lock = threading.Lock()
        self._settled: dict[date, tuple[float, dict[str, PhaseDocument]]] = {}
        self._watched: date | None = None
        self._watches: list[Any] = []
        self._live: dict[str, PhaseDocument | None] = {}
        """The watched date's documents, by phase, as the listeners last saw them."""
        self._on_change: Callable[[], None] | None = None
        self.resubscribes = 0
        """How many times dead listeners were replaced."""
        self.last_listener_error = ""
        self._reachable = False
        """Whether the last `get_all` answered. Listeners are opened only then: against an
        endpoint that refuses connections, the library's Listen stream reopens at once,
        again and again, and spins a core (measured: 100% for as long as it is left)."""
        self._wanted: tuple[date, Callable[[], None]] | None = None
        """The date to listen to once Firestore answers a read."""

    @property
    def _collections(self) -> dict[str, str]:
        return {p.name: p.firestore_collection for p in self.config.phases}

    def documents(
        self, dates: Sequence[date], today: date | None = None
    ) -> dict[date, dict[str, PhaseDocument]]:
        """Each date's documents by phase, in one `get_all` for the dates that need reading.

        Raises:
            SourceError: Firestore cannot be read; the message says why.
        """
        self._check_listeners()
        result: dict[date, dict[str, PhaseDocument]] = {}
        wanted: list[date] = []
        now = self._clock()
        with self._lock:
            live_ready = self._watched is not None and len(self._live) == len(self._collections)
            for day in dates:
                if day == self._watched and live_ready:
                    result[day] = {p: d for p, d in self._live.items() if d is not None}
                elif (
                    day in self._settled
                    and day != today
                    and day != self._watched
                    and (now - self._settled[day][0] < self._settled_ttl)
                ):
                    result[day] = self._settled[day][1]
                else:
                    wanted.append(day)
        if wanted:
            try:
                read = self._get_all(wanted)
            except SourceError:
                self._unreachable()
                raise
            with self._lock:
                for day in wanted:
                    result[day] = read.get(day, {})
                    self._settled[day] = (now, result[day])
            self._answered()
        return result

    def _unreachable(self) -> None:
        """A read failed: close the listeners (they would spin reopening), keep the date."""
        with self._lock:
            self._reachable = False
            if self._watched is not None and self._on_change is not None:
                self._wanted = (self._watched, self._on_change)
        self.unwatch()

    def _answered(self) -> None:
        """A read answered: open the listeners on the date asked for, if none are open."""
        with self._lock:
            self._reachable = True
            wanted, self._wanted = self._wanted, None
            listening = bool(self._watches)
        if wanted is not None and not listening:
            try:
                self.watch(*wanted)
            except SourceError as exc:  # the refresh reads with get_all; the next tries again
                self.last_listener_error = str(exc)

    def _get_all(self, dates: Sequence[date]) -> dict[date, dict[str, PhaseDocument]]:
        client_api = self.clients.api("firestore")
        with api_errors(client_api):
            client = self.clients.firestore()
            refs = [
                client.collection(collection).document(day.isoformat())
                for day in dates
                for collection in self._collections.values()
            ]
            by_collection = {c: p for p, c in self._collections.items()}
            result: dict[date, dict[str, PhaseDocument]] = {}
            self.clients.meter.count("firestore", "BatchGetDocuments")
            for snapshot in client.get_all(refs, retry=None, timeout=CALL_TIMEOUT):
                if not snapshot.exists:
                    continue
                phase = by_collection[snapshot.reference.parent.id]
                day = date.fromisoformat(snapshot.id)
                result.setdefault(day, {})[phase] = parse_document(
                    phase, day, snapshot.to_dict() or {}
                )
            return result

    # --- the listener on the selected date ------------------------------------------------------

    def _check_listeners(self) -> None:
        """The watchdog, run on every refresh. When the Listen stream ends with an error it
        cannot recover from, the client library closes it on its own thread and never calls
        back, so the watched date would freeze without a word. A listener that is no longer
        active is closed and subscribed again; until the new one answers, the date is read
        with `get_all` like any other."""
        with self._lock:
            dead = bool(self._watches) and not all(w.is_active for w in self._watches)
            day, callback = self._watched, self._on_change
        if not dead or day is None or callback is None:
            return
        self.unwatch()
        self.resubscribes += 1
        try:
            self.watch(day, callback)
        except Exception as exc:  # the refresh reads with get_all; the next one tries again
            self.last_listener_error = str(exc)

    @property
    def mode(self) -> str:
        """How the watched date is read: "listening", "reading" (get_all while the
        listeners start or after they died), or "" when no date is watched."""
        with self._lock:
            if self._watched is None:
                return "reading" if self._wanted is not None else ""
            live = len(self._live) == len(self._collections)
            return "listening" if live and self._watches else "reading"

    def watch(self, day: date, on_change: Callable[[], None]) -> None:
        """Listen to `day`'s documents; `on_change` is called (from a client thread) on news.
        Firestore must answer a read first: if it does not, the date is only remembered and
        the listeners open after the next read that answers (see `_reachable`).

        Raises:
            SourceError: the listeners cannot be opened.
        """
        with self._lock:
            if day == self._watched and self._watches:
                self._on_change = on_change
                return
            reachable = self._reachable
        if not reachable:  # one read first: does Firestore answer at all?
            try:
                self._get_all([day])
            except SourceError:
                with self._lock:
                    self._wanted = (day, on_change)
                return
            with self._lock:
                self._reachable = True
        self.unwatch()
        with api_errors(self.clients.api("firestore")):
            client = self.clients.firestore()
            with self._lock:
                self._watched, self._live, self._on_change = day, {}, on_change
            watches = []
            for phase, collection in self._collections.items():
                ref = client.collection(collection).document(day.isoformat())
                self.clients.meter.count("firestore", "Listen")
                watches.append(ref.on_snapshot(self._listener(phase, day)))
            with self._lock:
                self._watches = watches

    def _listener(self, phase: str, day: date) -> Callable[[list[Any], object, object], None]:
        def changed(snapshots: list[Any], _changes: object, _read_time: object) -> None:
            document = None
            for snapshot in snapshots:
                if snapshot.exists:
                    document = parse_document(phase, day, snapshot.to_dict() or {})
            with self._lock:
                if self._watched != day:
                    return
                first = phase not in self._live
                before = self._live.get(phase)
                self._live[phase] = document
                callback = self._on_change
            if callback is not None and not first and before != document:
                callback()

        return changed

    def unwatch(self) -> None:
        """Close the listeners (before watching another date, and at exit)."""
        with self._lock:
            watches, self._watches = self._watches, []
            self._watched, self._live = None, {}
        for watch in watches:
            with contextlib.suppress(Exception):
                watch.unsubscribe()

    @property
    def watching(self) -> date | None:
        """The date whose documents come from the listeners, once they all answered."""
        with self._lock:
            if self._watched is not None and len(self._live) == len(self._collections):
                return self._watched
            return None

    def close(self) -> None:
        """Stop the listeners."""
        self.unwatch()
