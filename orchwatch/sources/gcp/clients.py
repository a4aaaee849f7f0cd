"""The official Google Cloud clients, built on first use (off the UI thread).

Nothing here imports a google library at module import time: `orchwatch`
paints its first frame before any of them loads, and the first worker that
needs a client pays for the import. Endpoints come from `[gcp.endpoints]`
(and FIRESTORE_EMULATOR_HOST for Firestore, as the client library does):

- a loopback `host:port` for Cloud Run or Cloud Logging gets an insecure gRPC
  channel and no credentials, as local servers need;
- `http://host:port` for BigQuery (the emulator) uses anonymous credentials;
- anything else is a real endpoint with Application Default Credentials.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from orchwatch.config import GcpSettings
from orchwatch.sources.gcp.errors import Api

FIRESTORE_EMULATOR_HOST = "FIRESTORE_EMULATOR_HOST"
PUBSUB_EMULATOR_HOST = "PUBSUB_EMULATOR_HOST"
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]", "::1", "0.0.0.0")

ROLES: Mapping[str, tuple[str, ...]] = {
    "firestore": ("roles/datastore.viewer",),
    "bigquery": ("roles/bigquery.jobUser", "roles/bigquery.dataViewer"),
    "run": ("roles/run.viewer",),
    "logging": ("roles/logging.viewer",),
    "pubsub": ("roles/pubsub.viewer", "roles/pubsub.publisher"),
    "monitoring": ("roles/monitoring.viewer",),
    "scheduler": ("roles/cloudscheduler.viewer",),
    "cloudbuild": ("roles/cloudbuild.builds.viewer",),
    "storage": ("roles/storage.objectViewer",),
}
API_NAMES: Mapping[str, str] = {
    "firestore": "Firestore",
    "bigquery": "BigQuery",
    "run": "Cloud Run",
    "logging": "Cloud Logging",
    "pubsub": "Pub/Sub",
    "monitoring": "Cloud Monitoring",
    "scheduler": "Cloud Scheduler",
    "cloudbuild": "Cloud Build",
    "storage": "Cloud Storage",
}


def plain_datetime(value: object) -> datetime | None:
    """A plain aware datetime: proto-plus gives its `DatetimeWithNanoseconds`, which the
    model's encoders (a recording's, msgspec) do not take."""
    if not isinstance(value, datetime):
        return None
    moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(moment.isoformat())


def is_loopback(endpoint: str) -> bool:
    """Whether an endpoint is on this machine (a local server or an emulator)."""
    host = endpoint.split("://", 1)[-1].rstrip("/").rsplit(":", 1)[0]
    return host in _LOOPBACK or host.startswith("127.")


class ApiMeter:
    """Counts API calls per API and method (thread-safe), for the bench and the README."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.calls: Counter[tuple[str, str]] = Counter()
        self.started = clock()

    def count(self, api: str, method: str, n: int = 1) -> None:
        """Record `n` calls of `api.method`."""
        with self._lock:
            self.calls[(api, method)] += n

    def snapshot(self) -> Counter[tuple[str, str]]:
        """A copy of the counts so far."""
        with self._lock:
            return Counter(self.calls)


