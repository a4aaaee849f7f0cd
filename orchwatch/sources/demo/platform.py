"""The demo's platform beyond its pipeline: who may invoke its services (IAM), the Cloud
Scheduler jobs that start its day and the Cloud Build triggers that deploy its helper
services, as the walkthrough's checks read them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta

from orchwatch.config import ExportSpec, PhaseSpec
from orchwatch.model import Build, BuildTrigger, SchedulerJob, ServiceState, StoredObject
from orchwatch.sources.demo.pubsub import PROJECT_NUMBER, PUSH_IDENTITY, REGION
from orchwatch.sources.local import LocalStore

SCHEDULER_IDENTITY = "scheduler-invoker@nba-props-platform.iam.gserviceaccount.com"
"""The service account the demo's Cloud Scheduler jobs call their targets as."""


class DemoInvokers:
    """The demo's IAM: every service lets the demo's push identity invoke it, as Eventarc
    sets up when it creates a function's trigger, and the scheduler's identity too; the
    services the scheduler's jobs call exist, watched or not."""

    def __init__(self, services: Sequence[str]) -> None:
        self.services = frozenset(services) | {s for *_, s, _ in DemoScheduler.JOBS}

    def fetch_invokers(self, services: Sequence[str]) -> dict[str, frozenset[str]]:
        """The demo's services' invokers; one it does not have is absent."""
        member = frozenset(
            {f"serviceAccount:{PUSH_IDENTITY}", f"serviceAccount:{SCHEDULER_IDENTITY}"}
        )
        return {name: member for name in services if name in self.services}


class DemoScheduler:
    """The demo's Cloud Scheduler: the jobs that start the pipeline's day, each last run
    five minutes before now, every one succeeding."""

    JOBS = (
        ("p2-bdl-box-scores-hourly", "0 * * * *", "nba-phase1-scrapers", "/scrape"),
        ("self-heal-morning", "30 11 * * *", "self-heal", "/"),
        ("auto-backfill-hourly", "15 * * * *", "auto-backfill-orchestrator", "/"),
        ("phase6-export-nightly", "0 5 * * *", "phase6-export", "/"),
    )

    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now

    def fetch_jobs(self) -> list[SchedulerJob]:
        """The jobs, their last attempts five minutes ago."""
        last = self._now() - timedelta(minutes=5)
        return [
            SchedulerJob(
                name,
                True,
                f"https://{service}-{PROJECT_NUMBER}.{REGION}.run.app{path}",
                schedule,
                last,
                identity=SCHEDULER_IDENTITY,
            )
            for name, schedule, service, path in self.JOBS
        ]


class DemoBuilds:
    """The demo's Cloud Build: a trigger per helper service (`[services] extra`; the phase
    orchestrators are deployed by script), each push to main building and deploying it.
    Each trigger's newest build succeeded and built the commit its service's newest
    revision carries."""

    def __init__(
        self, services: Sequence[str], read: Callable[[Sequence[str]], list[ServiceState]]
    ) -> None:
        self.services = tuple(services)
        self._read = read

    def fetch_triggers(self) -> list[BuildTrigger]:
        """The triggers, with their newest builds."""
        triggers = []
        for service in self._read(self.services):
            newest = service.revisions[0] if service.revisions else None
            build = (
                Build(
                    f"demo-{newest.name}",
                    "SUCCESS",
                    newest.commit or "",
                    newest.create_time - timedelta(minutes=4),
                )
                if newest is not None
                else None
            )
            triggers.append(
                BuildTrigger(
                    f"deploy-{service.name}",
                    f"demo-trigger-{service.name}",
                    branch="^main$",
                    included_files=(f"{service.name.replace('-', '_')}/**", "shared/**"),
                    last_build=build,
                )
            )
        return triggers


class DemoExports:
    """The demo's phase 6 exports: a dated file exists once the last phase of its date
    has every required processor's success in BigQuery (written five minutes after the
    last), and an undated one is rewritten every 20 minutes."""

    def __init__(
        self,
        store: LocalStore,
        specs: Sequence[ExportSpec],
        last_phase: PhaseSpec,
        now: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.specs = tuple(specs)
        self.last_phase = last_phase
        self._now = now

    def fetch_objects(self, wanted: Sequence[tuple[str, str]]) -> list[StoredObject]:
        """The wanted objects the demo has written by now."""
        found = []
        now = self._now()
        for bucket, name in wanted:
            spec = next((e for e in self.specs if e.bucket == bucket and _named(e, name)), None)
            if spec is None:
                continue
            if "{date}" not in spec.object:
                found.append(StoredObject(bucket, name, _millis(now - timedelta(minutes=20)), 2048))
                continue
            written = self._written(_dated(spec, name))
            if written is not None and written <= now:
                found.append(StoredObject(bucket, name, _millis(written), 4096))
        return found

    def _written(self, day: date | None) -> datetime | None:
        """When the last phase of `day` finished: its required processors' latest success."""
        if day is None:
            return None
        phase = self.last_phase
        keyed = phase.keyed_date(day)
        summaries = self.store.fetch_completions([keyed]).get(keyed)
        runs = summaries.bigquery.get(phase.name, {}) if summaries else {}
        times = []
        for name in (p.name for p in phase.processors if p.required):
            run = runs.get(name)
            if run is None or not run.successes or run.last_completed_at is None:
                return None
            times.append(run.last_completed_at)
        return max(times) + timedelta(minutes=5) if times else None


def _named(spec: ExportSpec, name: str) -> bool:
    return name == spec.object or _dated(spec, name) is not None


def _dated(spec: ExportSpec, name: str) -> date | None:
    """The game date in `name`, as `spec.object`'s `{date}` places it."""
    head, _, tail = spec.object.partition("{date}")
    if not _ or not (name.startswith(head) and name.endswith(tail)):
        return None
    try:
        return date.fromisoformat(name[len(head) : len(name) - len(tail)])
    except ValueError:
        return None


def _millis(moment: datetime) -> datetime:
    """A time as Cloud Storage keeps an object's: to the millisecond."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
