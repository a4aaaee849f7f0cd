"""A recorded moment as `Sources` (`orchwatch --source recording.db [--as-of T]`).

The moment's parts are loaded into an in-memory store, the format of a snapshot, so every
pane, explain, the timeline and the walkthrough read it as they read a snapshot captured
then; its log is the recorder's, up to the moment. A source the recorder could not read
then answers with the reason it could not.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from orchwatch.config import Environment
from orchwatch.dates import humanize_age
from orchwatch.pubsub import SAMPLE_PERIOD
from orchwatch.sources.base import SourceError, Sources
from orchwatch.sources.history import (
    GROUPS,
    Moment,
    RecordedBuilds,
    RecordedExports,
    RecordedInvokers,
    RecordedLogs,
    RecordedScheduler,
    Recording,
    RecordingError,
    Unrecorded,
    decode_json,
    decode_table,
    with_until,
)
from orchwatch.sources.local import STATE_TABLES, LocalStore, to_text
from orchwatch.sources.stored_pubsub import READINGS, UNREAD, StoredPubSub

T = TypeVar("T")

_WHAT = {
    "completions": "Firestore and BigQuery",
    "revisions": "Cloud Run",
    "logs": "Cloud Logging",
    "pubsub": "Pub/Sub",
    "invokers": "Cloud Run IAM",
    "scheduler": "Cloud Scheduler",
    "builds": "Cloud Build",
    "exports": "Cloud Storage",
}


@dataclass(frozen=True)
class _Shown:
    """One moment's sources, as loaded."""

    moment: Moment
    store: LocalStore
    completions: object
    revisions: object
    logs: object
    pubsub: object | None
    invokers: object | None
    scheduler: object | None
    builds: object | None
    exports: object | None


