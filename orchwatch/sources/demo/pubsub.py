"""The demo's Pub/Sub: the completion messages of the scenario's runs, pushed to the
orchestrators as Eventarc would, and what became of each.

Nothing here is drawn at random: every message is a processor run already in the store
(one message per BigQuery row, published when the run completed) or a trigger in the
execution log, and its push succeeds unless the orchestrator was crash-looping then
(`CrashWindow`) and no fix served yet. A refused push is not retried (a Cloud Functions
gen2 trigger without retries gives a message one delivery attempt) and there is no
dead-letter topic, so a refused message is gone: exactly the two completions per crash
date that Firestore lacks, and the runs after them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from orchwatch.config import Config
from orchwatch.pubsub import (
    PUSH_ACK,
    OutgoingMessage,
    Point,
    PubSubReading,
    PushCount,
    Subscription,
    SubscriptionMetrics,
    TopicReading,
)
from orchwatch.sources.base import SourceError
from orchwatch.sources.demo.events import stored_windows
from orchwatch.sources.local import LocalStore

REGION = "us-west2"
PROJECT_NUMBER = "756957797294"
PUSH_IDENTITY = f"{PROJECT_NUMBER}-compute@developer.gserviceaccount.com"
"""The account the demo's pushes authenticate as: Eventarc's default, the compute
default service account, which every demo service lets invoke it."""
FIXED_AT = "pubsub_fixed_at"
"""Store meta: when a fix of the crash-looping orchestrator first served (pushes after it
are accepted)."""
REPLAYS = "pubsub_replays"
"""Store meta: the messages republished to a topic, when, and whether they were accepted."""
STEP = timedelta(minutes=5)
"""The metrics' alignment period, as the Google Cloud source asks Monitoring for."""
REFUSED = "remote_server_5xx"
"""A crash-looping Cloud Run service answers its pushes with 503."""


TRIGGERED = {
    "nba-phase3-trigger": "nba-phase3-analytics-processors",
    "nba-phase4-trigger": "nba-phase4-precompute-processors",
    "nba-phase5-trigger": "prediction-coordinator",
    "nba-phase6-trigger": "phase6-export",
}
"""The service each trigger topic is pushed to, in the pipeline PIPELINE.md describes."""


def _eventarc(service: str, topic: str) -> Subscription:
    """The subscription Eventarc made for a function's Pub/Sub trigger: a push to the
    service's URL with Eventarc's defaults (retry 10-600 s, 24 h retention, no dead-letter
    topic, ack deadline 600 s)."""
    return Subscription(
        name=f"eventarc-{REGION}-{service}-{abs(hash_text(service)) % 1000:03d}-sub-"
        f"{abs(hash_text(topic)) % 1000:03d}",
        topic=topic,
        push_endpoint=f"https://{service}-{PROJECT_NUMBER}.{REGION}.run.app/"
        f"?__GCP_CloudEventsMode=CUSTOM_PUBSUB_projects%2Fnba-props-platform%2Ftopics%2F{topic}",
        ack_deadline_seconds=600,
        retry_backoff=(10.0, 600.0),
        retention=timedelta(hours=24),
        labels={"goog-eventarc": ""},
        push_identity=PUSH_IDENTITY,
    )


def _processors(name: str, service: str, topic: str) -> Subscription:
    """A processors service's own push subscription to a topic."""
    return Subscription(
        name=name,
        topic=topic,
        push_endpoint=f"https://{service}-{PROJECT_NUMBER}.{REGION}.run.app/process",
        ack_deadline_seconds=600,
        retry_backoff=(10.0, 600.0),
        push_identity=PUSH_IDENTITY,
    )


def hash_text(text: str) -> int:
    """A hash that is the same in every process (`hash()` of a str is salted)."""
    value = 0
    for char in text.encode():
        value = (value * 31 + char) % 1_000_003
    return value


