"""The morning checklist for one business date. Pure: the inputs are already read.

Each check returns pass / warn / fail / blocked (by an earlier failure) / not due /
skipped (the config turns it off) / unknown (its source could not be read), the
evidence (numbers, names, times) and a next step naming the pane or command that shows
more. The walkthrough's verdict is `overall`: FAIL if a check fails, else UNKNOWN if one
could not be checked, else WARN if one warns, else PASS. Rules:

| check                  | fail when                              | warn when            |
|------------------------|----------------------------------------|----------------------|
| phase N completion     | untracked/unbacked/failed processor,   | optional missing,    |
|                        | or a required one missing once due     | or partial           |
| phase N -> N+1 trigger | all required done, not triggered       | not triggered yet    |
| phase_execution_log    | a triggered transition has no row, or  | no transition ran    |
|                        | a row whose status is not an ok one    |                      |
|                        | (`[daily] execution_ok`)               |                      |
| failed_processor_queue | -                                      | an item open (pending|
|                        |                                        | retrying) or in a    |
|                        |                                        | state not configured |

The status words are the team's (`[daily]`, `config.StatusWords`): `complete` and
`success` are a transition that ran; `failed_permanent` is a queue item someone closed
on purpose to stop its retries (the runbook's own fix), so it is handled, not a failure.
| orchestrator S         | not serving its latest revision, a     | -                    |
|                        | revision failed or a traceback group   |                      |
|                        | was seen in the date's window          |                      |
| deployment packages    | the validator reports an error         | it reports warnings  |
| custom check           | the number misses its expectation      | -                    |

A phase with nothing wrong but cells not due yet is `not due`; so is a custom check
tied to that phase (`phase = ...`).

The date's window runs from its start to noon of the next day (the walkthrough is
done the morning after). Live state (what serves now) is judged only for the two
latest dates; an older date is judged by the revisions that failed and the tracebacks
logged in its window, and is unknown when no log read covers it.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import TypeVar
from zoneinfo import ZoneInfo

from orchwatch.analysis.completion import blocked_phases, blocked_text, trigger_verdict
from orchwatch.analysis.fetched import Fetched as Fetched
from orchwatch.analysis.pubsub import Hop, HopLevel  # re-exported: readers name it here too
from orchwatch.analysis.revisions import Marker, ServiceVerdict, short_name
from orchwatch.config import DailyCheck, ExportSpec, StatusWords, Tiers, parse_expectation
from orchwatch.model import (
    Build,
    BuildTrigger,
    CellState,
    DateStatus,
    ErrorGroup,
    ExecutionLogRow,
    FailedQueueItem,
    SchedulerJob,
    StoredObject,
)
from orchwatch.plural import counted
from orchwatch.pubsub import Subscription
from orchwatch.sources.git import Commit


class CheckStatus(StrEnum):
    """A check's outcome."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    BLOCKED = "blocked"
    """Not met because an earlier phase never triggered this one: a consequence of that
    failure, not another one (it names its cause)."""
    UNKNOWN = "unknown"
    """Its source could not be read: not a pass (the walkthrough's verdict is UNKNOWN)."""
    NOT_DUE = "not due"
    """Its data is not due yet: neither a pass nor a failure."""
    SKIPPED = "skipped"
    """The configuration turns it off (no repository for the validator): said, not run."""


CHECK_GLYPH = {
    CheckStatus.PASS: "✓",
    CheckStatus.WARN: "!",
    CheckStatus.FAIL: "✗",
    CheckStatus.BLOCKED: "⊘",
    CheckStatus.UNKNOWN: "?",
    CheckStatus.NOT_DUE: "◷",
    CheckStatus.SKIPPED: "–",
}
CHECK_COLOUR = {
    CheckStatus.PASS: "success",
    CheckStatus.WARN: "warning",
    CheckStatus.FAIL: "error",
    CheckStatus.BLOCKED: "warning",
    CheckStatus.UNKNOWN: "warning",
    CheckStatus.NOT_DUE: "muted",
    CheckStatus.SKIPPED: "muted",
}
VERDICT_EXIT = {CheckStatus.FAIL: 1, CheckStatus.UNKNOWN: 2}
"""The walkthrough's exit code by its verdict (0 for the rest): a cron gate reads an
unreadable morning as exit 2, never as a pass."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where the evidence lives: a pane and the item to select there."""

    pane: str
    """"completions", "revisions", "logs" or "validate"."""
    key: str = ""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One line of the checklist."""

    id: str
    title: str
    status: CheckStatus
    evidence: str
    next_step: str
    target: Target | None = None
    cause: str = ""
    """For BLOCKED: the id of the failed check it waits on."""


T = TypeVar("T")


@dataclass(frozen=True)
class CustomCheckResult:
    """A configured SQL check: its number, or the error running it."""

    name: str
    expect: str
    value: float | None
    error: str = ""
    phase: str | None = None
    """The phase whose data it counts (it is not due or blocked with it)."""
    spec: DailyCheck | None = None
    """Its configuration (tiers, fix, due time, off days); None: `expect` alone."""


@dataclass(frozen=True)
class DailyInputs:
    """Everything the checklist reads, fetched by `orchwatch.gather.gather_daily`."""

    game_date: date
    now: datetime
    completions: Fetched[DateStatus]
    execution_log: Fetched[list[ExecutionLogRow]]
    failed_queue: Fetched[list[FailedQueueItem]]
    services: Fetched[list[ServiceVerdict]]
    error_groups: Fetched[list[ErrorGroup]]
    logs_cover_from: datetime | None
    validation: Fetched[tuple[int, int, list[str]]]
    """(errors, warnings, failing function names); error says why it did not run."""
    custom: Sequence[CustomCheckResult] = field(default_factory=tuple)
    orchestrators: Sequence[str] = field(default_factory=tuple)
    words: StatusWords = field(default_factory=StatusWords)
    """What the status values mean (`[daily]`)."""
    where: str = "Cloud Run"
    """Where the services were looked for (`Sources.where`)."""
    hops: Fetched[list[Hop]] | None = None
    """Each phase's Pub/Sub hop on the date; None where the source has no Pub/Sub."""
    games: Fetched[float | None] | None = None
    """The date's games (`[daily] game_day_sql`); None where no calendar is configured."""
    scheduler: Fetched[list[SchedulerJob]] | None = None
    """The project's Cloud Scheduler jobs; None where the source holds none (a snapshot)."""
    invokers: Fetched[dict[str, frozenset[str]]] | None = None
    """The orchestrators' `roles/run.invoker` members; None where the source holds no IAM."""
    tiers: Tiers = field(default_factory=Tiers)
    """The built-in checks' tiers (`[daily.tiers]`)."""
    export_specs: Sequence[ExportSpec] = ()
    """The files the pipeline exports (`[daily.exports]`); none: no exports check."""
    exports: Fetched[list[StoredObject]] | None = None
    """Those of them that exist, for the date; None where the source holds none."""
    builds: Fetched[list[TriggerLag]] | None = None
    """The Cloud Build triggers with their newest builds against their branches; None where
    the source holds none (a snapshot)."""
    region: str = ""
    """The Cloud Run region, for the fix's command."""