class Playhead:
    """Which recorded moment the sources show, and the clock they are judged by. It moves:
    to the newest moment as the recorder adds them (`follow`, through `advance`, which the
    panes call before each read), or where it is sent (`go`)."""

    def __init__(
        self,
        recording: Recording,
        path: Path,
        moment: Moment,
        asked: datetime | None,
        monotonic: Callable[[], float] = time.monotonic,
        owns_recording: bool = True,
    ) -> None:
        self.recording = recording
        self._monotonic = monotonic
        self.path = path
        self.asked = asked
        """The moment asked for (`--as-of`), None for the moment's own capture time."""
        self.follow = asked is None
        """Whether it moves on to each new moment (opened without `--as-of`)."""
        self._lock = threading.Lock()
        # Pub/Sub is recorded once per metric sample period (`recorder._read_pubsub`): a
        # moment between two readings shows the one before it.
        every = timedelta(seconds=float(recording.get_meta("interval_seconds") or 0))
        self._pubsub_lag = SAMPLE_PERIOD + every
        self._interval = every.total_seconds()
        self._moved_at = self._reopened_at = monotonic()
        """When the shown moment last moved on, and when the file was last opened again."""
        self._retired: Recording | None = None
        """The recording file's previous opening, kept while the moment before reads it."""
        self.owns_recording = owns_recording
        """Whether closing closes the recording (not one shared by many rewinds)."""
        self.shown = self._load(moment)
        self._previous: _Shown | None = None

    def environment(self) -> tuple[Environment, str] | None:
        """The environment the recording was made of, and its region (None: the demo, a
        store file, or a project without one)."""
        try:
            data = json.loads(self.recording.get_meta("environment") or "null")
        except (RecordingError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        try:
            environment = Environment(
                str(data["name"]),
                str(data["project"]),
                colour=str(data.get("colour", "blue")),
                production=bool(data.get("production", False)),
            )
        except KeyError:
            return None
        return environment, str(data.get("region", ""))

    @property
    def moment(self) -> Moment:
        """The moment shown."""
        return self.shown.moment

    def now(self) -> datetime:
        """The clock the moment is judged by: the time asked for, else its capture."""
        return self.asked or self.shown.moment.captured_at

    def span(self) -> tuple[Moment, Moment]:
        """The recording's first and last moment."""
        try:
            span = self.recording.span()
        except RecordingError as exc:
            raise SourceError(str(exc)) from None
        return span or (self.moment, self.moment)

    def banner(self) -> str:
        """`RECORDING · history.db · showing 2026-02-01 06:30:00Z (following) · recorded …`."""
        first, last = self.span()
        state = " (following)" if self.follow else ""
        quiet = self.silent_for()
        if quiet is not None:
            quiet_for = humanize_age(quiet)
            state = f" (following · nothing new for {quiet_for}: is the recorder running?)"
        return (
            f"RECORDING · {self.path.name} · showing {self.moment.captured_at:%Y-%m-%d %H:%M:%S}Z"
            f"{state} · recorded {first.captured_at:%Y-%m-%d %H:%M}Z to "
            f"{last.captured_at:%Y-%m-%d %H:%M}Z"
        )

    def advance(self) -> int:
        """Following: move to the newest moment recorded; returns 1 when it moved."""
        if not self.follow:
            return 0
        try:
            latest = self.recording.moment_at(None)
        except RecordingError:
            return 0
        if latest.id == self.moment.id and self.silent_for() is not None:
            latest = self._reopen() or latest
        if latest.id == self.moment.id:
            return 0
        self._show(latest)
        self._moved_at = self._monotonic()
        return 1

    def silent_for(self) -> float | None:
        """Following, the seconds since the shown moment last moved on when that is longer
        than three polls and half a minute (the recorder has stopped, or cannot read);
        None otherwise."""
        if not self.follow or not self._interval:
            return None
        quiet = self._monotonic() - self._moved_at
        return quiet if quiet > 3 * self._interval + 30 else None

    def _reopen(self) -> Moment | None:
        """Open the file again (at most once a poll): a file opened while no recorder wrote
        it is read as immutable, and a recorder started again on it is seen only by a new
        opening. Returns the newest moment when that opening has a newer one."""
        now = self._monotonic()
        if not self.owns_recording or now - self._reopened_at < max(self._interval, 1.0):
            return None
        self._reopened_at = now
        try:
            fresh = Recording(self.path)
            latest = fresh.moment_at(None)
        except RecordingError:
            return None
        if latest.captured_at <= self.moment.captured_at:
            fresh.close()
            return None
        if self._retired is not None:
            self._retired.close()
        self._retired, self.recording = self.recording, fresh
        return latest

    def go(self, target: Moment) -> None:
        """Show `target` (following again when it is the newest).

        Raises:
            SourceError: its parts cannot be read.
        """
        self.asked = None
        self._show(target)
        self.follow = target.id == self.span()[1].id

    def step(self, moments: int) -> Moment | None:
        """The moment `moments` polls away from the one shown (None: none there)."""
        try:
            return self.recording.step(self.moment, moments)
        except RecordingError as exc:
            raise SourceError(str(exc)) from None

    def at(self, moment: datetime) -> Moment:
        """The moment that shows the time `moment`.

        Raises:
            SourceError: outside the recording, or in a gap (the message says).
        """
        try:
            return self.recording.moment_at(moment)
        except RecordingError as exc:
            raise SourceError(str(exc)) from None

    def _show(self, moment: Moment) -> None:
        shown = self._load(moment)
        with self._lock:
            # The moment before last is closed: a read still using the last one finishes.
            if self._previous is not None:
                self._previous.store.close()
            self._previous, self.shown = self.shown, shown

    def _load(self, moment: Moment) -> _Shown:
        try:
            parts = self.recording.parts_at(moment)
        except RecordingError as exc:
            raise SourceError(str(exc)) from None
        store = LocalStore()
        outages: dict[str, str] = {}
        for name, (body, error) in parts.items():
            group = next(g for g, names in GROUPS.items() if name in names)
            if error is not None:
                outages[group] = error
            elif body is not None and name == "pubsub":
                store.set_meta(READINGS, json.dumps(with_until(decode_json(body), moment)))
            elif body is not None and name in STATE_TABLES:
                columns, rows = decode_table(body)
                store.load_rows(name, columns, rows)
        if "pubsub" in outages:
            store.set_meta(UNREAD, outages["pubsub"])
        store.set_meta("captured_at", to_text(moment.captured_at) or "")
        store.set_meta("dates", ",".join(d.isoformat() for d in moment.dates))

        def unread(group: str) -> Unrecorded | None:
            reason = outages.get(group)
            return Unrecorded(_WHAT[group], moment, reason) if reason is not None else None

        return _Shown(
            moment,
            store,
            completions=unread("completions") or store,
            revisions=unread("revisions") or store,
            logs=unread("logs") or RecordedLogs(self.recording, moment),
            pubsub=StoredPubSub(store, self._pubsub_lag) if "pubsub" in parts else None,
            invokers=unread("invokers") or _held(parts, "invokers", RecordedInvokers),
            scheduler=unread("scheduler") or _held(parts, "scheduler", RecordedScheduler),
            builds=unread("builds") or _held(parts, "builds", RecordedBuilds),
            exports=unread("exports") or _held(parts, "exports", RecordedExports),
        )

    def close(self) -> None:
        """Close the moments' stores and the recording."""
        for shown in (self._previous, self.shown):
            if shown is not None:
                shown.store.close()
        if self.owns_recording:
            self.recording.close()
        if self._retired is not None:
            self._retired.close()


class _Current:
    """One source of whichever moment the playhead shows (each call reads the moment then
    shown)."""

    def __init__(self, playhead: Playhead, kind: str) -> None:
        self._playhead = playhead
        self._kind = kind

    def __getattr__(self, name: str) -> Any:
        return getattr(getattr(self._playhead.shown, self._kind), name)


def rewind(path: Path, at: datetime | None, shared: Recording | None = None) -> Sources:
    """The sources of the moment of the recording at `path` that shows `at` (None: the
    latest, following the recorder from there), judged as of `at` (or the moment's
    capture). With `shared` (an opening of `path` kept by the caller, as a postmortem
    does for its many moments), the sources read it and leave it open when closed.

    Raises:
        SourceError: not a recording, nothing recorded, or `at` outside what was recorded
            (the message says what the recording covers).
    """
    try:
        recording = shared or Recording(path)
        try:
            moment = recording.moment_at(at)
        except RecordingError:
            if shared is None:
                recording.close()
            raise
    except RecordingError as exc:
        raise SourceError(str(exc)) from None
    try:
        playhead = Playhead(recording, path, moment, at, owns_recording=shared is None)
    except SourceError:
        if shared is None:
            recording.close()
        raise
    shown = playhead.shown

    def current(kind: str) -> Any:
        return _Current(playhead, kind) if getattr(shown, kind) is not None else None

    return Sources(
        kind="file",
        description=f"{path} (recording)",
        where=f"the recording {path}",
        clock=playhead,
        completions=current("completions"),
        revisions=current("revisions"),
        logs=current("logs"),
        pubsub=current("pubsub"),
        invokers=current("invokers"),
        scheduler=current("scheduler"),
        builds=current("builds"),
        exports=current("exports"),
        live=playhead,
        dates=(min(moment.dates), max(moment.dates)) if moment.dates else None,
        closers=[playhead],
        rewound=playhead,
    )


def _held(
    parts: dict[str, tuple[bytes | None, str | None]], name: str, build: Callable[[bytes], T]
) -> T | None:
    body = parts.get(name, (None, None))[0]
    return build(body) if body is not None else None
