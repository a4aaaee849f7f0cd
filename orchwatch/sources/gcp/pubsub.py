"""Pub/Sub through the admin API (`google.pubsub_v1`) and its counts through Cloud
Monitoring (`monitoring_v3.MetricService.ListTimeSeries`).

A read costs one aggregated ListTimeSeries per metric (five, paged), whatever the number
of subscriptions: the series are grouped by subscription (and response class) on
Monitoring's side. At most once a minute (`CONFIG_TTL`) it also reads the project's
topics and subscriptions: one ListTopics and one ListSubscriptions (each paged; a
listed subscription carries its whole configuration), whatever the number of topics.
The Pub/Sub view reads once per metric sample period while it is open
(`orchwatch.pubsub.SAMPLE_PERIOD`); explain and a replay's preview read once; the
dashboard's panes never do.

Metric and label names are the ones Cloud Monitoring documents for Pub/Sub:
`subscription/push_request_count` (DELTA, `response_class`),
`subscription/num_undelivered_messages` and `subscription/oldest_unacked_message_age`
(GAUGE), `subscription/dead_letter_message_count` (DELTA) on `pubsub_subscription`
resources (`subscription_id`), and `topic/send_message_operation_count` (DELTA) on
`pubsub_topic` (`topic_id`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from orchwatch.pubsub import (
    OutgoingMessage,
    Point,
    PubSubReading,
    PushCount,
    Subscription,
    SubscriptionMetrics,
    TopicReading,
)
from orchwatch.sources.base import SourceError
from orchwatch.sources.gcp.clients import GcpClients
from orchwatch.sources.gcp.errors import api_errors

CALL_TIMEOUT = 20.0
"""Each call's deadline; no retries inside a call (the view says what failed, `r` re-reads)."""
PUBLISH_TIMEOUT = 30.0
POINTS = 288
"""At most this many buckets per series: a day is read in 5-minute steps."""

SUBSCRIPTION = "pubsub_subscription"
TOPIC = "pubsub_topic"
PUSHES = "pubsub.googleapis.com/subscription/push_request_count"
BACKLOG = "pubsub.googleapis.com/subscription/num_undelivered_messages"
OLDEST = "pubsub.googleapis.com/subscription/oldest_unacked_message_age"
DEAD_LETTERED = "pubsub.googleapis.com/subscription/dead_letter_message_count"
PUBLISHED = "pubsub.googleapis.com/topic/send_message_operation_count"