def date_window(game_date: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """From the date's start to noon the next day, in the pipeline's zone."""
    start = datetime.combine(game_date, time(0), tzinfo=zone)
    return start, start + timedelta(hours=36)


_OPS: Mapping[str, Callable[[float, float], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}


def evaluate(
    inputs: DailyInputs, zone: ZoneInfo, shown: ZoneInfo | None = None
) -> list[CheckResult]:
    """Every check, in walkthrough order: windows reckoned in the pipeline's `zone`,
    times in the texts shown in `shown` (default the same)."""
    results: list[CheckResult] = []
    results += _phase_checks(inputs, shown or zone)
    results.append(_execution_log_check(inputs))
    results.append(_queue_check(inputs))
    results += _orchestrator_checks(inputs, zone)
    phases = {r.id.removesuffix(".completion"): r for r in results if r.id.endswith(".completion")}
    results += _pubsub_checks(inputs, phases)
    if inputs.hops is not None:
        results.append(_invoker_check(inputs))
        results.append(_invocations_check(inputs, phases))
    results.append(_scheduler_check(inputs))
    results.append(_scheduler_iam_check(inputs))
    results.append(_build_check(inputs))
    if inputs.export_specs:
        last = inputs.completions.value.phases[-1].phase if inputs.completions.value else ""
        results.append(_exports_check(inputs, zone, phases.get(last)))
    results.append(_validation_check(inputs))
    results += [
        _custom_check(check, phases.get(check.phase or ""), inputs, zone) for check in inputs.custom
    ]
    return results


def overall(results: Sequence[CheckResult]) -> CheckStatus:
    """The walkthrough's verdict: FAIL if a check fails, else UNKNOWN if one could not be
    checked (nothing read is never a pass), else WARN if one warns, else PASS. Blocked
    checks wait on a failure; not-due and skipped ones judge nothing."""
    statuses = {r.status for r in results}
    for status in (CheckStatus.FAIL, CheckStatus.UNKNOWN, CheckStatus.WARN):
        if status in statuses:
            return status
    return CheckStatus.PASS


def _unknown(
    id: str, title: str, why: str, next_step: str, target: Target | None = None
) -> CheckResult:
    return CheckResult(
        id, title, CheckStatus.UNKNOWN, f"source unavailable: {why}", next_step, target
    )


def _phase_checks(inputs: DailyInputs, zone: ZoneInfo) -> list[CheckResult]:
    status = inputs.completions.value
    if status is None:
        return [
            _unknown(
                "completions",
                "phase completion",
                inputs.completions.error,
                "check the completions pane (1)",
                Target("completions"),
            )
        ]
    results = []
    # A missing trigger stops the pipeline: every later check that is not met waits on it
    # and says so, instead of counting as another failure.
    blocked = blocked_phases(status, inputs.now, zone)
    for phase in status.phases:
        target = Target("completions", phase.phase)
        blocker = blocked.get(phase.phase)
        cause = f"{blocker.phase}.trigger" if blocker is not None else ""
        bad = [
            c
            for c in phase.cells
            if c.state in (CellState.UNTRACKED, CellState.UNBACKED, CellState.FAILED)
        ]
        missing = [c for c in phase.cells if c.state is CellState.MISSING]
        evidence = (
            f"Firestore {phase.firestore_count}/{phase.expected}, "
            f"BigQuery {phase.bigquery_count}/{phase.expected}"
        )
        if bad:
            evidence += "; " + ", ".join(f"{c.processor} {c.state.value}" for c in bad)
        if missing:
            evidence += "; missing " + ", ".join(c.processor for c in missing)
        not_due = [c for c in phase.cells if c.state is CellState.NOT_DUE]
        if not_due:
            evidence += f"; {len(not_due)} not due yet"
        if bad or any(c.required for c in missing):
            outcome = CheckStatus.FAIL
        elif missing or any(c.state is CellState.PARTIAL for c in phase.cells):
            outcome = CheckStatus.WARN
        elif not_due:
            outcome = CheckStatus.NOT_DUE
        else:
            outcome = CheckStatus.PASS
        if blocker is not None and outcome is not CheckStatus.PASS:
            outcome = CheckStatus.BLOCKED
            evidence = f"{blocked_text(blocker)} · {evidence}"
        results.append(
            CheckResult(
                f"{phase.phase}.completion",
                f"{phase.phase} completion",
                outcome,
                evidence,
                f"orchwatch explain --date {status.game_date} --phase {phase.phase}",
                target,
                cause if outcome is CheckStatus.BLOCKED else "",
            )
        )
        if phase.next_phase is None:
            continue
        alarm, verdict = trigger_verdict(phase, inputs.now, zone)
        trigger_evidence = verdict.removeprefix("→ ")
        following = next((p for p in status.phases if p.phase == phase.next_phase), None)
        started = following is not None and any(c.firestore or c.backup for c in following.cells)
        if phase.direct and started:
            outcome = CheckStatus.PASS
            trigger_evidence = (
                f"{phase.next_phase} started (by its own subscription: no orchestrator records "
                "the trigger)"
            )
        elif phase.direct and blocker is None:
            outcome = CheckStatus.NOT_DUE  # its processors have not run yet: nothing to judge
            trigger_evidence = f"{phase.next_phase} has not started (by its own subscription)"
        elif phase.triggered:
            outcome = CheckStatus.PASS
        elif blocker is not None:
            outcome = CheckStatus.BLOCKED
            trigger_evidence = f"{blocked_text(blocker)} · {trigger_evidence}"
        elif alarm:
            outcome = CheckStatus.FAIL
        else:
            outcome = CheckStatus.WARN
        results.append(
            CheckResult(
                f"{phase.phase}.trigger",
                f"{phase.phase} → {phase.next_phase} trigger",
                outcome,
                trigger_evidence,
                f"orchwatch explain --date {status.game_date} --phase {phase.phase}",
                target,
                cause if outcome is CheckStatus.BLOCKED else "",
            )
        )
    return results


def _execution_log_check(inputs: DailyInputs) -> CheckResult:
    title = "phase_execution_log"
    rows, status = inputs.execution_log.value, inputs.completions.value
    if rows is None:
        return _unknown(
            "execution_log", title, inputs.execution_log.error, "query phase_execution_log"
        )
    triggered = [p for p in status.phases if p.triggered] if status else []
    by_phase = {row.phase_name: row for row in rows}
    problems = []
    for phase in triggered:
        name = f"{phase.phase}_to_{phase.next_phase}"
        row = by_phase.get(name)
        if row is None:
            problems.append(f"no row for {name}")
        elif row.status not in inputs.words.execution_ok:
            problems.append(f"{name} {row.status}")
    evidence = f"{counted(len(rows), 'row')} for {counted(len(triggered), 'triggered transition')}"
    if problems:
        return CheckResult(
            "execution_log",
            title,
            CheckStatus.FAIL,
            f"{evidence}; " + "; ".join(problems),
            "query phase_execution_log",
        )
    if not triggered:
        return CheckResult(
            "execution_log",
            title,
            CheckStatus.WARN,
            "no transition ran",
            "check the trigger rows above",
        )
    names = ", ".join(f"{r.phase_name} {r.status}" for r in rows)
    return CheckResult(
        "execution_log", title, CheckStatus.PASS, f"{evidence}: {names}", "nothing to do"
    )


def _queue_check(inputs: DailyInputs) -> CheckResult:
    title = "failed_processor_queue"
    items = inputs.failed_queue.value
    if items is None:
        return _unknown(
            "failed_queue", title, inputs.failed_queue.error, "query failed_processor_queue"
        )
    words = inputs.words
    handled = [i for i in items if i.status in words.queue_handled]
    open_items = [i for i in items if i.status not in words.queue_handled]
    closed = (
        f"; handled: {', '.join(f'{i.processor_name} {i.status}' for i in handled)}"
        if handled
        else ""
    )
    if not open_items:
        return CheckResult(
            "failed_queue",
            title,
            CheckStatus.PASS,
            f"no open items{closed}",
            "nothing to do",
        )
    listed = "; ".join(
        f"{i.processor_name} {i.status}"
        + ("" if i.status in words.queue_open else " (a state [daily] does not name)")
        + f" ({counted(i.retry_count, 'retry')}): {i.error_message[:120]}"
        for i in open_items
    )
    # The runbook's tiers (0.695): the most retries of an item (a loop), items failing
    # for more than a day (stuck), and how many are open (systemic).
    tiers = inputs.tiers
    most = max(i.retry_count for i in open_items)
    stuck = [
        i
        for i in open_items
        if i.first_failure_at is not None and inputs.now - i.first_failure_at > STUCK_AFTER
    ]
    found = [
        (tiers.level("queue_retries", most), f"an item retried {most} times (a loop)"),
        (
            tiers.level("queue_stuck", len(stuck)),
            f"{counted(len(stuck), 'item')} failing for over 24 h",
        ),
        (tiers.level("queue_open", len(open_items)), f"{counted(len(open_items), 'open item')}"),
    ]
    unnamed = any(i.status not in words.queue_open for i in open_items)
    level = max([level for level, _ in found] + [1 if unnamed else 0])
    reasons = [text for tier, text in found if tier == level and level]
    head = (
        f"{'critical' if level == 2 else 'warning'}: {', '.join(reasons)}; "
        if reasons
        else "the auto-retry at work: "
    )
    return CheckResult(
        "failed_queue",
        title,
        (CheckStatus.PASS, CheckStatus.WARN, CheckStatus.FAIL)[level],
        head + listed + closed,
        _queue_next_step(inputs, open_items[0].processor_name)
        if level
        else "nothing to do (below the runbook's tiers: [daily.tiers])",
        Target("completions", ""),
    )


STUCK_AFTER = timedelta(hours=24)
"""An open queue item failing for longer than this is stuck (the runbook's 0.695)."""


def _queue_next_step(inputs: DailyInputs, processor: str) -> str:
    """Explain the first open item's processor, on its phase, when the grid names it."""
    status = inputs.completions.value
    phase = next(
        (
            p.phase
            for p in (status.phases if status else ())
            for c in p.cells
            if c.processor == processor
        ),
        None,
    )
    where = f" --phase {phase} --processor {processor}" if phase else ""
    return (
        f"orchwatch explain --date {inputs.game_date}{where}; "
        "fix the source, then let the auto-retry run"
    )


def _orchestrator_checks(inputs: DailyInputs, zone: ZoneInfo) -> list[CheckResult]:
    verdicts = inputs.services.value
    if verdicts is None:
        return [
            _unknown(
                "orchestrators",
                "orchestrators",
                inputs.services.error,
                "orchwatch revisions",
                Target("revisions"),
            )
        ]
    start, end = date_window(inputs.game_date, zone)
    latest_dates = inputs.now.astimezone(zone).date() - inputs.game_date <= timedelta(days=1)
    groups = inputs.error_groups.value
    by_name = {v.service: v for v in verdicts}
    results = []
    for service in inputs.orchestrators:
        title = f"orchestrator {service}"
        verdict = by_name.get(service)
        if verdict is None:
            results.append(
                CheckResult(
                    f"orchestrator.{service}",
                    title,
                    CheckStatus.FAIL,
                    f"not found in {inputs.where}",
                    "orchwatch revisions",
                    Target("revisions", service),
                )
            )
            continue
        problems: list[str] = []
        unknown: list[str] = []
        if latest_dates and (
            verdict.serving is None or verdict.latest is None or verdict.serving != verdict.latest
        ):
            problems.append(verdict.text)
        # (What serves now says nothing of an older date: its failed revisions and its
        # logs do, below.)
        failed = [
            r
            for r in verdict.rows
            if r.marker is Marker.FAILED and start <= r.revision.create_time < end
        ]
        problems += [f"{short_name(r.revision.name)} failed: {r.reason[:100]}" for r in failed]
        if groups is None:
            unknown.append(f"logs unavailable ({inputs.error_groups.error})")
        elif inputs.logs_cover_from is None or inputs.logs_cover_from > end:
            unknown.append("no logs cover this date")
        else:
            seen = [
                g
                for g in groups
                if service in g.services and g.last_seen >= start and g.first_seen < end
            ]
            problems += [f"{g.exception_type} ×{g.count}: {g.message[:80]}" for g in seen]
        if problems:
            outcome, evidence = CheckStatus.FAIL, "; ".join(problems)
        elif unknown:
            outcome, evidence = CheckStatus.UNKNOWN, "; ".join(unknown)
        else:
            outcome, evidence = CheckStatus.PASS, verdict.text
        target = (
            Target("logs", service)
            if any("×" in p for p in problems)
            else Target("revisions", service)
        )
        results.append(
            CheckResult(
                f"orchestrator.{service}",
                title,
                outcome,
                evidence,
                f"orchwatch revisions --service {service}; orchwatch errors --service {service}",
                target,
            )
        )
    return results


NO_REPO = "no repo configured"
"""The validation's error when the config names no repository: a skipped check."""


_HOP_STATUS = {
    HopLevel.OK: CheckStatus.PASS,
    HopLevel.WARN: CheckStatus.WARN,
    HopLevel.FAIL: CheckStatus.FAIL,
    HopLevel.UNKNOWN: CheckStatus.UNKNOWN,
}


def _pubsub_checks(inputs: DailyInputs, phases: dict[str, CheckResult]) -> list[CheckResult]:
    """Each phase's completions delivered to its orchestrator (Pub/Sub): refused, dropped,
    waiting, dead-lettered, delivered twice, or a trigger topic nothing delivers. A phase
    that is not due or blocked has nothing to deliver yet; a hop that could not be read is
    unknown."""
    if inputs.hops is None:
        return []  # the source has no Pub/Sub (a snapshot without it): not a check here
    day = inputs.game_date
    if inputs.hops.value is None:
        return [
            _unknown(
                "pubsub",
                "completions delivered (Pub/Sub)",
                inputs.hops.error,
                f"orchwatch pubsub --date {day}",
            )
        ]
    results = []
    for hop in inputs.hops.value:
        phase = phases.get(hop.phase)
        title = f"{hop.phase} completions delivered (Pub/Sub)"
        status = _HOP_STATUS[hop.level]
        quiet = hop.level is HopLevel.UNKNOWN and not hop.published and not hop.refused
        if (
            quiet
            and phase is not None
            and phase.status in (CheckStatus.NOT_DUE, CheckStatus.BLOCKED)
        ):
            status = phase.status  # nothing to deliver yet, or nothing will come
        if hop.dropped:
            step = (
                f"fix {hop.orchestrator or 'the orchestrator'}, then replay: orchwatch replay "
                f"--date {day} --phase {hop.phase}"
            )
        elif hop.level is HopLevel.OK:
            step = ""
        else:
            step = f"orchwatch pubsub --date {day} (P in the dashboard)"
        results.append(
            CheckResult(
                f"{hop.phase}.pubsub",
                title,
                status,
                hop.verdict,
                step,
                Target("completions", hop.phase),
                cause=phase.cause if status is CheckStatus.BLOCKED and phase else "",
            )
        )
    return results


def _scheduler_check(inputs: DailyInputs) -> CheckResult:
    """The runbook's Cloud Scheduler health: enabled jobs whose last attempt failed (its
    status is not OK): 1-3 warn, 4 or more are critical (`[daily.tiers]
    scheduler_failing`). Jobs that could not be listed
    are unknown; a source that holds none (a snapshot) skips the check."""
    title = "Cloud Scheduler jobs"
    region = f" --location={inputs.region}" if inputs.region else ""
    jobs = _held_value(
        inputs.scheduler,
        ("scheduler", title, "Cloud Scheduler jobs"),
        f"gcloud scheduler jobs list{region} (roles/cloudscheduler.viewer)",
    )
    if isinstance(jobs, CheckResult):
        return jobs
    enabled = [j for j in jobs if j.enabled]
    failing = [j for j in enabled if j.status != "OK"]
    if not failing:
        return CheckResult(
            "scheduler",
            title,
            CheckStatus.PASS,
            f"{counted(len(enabled), 'enabled job')}, every last attempt OK",
            "nothing to do",
        )
    said = "; ".join(
        f"{j.name} {j.status}" + (f": {j.status_message[:80]}" if j.status_message else "")
        for j in failing
    )
    return _tiered(
        "scheduler",
        title,
        inputs.tiers.level("scheduler_failing", len(failing)),
        (
            f"{counted(len(failing), 'enabled job')} failing",
            "critical",
            f" of {len(enabled)}: {said}",
        ),
        f"gcloud scheduler jobs describe {failing[0].name}{region}; a PERMISSION_DENIED "
        "target wants roles/run.invoker for the job's service account",
    )


@dataclass(frozen=True)
class TriggerLag:
    """A Cloud Build trigger, its newest build, and what its branch holds that the build
    did not."""

    trigger: BuildTrigger
    ref: str = ""
    """The ref the build was compared with (`refs/remotes/origin/main`); "" when it was not."""
    behind: tuple[Commit, ...] = ()
    """Commits after the built one on the branch that touch the trigger's files, newest
    first."""
    error: str = ""
    """Why the build was not compared with its branch ("" when it was, or needs not be):
    `NO_REPO`, or what git or the trigger said."""


BUILD_FAILED = frozenset({"FAILURE", "INTERNAL_ERROR", "TIMEOUT"})
"""A newest build in one of these failed: its trigger deploys nothing (critical)."""
BUILD_RUNNING = frozenset({"PENDING", "QUEUED", "WORKING"})


def _build_check(inputs: DailyInputs) -> CheckResult:
    """The runbook's Cloud Build trigger health (0.69): each enabled trigger's newest build
    must have succeeded and built its branch's head, as far as the trigger's files go. A
    failed build, or relevant commits left unbuilt for 7 days (a trigger stuck on an old
    commit while its builds go green: Session 213), are critical; fewer days behind, or no
    build, warn. Without the repository the commits are not compared: the check is
    skipped, never passed, unless a build failed."""
    title = "Cloud Build triggers"
    region = f" --region={inputs.region}" if inputs.region else ""
    lags = _held_value(
        inputs.builds,
        ("cloud_build", title, "Cloud Build triggers"),
        f"gcloud builds triggers list{region} (roles/cloudbuild.builds.viewer)",
    )
    if isinstance(lags, CheckResult):
        return lags
    enabled = [lag for lag in lags if not lag.trigger.disabled]
    failed: list[tuple[str, Build]] = []
    stale: list[tuple[str, str]] = []
    behind: list[str] = []
    odd: list[str] = []
    unknown: list[str] = []
    for lag in enabled:
        trigger, build = lag.trigger, lag.trigger.last_build
        if build is None:
            odd.append(f"{trigger.name}: no build")
        elif build.status in BUILD_FAILED:
            failed.append((trigger.name, build))
        elif build.status in BUILD_RUNNING:
            continue  # judged when it ends
        elif build.status != "SUCCESS":
            odd.append(f"{trigger.name}: newest build {build.status}")
        elif lag.behind:
            oldest = lag.behind[-1]
            days = (inputs.now - oldest.when) / timedelta(days=1)
            text = (
                f"{trigger.name}: built {build.commit[:7]}; "
                f"{counted(len(lag.behind), 'commit')} to its files on "
                f"{_short_ref(lag.ref)} since, the oldest {days:.0f} d ago ({oldest.sha[:7]})"
            )
            if inputs.now - oldest.when >= timedelta(days=inputs.tiers.build_stale_days):
                stale.append((trigger.name, text))
            else:
                behind.append(text)
        elif lag.error and lag.error != NO_REPO:
            unknown.append(f"{trigger.name}: {lag.error}")
    if failed or stale:
        said = [f"{name}: newest build {b.status} ({b.id})" for name, b in failed]
        said += [text for _, text in stale]
        step = (
            f"gcloud builds log {failed[0][1].id}{region}"
            if failed
            else f"gcloud builds triggers describe {stale[0][0]}{region}; a trigger whose "
            "builds keep an old commit is deleted and recreated (the runbook's fix)"
        )
        return CheckResult("cloud_build", title, CheckStatus.FAIL, "; ".join(said), step)
    if unknown:
        return CheckResult(
            "cloud_build",
            title,
            CheckStatus.UNKNOWN,
            "not compared with their branches: " + "; ".join(unknown),
            "git fetch in the repository ([repo] path), then run the walkthrough again",
        )
    if behind or odd:
        return CheckResult(
            "cloud_build",
            title,
            CheckStatus.WARN,
            "; ".join(behind + odd),
            f"gcloud builds list{region} --limit=10: a push to the trigger's files should "
            "have started a build; behind for 7 days is critical",
        )
    green = f"{counted(len(enabled), 'enabled trigger')}, every newest build SUCCESS"
    if any(lag.error == NO_REPO for lag in enabled):
        return CheckResult(
            "cloud_build",
            title,
            CheckStatus.SKIPPED,
            f"{green}; what they built is not compared with their branches ({NO_REPO})",
            "set [repo] path in orchwatch.toml",
        )
    return CheckResult(
        "cloud_build",
        title,
        CheckStatus.PASS,
        f"{green}, at their branches' heads as far as their files go",
        "nothing to do",
    )


def _exports_check(inputs: DailyInputs, zone: ZoneInfo, last: CheckResult | None) -> CheckResult:
    """The runbook's phase 6 export health (0.97): each configured file exists once due
    (missing is critical), and one with a `max_age` is no older than that while the
    pipeline runs (`active_hours`; stale is a warning). Files missing while the last
    phase is blocked by an earlier failure are blocked by it too. What cannot be read is
    unknown."""
    check_id, title = "exports", "exports in Cloud Storage (phase 6)"
    objects = _held_value(
        inputs.exports,
        (check_id, title, "Cloud Storage exports"),
        "gcloud storage ls gs://BUCKET (roles/storage.objectViewer)",
    )
    if isinstance(objects, CheckResult):
        return objects
    held = {(o.bucket, o.name): o for o in objects}
    local = inputs.now.astimezone(zone)
    of_day = timedelta(hours=local.hour, minutes=local.minute)
    start = datetime.combine(inputs.game_date, time(0), tzinfo=zone)
    missing: list[str] = []
    stale: list[str] = []
    waiting: list[str] = []
    fine: list[str] = []
    unread: list[str] = []
    off: list[str] = []
    for spec in inputs.export_specs:
        name = spec.object_name(inputs.game_date)
        where = f"gs://{spec.bucket}/{name}"
        found = held.get((spec.bucket, name))
        if found is None:
            due = start + spec.due_after
            if inputs.now < due:
                waiting.append(f"{spec.name} ({where})")
                continue
            off_day, why = _off_day(inputs) if spec.skip_off_days else (False, "")
            if off_day:
                off.append(spec.name)
            elif off_day is None:
                unread.append(f"{spec.name} ({where}; the game calendar could not be read: {why})")
            else:
                missing.append(f"{spec.name} ({where})")
            continue
        active = spec.active is None or spec.active[0] <= of_day < spec.active[1]
        age = inputs.now - found.updated if found.updated else None
        if spec.max_age is not None and active and (age is None or age > spec.max_age):
            old = f"{age.total_seconds() / 3600:.1f} h old" if age else "no update time"
            stale.append(f"{spec.name} {old} (more than {_hours(spec.max_age)}; {where})")
        else:
            fine.append(spec.name)
    step = (
        "check the phase5-to-phase6 orchestrator's logs, then run the export for the date; "
        f"gcloud storage ls -l gs://{inputs.export_specs[0].bucket}/"
    )
    if missing:
        said = f"missing: {'; '.join(missing)}" + (f"; stale: {'; '.join(stale)}" if stale else "")
        if last is not None and last.status is CheckStatus.BLOCKED:
            return CheckResult(
                check_id,
                title,
                CheckStatus.BLOCKED,
                f"{last.evidence.split(' · ')[0]} · {said}",
                last.next_step,
                last.target,
                last.cause,
            )
        return CheckResult(check_id, title, CheckStatus.FAIL, said, step)
    if unread:
        return CheckResult(
            check_id,
            title,
            CheckStatus.UNKNOWN,
            f"missing on a day that may be off: {'; '.join(unread)}",
            CALENDAR_STEP,
        )
    if stale:
        return CheckResult(check_id, title, CheckStatus.WARN, f"stale: {'; '.join(stale)}", step)
    if not fine and not off:
        return CheckResult(
            check_id, title, CheckStatus.NOT_DUE, f"not due yet: {'; '.join(waiting)}", ""
        )
    parts = [f"{counted(len(fine), 'file')} present and fresh ({', '.join(fine)})"] if fine else []
    if off:
        parts.append(f"off day, not expected: {', '.join(off)}")
    if waiting:
        parts.append(f"not due yet: {'; '.join(waiting)}")
    return CheckResult(check_id, title, CheckStatus.PASS, "; ".join(parts), "nothing to do")


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:g} h"


def _short_ref(ref: str) -> str:
    """`refs/remotes/origin/main` -> `origin/main`."""
    return ref.removeprefix("refs/remotes/").removeprefix("refs/heads/")


def _tiered(id: str, title: str, level: int, said: tuple[str, str, str], step: str) -> CheckResult:
    """A count judged by its tier (`Tiers.level`): below the warning a pass, then a
    warning, then a failure. `said`: (the count's words, the word a failure adds, the
    rest)."""
    head, word, rest = said
    status = (CheckStatus.PASS, CheckStatus.WARN, CheckStatus.FAIL)[level]
    return CheckResult(
        id,
        title,
        status,
        head + (f" ({word})" if level == 2 else "") + rest,
        step if level else "nothing to do (below the warning tier: [daily.tiers])",
    )


PUBLIC = frozenset({"allUsers"})
"""Members that let anyone invoke a service, a push without a token included."""


def _invoker_check(inputs: DailyInputs) -> CheckResult:
    """The runbook's invoker IAM check (P0): every orchestrator a push subscription
    delivers to must grant `roles/run.invoker` to the identity the push authenticates as
    (`serviceAccount:...`; a push without a token needs `allUsers`), or Pub/Sub's pushes
    are refused with 403 and the completions are lost. A policy that cannot be read, or a
    source that holds none, is said so, never a pass."""
    title = "push targets may be invoked (IAM)"
    hops = inputs.hops.value if inputs.hops is not None else None
    if inputs.invokers is None:
        return _not_held("invoker_iam", title, "IAM policies")
    if hops is None:
        why = inputs.hops.error if inputs.hops is not None else "no Pub/Sub"
        return _unknown("invoker_iam", title, why, f"orchwatch pubsub --date {inputs.game_date}")
    granted = inputs.invokers.value
    if granted is None:
        return _unknown(
            "invoker_iam",
            title,
            inputs.invokers.error,
            "the account needs run.services.getIamPolicy (roles/run.viewer)",
        )
    gaps: list[str] = []
    fixes: list[str] = []
    missing: list[str] = []
    checked = 0
    for hop, subscription in _pushed(hops):
        service = hop.orchestrator
        if service is None:
            continue
        members = granted.get(service)
        if members is None:
            missing.append(service)
            continue
        checked += 1
        gap = _invoker_gap(
            service, subscription.push_identity, members, inputs.region, subscription.name
        )
        if gap is not None:
            gaps.append(gap[0])
            fixes.append(gap[1])
    if gaps:
        return CheckResult(
            "invoker_iam", title, CheckStatus.FAIL, "P0: " + "; ".join(gaps), "; ".join(fixes)
        )
    if missing:
        return _unknown(
            "invoker_iam",
            title,
            f"no such service in Cloud Run: {', '.join(missing)}",
            "orchwatch revisions",
        )
    return CheckResult(
        "invoker_iam",
        title,
        CheckStatus.PASS,
        f"{counted(checked, 'push target')} grant roles/run.invoker to their push identity",
        "nothing to do",
    )


RUN_URL = re.compile(
    r"https://(?P<a>[a-z][a-z0-9-]*)-\d+\.[a-z0-9-]+\.run\.app(?:[/?#].*)?"
    r"|https://(?P<b>[a-z][a-z0-9-]*)-[a-z0-9]{10}-[a-z]{2}\.a\.run\.app(?:[/?#].*)?"
)
"""A Cloud Run service's URLs: `https://SERVICE-PROJECT_NUMBER.REGION.run.app` (the
deterministic one) and `https://SERVICE-HASH-REGION_CODE.a.run.app`."""


def run_service_of(uri: str) -> str | None:
    """The Cloud Run service a URL calls, or None when it is not a Cloud Run URL."""
    found = RUN_URL.fullmatch(uri)
    return (found.group("a") or found.group("b")) if found else None


def scheduler_targets(jobs: Sequence[SchedulerJob]) -> dict[str, str]:
    """The Cloud Run services the enabled jobs call, by job name."""
    targets = {job.name: run_service_of(job.target) for job in jobs if job.enabled}
    return {name: service for name, service in targets.items() if service}


def _scheduler_iam_check(inputs: DailyInputs) -> CheckResult:
    """The runbook's invoker IAM for Cloud Scheduler's HTTP targets (0.6 check 5): each
    Cloud Run service an enabled job calls must grant `roles/run.invoker` to the job's
    OIDC identity (`allUsers` for a job without a token), or every run is refused with
    403 while the job looks scheduled. What cannot be read is unknown, never a pass."""
    check_id, title = "scheduler_iam", "scheduler targets may be invoked (IAM)"
    if inputs.scheduler is None or inputs.invokers is None:
        return _not_held(check_id, title, "Cloud Scheduler jobs and IAM policies")
    jobs = inputs.scheduler.value
    if jobs is None:
        return _unknown(check_id, title, inputs.scheduler.error, "gcloud scheduler jobs list")
    targets = scheduler_targets(jobs)
    if not targets:
        return CheckResult(
            check_id, title, CheckStatus.PASS, "no enabled job calls Cloud Run", "nothing to do"
        )
    granted = inputs.invokers.value
    if granted is None:
        return _unknown(
            check_id,
            title,
            inputs.invokers.error,
            "the account needs run.services.getIamPolicy (roles/run.viewer)",
        )
    identity = {job.name: job.identity for job in jobs}
    gaps, fixes, missing = [], [], []
    for job, service in sorted(targets.items()):
        members = granted.get(service)
        if members is None:
            missing.append(f"{service} ({job})")
            continue
        gap = _invoker_gap(service, identity[job], members, inputs.region, f"job {job}")
        if gap is not None:
            gaps.append(gap[0])
            fixes.append(gap[1])
    if gaps:
        return CheckResult(
            check_id,
            title,
            CheckStatus.FAIL,
            "P0: " + "; ".join(gaps),
            "; ".join(dict.fromkeys(fixes)),
        )
    if missing:
        return _unknown(
            check_id,
            title,
            f"no such service in Cloud Run {inputs.region}".rstrip() + f": {', '.join(missing)}",
            "gcloud scheduler jobs describe JOB: a target in another project or region is not read",
        )
    return CheckResult(
        check_id,
        title,
        CheckStatus.PASS,
        f"{counted(len(targets), 'job')} calling Cloud Run, each target granting "
        "roles/run.invoker to the job's identity",
        "nothing to do",
    )


def _invoker_gap(
    service: str, identity: str, members: frozenset[str], region: str, whose: str
) -> tuple[str, str] | None:
    """Whether `service` lets `identity` (a push's or a job's OIDC account; "" for a call
    without a token, which needs `allUsers`) invoke it: None when it does, else the gap
    (naming `whose` call it is) and the binding that closes it."""
    member = f"serviceAccount:{identity}" if identity else "allUsers"
    if member in members or members & PUBLIC:
        return None
    where = f" --region={region}" if region else ""
    return (
        f"{service} does not grant roles/run.invoker to {member} ({whose})",
        f"gcloud run services add-iam-policy-binding {service}{where} "
        f"--member={member} --role=roles/run.invoker",
    )


def _pushed(hops: Sequence[Hop]) -> list[tuple[Hop, Subscription]]:
    """The hops whose subscription pushes (to their orchestrator), with it."""
    return [
        (hop, hop.subscription)
        for hop in hops
        if hop.subscription is not None and hop.subscription.push_endpoint
    ]


def _held_value(
    fetched: Fetched[T] | None, check: tuple[str, str, str], step: str
) -> T | CheckResult:
    """What a check reads, or its result when it cannot: skipped where the source holds
    no such thing (a snapshot), unknown where the read failed (`step` says what to try).
    `check`: (its id, its title, what it reads)."""
    check_id, title, what = check
    if fetched is None:
        return _not_held(check_id, title, what)
    if fetched.value is None:
        return _unknown(check_id, title, fetched.error, step)
    return fetched.value


def _not_held(check_id: str, title: str, what: str) -> CheckResult:
    """A check a source cannot answer because it holds no such thing (a snapshot)."""
    return CheckResult(
        check_id,
        title,
        CheckStatus.SKIPPED,
        f"this source holds no {what} (a snapshot)",
        "run the walkthrough on Google Cloud",
    )


def _invocations_check(inputs: DailyInputs, phases: dict[str, CheckResult]) -> CheckResult:
    """The runbook's zero-invocation detection: an orchestrator that a push subscription
    targets and that received no push request on the date (neither accepted nor refused),
    while its phase was due. On a game day 1-3 such targets warn and 4 or more fail
    (systemic); on an off day (the calendar says no games) silence is expected. Counts
    that could not be read, or a calendar that could not, are unknown."""
    day = inputs.game_date
    title = "push targets invoked"
    step = f"orchwatch pubsub --date {day}"
    hops = inputs.hops.value if inputs.hops is not None else None
    if hops is None:
        why = inputs.hops.error if inputs.hops is not None else "no Pub/Sub"
        return _unknown("invocations", title, why, step)
    silent: list[str] = []
    unread: list[str] = []
    invoked = 0
    for hop, subscription in _pushed(hops):
        phase = phases.get(hop.phase)
        if phase is not None and phase.status in (CheckStatus.NOT_DUE, CheckStatus.BLOCKED):
            continue  # nothing was due to reach it yet, or an earlier failure says why
        target = f"{hop.orchestrator or subscription.push_endpoint} ({subscription.name})"
        if hop.acked is None and not hop.refused:
            unread.append(target)
        elif (hop.acked or 0) + sum(hop.refused.values()) == 0:
            silent.append(target)
        else:
            invoked += 1
    if silent:
        off_day, why = _off_day(inputs)
        listed = "; ".join(silent)
        if off_day:
            return CheckResult(
                "invocations",
                title,
                CheckStatus.PASS,
                f"off day: {counted(len(silent), 'push target')} without a request, as "
                f"expected ({listed})",
                "nothing to do",
            )
        if off_day is None:
            return CheckResult(
                "invocations",
                title,
                CheckStatus.UNKNOWN,
                f"{counted(len(silent), 'push target')} without a request ({listed}); the game "
                f"calendar could not be read ({why}): expected or not",
                CALENDAR_STEP,
            )
        return _tiered(
            "invocations",
            title,
            inputs.tiers.level("silent_targets", len(silent)),
            (
                f"{counted(len(silent), 'push target')} received no request",
                "systemic",
                f": {listed}",
            ),
            "check each push subscription and its invoker IAM, then whether the upstream "
            f"topic publishes: {step}",
        )
    if unread:
        return _unknown("invocations", title, f"no counts for {'; '.join(unread)}", step)
    return CheckResult(
        "invocations",
        title,
        CheckStatus.PASS,
        f"{counted(invoked, 'push target')} received requests",
        "nothing to do",
    )


CALENDAR_STEP = "check [daily] game_day_sql in orchwatch.toml"


def _off_day(inputs: DailyInputs) -> tuple[bool | None, str]:
    """Whether the date has no games by the calendar (`[daily] game_day_sql`): False
    without a calendar (every day is a game day), None when it could not be read, with why."""
    games = inputs.games
    if games is None:
        return False, ""
    if games.value is None:
        return None, games.error or "no rows"
    return games.value == 0, ""


def _validation_check(inputs: DailyInputs) -> CheckResult:
    title = "deployment packages (orchwatch validate)"
    value = inputs.validation.value
    if value is None:
        return CheckResult(
            "validate",
            title,
            CheckStatus.SKIPPED if inputs.validation.error == NO_REPO else CheckStatus.UNKNOWN,
            inputs.validation.error,
            "set [repo] path in orchwatch.toml, or run orchwatch validate REPO",
        )
    errors, warnings, failing = value
    if errors:
        return CheckResult(
            "validate",
            title,
            CheckStatus.FAIL,
            f"{counted(errors, 'error')}, {counted(warnings, 'warning')}; "
            f"failing: {', '.join(failing)}",
            "orchwatch validate",
            Target("validate"),
        )
    if warnings:
        return CheckResult(
            "validate",
            title,
            CheckStatus.WARN,
            counted(warnings, "warning"),
            "orchwatch validate",
            Target("validate"),
        )
    return CheckResult("validate", title, CheckStatus.PASS, "clean", "nothing to do")


def _custom_check(
    check: CustomCheckResult, phase: CheckResult | None, inputs: DailyInputs, zone: ZoneInfo
) -> CheckResult:
    """A configured SQL check; tied to a phase, it waits with it (blocked, not due). Its
    tiers: pass when `expect` holds, else warn when `warn` does, else fail; on an off day
    (the calendar says no games) it is skipped or held to `off_day_expect`; a calendar
    that cannot be read, or a NULL, is unknown."""
    title = check.name
    spec = check.spec
    fix = (spec.fix if spec else "") or "run the query by hand to see the rows"
    if phase is not None and phase.status in (CheckStatus.BLOCKED, CheckStatus.NOT_DUE):
        return CheckResult(
            f"custom.{check.name}",
            title,
            phase.status,
            f"{check.phase}: {phase.evidence}",
            phase.next_step,
            phase.target,
            phase.cause,
        )
    check_id = f"custom.{check.name}"
    if spec is not None and spec.due_after is not None:
        due = datetime.combine(inputs.game_date, time(0), tzinfo=zone) + spec.due_after
        if inputs.now < due:
            return CheckResult(
                check_id, title, CheckStatus.NOT_DUE, f"due at {due:%m-%d %H:%M}", "wait"
            )
    expect, warn, day = check.expect, spec.warn if spec else None, ""
    if spec is not None and (spec.skip_off_days or spec.off_day_expect is not None):
        off_day, why = _off_day(inputs)
        if off_day is None:
            return CheckResult(
                check_id,
                title,
                CheckStatus.UNKNOWN,
                f"the game calendar could not be read ({why}): game day or off day unknown",
                CALENDAR_STEP,
            )
        if off_day:
            if spec.skip_off_days:
                return CheckResult(
                    check_id, title, CheckStatus.SKIPPED, "off day (no games)", "nothing to do"
                )
            expect, warn, day = spec.off_day_expect or expect, None, "off day: "
    if check.value is None:
        return CheckResult(
            check_id,
            title,
            CheckStatus.UNKNOWN,
            f"query failed: {check.error}",
            "check the SQL in orchwatch.toml",
        )
    value = int(check.value) if check.value == int(check.value) else check.value
    op, expected = parse_expectation(expect)
    if _OPS[op](check.value, expected):
        return CheckResult(
            check_id, title, CheckStatus.PASS, f"{day}{value} (expected {op} {expected:g})", fix
        )
    if warn is not None:
        warn_op, warn_at = parse_expectation(warn)
        if _OPS[warn_op](check.value, warn_at):
            return CheckResult(
                check_id,
                title,
                CheckStatus.WARN,
                f"{day}{value} (expected {op} {expected:g}; warns at {warn_op} {warn_at:g})",
                fix,
            )
        return CheckResult(
            check_id,
            title,
            CheckStatus.FAIL,
            f"{day}{value}: critical (expected {op} {expected:g}, warns at {warn_op} {warn_at:g})",
            fix,
        )
    return CheckResult(
        check_id, title, CheckStatus.FAIL, f"{day}{value} (expected {op} {expected:g})", fix
    )
