"""Copy an orchwatch store (the demo's, usually) into the loopback servers.

The same data then sits in SQLite and behind the real protocols, so a test
can ask whether the panes show the same states either way. The converters
here are the inverse of orchwatch's own (`orchwatch/sources/gcp/*.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from google.api import monitored_resource_pb2
from google.cloud import bigquery, run_v2
from google.cloud.logging_v2.types import LogEntry as LogEntryProto
from google.logging.type import log_severity_pb2

from orchwatch.config import Config
from orchwatch.model import Condition, LogEntry, Revision, ServiceState
from orchwatch.sources.gcp.clients import GcpClients
from orchwatch.sources.gcp.firestore import document_fields
from orchwatch.sources.gcp.run import snake_reason
from orchwatch.sources.local import LocalStore

from .grpc_server import LocalGcpServer
from .storage import LocalStorage

SCHEMAS: dict[str, list[bigquery.SchemaField]] = {
    "phase_completions": [
        bigquery.SchemaField("phase", "STRING"),
        bigquery.SchemaField("game_date", "DATE"),
        bigquery.SchemaField("processor_name", "STRING"),
        bigquery.SchemaField("status", "STRING"),
        bigquery.SchemaField("record_count", "INT64"),
        bigquery.SchemaField("correlation_id", "STRING"),
        bigquery.SchemaField("execution_id", "STRING"),
        bigquery.SchemaField("completed_at", "TIMESTAMP"),
        bigquery.SchemaField("is_incremental", "BOOL"),
        bigquery.SchemaField("inserted_at", "TIMESTAMP"),
    ],
    "phase_execution_log": [
        bigquery.SchemaField("execution_timestamp", "TIMESTAMP"),
        bigquery.SchemaField("phase_name", "STRING"),
        bigquery.SchemaField("game_date", "DATE"),
        bigquery.SchemaField("correlation_id", "STRING"),
        bigquery.SchemaField("duration_seconds", "FLOAT64"),
        bigquery.SchemaField("games_processed", "INT64"),
        bigquery.SchemaField("status", "STRING"),
    ],
    "failed_processor_queue": [
        bigquery.SchemaField("game_date", "DATE"),
        bigquery.SchemaField("processor_name", "STRING"),
        bigquery.SchemaField("status", "STRING"),
        bigquery.SchemaField("retry_count", "INT64"),
        bigquery.SchemaField("error_message", "STRING"),
        bigquery.SchemaField("first_failure_at", "TIMESTAMP"),
        bigquery.SchemaField("last_retry_at", "TIMESTAMP"),
    ],
}


EXAMPLE = Path(__file__).parents[2] / "orchwatch" / "examples" / "orchwatch.toml"


def silent_config(folder: Path, port: int) -> Path:
    """`folder/orchwatch.toml` with every Google Cloud API at `port` on loopback (a port that
    accepts connections and never answers: `loopback.silent`)."""
    where = f"127.0.0.1:{port}"
    endpoints = {"firestore": where, "bigquery": f"http://{where}", "run": where}
    endpoints |= {"logging": where, "pubsub": where, "monitoring": where, "scheduler": where}
    endpoints["cloudbuild"] = where
    endpoints["storage"] = f"http://{where}"
    return write_config(folder, endpoints, "orchwatch-silent")


def write_config(folder: Path, endpoints: dict[str, str], project: str, extra: str = "") -> Path:
    """`folder/orchwatch.toml`: the example config with `project` and the servers' endpoints
    (and `extra` TOML after them)."""
    text = EXAMPLE.read_text().replace(
        '[gcp]\nproject = "nba-props-platform"', f'[gcp]\nproject = "{project}"'
    )
    text += "\n# The local servers (tests/loopback).\n[gcp.endpoints]\n"
    text += "".join(f'{api} = "{where}"\n' for api, where in endpoints.items())
    text += extra
    path = folder / "orchwatch.toml"
    path.write_text(text)
    return path


def store_dates(store: LocalStore) -> list[date]:
    """Every business date the store has a completion for."""
    days = {str(r["game_date"]) for r in store.export_rows("phase_completions")}
    return sorted(date.fromisoformat(d) for d in days)


# --- Firestore ----------------------------------------------------------------------------------


def seed_firestore(client: object, store: LocalStore, config: Config, dates: Sequence[date]) -> int:
    """Write the store's completion documents through the official client; returns the count."""
    written = 0
    batch = client.batch()  # type: ignore[attr-defined]
    for day, completions in store.fetch_completions(dates).items():
        for phase, document in completions.firestore.items():
            collection = config.phase(phase).firestore_collection
            ref = client.collection(collection).document(day.isoformat())  # type: ignore[attr-defined]
            batch.set(ref, document_fields(document))
            written += 1
            if written % 400 == 0:
                batch.commit()
                batch = client.batch()  # type: ignore[attr-defined]
    batch.commit()
    return written


