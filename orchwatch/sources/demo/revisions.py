"""Invented Cloud Run revision histories for the demo's services, with the story's own
revisions where they belong (00026 failing on Jan 29, a pending deploy, a rollback by
hand, a deploy that crash-loops while the revision before it served cleanly)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from orchwatch.model import (
    Condition,
    ConditionState,
    Revision,
    TrafficStatus,
)
from orchwatch.sources.demo.events import Event, RevisionChanged, ServiceChanged
from orchwatch.sources.demo.logs import LOOP_LABEL
from orchwatch.sources.demo.moments import DEMO_START

PACIFIC = ZoneInfo("America/Los_Angeles")
"""us-west2's zone: deploy times below are as the Cloud console shows them there."""
DEPLOY_BOT = "deploy-bot@nba-props-platform.iam.gserviceaccount.com"
PEOPLE = ("alex.rivera@example.com", "sam.chen@example.com", "jordan.lee@example.com")
HEALTH_CHECK_FAILURE = Condition(
    "Ready",
    ConditionState.FAILED,
    "HealthCheckContainerError",
    "The user-provided container failed to start and listen on the port defined provided by "
    "the PORT=8080 environment variable within the allocated timeout. Logs: "
    "ModuleNotFoundError: No module named 'shared.validation.phase3_data_quality_check'",
)
STORY_SERVICE = "phase3-to-phase4-orchestrator"
"""00025 healthy, 00026 failed Jan 29 17:35 (traffic stays on 00025), 00027 healthy Feb 1 04:28."""
PENDING_SERVICE = "phase5-to-phase6-orchestrator"
"""Gets a revision that is pending for a while during the live demo."""
ROLLBACK_SERVICE = "self-heal"
"""Traffic was moved back by hand from a Ready revision to the one before it."""
LOOP_SERVICE = "auto-backfill-orchestrator"
"""Three hours into the demo, a deploy that turns Ready and then crash-loops, while the
revision before it served cleanly: the case a rollback (`b`) is for."""
LOOP_AT = DEMO_START + timedelta(hours=3)


def _pacific(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PACIFIC).astimezone(UTC)


def _revision(
    service: str, number: int, at: datetime, rng: random.Random, conditions: tuple[Condition, ...]
) -> Revision:
    suffix = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(3))
    creator = DEPLOY_BOT if rng.random() < 0.7 else rng.choice(PEOPLE)
    return Revision(
        name=f"{service}-{number:05d}-{suffix}",
        service=service,
        create_time=at,
        creator=creator,
        labels={"commit-sha": f"{rng.getrandbits(40):010x}", "managed-by": "deploy-script"},
        image=f"us-west2-docker.pkg.dev/nba-props-platform/gcf-artifacts/{service}:version_{number}",
        env={"LOG_LEVEL": "INFO", "GCP_PROJECT": "nba-props-platform", "BUILD": f"{number}"},
        conditions=conditions,
    )


def _ready(at: datetime) -> tuple[Condition, ...]:
    return (
        Condition("Ready", ConditionState.SUCCEEDED, "", "", at),
        Condition("ContainerHealthy", ConditionState.SUCCEEDED, "", "", at),
    )


def _pending(at: datetime) -> tuple[Condition, ...]:
    return (Condition("Ready", ConditionState.PENDING, "Pending", "Creating revision.", at),)


def _deploy(
    service: str,
    number: int,
    at: datetime,
    rng: random.Random,
    previous: str | None,
    *,
    fails: bool = False,
    settle: timedelta = timedelta(minutes=2),
) -> tuple[list[Event], str, bool]:
    """A deploy: the revision appears pending, then becomes Ready (taking the traffic) or fails.

    Returns the events, the new revision's name, and whether it became Ready.
    """
    pending = _revision(service, number, at, rng, _pending(at))
    done = at + settle
    if fails:
        unhealthy = Condition(
            "ContainerHealthy",
            ConditionState.FAILED,
            "HealthCheckContainerError",
            "Container exited with code 1 before listening on port 8080.",
            done,
        )
        failed = replace(HEALTH_CHECK_FAILURE, last_transition_time=done)
        final = replace(pending, conditions=(failed, unhealthy))
    else:
        final = replace(pending, conditions=_ready(done))
    ready_name = pending.name if not fails else (previous or pending.name)
    events: list[Event] = [
        RevisionChanged(at, pending),
        ServiceChanged(
            at,
            service,
            pending.name,
            previous or pending.name,
            (TrafficStatus(previous or pending.name, 100, follows_latest=True),),
        ),
        RevisionChanged(done, final),
        ServiceChanged(
            done,
            service,
            pending.name,
            ready_name,
            (TrafficStatus(ready_name, 100, follows_latest=True),),
        ),
    ]
    return events, pending.name, not fails


def _revision_history(service: str, rng: random.Random) -> list[Event]:
    """A plausible history for one service, with the story's revisions where they belong."""
    events: list[Event] = []
    count = 25 if service == STORY_SERVICE else rng.randint(12, 30)
    # Regular deploys every few days, the newest on Jan 26-28 (before any story event).
    if service == STORY_SERVICE:
        newest = _pacific(2026, 1, 26, 10, 12)
    else:
        newest = _pacific(2026, 1, 26, 9, 0) + timedelta(hours=rng.uniform(0, 60))
    times = [newest]
    for _ in range(count - 1):
        times.append(times[-1] - timedelta(days=rng.uniform(2.5, 5.5), minutes=rng.randint(0, 600)))
    serving: str | None = None
    for number, at in enumerate(reversed(times), start=1):
        fails = service == "phase4-to-phase5-orchestrator" and number == count - 6
        new, name, ready = _deploy(service, number, at, rng, serving, fails=fails)
        events += new
        serving = name if ready else serving
    if service == STORY_SERVICE:
        new, _, _ = _deploy(
            service,
            26,
            _pacific(2026, 1, 29, 17, 35),
            rng,
            serving,
            fails=True,
            settle=timedelta(minutes=4),
        )
        events += new
        new, _, _ = _deploy(service, 27, _pacific(2026, 2, 1, 4, 28), rng, serving)
        events += new
    elif service == PENDING_SERVICE:
        new, _, _ = _deploy(
            service,
            count + 1,
            DEMO_START + timedelta(minutes=20),
            rng,
            serving,
            settle=timedelta(minutes=45),
        )
        events += new
    elif service == LOOP_SERVICE:
        # Its own random stream: the histories generated before it stay as they were.
        new, _, _ = _deploy(service, count + 1, LOOP_AT, random.Random(service), serving)
        events += [
            RevisionChanged(
                e.at, replace(e.revision, labels={**e.revision.labels, LOOP_LABEL: "true"})
            )
            if isinstance(e, RevisionChanged)
            else e
            for e in new
        ]
    elif service == ROLLBACK_SERVICE:
        previous = serving
        moved = _pacific(2026, 1, 30, 11, 5)
        new, name, _ = _deploy(service, count + 1, moved, rng, serving)
        events += new
        assert previous is not None
        events.append(
            ServiceChanged(
                moved + timedelta(hours=2),
                service,
                name,
                name,
                (TrafficStatus(previous, 100),),
                pinned_to=(previous,),
            )
        )
    return events
