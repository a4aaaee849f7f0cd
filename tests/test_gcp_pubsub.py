"""The Google Cloud Pub/Sub source against real servers: the Pub/Sub emulator (topics,
subscriptions, push delivery to a local HTTP endpoint, publish, seek) and Cloud
Monitoring's ListTimeSeries on the local gRPC server (the emulator has no metrics).

What the emulator cannot do is tested on the local gRPC server instead: it records no
metrics, so the push, backlog and dead-letter counts are seeded there (with the metric
and label names Monitoring documents). Dead-lettering itself, seek and push retries
are the emulator's own.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from conftest import Loopback
from google.protobuf import duration_pb2
from google.pubsub_v1 import (
    DeadLetterPolicy,
    PublisherClient,
    PushConfig,
    RetryPolicy,
    SubscriberClient,
)
from google.pubsub_v1 import Subscription as PbSubscription
from loopback.monitoring import RawSeries

from orchwatch.analysis.pubsub import HopLevel, judge, topics_of
from orchwatch.analysis.replay import completion_message
from orchwatch.config import Config, GcpSettings
from orchwatch.model import BackupSummary
from orchwatch.sources.gcp.clients import GcpClients
from orchwatch.sources.gcp.pubsub import (
    BACKLOG,
    DEAD_LETTERED,
    OLDEST,
    PUBLISHED,
    PUSHES,
    GcpPubSub,
)

COMPLETE = "nba-phase3-analytics-complete"
TRIGGER = "nba-phase4-trigger"
ORCHESTRATOR_SUB = "eventarc-us-west2-phase3-to-phase4-orchestrator-417-sub-612"


@dataclass
class PushEndpoint:
    """A local HTTP endpoint for push subscriptions: refuses (503) the first `refuse`
    requests, then accepts (204); keeps every request's body."""

    refuse: int
    bodies: list[dict[str, object]] = field(default_factory=list)
    codes: list[int] = field(default_factory=list)
    lock: threading.Condition = field(default_factory=threading.Condition)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with endpoint.lock:
                    code = 503 if len(endpoint.codes) < endpoint.refuse else 204
                    endpoint.bodies.append(body)
                    endpoint.codes.append(code)
                    endpoint.lock.notify_all()
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        return Handler