# --- BigQuery -----------------------------------------------------------------------------------


def seed_bigquery(client: bigquery.Client, store: LocalStore, dataset: str) -> dict[str, int]:
    """Create the dataset and tables, and stream the store's rows in; returns rows per table."""
    project = client.project
    client.create_dataset(f"{project}.{dataset}", exists_ok=True)
    counts: dict[str, int] = {}
    for name, schema in SCHEMAS.items():
        table = bigquery.Table(f"{project}.{dataset}.{name}", schema=schema)
        if "game_date" in {f.name for f in schema}:
            table.time_partitioning = bigquery.TimePartitioning(field="game_date")
        client.create_table(table, exists_ok=True)
        columns = {f.name: f.field_type for f in schema}
        rows = [
            {k: _json_value(v, columns[k]) for k, v in row.items() if k in columns}
            for row in store.export_rows(name)
        ]
        for start in range(0, len(rows), 5000):
            errors = client.insert_rows_json(table, rows[start : start + 5000])
            if errors:
                raise RuntimeError(f"BigQuery emulator refused rows of {name}: {errors[:3]}")
        counts[name] = len(rows)
    return counts


def _json_value(value: object, kind: str) -> object:
    if value is None:
        return None
    if kind == "BOOL":
        return bool(value)
    return value


# --- Cloud Run ----------------------------------------------------------------------------------


def condition_proto(condition: Condition) -> run_v2.Condition:
    """The model's condition as `run_v2.Condition` (reasons as revision reasons)."""
    proto = run_v2.Condition(
        type_=condition.type,
        state=run_v2.Condition.State[condition.state.value],
        message=condition.message,
        last_transition_time=condition.last_transition_time,
    )
    if condition.reason:
        name = snake_reason(condition.reason)
        if name in run_v2.Condition.RevisionReason.__members__:
            proto.revision_reason = run_v2.Condition.RevisionReason[name]
        elif name in run_v2.Condition.CommonReason.__members__:
            proto.reason = run_v2.Condition.CommonReason[name]
        else:
            raise ValueError(f"{condition.reason}: no run_v2 reason of that name")
    return proto


def revision_proto(revision: Revision, service_path: str) -> run_v2.Revision:
    """The model's revision as `run_v2.Revision`."""
    return run_v2.Revision(
        name=f"{service_path}/revisions/{revision.name}",
        service=service_path,
        create_time=revision.create_time,
        creator=revision.creator,
        labels=dict(revision.labels),
        containers=[
            run_v2.Container(
                image=revision.image,
                env=[run_v2.EnvVar(name=k, value=v) for k, v in revision.env.items()],
            )
        ],
        conditions=[condition_proto(c) for c in revision.conditions],
    )


def service_proto(state: ServiceState, service_path: str) -> run_v2.Service:
    """The model's service as `run_v2.Service`."""
    service = run_v2.Service(
        name=service_path,
        uri=state.uri,
        latest_created_revision=f"{service_path}/revisions/{state.latest_created_revision}",
        latest_ready_revision=f"{service_path}/revisions/{state.latest_ready_revision}",
        # As Cloud Run reports them: traffic that follows the latest Ready revision (every
        # gen2 function's after a deploy) is `{type: LATEST, percent: 100}`, with no name.
        traffic_statuses=[
            run_v2.TrafficTargetStatus(
                type_=run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST,
                percent=t.percent,
                tag=t.tag,
            )
            if t.follows_latest
            else run_v2.TrafficTargetStatus(
                type_=run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION,
                revision=t.revision,
                percent=t.percent,
                tag=t.tag,
            )
            for t in state.traffic
        ],
        # The desired traffic (Service.traffic): pinned to revisions, or following latest.
        traffic=[
            run_v2.TrafficTarget(
                type_=run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION,
                revision=revision,
                percent=100 // len(state.pinned_to),
            )
            for revision in state.pinned_to
        ]
        or [
            run_v2.TrafficTarget(
                type_=run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST,
                percent=100,
            )
        ],
        reconciling=state.reconciling,
    )
    if state.terminal_condition is not None:
        service.terminal_condition = condition_proto(state.terminal_condition)
    return service


