"""The incident timeline: one time axis for a date, from every layer orchwatch reads.

Revisions created, turning Ready or failing; error groups first and last seen; each
processor's completion as BigQuery and as Firestore saw it; phase triggers, and the ones
that should have happened and did not; the actions the audit log recorded. A date's
timeline reaches back to the start of any incident still open on it (a failed revision
days before that still keeps the traffic on an older one).

Pure: `orchwatch.gather.gather_timeline` reads what it needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from orchwatch.analysis.completion import trigger_verdict
from orchwatch.analysis.fetched import Fetched
from orchwatch.analysis.pubsub import Hop
from orchwatch.analysis.revisions import Health, Marker, ServiceVerdict, short_name, short_names
from orchwatch.model import CellState, ConditionState, DateStatus, ErrorGroup
from orchwatch.plural import counted

SCHEMA_VERSION = 1
WINDOW = timedelta(hours=36)
"""A date's window: from its start to noon the next day (the walkthrough's)."""


class Severity(StrEnum):
    """How an event reads: a failure, a warning, a healthy fact, or neither."""

    BAD = "bad"
    WARN = "warn"
    OK = "ok"
    INFO = "info"


@dataclass(frozen=True)
class Event:
    """One thing that happened, from one source."""

    at: datetime
    kind: str
    """revision, ready, failed, errors-first, errors-last, bigquery, firestore, trigger,
    trigger-missed, pushes-refused, pushes-refused-last, action or verdict."""
    source: str
    subject: str
    summary: str
    severity: Severity = Severity.INFO
    detail: tuple[str, ...] = ()


@dataclass(frozen=True)
class Action:
    """An audit log record, reduced to what the timeline shows."""

    at: datetime
    who: str
    action: str
    service: str
    outcome: str


@dataclass(frozen=True)
class TimelineInputs:
    """What the timeline reads; each part may have failed alone."""

    game_date: date
    now: datetime
    status: Fetched[DateStatus]
    verdicts: Fetched[list[ServiceVerdict]]
    groups: Fetched[list[ErrorGroup]]
    actions: Sequence[Action] = field(default_factory=tuple)
    hops: Fetched[list[Hop]] | None = None
    """The date's Pub/Sub hops; None where the source has no Pub/Sub."""


@dataclass(frozen=True)
class Timeline:
    """Events in time order, the window they were taken from, and the sources that could
    not be read."""

    start: datetime
    end: datetime
    events: tuple[Event, ...]
    unavailable: tuple[str, ...] = ()


def opened(verdict: ServiceVerdict) -> datetime | None:
    """When a service's still-open incident began: its first failed revision, the first
    revision after the one it was rolled back to, or a crash-looping serving revision's
    creation; None when its verdict is healthy."""
    if verdict.health is Health.OK:
        return None
    rows = verdict.rows
    times = [
        row.revision.create_time for row in rows if row.marker in (Marker.FAILED, Marker.CRASHING)
    ]
    back = next((row for row in rows if row.marker is Marker.ROLLED_BACK), None)
    if back is not None:
        times += [
            row.revision.create_time
            for row in rows
            if row.revision.create_time > back.revision.create_time
        ]
    return min(times, default=None)


def timeline(inputs: TimelineInputs, zone: ZoneInfo) -> Timeline:
    """Every event of the date's window (from its start to noon the next day, or now),
    oldest first, with the revisions of each incident still open from when it began."""
    day_start = datetime.combine(inputs.game_date, time(0), tzinfo=zone)
    end = min(day_start + WINDOW, max(inputs.now, day_start))
    since = {
        v.service: when for v in inputs.verdicts.value or () if (when := opened(v)) is not None
    }
    start = min([day_start, *since.values()])
    events: list[Event] = []
    unavailable: list[str] = []
    if inputs.verdicts.value is None:
        unavailable.append(f"Cloud Run: {inputs.verdicts.error}")
    else:
        events += [
            e
            for e in _revisions(inputs.verdicts.value, inputs.now)
            if e.at >= day_start or e.at >= since.get(e.subject, day_start)
        ]
    if inputs.groups.value is None:
        unavailable.append(f"Cloud Logging: {inputs.groups.error}")
    else:
        events += _groups(inputs.groups.value, day_start)
    if inputs.status.value is None:
        unavailable.append(f"Firestore and BigQuery: {inputs.status.error}")
    else:
        events += _completions(inputs.status.value, inputs.now, zone)
    if inputs.hops is not None and inputs.hops.value is None:
        unavailable.append(f"Pub/Sub: {inputs.hops.error}")
    elif inputs.hops is not None and inputs.hops.value is not None:
        events += _hops(inputs.hops.value)
    events += [
        Event(
            a.at,
            "action",
            "audit log",
            a.service or a.action,
            f"{a.who} ran {a.action}{f' on {a.service}' if a.service else ''}: {a.outcome}",
            Severity.INFO,
        )
        for a in inputs.actions
    ]
    kept = sorted(
        (e for e in events if start <= e.at <= end), key=lambda e: (e.at, e.kind, e.subject)
    )
    return Timeline(start, end, tuple(kept), tuple(unavailable))


