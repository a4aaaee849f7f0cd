"""Replaying lost completions: publish (or seek), then watch Firestore until the phase is
whole and the next phase triggered, or say what did not happen.

The run manager guards and audits it like any other action; this module is the job.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from orchwatch.analysis.completion import reconcile_date
from orchwatch.analysis.replay import Method, ReplayPlan
from orchwatch.config import Config
from orchwatch.model import DateCompletions, PhaseStatus
from orchwatch.plural import counted
from orchwatch.sources.base import SourceError, Sources

WATCH_FOR = 120.0
"""Seconds the post-replay watch waits for Firestore (and the trigger) before it says
what did not happen."""
WATCH_EVERY = 2.0


@dataclass(frozen=True)
class ReplayOutcome:
    """How a replay ended."""

    ok: bool
    lines: tuple[str, ...]
    """What happened, in order: the publish, then what the watch saw."""


def replay_argv(plan: ReplayPlan) -> list[str]:
    """The command the audit log records for a replay (the headless verb that does it)."""
    return ["orchwatch", "replay", "--date", plan.game_date, "--phase", plan.phase]


def run_replay(
    plan: ReplayPlan,
    config: Config,
    sources: Sources,
    say: Callable[[str], None],
    cancelled: threading.Event | None = None,
    watch_for: float = WATCH_FOR,
) -> ReplayOutcome:
    """Publish the plan's messages (or seek), then watch until the phase's Firestore count
    reaches the processors replayed and the next phase triggers. `say` gets each line as
    it happens (the pane's output, the verb's stdout).

    Raises:
        SourceError: the publish or seek failed; the message says which message and why.
    """
    lines: list[str] = []

    def tell(line: str) -> None:
        lines.append(line)
        say(line)

    if not plan.runnable or sources.pubsub is None:
        tell(plan.refused or "this source has no Pub/Sub to publish to")
        return ReplayOutcome(False, tuple(lines))
    assert plan.topic is not None
    if plan.method is Method.SEEK:
        seek = getattr(sources.pubsub, "seek", None)
        if seek is None or plan.subscription is None or plan.seek_to is None:
            raise SourceError("this source cannot seek a subscription")
        seek(plan.subscription, plan.seek_to)
        tell(f"sought {plan.subscription} back to {plan.seek_to.isoformat()}")
    else:
        ids = sources.pubsub.publish(plan.topic, plan.messages)
        tell(f"published {counted(len(ids), 'message')} to {plan.topic}: {', '.join(ids)}")
    return _watch(plan, config, sources, tell, cancelled or threading.Event(), watch_for, lines)


def _watch(
    plan: ReplayPlan,
    config: Config,
    sources: Sources,
    tell: Callable[[str], None],
    cancelled: threading.Event,
    watch_for: float,
    lines: list[str],
) -> ReplayOutcome:
    """Poll the phase's completions until every replayed processor is recorded and the
    next phase triggered, the deadline passes, or the run is cancelled."""
    day = date.fromisoformat(plan.game_date)
    deadline = time.monotonic() + watch_for
    recorded_said = False
    while True:
        sources.advance()
        now = sources.clock.now()
        try:
            data = sources.completions.fetch_completions([day])
        except SourceError as exc:
            tell(f"Firestore could not be read to watch the replay: {exc}")
            return ReplayOutcome(False, tuple(lines))
        status = reconcile_date(config, data.get(day, DateCompletions(day)), now).phase(plan.phase)
        missing = [p for p in plan.processors if p not in _recorded(status)]
        if not missing and not recorded_said:
            tell(
                f"Firestore {plan.phase} {plan.game_date}: "
                f"{status.firestore_count}/{status.expected} (every replayed completion recorded)"
            )
            recorded_said = True
        if not missing and (plan.next_phase is None or status.triggered):
            if plan.next_phase is not None:
                tell(f"{plan.next_phase} triggered")
            return ReplayOutcome(True, tuple(lines))
        if cancelled.is_set():
            tell("watch cancelled: " + _what_is_missing(plan, missing, status.triggered))
            return ReplayOutcome(False, tuple(lines))
        if time.monotonic() >= deadline:
            tell(f"after {watch_for:g} s: " + _what_is_missing(plan, missing, status.triggered))
            return ReplayOutcome(False, tuple(lines))
        cancelled.wait(WATCH_EVERY)


def _recorded(status: PhaseStatus) -> set[str]:
    return {c.processor for c in status.cells if c.firestore is not None}


def _what_is_missing(plan: ReplayPlan, missing: list[str], triggered: bool) -> str:
    if missing:
        return (
            f"Firestore still lacks {', '.join(missing)} for {plan.phase} {plan.game_date}: "
            "the orchestrator did not record the replay (read its logs: is it serving, did it "
            "refuse the pushes?)"
        )
    return (
        f"every completion is recorded but {plan.next_phase} was not triggered: "
        f"run `orchwatch explain --date {plan.game_date} --phase {plan.phase}`"
    )
