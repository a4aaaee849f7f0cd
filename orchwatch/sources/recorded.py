"""A recorded moment as `Sources` (`orchwatch --source recording.db [--as-of T]`).

The moment's parts are loaded into an in-memory store, the format of a snapshot, so every
pane, explain, the timeline and the walkthrough read it as they read a snapshot captured
then; its log is the recorder's, up to the moment. A source the recorder could not read
then answers with the reason it could not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from orchwatch.clock import FrozenClock
from orchwatch.sources.base import SourceError, Sources
from orchwatch.sources.history import (
    GROUPS,
    Moment,
    RecordedInvokers,
    RecordedLogs,
    RecordedScheduler,
    Recording,
    RecordingError,
    Unrecorded,
    decode_table,
)
from orchwatch.sources.local import LocalStore, to_text
from orchwatch.sources.stored_pubsub import READINGS, UNREAD, StoredPubSub

T = TypeVar("T")

_WHAT = {
    "completions": "Firestore and BigQuery",
    "revisions": "Cloud Run",
    "logs": "Cloud Logging",
    "pubsub": "Pub/Sub",
    "invokers": "Cloud Run IAM",
    "scheduler": "Cloud Scheduler",
}


@dataclass(frozen=True)
class Rewound:
    """Which recorded moment a set of sources shows, for the banner and the step keys."""

    path: Path
    moment: Moment
    first: Moment
    last: Moment
    asked: datetime | None
    """The moment asked for (`--as-of`), None for the latest."""

    def banner(self) -> str:
        """`RECORDING · history.db · 2026-02-01 06:30:00Z (recorded to 2026-02-01 07:30Z)`."""
        return (
            f"RECORDING · {self.path.name} · showing {self.moment.captured_at:%Y-%m-%d %H:%M:%S}Z"
            f" · recorded {self.first.captured_at:%Y-%m-%d %H:%M}Z to "
            f"{self.last.captured_at:%Y-%m-%d %H:%M}Z"
        )


def rewind(path: Path, at: datetime | None) -> Sources:
    """The sources of the moment of the recording at `path` that shows `at` (None: the
    latest), judged as of `at` (or the moment's capture).

    Raises:
        SourceError: not a recording, nothing recorded, or `at` outside what was recorded
            (the message says what the recording covers).
    """
    try:
        recording = Recording(path)
        try:
            span = recording.span()
            moment = recording.moment_at(at)
            parts = recording.parts_at(moment)
        except RecordingError:
            recording.close()
            raise
    except RecordingError as exc:
        raise SourceError(str(exc)) from None
    assert span is not None
    store = LocalStore()
    outages: dict[str, str] = {}
    for name, (body, error) in parts.items():
        group = next(g for g, names in GROUPS.items() if name in names)
        if error is not None:
            outages[group] = error
        elif body is not None and name == "pubsub":
            store.set_meta(READINGS, body.decode())
        elif body is not None and name in ("invokers", "scheduler"):
            continue
        elif body is not None:
            columns, rows = decode_table(body)
            store.load_rows(name, columns, rows)
    if "pubsub" in outages:
        store.set_meta(UNREAD, f"unread when recorded: {outages['pubsub']}")
    now = at or moment.captured_at
    store.set_meta("captured_at", to_text(moment.captured_at) or "")
    store.set_meta("dates", ",".join(d.isoformat() for d in moment.dates))
    shown = Rewound(path, moment, span[0], span[1], at)

    def unread(group: str) -> Unrecorded | None:
        reason = outages.get(group)
        return Unrecorded(_WHAT[group], moment, reason) if reason is not None else None

    return Sources(
        kind="file",
        description=f"{path} (recorded, {moment.captured_at:%Y-%m-%d %H:%M:%S}Z)",
        where=f"the recording {path}",
        clock=FrozenClock(now),
        completions=unread("completions") or store,
        revisions=unread("revisions") or store,
        logs=unread("logs") or RecordedLogs(recording, moment),
        pubsub=StoredPubSub(store) if "pubsub" in parts else None,
        invokers=unread("invokers") or _held(parts, "invokers", RecordedInvokers),
        scheduler=unread("scheduler") or _held(parts, "scheduler", RecordedScheduler),
        dates=(min(moment.dates), max(moment.dates)) if moment.dates else None,
        closers=[store, recording],
        rewound=shown,
    )


def _held(
    parts: dict[str, tuple[bytes | None, str | None]], name: str, build: Callable[[bytes], T]
) -> T | None:
    body = parts.get(name, (None, None))[0]
    return build(body) if body is not None else None
