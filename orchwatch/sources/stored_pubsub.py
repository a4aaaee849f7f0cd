"""Pub/Sub as a snapshot or a recording captured it: the readings of the captured dates,
kept in the store file (data, decoded into typed records), served for the windows read."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import msgspec

from orchwatch.pubsub import OutgoingMessage, PubSubReading
from orchwatch.sources.base import SourceError
from orchwatch.sources.local import LocalStore

READINGS = "pubsub_readings"
"""Store meta: the Pub/Sub readings a snapshot captured (a JSON list)."""
UNREAD = "pubsub_error"
"""Store meta: why Pub/Sub could not be read when the snapshot was taken."""


def encode_readings(readings: Sequence[PubSubReading]) -> str:
    """The readings as the meta value a snapshot keeps."""
    return msgspec.json.encode(list(readings)).decode("utf-8")


class StoredPubSub:
    """The `PubSubSource` of a snapshot: it answers for the windows it captured.

    A recording reads Pub/Sub once per metric sample period, not at every moment: with
    `lag`, a window still running is answered by the reading of the same start that ended
    at most `lag` before the window asked for (the last reading taken by then)."""

    def __init__(self, store: LocalStore, lag: timedelta = timedelta(0)) -> None:
        self.store = store
        self.lag = lag
        self._readings: list[PubSubReading] | None = None

    @staticmethod
    def held_by(store: LocalStore) -> bool:
        """Whether the store file has Pub/Sub to serve (or says why it has none)."""
        return store.get_meta(READINGS) is not None or store.get_meta(UNREAD) is not None

    def _all(self) -> list[PubSubReading]:
        if self._readings is None:
            unread = self.store.get_meta(UNREAD)
            if unread:
                raise SourceError(
                    f"Pub/Sub could not be read when the snapshot was taken: {unread}"
                )
            try:
                self._readings = msgspec.json.decode(
                    self.store.get_meta(READINGS) or "[]", type=list[PubSubReading]
                )
            except msgspec.DecodeError as exc:  # ValidationError is one too
                raise SourceError(f"{self.store.path}: a bad Pub/Sub reading ({exc})") from None
        return self._readings

    def read_pubsub(self, topics: Sequence[str], since: datetime, until: datetime) -> PubSubReading:
        """The captured reading of this window.

        Raises:
            SourceError: the snapshot holds no reading of it (the message says which).
        """
        readings = self._all()
        taken = [r for r in readings if r.since == since and until - self.lag <= r.until <= until]
        if taken:
            reading = max(taken, key=lambda r: r.until)
            missing = [t for t in topics if t not in reading.topics]
            if missing:
                raise SourceError(
                    f"the snapshot's Pub/Sub reading has no topic {', '.join(missing)}"
                )
            return reading

        def span(start: datetime, end: datetime) -> str:
            return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M %Z}"

        held = "; ".join(span(r.since, r.until) for r in readings)
        raise SourceError(
            f"the snapshot holds Pub/Sub for {held or 'no window'} only "
            f"(asked {span(since, until)})"
        )

    def publish(self, topic: str, messages: Sequence[OutgoingMessage]) -> list[str]:
        """A snapshot publishes nothing.

        Raises:
            SourceError: always.
        """
        raise SourceError("a snapshot cannot publish: open the pipeline's project to replay")
