"""The demo's platform beyond its pipeline: who may invoke its services (IAM), the Cloud
Scheduler jobs that start its day and the Cloud Build triggers that deploy its helper
services, as the walkthrough's checks read them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from orchwatch.model import Build, BuildTrigger, SchedulerJob, ServiceState
from orchwatch.sources.demo.pubsub import PROJECT_NUMBER, PUSH_IDENTITY, REGION

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
