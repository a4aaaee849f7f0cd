"""Replay: the completions Firestore lacks, rebuilt from their BigQuery backup rows as the
processors publish them, or the subscription sought back to the crash.

The message is the processors' own (`UnifiedPubSubPublisher.publish_completion` in the
pipeline's `shared/publishers/`): a JSON object with no attributes, from which the
orchestrator records `processor_name` (normalised), `game_date`, `status`,
`record_count`, `execution_id` and `correlation_id`. Which field comes from where is
`FIELDS`; the README shows it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from orchwatch.analysis.pubsub import Hop
from orchwatch.config import Config
from orchwatch.dates import humanize_age
from orchwatch.model import BackupSummary, DateStatus, PhaseStatus
from orchwatch.plural import counted
from orchwatch.pubsub import OutgoingMessage

REPLAY_ATTRIBUTE = ("replayed_by", "orchwatch")
"""The one attribute a replayed message carries (the processors send none; the
orchestrators ignore attributes): it tells a replay from an original in a subscription."""

FIELDS: tuple[tuple[str, str], ...] = (
    ("processor_name", "the BigQuery row's processor_name (the orchestrator's field name)"),
    ("phase", "[[phases]] message_phase (phase_3_analytics)"),
    ("execution_id", "the row's execution_id"),
    ("correlation_id", "the row's correlation_id (else its execution_id)"),
    ("game_date", "the row's game_date"),
    ("output_table", "the row's processor_name (phase 3's tables are named after them)"),
    ("output_dataset", "[[phases]] output_dataset (left out when unset)"),
    ("status", "the row's status"),
    ("record_count", "the row's record_count (0 when empty)"),
    ("records_failed", "0, as the processors send it"),
    ("timestamp", "the row's completed_at: when the processor finished"),
    ("trigger_source", '"manual", the publisher\'s word for a run started by hand'),
    ("metadata", "{} (the processors' per-run statistics are not in the backup)"),
)
"""Each field of a replayed completion message and where its value comes from: the newest
BigQuery backup row of the processor on that date."""


class Method(StrEnum):
    """How the lost completions are delivered again."""

    PUBLISH = "publish"
    """Republish rebuilt messages to the completion topic."""
    SEEK = "seek"
    """Seek the orchestrator's subscription back to the start of the refusals: Pub/Sub
    delivers the original messages again (acked ones too)."""


@dataclass(frozen=True)
class ReplayPlan:
    """What a replay of one phase and date would do, or why it would do nothing."""

    phase: str
    game_date: str
    topic: str | None
    processors: tuple[str, ...]
    """The untracked processors the replay brings to Firestore."""
    messages: tuple[OutgoingMessage, ...]
    method: Method
    why: str
    """Why this method (shown in the preview)."""
    refused: str = ""
    """Why nothing can be replayed ("" when the plan can run)."""
    subscription: str | None = None
    seek_to: datetime | None = None
    expected: int = 0
    """The phase's processor count: Firestore's count after a replay that worked."""
    next_phase: str | None = None

    @property
    def runnable(self) -> bool:
        """Whether the plan does something."""
        return not self.refused


def plan_replay(
    config: Config,
    status: DateStatus,
    phase_name: str,
    hop: Hop | None,
    now: datetime,
    cannot_publish: str = "",
) -> ReplayPlan:
    """The replay of a phase's untracked completions on one date (`cannot_publish`: why
    the source cannot replay at all, shown with the messages it would have sent).

    Raises:
        KeyError: no such phase.
    """
    spec = config.phase(phase_name)
    phase = status.phase(phase_name)
    untracked = phase.untracked
    base = ReplayPlan(
        phase=phase_name,
        game_date=status.game_date.isoformat(),
        topic=spec.completion_topic,
        processors=untracked,
        messages=(),
        method=Method.PUBLISH,
        why="",
        expected=phase.expected,
        next_phase=spec.next_phase,
    )
    if not spec.completion_topic:
        return replace(
            base,
            processors=untracked,
            messages=(),
            method=Method.PUBLISH,
            why="",
            refused=f"{phase_name} has no completion_topic in the configuration "
            "([[phases]] completion_topic): there is nowhere to publish to",
        )
    if not untracked:
        return replace(
            base,
            processors=(),
            messages=(),
            method=Method.PUBLISH,
            why="",
            refused=_nothing_to_replay(phase),
        )
    messages = tuple(
        completion_message(config, phase_name, status.game_date, cell.backup)
        for cell in phase.cells
        if cell.processor in untracked and cell.backup is not None
    )
    sub = hop.subscription if hop is not None else None
    span = hop.refused_span if hop is not None else None
    if cannot_publish:
        return replace(base, messages=messages, refused=cannot_publish)
    if hop is not None and hop.refusing_now:
        return replace(
            base,
            processors=untracked,
            messages=messages,
            method=Method.PUBLISH,
            why="",
            refused=f"{spec.orchestrator or 'the orchestrator'} still refuses its pushes "
            f"(the latest were refused): a replay now would be dropped too. Fix it first "
            f"(`orchwatch explain --date {status.game_date} --phase {phase_name}`), then replay",
            subscription=sub.name if sub is not None else None,
        )
    if sub is not None and sub.retain_acked and span is not None and now - span[0] < sub.retention:
        return replace(
            base,
            processors=untracked,
            messages=messages,
            method=Method.SEEK,
            why=f"{sub.name} keeps acknowledged messages for "
            f"{humanize_age(sub.retention.total_seconds())} and the refusals began "
            f"{humanize_age((now - span[0]).total_seconds())} ago: seeking it back delivers "
            "the original messages again (the ones acknowledged since are delivered twice; "
            "the orchestrator records a processor once)",
            subscription=sub.name,
            seek_to=span[0],
        )
    if sub is None:
        why = "the subscription was not read, so a seek cannot be judged"
    elif not sub.retain_acked:
        why = f"{sub.name} does not keep acknowledged messages, so a seek has nothing to replay"
    elif span is None:
        why = "no refused push was counted in the window, so there is no moment to seek to"
    else:
        why = (
            f"the refusals began more than {sub.name}'s retention "
            f"({humanize_age(sub.retention.total_seconds())}) ago"
        )
    return replace(
        base,
        processors=untracked,
        messages=messages,
        method=Method.PUBLISH,
        why=f"{why}: publishing {counted(len(messages), 'completion')} rebuilt from BigQuery "
        f"to {spec.completion_topic}",
        subscription=sub.name if sub is not None else None,
    )


def _nothing_to_replay(phase: PhaseStatus) -> str:
    missing = [c.processor for c in phase.cells if c.firestore is None and c.backup is None]
    if missing:
        return (
            f"nothing to replay: Firestore lacks {', '.join(missing)}, and so does BigQuery "
            "(the processors did not run, so there is no completion to publish)"
        )
    return (
        f"nothing to replay: Firestore has every completion BigQuery has "
        f"({phase.firestore_count}/{phase.expected})"
    )


def completion_message(
    config: Config, phase_name: str, game_date: date, row: BackupSummary
) -> OutgoingMessage:
    """The completion message a processor published for its newest BigQuery row."""
    spec = config.phase(phase_name)
    data: dict[str, object] = {
        "processor_name": row.processor,
        "phase": spec.message_phase or phase_name,
        "execution_id": row.last_execution_id or "",
        "correlation_id": row.last_correlation_id or row.last_execution_id or "",
        "game_date": game_date.isoformat(),
        "output_table": row.processor,
        "output_dataset": spec.output_dataset,
        "status": row.last_status,
        "record_count": row.last_record_count or 0,
        "records_failed": 0,
        "timestamp": row.last_completed_at.isoformat() if row.last_completed_at else None,
        "trigger_source": "manual",
        "metadata": {},
    }
    body = {k: v for k, v in data.items() if v is not None}  # as the publisher drops None
    return OutgoingMessage(
        data=json.dumps(body, default=str).encode("utf-8"), attributes=dict([REPLAY_ATTRIBUTE])
    )


def preview_lines(plan: ReplayPlan, zone: ZoneInfo) -> list[str]:
    """What the confirmation shows: the method and why, then every message in full."""
    if plan.refused and not plan.messages:
        return [plan.refused]
    head = (
        f"Seek {plan.subscription} to {plan.seek_to.astimezone(zone):%Y-%m-%d %H:%M:%S %Z}"
        if plan.method is Method.SEEK and plan.seek_to is not None
        else f"Publish {counted(len(plan.messages), 'message')} to {plan.topic}"
    )
    lines = [
        f"{head} ({plan.phase} {plan.game_date}: {', '.join(plan.processors)})",
        f"Why: {plan.why}",
    ]
    if plan.refused:
        lines[1:2] = [f"Refused: {plan.refused}"]
    for k, message in enumerate(plan.messages, 1):
        attributes = ", ".join(f"{a}={v}" for a, v in sorted(message.attributes.items()))
        lines.append(f"[{k}] attributes: {attributes or 'none'}")
        lines.append(f"    data: {message.data.decode('utf-8')}")
    return lines