def _revisions(verdicts: Sequence[ServiceVerdict], now: datetime) -> list[Event]:
    events: list[Event] = []
    for verdict in verdicts:
        service = verdict.service
        for row in verdict.rows:
            revision = row.revision
            name = short_name(revision.name)
            events.append(
                Event(
                    revision.create_time,
                    "revision",
                    "Cloud Run",
                    service,
                    f"{service} {name} created"
                    + (f" by {revision.creator}" if revision.creator else ""),
                    Severity.INFO,
                )
            )
            ready = revision.ready
            if ready is None or ready.last_transition_time is None:
                continue
            if ready.state is ConditionState.SUCCEEDED:
                events.append(
                    Event(
                        ready.last_transition_time,
                        "ready",
                        "Cloud Run",
                        service,
                        f"{service} {name} Ready",
                        Severity.OK,
                    )
                )
            elif ready.state is ConditionState.FAILED:
                why = f"{ready.reason}: {ready.message}" if ready.reason else ready.message
                events.append(
                    Event(
                        ready.last_transition_time,
                        "failed",
                        "Cloud Run",
                        service,
                        f"{service} {name} FAILED: {why}",
                        Severity.BAD,
                    )
                )
        if verdict.health is not Health.OK:
            events.append(
                Event(
                    now,
                    "verdict",
                    "Cloud Run",
                    service,
                    f"{service} now: {verdict.text}",
                    Severity.BAD if verdict.health is Health.BAD else Severity.WARN,
                    (verdict.reason,) if verdict.reason else (),
                )
            )
    return events


def _hops(hops: Sequence[Hop]) -> list[Event]:
    """Each hop's refusals: when the pushes began to be refused, and when the last one
    was, with where the messages went."""
    events: list[Event] = []
    for hop in hops:
        if hop.refused_span is None:
            continue
        first, last = hop.refused_span
        target = hop.orchestrator or "the orchestrator"
        refused = sum(hop.refused.values())
        detail = (hop.verdict, *hop.details)
        events.append(
            Event(
                first,
                "pushes-refused",
                "Pub/Sub",
                hop.phase,
                f"{hop.topic}: pushes to {target} refused from here",
                Severity.BAD,
                detail,
            )
        )
        fate = (
            f"{counted(hop.dropped, 'message')} dropped"
            if hop.dropped
            else f"{counted(hop.backlog or 0, 'message')} waiting"
        )
        events.append(
            Event(
                last,
                "pushes-refused-last",
                "Pub/Sub",
                hop.phase,
                f"{hop.topic}: pushes to {target} refused until here ({refused} refused; {fate})",
                Severity.BAD if hop.dropped else Severity.WARN,
                detail,
            )
        )
    return events


def _groups(groups: Sequence[ErrorGroup], start: datetime) -> list[Event]:
    events: list[Event] = []
    for group in groups:
        if group.last_seen < start:
            continue
        services = ", ".join(group.services)
        what = f"{group.exception_type}: {group.message}"
        revisions = short_names(group.revisions)
        detail = (f"group {group.fingerprint}", f"revisions {revisions}")
        events.append(
            Event(
                group.first_seen,
                "errors-first",
                "Cloud Logging",
                group.fingerprint,
                f"first {what} in {services}",
                Severity.BAD,
                detail,
            )
        )
        span = (group.last_seen - group.first_seen).total_seconds() / 3600
        rate = f", {group.count / span:.0f}/h" if span >= 0.25 else ""
        events.append(
            Event(
                group.last_seen,
                "errors-last",
                "Cloud Logging",
                group.fingerprint,
                f"last {group.exception_type} in {services} ({group.count} in all{rate})",
                Severity.WARN,
                detail,
            )
        )
    return events