def seed_scheduler(server: LocalGcpServer, config: Config, project: str, now: datetime) -> int:
    """Serve the demo's Cloud Scheduler jobs as `scheduler_v1.Job`s (each calling its
    target with an OIDC token), and the services they call that the store does not hold,
    with the IAM policies the demo models; returns how many jobs."""
    from google.cloud import run_v2, scheduler_v1
    from google.rpc import code_pb2, status_pb2

    from orchwatch.analysis.daily import run_service_of
    from orchwatch.sources.demo import DemoInvokers, DemoScheduler

    parent = f"projects/{project}/locations/{config.gcp_region}"
    demo_jobs = DemoScheduler(lambda: now).fetch_jobs()
    invokers = DemoInvokers(config.services)
    for job in demo_jobs:
        service = run_service_of(job.target)
        path = f"{parent}/services/{service}"
        if service is None or path in server.services:
            continue
        host = job.target.split("/")[2]
        server.put_service(run_v2.Service(name=path, uri=f"https://{host}"), [])
        members = invokers.fetch_invokers([service]).get(service, frozenset())
        server.iam[path] = {"roles/run.invoker": set(members)}
    jobs = [
        scheduler_v1.Job(
            name=f"{parent}/jobs/{job.name}",
            schedule=job.schedule,
            http_target=scheduler_v1.HttpTarget(
                uri=job.target,
                oidc_token=scheduler_v1.OidcToken(service_account_email=job.identity),
            ),
            state=scheduler_v1.Job.State.ENABLED if job.enabled else scheduler_v1.Job.State.PAUSED,
            status=status_pb2.Status(
                code=code_pb2.Code.Value(job.status), message=job.status_message
            ),
            last_attempt_time=job.last_attempt,
        )
        for job in demo_jobs
    ]
    server.jobs[parent] = jobs
    return len(jobs)


def seed_builds(server: LocalGcpServer, store: LocalStore, config: Config, project: str) -> int:
    """Serve the demo's Cloud Build triggers and their newest builds as `cloudbuild_v1`
    messages (each trigger a GitHub push trigger of its branch); returns how many."""
    from google.cloud.devtools import cloudbuild_v1

    from orchwatch.sources.demo import DemoBuilds

    parent = f"projects/{project}/locations/{config.gcp_region}"
    triggers, builds = [], []
    for trigger in DemoBuilds(config.extra_services, store.fetch_services).fetch_triggers():
        triggers.append(
            cloudbuild_v1.BuildTrigger(
                id=trigger.id,
                name=trigger.name,
                resource_name=f"{parent}/triggers/{trigger.id}",
                github=cloudbuild_v1.GitHubEventsConfig(
                    owner="nba-props",
                    name="nba-stats-scraper",
                    push=cloudbuild_v1.PushFilter(branch=trigger.branch),
                ),
                included_files=list(trigger.included_files),
                ignored_files=list(trigger.ignored_files),
                disabled=trigger.disabled,
            )
        )
        build = trigger.last_build
        if build is not None:
            builds.append(
                cloudbuild_v1.Build(
                    id=build.id,
                    status=cloudbuild_v1.Build.Status[build.status],
                    build_trigger_id=trigger.id,
                    substitutions={"COMMIT_SHA": build.commit, "SHORT_SHA": build.commit[:7]},
                    create_time=build.created,
                    log_url=build.log_url,
                )
            )
    server.triggers[parent] = triggers
    server.builds[parent] = builds
    return len(triggers)