def step_for(since: datetime, until: datetime) -> timedelta:
    """The alignment period: whole minutes, at least one, at most `POINTS` buckets."""
    seconds = (until - since).total_seconds() / POINTS
    return timedelta(minutes=max(1, -int(-seconds // 60)))


def to_subscription(sub: Any) -> Subscription:
    """A `pubsub_v1.Subscription` as the model's."""
    retry = sub.retry_policy if "retry_policy" in sub else None
    backoff = (
        (retry.minimum_backoff.total_seconds(), retry.maximum_backoff.total_seconds())
        if retry is not None
        else None
    )
    dead = sub.dead_letter_policy if "dead_letter_policy" in sub else None
    retention = sub.message_retention_duration
    return Subscription(
        name=_short(sub.name),
        topic=_short(sub.topic),
        push_endpoint=sub.push_config.push_endpoint,
        ack_deadline_seconds=sub.ack_deadline_seconds,
        retry_backoff=backoff,
        dead_letter_topic=_short(dead.dead_letter_topic) if dead is not None else "",
        max_delivery_attempts=dead.max_delivery_attempts if dead is not None else 0,
        retention=retention if retention else timedelta(days=7),
        retain_acked=sub.retain_acked_messages,
        filter=sub.filter,
        state=sub.state.name if sub.state else "",
        labels=dict(sub.labels),
        push_identity=sub.push_config.oidc_token.service_account_email,
    )


def _short(resource: str) -> str:
    """`projects/p/topics/t` -> `t`."""
    return resource.rsplit("/", 1)[-1]


CONFIG_TTL = 60.0
"""Seconds the project's topics and subscriptions are reused: they change with a
deploy, not from one refresh to the next (the counts are read every time)."""


class GcpPubSub:
    """The `PubSubSource` of a Google Cloud project."""

    def __init__(
        self, clients: GcpClients, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.clients = clients
        self.project = clients.project
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._config: tuple[float, frozenset[str], tuple[Subscription, ...]] | None = None
        """When the project's topics and subscriptions were read, and what."""

    def _configured(self, topics: Sequence[str]) -> dict[str, TopicReading]:
        """The topics with their subscriptions, read at most once per `CONFIG_TTL`."""
        now = self._monotonic()
        with self._lock:
            kept = self._config
        if kept is None or now - kept[0] >= CONFIG_TTL:
            kept = (now, *self._project_config())
            with self._lock:
                self._config = kept
        _, existing, subscriptions = kept
        return {
            topic: TopicReading(
                topic,
                exists=topic in existing,
                subscriptions=tuple(s for s in subscriptions if s.topic == topic),
            )
            for topic in topics
        }

    # --- configuration ---------------------------------------------------------------------

    def _project_config(self) -> tuple[frozenset[str], tuple[Subscription, ...]]:
        """The project's topic names and its subscriptions: two listings, paged."""
        publisher = self.clients.pubsub_publisher()
        subscriber = self.clients.pubsub_subscriber()
        project = f"projects/{self.project}"
        meter = self.clients.meter
        topics: set[str] = set()
        for page in publisher.list_topics(project=project, retry=None, timeout=CALL_TIMEOUT).pages:
            meter.count("pubsub", "ListTopics")
            topics.update(_short(t.name) for t in page.topics)
        subscriptions: list[Subscription] = []
        for page in subscriber.list_subscriptions(
            project=project, retry=None, timeout=CALL_TIMEOUT
        ).pages:
            meter.count("pubsub", "ListSubscriptions")
            subscriptions += (to_subscription(s) for s in page.subscriptions)
        subscriptions.sort(key=lambda s: s.name)
        return frozenset(topics), tuple(subscriptions)

    # --- reading ---------------------------------------------------------------------------

    def read_pubsub(self, topics: Sequence[str], since: datetime, until: datetime) -> PubSubReading:
        """The topics with their subscriptions, then the window's series (five calls)."""
        with api_errors(self.clients.api("pubsub")):
            readings = self._configured(topics)
        step = step_for(since, until)
        subscriptions = sorted({s.name for r in readings.values() for s in r.subscriptions})
        existing = [t for t, r in readings.items() if r.exists]
        try:
            with api_errors(self.clients.api("monitoring")):
                metrics, published = self._metrics(subscriptions, existing, since, until, step)
        except SourceError as exc:
            return PubSubReading(since, until, step, readings, {}, metrics_error=str(exc))
        readings = {
            topic: TopicReading(r.topic, r.exists, r.subscriptions, tuple(published.get(topic, ())))
            for topic, r in readings.items()
        }
        return PubSubReading(since, until, step, readings, metrics)

    def _metrics(
        self,
        subscriptions: Sequence[str],
        topics: Sequence[str],
        since: datetime,
        until: datetime,
        step: timedelta,
    ) -> tuple[dict[str, SubscriptionMetrics], dict[str, list[Point]]]:
        from google.cloud import monitoring_v3

        aligner = monitoring_v3.Aggregation.Aligner
        reducer = monitoring_v3.Aggregation.Reducer
        by_sub = "resource.label.subscription_id"
        pushes: dict[str, list[PushCount]] = {}
        gauges: dict[str, dict[str, list[Point]]] = {BACKLOG: {}, OLDEST: {}, DEAD_LETTERED: {}}
        published: dict[str, list[Point]] = {}

        def read(
            metric: str,
            resource: str,
            label: str,
            values: Sequence[str],
            align: Any,
            reduce: Any,
            groups: Sequence[str] = (),
        ) -> Iterable[Any]:
            return self._series(
                metric, resource, label, values, since, until, step, align, reduce, list(groups)
            )

        if subscriptions:
            for series in read(
                PUSHES,
                SUBSCRIPTION,
                by_sub,
                subscriptions,
                aligner.ALIGN_SUM,
                reducer.REDUCE_SUM,
                ["metric.label.response_class"],
            ):
                sub = series.resource.labels.get("subscription_id", "")
                kind = series.metric.labels.get("response_class", "")
                pushes.setdefault(sub, []).extend(
                    PushCount(p.at, kind, round(p.value)) for p in _points(series, step)
                )
            for metric, align, reduce in (
                (BACKLOG, aligner.ALIGN_MAX, reducer.REDUCE_MAX),
                (OLDEST, aligner.ALIGN_MAX, reducer.REDUCE_MAX),
                (DEAD_LETTERED, aligner.ALIGN_SUM, reducer.REDUCE_SUM),
            ):
                for series in read(metric, SUBSCRIPTION, by_sub, subscriptions, align, reduce):
                    sub = series.resource.labels.get("subscription_id", "")
                    gauges[metric].setdefault(sub, []).extend(_points(series, step))
        if topics:
            by_topic = "resource.label.topic_id"
            for series in read(
                PUBLISHED, TOPIC, by_topic, topics, aligner.ALIGN_SUM, reducer.REDUCE_SUM
            ):
                topic = series.resource.labels.get("topic_id", "")
                published.setdefault(topic, []).extend(_points(series, step))
        metrics = {
            sub: SubscriptionMetrics(
                pushes=tuple(sorted(pushes.get(sub, ()), key=lambda p: p.at)),
                backlog=tuple(sorted(gauges[BACKLOG].get(sub, ()), key=_at)),
                oldest_unacked=tuple(sorted(gauges[OLDEST].get(sub, ()), key=_at)),
                dead_lettered=tuple(sorted(gauges[DEAD_LETTERED].get(sub, ()), key=_at)),
            )
            for sub in subscriptions
        }
        return metrics, {t: sorted(points, key=_at) for t, points in published.items()}

    def _series(
        self,
        metric: str,
        resource: str,
        label: str,
        values: Sequence[str],
        since: datetime,
        until: datetime,
        step: timedelta,
        align: Any,
        reduce: Any,
        extra_groups: list[str],
    ) -> Iterable[Any]:
        """One ListTimeSeries of a metric for the given resources, aligned and grouped by
        resource (and `extra_groups`) on Monitoring's side; each page is a call."""
        from google.cloud import monitoring_v3

        quoted = ", ".join(f'"{v}"' for v in values)
        request = monitoring_v3.ListTimeSeriesRequest(
            name=f"projects/{self.project}",
            filter=(
                f'metric.type = "{metric}" AND resource.type = "{resource}" '
                f"AND {label} = one_of({quoted})"
            ),
            interval=monitoring_v3.TimeInterval(start_time=since, end_time=until),
            aggregation=monitoring_v3.Aggregation(
                alignment_period=step,
                per_series_aligner=align,
                cross_series_reducer=reduce,
                group_by_fields=[label, *extra_groups],
            ),
            view=monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
        )
        pager = self.clients.monitoring().list_time_series(
            request=request, retry=None, timeout=CALL_TIMEOUT
        )
        for page in pager.pages:
            self.clients.meter.count("monitoring", "ListTimeSeries")
            yield from page.time_series

    # --- acting ----------------------------------------------------------------------------

    def publish(self, topic: str, messages: Sequence[OutgoingMessage]) -> list[str]:
        """One Publish request with every message; their IDs, in order."""
        from google.pubsub_v1 import PubsubMessage

        path = f"projects/{self.project}/topics/{topic}"
        with api_errors(self.clients.api("pubsub")):
            self.clients.meter.count("pubsub", "Publish")
            response = self.clients.pubsub_publisher().publish(
                topic=path,
                messages=[
                    PubsubMessage(
                        data=m.data, attributes=dict(m.attributes), ordering_key=m.ordering_key
                    )
                    for m in messages
                ],
                retry=None,
                timeout=PUBLISH_TIMEOUT,
            )
        return list(response.message_ids)

    def seek(self, subscription: str, to: datetime) -> None:
        """Seek a subscription back to `to`: Pub/Sub delivers again every message it kept
        since (acknowledged ones too, when it retains them)."""
        path = f"projects/{self.project}/subscriptions/{subscription}"
        with api_errors(self.clients.api("pubsub")):
            self.clients.meter.count("pubsub", "Seek")
            self.clients.pubsub_subscriber().seek(
                request={"subscription": path, "time": to.astimezone(UTC)},
                retry=None,
                timeout=CALL_TIMEOUT,
            )


def _points(series: Any, step: timedelta) -> list[Point]:
    """A series' points as the buckets they close (`end_time - step`), oldest first."""
    out = []
    for point in series.points:
        value = point.value
        kind = type(value).pb(value).WhichOneof("value")
        number = float(getattr(value, kind)) if kind in ("int64_value", "double_value") else 0.0
        end = point.interval.end_time  # proto-plus's datetime subclass: made a plain one
        plain = datetime.fromtimestamp(end.timestamp(), tz=UTC)
        out.append(Point(plain - step, number))
    return out


def _at(point: Point) -> datetime:
    return point.at