class RateLimiter:
    """At most `per_minute` calls in any 60 s window (a sliding log of call times)."""

    def __init__(
        self,
        per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._sleep = sleep
        self._calls: deque[float] = deque()
        self._lock = threading.Lock()

    def _prune(self) -> float:
        """Forget calls older than a minute (caller holds the lock); returns the time now."""
        now = self._clock()
        while self._calls and now - self._calls[0] >= 60.0:
            self._calls.popleft()
        return now

    def wait_time(self) -> float:
        """Seconds until a call is allowed (0: now)."""
        with self._lock:
            now = self._prune()
            if len(self._calls) < self.per_minute:
                return 0.0
            return 60.0 - (now - self._calls[0])

    def try_acquire(self) -> bool:
        """Take a call slot if one is free now."""
        with self._lock:
            now = self._prune()
            if len(self._calls) >= self.per_minute:
                return False
            self._calls.append(now)
            return True

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Wait for a call slot; False when `stop` was set while waiting."""
        while not self.try_acquire():
            delay = max(self.wait_time(), 0.05)
            if stop is not None:
                if stop.wait(delay):
                    return False
            else:
                self._sleep(delay)
        return True


class GcpClients:
    """One client per API for a project, built on first use, shared by the sources."""

    def __init__(
        self,
        project: str,
        region: str,
        settings: GcpSettings,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self.project = project
        self.region = region
        self.settings = settings
        self.meter = ApiMeter()
        self._environ = environ
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}

    def endpoint(self, api: str) -> str | None:
        """The configured endpoint of an API (None: Google's)."""
        configured = self.settings.endpoints.get(api)
        if configured is None and api == "firestore":
            return self._environ.get(FIRESTORE_EMULATOR_HOST) or None
        if configured is None and api == "pubsub":
            return self._environ.get(PUBSUB_EMULATOR_HOST) or None
        return configured

    def api(self, api: str) -> Api:
        """How error messages name an API of this project."""
        return Api(API_NAMES[api], self.project, self.endpoint(api) or "default", ROLES[api])

    def _get(self, key: str, build: Callable[[], Any]) -> Any:
        with self._lock:
            if key not in self._clients:
                self._clients[key] = build()
            return self._clients[key]

    def firestore(self) -> Any:
        """A `google.cloud.firestore.Client`."""
        return self._get("firestore", self._build_firestore)

    def bigquery(self) -> Any:
        """A `google.cloud.bigquery.Client`."""
        return self._get("bigquery", self._build_bigquery)

    def run_services(self) -> Any:
        """A `google.cloud.run_v2.ServicesClient`."""
        return self._get("run.services", lambda: self._build_run("Services"))

    def run_revisions(self) -> Any:
        """A `google.cloud.run_v2.RevisionsClient`."""
        return self._get("run.revisions", lambda: self._build_run("Revisions"))

    def logging(self) -> Any:
        """A generated `logging_v2` LoggingServiceV2Client (List and Tail)."""
        return self._get("logging", self._build_logging)

    def pubsub_publisher(self) -> Any:
        """A generated `pubsub_v1` PublisherClient (topics, their subscriptions, Publish)."""
        return self._get("pubsub.publisher", lambda: self._build_pubsub("Publisher"))

    def pubsub_subscriber(self) -> Any:
        """A generated `pubsub_v1` SubscriberClient (ListSubscriptions, Seek)."""
        return self._get("pubsub.subscriber", lambda: self._build_pubsub("Subscriber"))

    def monitoring(self) -> Any:
        """A `monitoring_v3.MetricServiceClient` (ListTimeSeries)."""
        return self._get("monitoring", self._build_monitoring)

    def scheduler(self) -> Any:
        """A `scheduler_v1.CloudSchedulerClient` (ListJobs)."""
        return self._get("scheduler", self._build_scheduler)

    def cloudbuild(self) -> Any:
        """A `cloudbuild_v1.CloudBuildClient` (ListBuildTriggers, ListBuilds)."""
        return self._get("cloudbuild", self._build_cloudbuild)

    def storage(self) -> Any:
        """A `google.cloud.storage.Client` (objects.get)."""
        return self._get("storage", self._build_storage)

    # --- builders ------------------------------------------------------------------------------

    def _build_pubsub(self, which: str) -> Any:
        # The generated clients, not `google.cloud.pubsub_v1`'s wrappers: one request per
        # call with a deadline of ours, no background batching or streaming threads.
        import google.pubsub_v1 as pubsub
        from google.pubsub_v1.services import publisher, subscriber

        module = publisher if which == "Publisher" else subscriber
        return self._generated(
            "pubsub",
            getattr(pubsub, f"{which}Client"),
            lambda: getattr(module.transports, f"{which}GrpcTransport"),
        )

    def _build_monitoring(self) -> Any:
        from google.cloud import monitoring_v3
        from google.cloud.monitoring_v3.services.metric_service import transports

        return self._generated(
            "monitoring",
            monitoring_v3.MetricServiceClient,
            lambda: transports.MetricServiceGrpcTransport,
        )

    def _build_scheduler(self) -> Any:
        from google.cloud import scheduler_v1
        from google.cloud.scheduler_v1.services.cloud_scheduler import transports

        return self._generated(
            "scheduler",
            scheduler_v1.CloudSchedulerClient,
            lambda: transports.CloudSchedulerGrpcTransport,
        )

    def _build_cloudbuild(self) -> Any:
        from google.cloud.devtools import cloudbuild_v1
        from google.cloud.devtools.cloudbuild_v1.services.cloud_build import transports

        return self._generated(
            "cloudbuild",
            cloudbuild_v1.CloudBuildClient,
            lambda: transports.CloudBuildGrpcTransport,
        )

    def _generated(self, api: str, client_class: Any, transport_class: Callable[[], Any]) -> Any:
        """A generated (GAPIC) client of `api`: Google's endpoint, a configured one, or a
        loopback server over an insecure channel with no credentials."""
        endpoint = self.endpoint(api)
        if endpoint is None:
            return client_class()
        if is_loopback(endpoint):
            import grpc

            channel = grpc.insecure_channel(endpoint)
            return client_class(transport=transport_class()(channel=channel))
        return client_class(client_options={"api_endpoint": endpoint})

    def _build_firestore(self) -> Any:
        endpoint = self.endpoint("firestore")
        if endpoint is None:
            from google.cloud import firestore

            return firestore.Client(project=self.project)
        with _EMULATOR_ENV_LOCK:
            # The client reads the emulator host from the environment, once, when built.
            previous = os.environ.get(FIRESTORE_EMULATOR_HOST)
            os.environ[FIRESTORE_EMULATOR_HOST] = endpoint
            try:
                from google.cloud import firestore

                return firestore.Client(project=self.project)
            finally:
                if previous is None:
                    del os.environ[FIRESTORE_EMULATOR_HOST]
                else:
                    os.environ[FIRESTORE_EMULATOR_HOST] = previous

    def _build_bigquery(self) -> Any:
        from google.cloud import bigquery

        return self._http("bigquery", bigquery.Client)

    def _build_storage(self) -> Any:
        from google.cloud import storage

        return self._http("storage", storage.Client)

    def _http(self, api: str, client_class: Any) -> Any:
        """A client of a JSON-over-HTTP API (BigQuery, Cloud Storage): Google's endpoint, a
        configured one, or a loopback server with no credentials."""
        endpoint = self.endpoint(api)
        if endpoint is None:
            return client_class(project=self.project)
        if not endpoint.startswith("http"):
            endpoint = ("http://" if is_loopback(endpoint) else "https://") + endpoint
        credentials = None
        if is_loopback(endpoint):
            from google.auth.credentials import AnonymousCredentials

            credentials = AnonymousCredentials()
        return client_class(
            project=self.project,
            credentials=credentials,
            client_options={"api_endpoint": endpoint},
        )

    def _build_run(self, which: str) -> Any:
        from google.cloud import run_v2
        from google.cloud.run_v2.services import revisions, services

        module = services if which == "Services" else revisions
        return self._generated(
            "run",
            getattr(run_v2, f"{which}Client"),
            lambda: getattr(module.transports, f"{which}GrpcTransport"),
        )

    def _build_logging(self) -> Any:
        from google.cloud.logging_v2.services.logging_service_v2 import (
            LoggingServiceV2Client,
            transports,
        )

        return self._generated(
            "logging", LoggingServiceV2Client, lambda: transports.LoggingServiceV2GrpcTransport
        )


_EMULATOR_ENV_LOCK = threading.Lock()