def seed_exports(storage: LocalStorage, store: LocalStore, config: Config, now: datetime) -> int:
    """Serve the demo's exports (every date it holds) from the local Cloud Storage server;
    returns how many objects."""
    from orchwatch.gather import export_names
    from orchwatch.sources.demo import DemoExports

    exports = DemoExports(store, config.daily_exports, config.phases[-1], lambda: now)
    found = exports.fetch_objects(export_names(config, store_dates(store)))
    for item in found:
        storage.put(item.bucket, item.name, item.updated or now, item.size)
    return len(found)


def seed_run(server: LocalGcpServer, store: LocalStore, config: Config, project: str) -> int:
    """Serve the store's Cloud Run services, with the IAM policies the demo models (every
    service lets the demo's push identity invoke it); returns how many."""
    from orchwatch.sources.demo import DemoInvokers

    states = store.fetch_services(config.services)
    invokers = DemoInvokers(config.services).fetch_invokers([s.name for s in states])
    for state in states:
        path = f"projects/{project}/locations/{config.gcp_region}/services/{state.name}"
        server.put_service(
            service_proto(state, path), [revision_proto(r, path) for r in state.revisions]
        )
        server.iam[path] = {"roles/run.invoker": set(invokers.get(state.name, ()))}
    return len(states)


# --- Cloud Logging ------------------------------------------------------------------------------


def entry_proto(entry: LogEntry, project: str, region: str) -> LogEntryProto:
    """The model's log entry as Cloud Run writes it (textPayload, cloud_run_revision)."""
    return LogEntryProto(
        log_name=f"projects/{project}/logs/run.googleapis.com%2Fstderr",
        resource=monitored_resource_pb2.MonitoredResource(
            type="cloud_run_revision",
            labels={
                "service_name": entry.service,
                "revision_name": entry.revision,
                "location": region,
                "project_id": project,
            },
        ),
        text_payload=entry.text,
        timestamp=entry.timestamp,
        severity=log_severity_pb2.LogSeverity.Value(entry.severity),
        insert_id=entry.insert_id,
        labels={"instanceId": entry.instance} if entry.instance else {},
    )


def entry_protos(entries: Iterable[LogEntry], project: str, region: str) -> list[LogEntryProto]:
    """Many entries (ids are made up for entries that have none)."""
    protos = []
    for i, entry in enumerate(entries):
        proto = entry_proto(entry, project, region)
        if not proto.insert_id:
            proto.insert_id = f"seed-{i:08d}"
        protos.append(proto)
    return protos


def audit_protos(
    states: Iterable[ServiceState], project: str, region: str, until: datetime
) -> list[LogEntryProto]:
    """The Cloud Audit Logs entries a project holds beside its services' own logs, under the
    same resource type: an Admin Activity entry per revision created (ReplaceService), and
    Data Access ones for the reads of each service (GetService every 5 minutes over the 6
    hours to `until`, as a dashboard's reads cause when those logs are on). Their payload
    is an `AuditLog` (protoPayload): no text."""
    from google.cloud.audit import audit_log_pb2
    from google.protobuf import any_pb2

    protos = []
    for state in states:
        written = [("activity", "ReplaceService", "NOTICE", r.create_time) for r in state.revisions]
        written += [
            ("data_access", "GetService", "INFO", until - _AUDIT_READ * k) for k in range(72)
        ]
        for log, method, severity, at in written:
            payload = any_pb2.Any()
            payload.Pack(
                audit_log_pb2.AuditLog(
                    service_name="run.googleapis.com",
                    method_name=f"google.cloud.run.v1.Services.{method}",
                    resource_name=f"namespaces/{project}/services/{state.name}",
                )
            )
            protos.append(
                LogEntryProto(
                    log_name=f"projects/{project}/logs/cloudaudit.googleapis.com%2F{log}",
                    resource=monitored_resource_pb2.MonitoredResource(
                        type="cloud_run_revision",
                        labels={
                            "service_name": state.name,
                            "revision_name": "",
                            "configuration_name": state.name,
                            "location": region,
                            "project_id": project,
                        },
                    ),
                    proto_payload=payload,
                    timestamp=at,
                    severity=log_severity_pb2.LogSeverity.Value(severity),
                    insert_id=f"audit-{log}-{state.name}-{at.timestamp():.0f}",
                )
            )
    return protos


