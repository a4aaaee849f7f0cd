"""A Ready revision's own logs judge it too: crash loops are never "healthy"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchwatch.analysis.revisions import Health, service_verdict
from orchwatch.analysis.runtime import RuntimeTally, judge
from orchwatch.model import (
    Condition,
    ConditionState,
    LogEntry,
    Revision,
    ServiceState,
    TrafficStatus,
)

NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
SERVICE = "phase3-to-phase4-orchestrator"
SERVING = f"{SERVICE}-00027-abc"
OLDER = f"{SERVICE}-00025-xyz"
READY_AT = NOW - timedelta(minutes=12)


def revision(name: str, created: datetime) -> Revision:
    ready = Condition("Ready", ConditionState.SUCCEEDED, last_transition_time=created)
    return Revision(name, SERVICE, created, conditions=(ready,))


def healthy_verdict():  # type: ignore[no-untyped-def]
    state = ServiceState(
        name=SERVICE,
        revisions=(revision(SERVING, READY_AT), revision(OLDER, NOW - timedelta(days=5))),
        traffic=(TrafficStatus(SERVING, 100),),
        latest_created_revision=SERVING,
        latest_ready_revision=SERVING,
    )
    verdict = service_verdict(state, NOW)
    assert verdict.health is Health.OK and verdict.text.endswith("healthy")
    return verdict


def crash(at: datetime, revision_name: str = SERVING) -> list[LogEntry]:
    """A crash as Cloud Run logs it: the traceback's last line, then the exit."""
    return [
        LogEntry(at, "ERROR", "Traceback (most recent call last):", SERVICE, revision_name),
        LogEntry(
            at,
            "ERROR",
            "ModuleNotFoundError: No module named 'shared.validation.x'",
            SERVICE,
            revision_name,
        ),
        LogEntry(at, "WARNING", "Container called exit(1).", SERVICE, revision_name),
    ]


def tally(*batches: list[LogEntry], start: datetime = NOW - timedelta(hours=1)) -> RuntimeTally:
    runtime = RuntimeTally()
    for batch in batches:
        runtime.add(batch)
    runtime.start = start
    return runtime


def test_a_ready_revision_that_keeps_exiting_is_crashing_not_healthy() -> None:
    verdict = healthy_verdict()
    runtime = tally(*(crash(NOW - timedelta(minutes=m)) for m in (10, 6, 2)))
    judged = judge(verdict, runtime.evidence(verdict), NOW)
    assert judged.health is Health.BAD and judged.crashing
    assert judged.text.startswith(
        "CRASHING 00027 · 3 exits, 3 ModuleNotFoundError since it started serving 12 min ago"
    )
    assert "healthy" not in judged.text
    serving_row = next(r for r in judged.rows if r.revision.name == SERVING)
    assert serving_row.marker.value == "crashing" and serving_row.reason.startswith("3 exits")


def test_exits_of_other_revisions_before_serving_or_long_ago_do_not_count() -> None:
    verdict = healthy_verdict()
    cases = {
        "another revision": [crash(NOW - timedelta(minutes=m), OLDER) for m in (9, 6, 3)],
        "before it served": [crash(READY_AT - timedelta(minutes=m)) for m in (9, 6, 3)],
        "two exits only": [crash(NOW - timedelta(minutes=m)) for m in (6, 3)],
    }
    for case, batches in cases.items():
        judged = judge(verdict, tally(*batches).evidence(verdict), NOW)
        assert judged.health is Health.OK, case
    # a loop that stopped 20 minutes ago is over (the fix was deployed elsewhere)
    later = NOW + timedelta(minutes=20)
    stopped = tally(*(crash(NOW - timedelta(minutes=m)) for m in (9, 6, 3)))
    assert judge(verdict, stopped.evidence(verdict), later).health is Health.OK


def test_info_lines_that_mention_an_exit_are_not_exits() -> None:
    verdict = healthy_verdict()
    quoted = [
        LogEntry(NOW - timedelta(minutes=m), "INFO", "Container called exit(1).", SERVICE, SERVING)
        for m in (9, 6, 3)
    ]
    assert judge(verdict, tally(quoted).evidence(verdict), NOW).health is Health.OK


def test_a_count_that_starts_after_serving_says_its_window() -> None:
    verdict = healthy_verdict()
    runtime = tally(
        *(crash(NOW - timedelta(minutes=m)) for m in (4, 3, 2)),
        start=NOW - timedelta(minutes=5),
    )
    judged = judge(verdict, runtime.evidence(verdict), NOW)
    assert "3 exits, 3 ModuleNotFoundError in the last 5 min of logs" in judged.text


@pytest.mark.parametrize(
    ("severity", "text", "evidence"),
    [
        ("DEFAULT", "ModuleNotFoundError: No module named 'x'", True),  # plain stderr
        ("", "Container called exit(1).", True),  # no severity at all
        ("DEFAULT", "processed batch 7", False),  # print() noise
        ("DEFAULT", '  File "/workspace/main.py", line 3, in <module>', False),
        ("INFO", "ModuleNotFoundError: No module named 'x'", False),  # a logger said INFO
        ("WARNING", "anything at all", True),
        ("ERROR", "KeyError: 'a'", True),
        ("NOTICE", "Container called exit(1).", False),
        ("weird", "ValueError: bad", True),  # an unknown severity ranks as DEFAULT
    ],
)
def test_what_may_be_crash_evidence(severity: str, text: str, evidence: bool) -> None:
    from orchwatch.model import may_be_evidence

    assert may_be_evidence(severity, text) is evidence


def test_a_traceback_without_severity_is_tallied() -> None:
    from orchwatch.analysis.runtime import runtime_events
    from orchwatch.model import LogEntry

    at = datetime(2026, 2, 1, 12, tzinfo=UTC)
    lines = ["Traceback (most recent call last):", '  File "main.py", line 1', "KeyError: 'a'"]
    entries = [
        LogEntry(at, "DEFAULT", line, "svc", "svc-00001-abc", "i1", str(n))
        for n, line in enumerate(lines)
    ]
    assert runtime_events(entries)[1] == [("svc-00001-abc", at, "KeyError")]