@pytest.fixture
def endpoint() -> Iterator[tuple[PushEndpoint, str]]:
    hook = PushEndpoint(refuse=2)
    server = ThreadingHTTPServer(("127.0.0.1", 0), hook.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield hook, f"http://127.0.0.1:{server.server_address[1]}/?__GCP_CloudEventsMode=CUSTOM_PUBSUB"
    server.shutdown()
    server.server_close()


def admin(loopback: Loopback) -> tuple[PublisherClient, SubscriberClient]:
    """Clients of the emulator for setting it up (the generated clients, on its channel)."""
    clients = GcpClients("setup", "us-west2", GcpSettings(endpoints=loopback.endpoints()))
    return clients.pubsub_publisher(), clients.pubsub_subscriber()


@pytest.fixture
def project(gcp_project: str, loopback: Loopback, endpoint: tuple[PushEndpoint, str]) -> str:
    """The phase-3 hop as Eventarc makes it (a push subscription to the orchestrator with
    Eventarc's defaults), a pull subscription of an auditor on the same topic, and phase
    4's trigger topic with no subscription at all."""
    publisher, subscriber = admin(loopback)
    path = f"projects/{gcp_project}"
    for topic in (COMPLETE, TRIGGER):
        publisher.create_topic(name=f"{path}/topics/{topic}")
    subscriber.create_subscription(
        request=PbSubscription(
            name=f"{path}/subscriptions/{ORCHESTRATOR_SUB}",
            topic=f"{path}/topics/{COMPLETE}",
            push_config=PushConfig(push_endpoint=endpoint[1]),
            ack_deadline_seconds=600,
            retry_policy=RetryPolicy(
                minimum_backoff=duration_pb2.Duration(seconds=10),
                maximum_backoff=duration_pb2.Duration(seconds=600),
            ),
            message_retention_duration=duration_pb2.Duration(seconds=86400),
            labels={"goog-eventarc": ""},
        )
    )
    subscriber.create_subscription(
        request=PbSubscription(
            name=f"{path}/subscriptions/auditor",
            topic=f"{path}/topics/{COMPLETE}",
            ack_deadline_seconds=60,
            retain_acked_messages=True,
        )
    )
    return gcp_project


def source(loopback: Loopback, config: Config, project: str) -> tuple[GcpPubSub, GcpClients]:
    clients = GcpClients(project, "us-west2", loopback.config(config, project).gcp)
    return GcpPubSub(clients), clients


WINDOW = (datetime(2026, 2, 1, 5, tzinfo=UTC), datetime(2026, 2, 1, 11, 30, tzinfo=UTC))


def test_the_hop_is_read_with_its_configuration(
    loopback: Loopback, config: Config, project: str
) -> None:
    pubsub, _ = source(loopback, config, project)
    reading = pubsub.read_pubsub(topics_of(config), *WINDOW)
    complete = reading.topics[COMPLETE]
    assert complete.exists
    assert {s.name for s in complete.subscriptions} == {ORCHESTRATOR_SUB, "auditor"}
    assert not reading.topics["nba-phase2-raw-complete"].exists  # never created here
    assert reading.topics[TRIGGER].exists and reading.topics[TRIGGER].subscriptions == ()
    hop = judge(config, reading)[1]
    assert hop.subscription is not None and hop.subscription.name == ORCHESTRATOR_SUB
    sub = hop.subscription
    assert sub.push_endpoint.startswith("http://127.0.0.1:")
    assert (sub.ack_deadline_seconds, sub.retry_backoff) == (600, (10.0, 600.0))
    assert sub.retention == timedelta(hours=24) and not sub.retain_acked
    assert sub.dead_letter_topic == "" and sub.max_delivery_attempts == 0  # none
    assert [s.name for s in hop.others] == ["auditor"]
    assert hop.level is HopLevel.FAIL
    assert hop.verdict.startswith(f"no subscription delivers {TRIGGER}")
    assert "no dead-letter topic" in " ".join(hop.details)
    phase2 = judge(config, reading)[0]
    assert phase2.level is HopLevel.FAIL and "does not exist" in phase2.verdict


def test_the_emulator_pushes_refuses_and_redelivers_what_the_source_publishes(
    loopback: Loopback, config: Config, project: str, endpoint: tuple[PushEndpoint, str]
) -> None:
    """A replayed completion, published by the source, reaches the push endpoint; refused
    twice (503), it is delivered again until accepted; the auditor's pull subscription
    receives exactly the preview's data and attributes."""
    hook, _ = endpoint
    pubsub, clients = source(loopback, config, project)
    row = BackupSummary(
        processor="team_defense_game_summary",
        runs=3,
        successes=3,
        last_status="success",
        first_completed_at=datetime(2026, 2, 1, 10, 54, tzinfo=UTC),
        last_completed_at=datetime(2026, 2, 1, 11, 21, tzinfo=UTC),
        last_record_count=345,
        last_correlation_id="corr-20260201-phase3-002",
        last_execution_id="c3084a98db6d",
    )
    message = completion_message(config, "phase3", date(2026, 2, 1), row)
    _, admin_subscriber = admin(loopback)
    admin_subscriber.update_subscription(  # retry within a second, not Eventarc's 10 s
        request={
            "subscription": {
                "name": f"projects/{project}/subscriptions/{ORCHESTRATOR_SUB}",
                "retry_policy": RetryPolicy(
                    minimum_backoff=duration_pb2.Duration(nanos=100_000_000),
                    maximum_backoff=duration_pb2.Duration(seconds=1),
                ),
            },
            "update_mask": {"paths": ["retry_policy"]},
        }
    )
    [message_id] = pubsub.publish(COMPLETE, [message])
    with hook.lock:
        assert hook.lock.wait_for(lambda: 204 in hook.codes, timeout=60), hook.codes
    assert hook.codes[:3] == [503, 503, 204]
    pushed = hook.bodies[-1]["message"]
    assert isinstance(pushed, dict) and pushed["messageId"] == message_id
    assert base64.b64decode(str(pushed["data"])) == message.data
    assert pushed["attributes"] == {"replayed_by": "orchwatch"}
    subscriber = clients.pubsub_subscriber()
    pulled = subscriber.pull(
        subscription=f"projects/{project}/subscriptions/auditor", max_messages=10, timeout=20
    )
    [received] = pulled.received_messages
    assert received.message.data == message.data
    assert dict(received.message.attributes) == dict(message.attributes)
    assert json.loads(message.data)["execution_id"] == "c3084a98db6d"


def seed(loopback: Loopback, project: str, subs: list[str]) -> None:
    """Monitoring's side of a crash: on the first subscription 3 pushes refused (5xx) at
    10:45-10:55, 5 acked; 8 messages published; nothing waiting, nothing dead-lettered."""
    base = datetime(2026, 2, 1, 10, 0, tzinfo=UTC)
    for k, sub in enumerate(subs):
        labels = {"project_id": project, "subscription_id": sub}
        pushes = [(base + timedelta(minutes=m), 1.0) for m in (46, 50, 54)] if k == 0 else []
        loopback.grpc.add_series(
            RawSeries(
                PUSHES,
                "pubsub_subscription",
                labels,
                {"response_class": "remote_server_5xx"},
                points=pushes,
            )
        )
        loopback.grpc.add_series(
            RawSeries(
                PUSHES,
                "pubsub_subscription",
                labels,
                {"response_class": "ack"},
                points=[(base + timedelta(minutes=m), 1.0) for m in (5, 10, 15, 20, 25)],
            )
        )
        loopback.grpc.add_series(
            RawSeries(
                BACKLOG,
                "pubsub_subscription",
                labels,
                kind="GAUGE",
                points=[(base + timedelta(minutes=m), 0.0) for m in range(0, 90, 5)],
            )
        )
        loopback.grpc.add_series(RawSeries(OLDEST, "pubsub_subscription", labels, kind="GAUGE"))
        loopback.grpc.add_series(RawSeries(DEAD_LETTERED, "pubsub_subscription", labels))
    loopback.grpc.add_series(
        RawSeries(
            PUBLISHED,
            "pubsub_topic",
            {"project_id": project, "topic_id": COMPLETE},
            points=[(base + timedelta(minutes=m), 1.0) for m in (5, 10, 15, 20, 25, 46, 50, 54)],
        )
    )


def test_monitoring_counts_refused_and_dropped_in_one_call_per_metric(
    loopback: Loopback, config: Config, project: str
) -> None:
    seed(loopback, project, [ORCHESTRATOR_SUB, "auditor"])
    pubsub, clients = source(loopback, config, project)
    before = loopback.grpc.calls["ListTimeSeries"]
    reading = pubsub.read_pubsub(topics_of(config), *WINDOW)
    assert loopback.grpc.calls["ListTimeSeries"] - before == 5  # one per metric
    assert clients.meter.snapshot()[("monitoring", "ListTimeSeries")] == 5
    hop = judge(config, reading)[1]
    assert hop.published == 8 and hop.acked == 5
    assert hop.refused == {"remote_server_5xx": 3}
    assert hop.backlog == 0 and hop.dead_lettered == 0 and hop.dropped == 3
    assert hop.refused_span is not None
    # 6.5 h in 2-minute steps: the points at 10:46, 10:50 and 10:54 close the buckets
    # from 10:44 to 10:54.
    assert reading.step == timedelta(minutes=2)
    assert hop.refused_span == (
        datetime(2026, 2, 1, 10, 44, tzinfo=UTC),
        datetime(2026, 2, 1, 10, 54, tzinfo=UTC),
    )
    said = "; ".join([hop.verdict, *hop.details])
    assert "pushes refused 02-01 05:44–05:54 (5xx ×3)" in said
    assert "3 messages dropped: not acknowledged, not waiting, no dead-letter topic" in said


def test_many_subscriptions_cost_no_more_monitoring_calls(
    loopback: Loopback, config: Config, project: str
) -> None:
    _, subscriber = admin(loopback)
    names = [f"extra-{k:02d}" for k in range(12)]
    for name in names:
        subscriber.create_subscription(
            name=f"projects/{project}/subscriptions/{name}",
            topic=f"projects/{project}/topics/{COMPLETE}",
        )
    seed(loopback, project, [ORCHESTRATOR_SUB, *names])
    pubsub, clients = source(loopback, config, project)
    before = loopback.grpc.calls["ListTimeSeries"]
    reading = pubsub.read_pubsub([*topics_of(config), "no-such-topic"], *WINDOW)
    assert loopback.grpc.calls["ListTimeSeries"] - before == 5
    assert set(reading.metrics) >= {ORCHESTRATOR_SUB, *names}
    # The configuration of every topic and subscription: two listings, not a call per
    # topic and per subscription.
    calls = clients.meter.snapshot()
    assert {m: n for (api, m), n in calls.items() if api == "pubsub"} == {
        "ListTopics": 1,
        "ListSubscriptions": 1,
    }
    topic = reading.topics[COMPLETE]
    assert topic.exists and {s.name for s in topic.subscriptions} >= {ORCHESTRATOR_SUB, *names}
    assert all(s.topic == COMPLETE for s in topic.subscriptions)
    assert not reading.topics["no-such-topic"].exists
    assert not reading.topics["no-such-topic"].subscriptions


def dead_letter_to(subscriber: SubscriberClient, path: str, topic: str) -> None:
    """Give the orchestrator's subscription a dead-letter topic (after 5 attempts)."""
    subscriber.update_subscription(
        request={
            "subscription": {
                "name": f"{path}/subscriptions/{ORCHESTRATOR_SUB}",
                "dead_letter_policy": DeadLetterPolicy(
                    dead_letter_topic=f"{path}/topics/{topic}", max_delivery_attempts=5
                ),
            },
            "update_mask": {"paths": ["dead_letter_policy"]},
        }
    )


def test_a_dead_letter_policy_is_read_and_a_denied_monitoring_leaves_the_counts_unknown(
    loopback: Loopback, config: Config, project: str
) -> None:
    publisher, subscriber = admin(loopback)
    path = f"projects/{project}"
    publisher.create_topic(name=f"{path}/topics/phase3-dead-letters")
    dead_letter_to(subscriber, path, "phase3-dead-letters")
    loopback.grpc.deny.add("ListTimeSeries")
    try:
        pubsub, _ = source(loopback, config, project)
        reading = pubsub.read_pubsub(topics_of(config), *WINDOW)
    finally:
        loopback.grpc.deny.discard("ListTimeSeries")
    assert "Cloud Monitoring: permission denied" in reading.metrics_error
    assert "roles/monitoring.viewer" in reading.metrics_error
    hop = judge(config, reading)[1]
    assert hop.level is HopLevel.UNKNOWN and hop.verdict.startswith("counts unknown")
    assert hop.subscription is not None
    assert hop.subscription.dead_letter_topic == "phase3-dead-letters"
    assert hop.subscription.max_delivery_attempts == 5


def test_seek_delivers_acknowledged_messages_again(
    loopback: Loopback, config: Config, project: str
) -> None:
    """The auditor keeps acked messages: sought back, it receives one it had acked."""
    from orchwatch.pubsub import OutgoingMessage

    pubsub, clients = source(loopback, config, project)
    subscriber = clients.pubsub_subscriber()
    auditor = f"projects/{project}/subscriptions/auditor"
    start = datetime.now(UTC) - timedelta(seconds=5)
    pubsub.publish(COMPLETE, [OutgoingMessage(b'{"n": 1}')])
    first = subscriber.pull(subscription=auditor, max_messages=5, timeout=20)
    subscriber.acknowledge(
        subscription=auditor, ack_ids=[m.ack_id for m in first.received_messages]
    )
    pubsub.seek("auditor", start)
    again = subscriber.pull(subscription=auditor, max_messages=5, timeout=20)
    assert [m.message.data for m in again.received_messages] == [b'{"n": 1}']


def pull_now(subscriber: SubscriberClient, subscription: str, most: int) -> Any:
    """A pull that answers at once, empty or not (`return_immediately`: deprecated for
    Google's service, where a pull returns early anyway; the emulator's otherwise waits
    for its whole deadline)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return subscriber.pull(
            subscription=subscription, max_messages=most, return_immediately=True
        )


def test_a_refused_message_is_dead_lettered_and_counted_as_such(
    loopback: Loopback, config: Config, project: str
) -> None:
    """On the emulator, a message refused 5 times goes to the dead-letter topic; with
    Monitoring's count of it, the hop says dead-lettered, not dropped."""
    from google.pubsub_v1 import PubsubMessage

    publisher, subscriber = admin(loopback)
    path = f"projects/{project}"
    for topic in ("phase3-dead-letters", "phase3-main"):
        publisher.create_topic(name=f"{path}/topics/{topic}")
    subscriber.create_subscription(
        name=f"{path}/subscriptions/dead-reader", topic=f"{path}/topics/phase3-dead-letters"
    )
    subscriber.create_subscription(
        request=PbSubscription(
            name=f"{path}/subscriptions/main-reader",
            topic=f"{path}/topics/phase3-main",
            ack_deadline_seconds=10,
            dead_letter_policy=DeadLetterPolicy(
                dead_letter_topic=f"{path}/topics/phase3-dead-letters", max_delivery_attempts=5
            ),
        )
    )
    publisher.publish(topic=f"{path}/topics/phase3-main", messages=[PubsubMessage(data=b"x")])
    main, reader = f"{path}/subscriptions/main-reader", f"{path}/subscriptions/dead-reader"
    attempts: list[int] = []
    dead: list[bytes] = []
    deadline = time.monotonic() + 60
    while not dead and time.monotonic() < deadline:
        # Refuse it each time it is delivered; the emulator moves it on the attempt after
        # the fifth (a pull that finds it spent).
        pulled = pull_now(subscriber, main, 1)
        for received in pulled.received_messages:
            attempts.append(received.delivery_attempt)
            subscriber.modify_ack_deadline(
                subscription=main, ack_ids=[received.ack_id], ack_deadline_seconds=0
            )
        found = pull_now(subscriber, reader, 5)
        dead += [m.message.data for m in found.received_messages]
    assert attempts == [1, 2, 3, 4, 5]
    assert dead == [b"x"]

    # The orchestrator's hop, with Monitoring counting the same: 3 refused, 3 dead-lettered.
    dead_letter_to(subscriber, path, "phase3-dead-letters")
    seed(loopback, project, [ORCHESTRATOR_SUB])
    labels = {"project_id": project, "subscription_id": ORCHESTRATOR_SUB}
    loopback.grpc.add_series(
        RawSeries(
            DEAD_LETTERED,
            "pubsub_subscription",
            labels,
            points=[(datetime(2026, 2, 1, 11, 0, tzinfo=UTC), 3.0)],
        )
    )
    pubsub, _ = source(loopback, config, project)
    hop = judge(config, pubsub.read_pubsub(topics_of(config), *WINDOW))[1]
    assert hop.dead_lettered == 3 and hop.dropped == 0
    said = "; ".join([hop.verdict, *hop.details])
    assert "3 messages dead-lettered to phase3-dead-letters" in said
    assert "dropped" not in said


def test_a_second_push_subscription_to_the_orchestrator_warns_on_the_emulator(
    loopback: Loopback, config: Config, project: str, endpoint: tuple[PushEndpoint, str]
) -> None:
    """The runbook's duplicate push subscriptions (0.65): a second Eventarc subscription on
    the completion topic pushing to the same orchestrator delivers every completion
    twice. Made on the emulator, read back through the admin API and Monitoring."""
    _, subscriber = admin(loopback)
    second = "eventarc-us-west2-phase3-to-phase4-orchestrator-990-sub-001"
    subscriber.create_subscription(
        request=PbSubscription(
            name=f"projects/{project}/subscriptions/{second}",
            topic=f"projects/{project}/topics/{COMPLETE}",
            push_config=PushConfig(push_endpoint=endpoint[1]),
        )
    )
    seed(loopback, project, [ORCHESTRATOR_SUB, second, "auditor"])
    pubsub, _ = source(loopback, config, project)
    hop = judge(config, pubsub.read_pubsub(topics_of(config), *WINDOW))[1]
    assert hop.level is HopLevel.FAIL or hop.level is HopLevel.WARN
    said = "; ".join([hop.verdict, *hop.details])
    assert f"2 subscriptions push {COMPLETE} to phase3-to-phase4" in said
    assert "every completion is delivered 2 times" in said
