"""Cloud Scheduler: the project's jobs in the pipeline's region, read with `ListJobs`.

A job's `status` is the `google.rpc.Status` of its last attempt (code 0 when it succeeded,
or before any attempt); the walkthrough judges the enabled jobs by it, as the runbook's
scheduler health check does.
"""

from __future__ import annotations

from typing import Any

from orchwatch.model import SchedulerJob
from orchwatch.sources.gcp.clients import GcpClients, plain_datetime
from orchwatch.sources.gcp.errors import api_errors

PAGE_SIZE = 500
CALL_TIMEOUT = 30.0


def to_job(job: Any) -> SchedulerJob:
    """A `scheduler_v1.Job` as the model's."""
    from google.cloud import scheduler_v1

    identity = ""
    if "pubsub_target" in job:
        target = f"pubsub:{job.pubsub_target.topic_name.rsplit('/', 1)[-1]}"
    elif "http_target" in job:
        target = job.http_target.uri
        if "oidc_token" in job.http_target:
            identity = job.http_target.oidc_token.service_account_email
    else:
        target = "App Engine"
    last = job.last_attempt_time if "last_attempt_time" in job else None
    return SchedulerJob(
        name=job.name.rsplit("/", 1)[-1],
        enabled=job.state == scheduler_v1.Job.State.ENABLED,
        target=target,
        schedule=job.schedule,
        last_attempt=plain_datetime(last),
        status=code_name(job.status.code) if "status" in job else "OK",
        status_message=job.status.message if "status" in job else "",
        identity=identity,
    )


def code_name(code: int) -> str:
    """A `google.rpc.Code` by its name (`7` -> `PERMISSION_DENIED`), or its number when
    the enum does not know it."""
    from google.rpc import code_pb2

    try:
        return str(code_pb2.Code.Name(code))
    except ValueError:
        return str(code)


class GcpScheduler:
    """The `SchedulerSource` over the Cloud Scheduler API v1."""

    def __init__(self, clients: GcpClients) -> None:
        self.clients = clients

    def fetch_jobs(self) -> list[SchedulerJob]:
        """Every job of the project in its region, paged.

        Raises:
            SourceError: the jobs cannot be listed.
        """
        parent = f"projects/{self.clients.project}/locations/{self.clients.region}"
        jobs: list[SchedulerJob] = []
        with api_errors(self.clients.api("scheduler")):
            pager = self.clients.scheduler().list_jobs(
                request={"parent": parent, "page_size": PAGE_SIZE},
                retry=None,
                timeout=CALL_TIMEOUT,
            )
            for page in pager.pages:
                self.clients.meter.count("scheduler", "ListJobs")
                jobs.extend(to_job(job) for job in page.jobs)
        return jobs
