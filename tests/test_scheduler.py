"""The runbook's Cloud Scheduler health check: enabled jobs whose last attempt failed,
1-3 warn and 4 or more critical; read with `ListJobs` from the local gRPC server, which
serves the official `scheduler_v1` messages."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from conftest import Loopback
from gcp_helpers import Seeded, gcp_sources, walkthrough_check

from orchwatch.analysis.daily import Fetched, evaluate
from orchwatch.clock import FrozenClock
from orchwatch.config import Config
from orchwatch.gather import gather_daily
from orchwatch.model import SchedulerJob
from orchwatch.sources.base import Sources
from orchwatch.sources.demo import DEMO_START

DAY = date(2026, 2, 1)


def job(name: str, status: str = "OK", enabled: bool = True, message: str = "") -> SchedulerJob:
    return SchedulerJob(
        name, enabled, "https://x.a.run.app/", "0 * * * *", DEMO_START, status, message
    )


def judged(
    config: Config, demo: Sources, jobs: Fetched[list[SchedulerJob]] | None
) -> tuple[str, str, str]:
    inputs = replace(
        gather_daily(config, demo, DAY, validation=lambda: (0, 0, [])),
        scheduler=jobs,
        region="us-west2",
    )
    [result] = [r for r in evaluate(inputs, config.timezone) if r.id == "scheduler"]
    return result.status.value, result.evidence, result.next_step


@pytest.mark.parametrize(
    ("failing", "status"), [(0, "pass"), (1, "warn"), (3, "warn"), (4, "fail")]
)
def test_failing_jobs_warn_and_four_are_critical(
    config: Config, demo: Sources, failing: int, status: str
) -> None:
    jobs = [job(f"job-{k}", "PERMISSION_DENIED" if k < failing else "OK") for k in range(6)]
    jobs.append(job("paused", "INTERNAL", enabled=False))  # not judged
    got, evidence, step = judged(config, demo, Fetched(jobs))
    assert got == status
    if failing:
        assert evidence.startswith(f"{failing} enabled job")
        assert "job-0 PERMISSION_DENIED" in evidence and "paused" not in evidence
        assert ("critical" in evidence) == (failing >= 4)
        assert step.startswith("gcloud scheduler jobs describe job-0 --location=us-west2")
    else:
        assert evidence == "6 enabled jobs, every last attempt OK"


def test_jobs_that_cannot_be_listed_are_unknown_and_a_snapshot_skips(
    config: Config, demo: Sources
) -> None:
    status, evidence, _ = judged(config, demo, Fetched(None, "Cloud Scheduler: permission denied"))
    assert status == "unknown" and "permission denied" in evidence
    assert judged(config, demo, None)[:2] == (
        "skipped",
        "this source holds no Cloud Scheduler jobs (a snapshot)",
    )


def test_the_local_servers_list_the_demos_jobs_as_cloud_scheduler_does(
    world: tuple[Config, Sources, Sources, Seeded],
) -> None:
    """What ListJobs returns, read back into the model, is what the demo says."""
    _, demo, gcp, _ = world
    jobs = gcp.scheduler.fetch_jobs()  # type: ignore[union-attr]
    assert jobs == demo.scheduler.fetch_jobs()  # type: ignore[union-attr]
    assert len(jobs) == 4 and all(j.enabled and j.status == "OK" for j in jobs)
    assert {j.last_attempt for j in jobs} == {DEMO_START - timedelta(minutes=5)}


def test_a_failed_attempt_on_the_server_warns_and_a_denied_list_is_unknown(
    loopback: Loopback, world: tuple[Config, Sources, Sources, Seeded]
) -> None:
    from google.cloud import scheduler_v1
    from google.rpc import status_pb2

    config, _, _, _ = world
    parent = f"projects/orchwatch-world/locations/{config.gcp_region}"
    kept = loopback.grpc.jobs[parent]
    failed = scheduler_v1.Job(kept[0])
    failed.status = status_pb2.Status(code=7, message="The principal lacks run.routes.invoke")
    loopback.grpc.jobs[parent] = [failed, *kept[1:]]
    gcp = gcp_sources(config, "orchwatch-world", FrozenClock(DEMO_START))
    try:
        warned = walkthrough_check(config, gcp, DAY, "scheduler")
        loopback.grpc.deny_on = {("ListJobs", parent)}
        denied = walkthrough_check(config, gcp, DAY, "scheduler")
    finally:
        loopback.grpc.jobs[parent] = kept
        loopback.grpc.deny_on = set()
        gcp.close()
    assert warned.status.value == "warn"
    assert "p2-bdl-box-scores-hourly PERMISSION_DENIED: The principal lacks" in warned.evidence
    assert denied.status.value == "unknown" and "permission denied" in denied.evidence


# --- the invoker IAM of the jobs' targets (0.6 check 5) -----------------------------------


@pytest.mark.parametrize(
    ("uri", "service"),
    [
        ("https://self-heal-756957797294.us-west2.run.app/", "self-heal"),
        (
            "https://nba-phase1-scrapers-756957797294.us-west2.run.app/scrape?x=1",
            "nba-phase1-scrapers",
        ),
        ("https://phase6-export-a1b2c3d4e5-wl.a.run.app", "phase6-export"),
        ("https://example.com/hook", None),
        ("pubsub:nba-phase1-trigger", None),
        ("App Engine", None),
    ],
)
def test_a_jobs_cloud_run_target_is_read_from_its_url(uri: str, service: str | None) -> None:
    from orchwatch.analysis.daily import run_service_of

    assert run_service_of(uri) == service


def iam_judged(
    config: Config,
    demo: Sources,
    jobs: list[SchedulerJob],
    invokers: Fetched[dict[str, frozenset[str]]] | None,
) -> tuple[str, str, str]:
    inputs = replace(
        gather_daily(config, demo, DAY, validation=lambda: (0, 0, [])),
        scheduler=Fetched(jobs),
        invokers=invokers,
        region="us-west2",
    )
    [result] = [r for r in evaluate(inputs, config.timezone) if r.id == "scheduler_iam"]
    return result.status.value, result.evidence, result.next_step


def http_job(
    name: str, service: str, identity: str = "sched@p.iam.gserviceaccount.com"
) -> SchedulerJob:
    uri = f"https://{service}-756957797294.us-west2.run.app/"
    return SchedulerJob(name, True, uri, "0 * * * *", DEMO_START, identity=identity)


def test_a_target_without_the_jobs_identity_is_p0_with_the_binding_that_closes_it(
    config: Config, demo: Sources
) -> None:
    jobs = [
        http_job("scrape", "nba-phase1-scrapers"),
        http_job("heal", "self-heal"),
        http_job("anon", "open-hook", identity=""),  # no token: needs allUsers
        replace(http_job("paused", "gone"), enabled=False),  # not judged
        SchedulerJob("topic", True, "pubsub:nba-phase1-trigger"),  # not Cloud Run
    ]
    granted = {
        "nba-phase1-scrapers": frozenset({"serviceAccount:someone-else@p.iam.gserviceaccount.com"}),
        "self-heal": frozenset({"serviceAccount:sched@p.iam.gserviceaccount.com"}),
        "open-hook": frozenset({"allUsers"}),
    }
    status, evidence, step = iam_judged(config, demo, jobs, Fetched(granted))
    assert status == "fail"
    assert evidence == (
        "P0: nba-phase1-scrapers does not grant roles/run.invoker to "
        "serviceAccount:sched@p.iam.gserviceaccount.com (job scrape)"
    )
    assert step == (
        "gcloud run services add-iam-policy-binding nba-phase1-scrapers --region=us-west2 "
        "--member=serviceAccount:sched@p.iam.gserviceaccount.com --role=roles/run.invoker"
    )
    granted["nba-phase1-scrapers"] |= {"serviceAccount:sched@p.iam.gserviceaccount.com"}
    assert iam_judged(config, demo, jobs, Fetched(granted))[:2] == (
        "pass",
        "3 jobs calling Cloud Run, each target granting roles/run.invoker to the job's identity",
    )
    del granted["open-hook"]
    status, evidence, _ = iam_judged(config, demo, jobs, Fetched(granted))
    assert (
        status == "unknown"
        and "no such service in Cloud Run us-west2: open-hook (anon)" in evidence
    )
    status, evidence, _ = iam_judged(
        config, demo, jobs, Fetched(None, "Cloud Run: permission denied")
    )
    assert status == "unknown" and "permission denied" in evidence
    assert iam_judged(config, demo, jobs, None)[0] == "skipped"


def test_the_local_servers_agree_with_the_demo_and_a_binding_removed_there_fails(
    loopback: Loopback, world: tuple[Config, Sources, Sources, Seeded]
) -> None:
    config, demo, gcp, _ = world
    assert [j.identity for j in gcp.scheduler.fetch_jobs()] == [  # type: ignore[union-attr]
        j.identity
        for j in demo.scheduler.fetch_jobs()  # type: ignore[union-attr]
    ]
    healthy = walkthrough_check(config, gcp, DAY, "scheduler_iam")
    path = f"projects/orchwatch-world/locations/{config.gcp_region}/services/nba-phase1-scrapers"
    kept = loopback.grpc.iam[path]
    loopback.grpc.iam[path] = {
        "roles/run.invoker": {"serviceAccount:nobody@x.iam.gserviceaccount.com"}
    }
    fresh = gcp_sources(config, "orchwatch-world", FrozenClock(DEMO_START))
    try:
        broken = walkthrough_check(config, fresh, DAY, "scheduler_iam")
    finally:
        loopback.grpc.iam[path] = kept
        fresh.close()
    assert healthy.status.value == "pass" and healthy.evidence.startswith(
        "4 jobs calling Cloud Run"
    )
    assert healthy.evidence == walkthrough_check(config, demo, DAY, "scheduler_iam").evidence
    assert broken.status.value == "fail"
    assert (
        "nba-phase1-scrapers does not grant roles/run.invoker to serviceAccount:scheduler-invoker@"
        in (broken.evidence)
    )