def _completions(status: DateStatus, now: datetime, zone: ZoneInfo) -> list[Event]:
    events: list[Event] = []
    for phase in status.phases:
        for cell in phase.cells:
            name = f"{phase.phase} {cell.processor}"
            backup, record = cell.backup, cell.firestore
            if backup is not None and backup.first_completed_at is not None:
                lost = cell.state is CellState.UNTRACKED
                events.append(
                    Event(
                        backup.first_completed_at,
                        "bigquery",
                        "BigQuery",
                        cell.processor,
                        f"{name} completed (BigQuery)"
                        + ("; Firestore never recorded it: untracked" if lost else ""),
                        Severity.BAD if lost else Severity.OK,
                        (f"{counted(backup.runs, 'run')}, last {backup.last_status}",),
                    )
                )
            if record is not None and record.completed_at is not None:
                failed = cell.state is CellState.FAILED
                events.append(
                    Event(
                        record.completed_at,
                        "firestore",
                        "Firestore",
                        cell.processor,
                        f"{name} recorded {record.status} (Firestore)",
                        Severity.BAD if failed else Severity.OK,
                    )
                )
        document = phase.document
        if phase.next_phase is None:
            continue
        if document is not None and document.triggered and document.triggered_at:
            reason = f" ({document.trigger_reason})" if document.trigger_reason else ""
            events.append(
                Event(
                    document.triggered_at,
                    "trigger",
                    "Firestore",
                    phase.phase,
                    f"{phase.phase} triggered {phase.next_phase}{reason}",
                    Severity.OK,
                )
            )
            continue
        alarm, _ = trigger_verdict(phase, now, zone)
        if not alarm:
            continue
        required = [c for c in phase.cells if c.required]
        done = [
            c.backup.first_completed_at
            for c in required
            if c.backup is not None and c.backup.first_completed_at is not None
        ]
        due = [c.due_at for c in required if c.due_at is not None]
        when = max(done) if len(done) == len(required) and done else min(due, default=now)
        events.append(
            Event(
                when,
                "trigger-missed",
                "Firestore",
                phase.phase,
                f"{phase.next_phase} NOT triggered: BigQuery has {phase.bigquery_count}/"
                f"{phase.expected} of {phase.phase}, Firestore counts {phase.firestore_count}/"
                f"{phase.expected}",
                Severity.BAD,
            )
        )
    return events


_MARK = {Severity.BAD: "✗", Severity.WARN: "!", Severity.OK: "✓", Severity.INFO: "·"}


def _shown(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%m-%d %H:%M")


def timeline_lines(line: Timeline, zone: ZoneInfo, markdown: bool = False) -> list[str]:
    """Text: one line per event. Markdown: a postmortem's timeline section."""
    start, end = _shown(line.start, zone), _shown(line.end, zone)
    if markdown:
        lines = [f"## Timeline ({zone.key}, {start} to {end})", ""]
        lines += [
            f"- **{_shown(e.at, zone)}** {_MARK[e.severity]} {e.source}: {e.summary}"
            for e in line.events
        ]
    else:
        lines = [f"timeline {start} to {end} ({zone.key}), {counted(len(line.events), 'event')}"]
        lines += [
            f"{_shown(e.at, zone)}  {_MARK[e.severity]} {e.source:<13} {e.summary}"
            for e in line.events
        ]
    lines += [f"not read: {why}" for why in line.unavailable]
    return lines


def timeline_json(line: Timeline) -> dict[str, Any]:
    """The stable JSON shape (`version` 1): see the README."""
    return {
        "version": SCHEMA_VERSION,
        "from": line.start.isoformat(),
        "to": line.end.isoformat(),
        "events": [
            {
                "at": e.at.isoformat(),
                "kind": e.kind,
                "source": e.source,
                "subject": e.subject,
                "summary": e.summary,
                "severity": e.severity.value,
                "detail": list(e.detail),
            }
            for e in line.events
        ],
        "unavailable": list(line.unavailable),
    }