_AUDIT_READ = timedelta(minutes=5)


def seed_logging(server: LocalGcpServer, store: LocalStore, config: Config, project: str) -> int:
    """Serve every log entry of the store, and the audit log entries of its services;
    returns how many of the store's."""
    entries = store.fetch_log(datetime(1970, 1, 1, tzinfo=UTC), None)
    server.add_entries(entry_protos(entries, project, config.gcp_region))
    until = max((e.timestamp for e in entries), default=datetime.now(UTC))
    audit = audit_protos(store.fetch_services(config.services), project, config.gcp_region, until)
    server.add_entries(audit)
    return len(entries)


def seed_pubsub(
    clients: GcpClients, server: LocalGcpServer, store: LocalStore, config: Config, project: str
) -> int:
    """The demo's Pub/Sub on the emulator (its topics and subscriptions, with their
    settings) and its counts in the local MetricService (the emulator keeps none), over the
    whole story; returns how many subscriptions were made."""
    from datetime import timedelta

    from google.protobuf import duration_pb2
    from google.pubsub_v1 import PushConfig, RetryPolicy
    from google.pubsub_v1 import Subscription as PbSubscription

    from orchwatch.analysis.pubsub import topics_of
    from orchwatch.sources.demo import DEMO_START, FIRST_DATE
    from orchwatch.sources.demo.pubsub import DemoPubSub
    from orchwatch.sources.gcp.pubsub import BACKLOG, PUBLISHED, PUSHES

    from .monitoring import RawSeries

    since = datetime.combine(FIRST_DATE, datetime.min.time(), tzinfo=UTC)
    reading = DemoPubSub(store, config).read_pubsub(topics_of(config), since, DEMO_START)
    publisher, subscriber = clients.pubsub_publisher(), clients.pubsub_subscriber()
    path = f"projects/{project}"
    made = 0
    for topic, found in reading.topics.items():
        publisher.create_topic(name=f"{path}/topics/{topic}")
        end = [(p.at + reading.step, p.value) for p in found.published]
        server.add_series(
            RawSeries(
                PUBLISHED, "pubsub_topic", {"project_id": project, "topic_id": topic}, points=end
            )
        )
        for sub in found.subscriptions:
            backoff = sub.retry_backoff or (10.0, 600.0)
            subscriber.create_subscription(
                request=PbSubscription(
                    name=f"{path}/subscriptions/{sub.name}",
                    topic=f"{path}/topics/{topic}",
                    push_config=PushConfig(
                        push_endpoint=sub.push_endpoint,
                        oidc_token=PushConfig.OidcToken(service_account_email=sub.push_identity),
                    )
                    if sub.push_identity
                    else PushConfig(push_endpoint=sub.push_endpoint),
                    ack_deadline_seconds=sub.ack_deadline_seconds,
                    retry_policy=RetryPolicy(
                        minimum_backoff=duration_pb2.Duration(seconds=int(backoff[0])),
                        maximum_backoff=duration_pb2.Duration(seconds=int(backoff[1])),
                    ),
                    message_retention_duration=duration_pb2.Duration(
                        seconds=int(sub.retention / timedelta(seconds=1))
                    ),
                    labels=dict(sub.labels),
                )
            )
            made += 1
            labels = {"project_id": project, "subscription_id": sub.name}
            metrics = reading.metrics.get(sub.name)
            if metrics is None:
                continue
            for kind in sorted({p.response_class for p in metrics.pushes}):
                points = [
                    (p.at + reading.step, float(p.count))
                    for p in metrics.pushes
                    if p.response_class == kind
                ]
                server.add_series(
                    RawSeries(
                        PUSHES,
                        "pubsub_subscription",
                        labels,
                        {"response_class": kind},
                        points=points,
                    )
                )
            server.add_series(
                RawSeries(
                    BACKLOG,
                    "pubsub_subscription",
                    labels,
                    kind="GAUGE",
                    points=[(p.at + reading.step, p.value) for p in metrics.backlog],
                )
            )
    return made
