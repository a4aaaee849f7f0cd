"""Pub/Sub as orchwatch reads it: the hop between a phase's processors and its orchestrator.

Plain data, shared by the sources (which build it) and the analysis (which judges it).
Names follow the Pub/Sub admin API (`Subscription`) and the metrics Cloud Monitoring
documents for Pub/Sub (`pubsub.googleapis.com/subscription/...`, `.../topic/...`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

SAMPLE_PERIOD = timedelta(seconds=60)
"""How often Cloud Monitoring samples Pub/Sub's metrics (its metrics list: "Sampled every
60 seconds"): a read sooner than this after the last finds no new point."""

SETTLED_AFTER = timedelta(minutes=5)
"""How long after a window's end its counts are final: a sample is not visible for up to
240 seconds after it is taken (Monitoring's metrics list), rounded up."""

PUSH_ACK = "ack"
"""The `response_class` of a push the endpoint acknowledged (a 102, 200, 201, 202 or 204)."""

REFUSAL_CLASSES: Mapping[str, str] = {
    "remote_server_5xx": "5xx",
    "remote_server_4xx": "4xx",
    "deadline_exceeded": "timed out",
    "unreachable": "unreachable",
    "internal": "internal error",
    "invalid": "invalid",
}
"""The `response_class` values of `push_request_count` other than "ack", and how they are
said in a verdict."""


@dataclass(frozen=True, slots=True)
class Subscription:
    """One subscription of a topic, as the admin API describes it."""

    name: str
    """The subscription ID (the last part of `projects/P/subscriptions/ID`)."""
    topic: str
    """The topic ID it is attached to ("_deleted-topic_" once its topic is gone)."""
    push_endpoint: str = ""
    """Where a push subscription delivers; "" for a pull subscription."""
    ack_deadline_seconds: int = 10
    retry_backoff: tuple[float, float] | None = None
    """(minimum, maximum) seconds between redeliveries; None: redelivered at once."""
    dead_letter_topic: str = ""
    """Where undeliverable messages go; "" when there is no dead-letter topic."""
    max_delivery_attempts: int = 0
    """Attempts before a message is dead-lettered (0: no dead-letter policy)."""
    retention: timedelta = timedelta(days=7)
    """How long an unacknowledged message is kept (then discarded)."""
    retain_acked: bool = False
    """Acknowledged messages are kept for the retention too (a seek can replay them)."""
    filter: str = ""
    state: str = "ACTIVE"
    """ACTIVE, or RESOURCE_ERROR when Pub/Sub cannot deliver (a push endpoint it may not
    call, a dead-letter topic it cannot publish to)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    push_identity: str = ""
    """The service account a push authenticates as (`push_config.oidc_token`); "" for a
    push without a token, which only a service open to `allUsers` accepts."""

    @property
    def eventarc(self) -> bool:
        """Created by Eventarc for a trigger (a Cloud Functions gen2 trigger is one)."""
        return self.name.startswith("eventarc-")

    def delivers_to(self, service: str) -> bool:
        """Whether this subscription pushes to the Cloud Run service `service`: its endpoint's
        host is the service's (`https://SERVICE-HASH-REGION.a.run.app`,
        `https://SERVICE-PROJECTNUMBER.REGION.run.app`), or Eventarc named it after the
        service's trigger (`eventarc-REGION-SERVICE-NNN-sub-NNN`)."""
        host = self.push_endpoint.split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0]
        if host and (host == service or host.startswith(f"{service}-")):
            return True
        return self.eventarc and f"-{service}-" in self.name


@dataclass(frozen=True, slots=True)
class Point:
    """One aligned value of a metric: the bucket starting at `at`."""

    at: datetime
    value: float


@dataclass(frozen=True, slots=True)
class PushCount:
    """Push requests of one bucket with one response class."""

    at: datetime
    response_class: str
    count: int


@dataclass(frozen=True)
class SubscriptionMetrics:
    """One subscription's Cloud Monitoring series over the window read."""

    pushes: tuple[PushCount, ...] = ()
    """`subscription/push_request_count` by `response_class`."""
    backlog: tuple[Point, ...] = ()
    """`subscription/num_undelivered_messages`."""
    oldest_unacked: tuple[Point, ...] = ()
    """`subscription/oldest_unacked_message_age`, in seconds."""
    dead_lettered: tuple[Point, ...] = ()
    """`subscription/dead_letter_message_count`."""


@dataclass(frozen=True)
class TopicReading:
    """A topic, its subscriptions, and the messages published to it."""

    topic: str
    exists: bool
    subscriptions: tuple[Subscription, ...] = ()
    published: tuple[Point, ...] = ()
    """`topic/send_message_operation_count` per bucket."""


@dataclass(frozen=True)
class PubSubReading:
    """Everything one refresh read from Pub/Sub and Cloud Monitoring."""

    since: datetime
    until: datetime
    step: timedelta
    """The metrics' alignment period."""
    topics: Mapping[str, TopicReading]
    metrics: Mapping[str, SubscriptionMetrics]
    """By subscription ID; a subscription without a series has none here."""
    metrics_error: str = ""
    """Why Cloud Monitoring could not be read ("" when it was): the counts are unknown, the
    configuration is still shown."""


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A message to publish: its data and attributes, exactly as sent."""

    data: bytes
    attributes: Mapping[str, str] = field(default_factory=dict)
    ordering_key: str = ""


def processor_key(raw: str, output_table: str | None, expected: Collection[str]) -> str:
    """The Firestore field a completion message is recorded under, as the orchestrators
    name it (`normalize_processor_name`): the message's `processor_name` if it is expected,
    else its `output_table` if that is, else the class name in snake case without
    `Processor` (and without an `Async` prefix)."""
    if raw in expected:
        return raw
    if output_table and output_table in expected:
        return output_table
    name = raw.replace("Processor", "")
    name = name.removeprefix("Async")
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z0-9])([A-Z])", r"\1_\2", name).lower()
