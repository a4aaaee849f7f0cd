"""The runbook's zero-invocation detection in the walkthrough: an orchestrator a push
subscription targets that received no request while its phase was due."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from orchwatch.analysis.daily import Fetched, evaluate
from orchwatch.analysis.pubsub import Hop, HopLevel
from orchwatch.config import Config
from orchwatch.gather import gather_daily
from orchwatch.pubsub import Subscription
from orchwatch.sources.base import Sources

DAY = date(2026, 1, 28)  # every phase of the demo completed: all due


def hop(phase: str, acked: int | None, refused: int = 0, push: bool = True) -> Hop:
    orchestrator = f"{phase}-orchestrator"
    subscription = Subscription(
        f"eventarc-{phase}",
        f"{phase}-complete",
        f"https://{orchestrator}-abc-uw.a.run.app" if push else "",
    )
    return Hop(
        phase,
        f"{phase}-complete",
        orchestrator,
        HopLevel.OK,
        "",
        subscription=subscription,
        published=acked,
        acked=acked,
        refused={"remote_server_5xx": refused} if refused else {},
    )


def check(
    config: Config,
    demo: Sources,
    hops: list[Hop] | None,
    games: Fetched[float | None] | None = None,
    error: str = "",
) -> tuple[str, str]:
    inputs = replace(
        gather_daily(config, demo, DAY, validation=lambda: (0, 0, [])),
        hops=Fetched(hops, error),
        games=games,
    )
    [result] = [r for r in evaluate(inputs, config.timezone) if r.id == "invocations"]
    return result.status.value, result.evidence


PHASES = ["phase2", "phase3", "phase4", "phase5"]


@pytest.mark.parametrize(
    ("silent", "status"),
    [(0, "pass"), (1, "warn"), (3, "warn"), (4, "fail")],
)
def test_silent_targets_warn_and_four_are_systemic(
    config: Config, demo: Sources, silent: int, status: str
) -> None:
    hops = [hop(p, 0 if k < silent else 12) for k, p in enumerate(PHASES)]
    got, evidence = check(config, demo, hops)
    assert got == status
    if silent:
        assert f"{silent} push target" in evidence and "phase2-orchestrator" in evidence
        assert ("systemic" in evidence) == (silent >= 4)


def test_a_refused_push_is_a_request_and_a_pull_subscription_no_target(
    config: Config, demo: Sources
) -> None:
    hops = [hop("phase2", 0, refused=17), hop("phase3", 0, push=False), hop("phase4", 5)]
    assert check(config, demo, hops) == ("pass", "2 push targets received requests")


def test_an_off_day_expects_silence_and_an_unread_calendar_is_unknown(
    config: Config, demo: Sources
) -> None:
    hops = [hop("phase2", 0), hop("phase3", 9)]
    status, evidence = check(config, demo, hops, Fetched(0.0))
    assert status == "pass" and evidence.startswith("off day: 1 push target without a request")
    assert check(config, demo, hops, Fetched(3.0))[0] == "warn"
    status, evidence = check(config, demo, hops, Fetched(None, "permission denied"))
    assert status == "unknown" and "calendar could not be read (permission denied)" in evidence


def test_counts_that_could_not_be_read_are_unknown(config: Config, demo: Sources) -> None:
    assert check(config, demo, None, error="Monitoring: permission denied")[0] == "unknown"
    status, evidence = check(config, demo, [hop("phase2", None), hop("phase3", 4)])
    assert status == "unknown" and "no counts for phase2-orchestrator" in evidence


def test_a_phase_not_due_is_no_silent_target(config: Config, demo: Sources) -> None:
    """On the demo's incident date phases 4 and 5 are blocked: their orchestrators'
    silence is the earlier failure's consequence, not this check's finding."""
    inputs = gather_daily(config, demo, date(2026, 2, 1), validation=lambda: (0, 0, []))
    hops = [hop(p, 0) for p in ("phase4", "phase5")]
    inputs = replace(inputs, hops=Fetched(hops))
    [result] = [r for r in evaluate(inputs, config.timezone) if r.id == "invocations"]
    assert result.status.value == "pass", result.evidence