class DemoPubSub:
    """Pub/Sub as the demo's story had it, read from the store the simulator writes."""

    def __init__(
        self,
        store: LocalStore,
        config: Config,
        deliver: Callable[[str, Sequence[OutgoingMessage]], bool] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self._deliver = deliver
        self._now = clock or (lambda: datetime.now(UTC))

    # --- configuration -------------------------------------------------------------------

    def _subscriptions(self, topic: str) -> tuple[Subscription, ...]:
        subs: list[Subscription] = []
        for phase in self.config.phases:
            if phase.completion_topic == topic and phase.orchestrator:
                subs.append(_eventarc(phase.orchestrator, topic))
            elif phase.completion_topic == topic and phase.next_phase:
                # No orchestrator: the next phase's processors subscribe themselves, as the
                # runbook's phase 2 -> 3 does (`nba-phase3-analytics-sub`).
                service = TRIGGERED.get(
                    f"nba-{phase.next_phase}-trigger", f"{phase.next_phase}-processors"
                )
                subs.append(
                    _processors(f"{service.removesuffix('-processors')}-sub", service, topic)
                )
            if phase.trigger_topic == topic:
                service = TRIGGERED.get(topic, f"{phase.next_phase or topic}-processors")
                subs.append(_processors(f"{service}-sub", service, topic))
        return tuple(subs)

    def _known(self, topic: str) -> bool:
        return any(topic in (p.completion_topic, p.trigger_topic) for p in self.config.phases)

    # --- reading ---------------------------------------------------------------------------

    def read_pubsub(self, topics: Sequence[str], since: datetime, until: datetime) -> PubSubReading:
        """The topics, their subscriptions and the window's counts, from the store."""
        start = _floor(since)
        buckets = max(1, -(-(until - start) // STEP))
        readings: dict[str, TopicReading] = {}
        metrics: dict[str, SubscriptionMetrics] = {}
        completions = self.store.completion_times(since, until)
        triggers = self.store.trigger_times(since, until)
        refusing = self._refusing()
        replays = self._replays(since, until)
        for topic in topics:
            if not self._known(topic):
                readings[topic] = TopicReading(topic, exists=False)
                continue
            subs = self._subscriptions(topic)
            published: dict[datetime, int] = {}
            pushes: dict[tuple[datetime, str], int] = {}
            for phase in self.config.phases:
                if phase.completion_topic == topic:
                    for name, at in completions:
                        if name != phase.name:
                            continue
                        bucket = _bucket(at, start)
                        published[bucket] = published.get(bucket, 0) + 1
                        outcome = REFUSED if refusing(phase.orchestrator, at) else PUSH_ACK
                        pushes[(bucket, outcome)] = pushes.get((bucket, outcome), 0) + 1
                if phase.trigger_topic == topic:
                    for name, at in triggers:
                        if name == f"{phase.name}_to_{phase.next_phase}":
                            bucket = _bucket(at, start)
                            published[bucket] = published.get(bucket, 0) + 1
                            pushes[(bucket, PUSH_ACK)] = pushes.get((bucket, PUSH_ACK), 0) + 1
            for at, replayed, count, accepted in replays:
                if replayed == topic:
                    bucket = _bucket(at, start)
                    published[bucket] = published.get(bucket, 0) + count
                    outcome = PUSH_ACK if accepted else REFUSED
                    pushes[(bucket, outcome)] = pushes.get((bucket, outcome), 0) + count
            readings[topic] = TopicReading(
                topic,
                exists=True,
                subscriptions=subs,
                published=tuple(Point(b, float(n)) for b, n in sorted(published.items())),
            )
            # Refused pushes are not retried: nothing ever waits, nothing is dead-lettered.
            # A topic's one subscription (or each processor's, on a trigger topic) sees its
            # pushes; only an orchestrator refuses, so only its subscription has refusals.
            zero = tuple(Point(start + STEP * k, 0.0) for k in range(buckets))
            counts = tuple(PushCount(b, c, n) for (b, c), n in sorted(pushes.items()))
            for sub in subs:
                metrics[sub.name] = SubscriptionMetrics(pushes=counts, backlog=zero)
        return PubSubReading(since, until, STEP, readings, metrics)

    def _refusing(self) -> Callable[[str | None, datetime], bool]:
        """Whether a push to a service at a moment was refused: it was crash-looping, and
        no fix served yet."""
        windows = stored_windows(self.store)
        fixed = self.store.get_meta(FIXED_AT)
        fixed_at = datetime.fromisoformat(fixed) if fixed else None

        def refused(service: str | None, at: datetime) -> bool:
            if fixed_at is not None and at >= fixed_at:
                return False
            return any(w.service == service and w.covers(at) for w in windows)

        return refused

    def _replays(self, since: datetime, until: datetime) -> list[tuple[datetime, str, int, bool]]:
        return [
            (at, str(topic), int(count), bool(accepted))
            for at, topic, count, accepted in (
                (datetime.fromisoformat(r["at"]), r["topic"], r["count"], r["accepted"])
                for r in json.loads(self.store.get_meta(REPLAYS) or "[]")
            )
            if since <= at < until
        ]

    # --- publishing ------------------------------------------------------------------------

    def publish(self, topic: str, messages: Sequence[OutgoingMessage]) -> list[str]:
        """Publish to the demo's topic: the orchestrator receives the messages at once if it
        is healthy, and they are refused (and gone) if it is crash-looping."""
        if not self._known(topic):
            raise SourceError(f"topic {topic} does not exist in the demo")
        now = self._now()
        accepted = self._deliver(topic, messages) if self._deliver is not None else False
        replays = json.loads(self.store.get_meta(REPLAYS) or "[]")
        replays.append(
            {"at": now.isoformat(), "topic": topic, "count": len(messages), "accepted": accepted}
        )
        self.store.set_meta(REPLAYS, json.dumps(replays))
        base = int(now.timestamp())
        return [f"{base}{k:04d}" for k in range(len(messages))]


def _floor(moment: datetime) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((moment - epoch) // STEP) * STEP


def _bucket(at: datetime, start: datetime) -> datetime:
    return start + ((at - start) // STEP) * STEP
