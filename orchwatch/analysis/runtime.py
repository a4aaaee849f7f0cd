"""What a serving revision's own logs say about it: a Ready revision can still crash-loop.

Cloud Run's Ready condition is about start-up: a revision whose container starts, takes
a request, then exits (a module imported lazily, a crash in the handler) stays Ready and
keeps the traffic while every message it is sent is lost. The evidence is in its logs:
container exits and failed probes (Cloud Run's system log) and tracebacks (stderr). A
verdict of "healthy" must hold against that evidence too, so `judge` turns a serving
revision that keeps exiting into a BAD verdict that says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from orchwatch.analysis.revisions import Health, Marker, ServiceVerdict, age, short_name
from orchwatch.model import (
    EXCEPTION_LINE,
    EXIT_PATTERNS,
    ConditionState,
    LogEntry,
    may_be_evidence,
)
from orchwatch.plural import counted

CRASH_EXITS = 3
"""Exits (or failed probes) of the serving revision, since it started serving, that make
a crash loop: one is an instance recycled, three is a pattern."""
STILL_CRASHING = timedelta(minutes=15)
"""The last exit must be this recent for the loop to be current."""


@dataclass(frozen=True, slots=True)
class RuntimeEvidence:
    """A service's serving revision, as its logs show it since it started serving (or
    since the logs read begin, when that is later)."""

    revision: str
    since: datetime
    """When the revision started serving, as far as orchwatch can tell (its Ready time,
    else its creation)."""
    counted_from: datetime
    """Where the count starts: `since`, or the start of the logs read when later."""
    exits: int
    last_exit: datetime | None
    exceptions: tuple[tuple[str, int], ...]
    """Exception types its tracebacks ended in, most frequent first."""


class RuntimeTally:
    """Each revision's exits and exceptions, fed entry by entry: the log pane's worker
    feeds it as the stream arrives, a headless verb feeds it what it listed. Only lines
    that may be evidence (`may_be_evidence`) are looked at, and only those that match are
    kept."""

    MAX_PER_REVISION = 10_000

    def __init__(self) -> None:
        self._events: dict[str, list[tuple[datetime, str]]] = {}
        """Revision -> (time, "" for an exit or the exception type), oldest first."""
        self.start: datetime | None = None
        """The first entry's time: the evidence covers nothing before it."""
        self.tallied = 0
        """Exits and exceptions tallied so far (a change counter)."""

    def add(self, entries: Iterable[LogEntry]) -> None:
        """Tally a batch of entries (oldest first)."""
        self.extend(runtime_events(entries))

    def extend(self, events: RuntimeEvents) -> None:
        """Tally what `runtime_events` found in a batch (the log pane's worker finds them
        off the UI thread; only the few matching lines cross over)."""
        first, found = events
        if first is not None and (self.start is None or first < self.start):
            self.start = first
        for revision, when, kind in found:
            tallied = self._events.setdefault(revision, [])
            tallied.append((when, kind))
            self.tallied += 1
            if len(tallied) > self.MAX_PER_REVISION:
                del tallied[: len(tallied) - self.MAX_PER_REVISION]

    def exits(self, revision: str) -> int:
        """The exits and failed probes `revision` logged in what was read."""
        return sum(1 for _, kind in self._events.get(revision, ()) if not kind)

    def evidence(self, verdict: ServiceVerdict) -> RuntimeEvidence | None:
        """The serving revision's exits and exceptions since it started serving; None
        when nothing serves or the logs read have not begun."""
        since = serving_since(verdict)
        if verdict.serving is None or since is None or self.start is None:
            return None
        counted_from = max(since, self.start)
        exits = 0
        last_exit: datetime | None = None
        exceptions: Counter[str] = Counter()
        for when, kind in self._events.get(verdict.serving.name, ()):
            if when < counted_from:
                continue
            if kind:
                exceptions[kind] += 1
            else:
                exits += 1
                last_exit = when if last_exit is None else max(last_exit, when)
        return RuntimeEvidence(
            verdict.serving.name,
            since,
            counted_from,
            exits,
            last_exit,
            tuple(exceptions.most_common()),
        )


RuntimeEvents = tuple[datetime | None, list[tuple[str, datetime, str]]]
"""A batch's earliest time, and its (revision, time, kind) exits and exceptions."""


def runtime_events(entries: Iterable[LogEntry]) -> RuntimeEvents:
    """The exits and exception lines in a batch (at WARNING or above, or without a
    severity: `may_be_evidence`), with the revision that logged them."""
    first: datetime | None = None
    found: list[tuple[str, datetime, str]] = []
    for entry in entries:
        if first is None or entry.timestamp < first:
            first = entry.timestamp
        if not entry.revision or not may_be_evidence(entry.severity, entry.text):
            continue
        for line in entry.text.splitlines():
            kind = _kind(line)
            if kind is not None:
                found.append((entry.revision, entry.timestamp, kind))
    return first, found


def _kind(line: str) -> str | None:
    """ "" for an exit or failed probe, the exception type for a traceback's last line,
    None for anything else."""
    if EXIT_PATTERNS.search(line):
        return ""
    match = EXCEPTION_LINE.match(line)
    if match and (line[match.end() :].startswith(":") or line == match.group(1)):
        return match.group(1).rsplit(".", 1)[-1]
    return None


def serving_since(verdict: ServiceVerdict) -> datetime | None:
    """When the serving revision became Ready (else was created)."""
    serving = verdict.serving
    if serving is None:
        return None
    ready = serving.ready
    if ready is not None and ready.last_transition_time is not None:
        return max(ready.last_transition_time, serving.create_time)
    return serving.create_time


def crashing(evidence: RuntimeEvidence | None, now: datetime) -> bool:
    """Whether the evidence is a current crash loop."""
    return (
        evidence is not None
        and evidence.exits >= CRASH_EXITS
        and evidence.last_exit is not None
        and now - evidence.last_exit <= STILL_CRASHING
    )


def judge(
    verdict: ServiceVerdict, evidence: RuntimeEvidence | None, now: datetime
) -> ServiceVerdict:
    """The verdict with its serving revision's runtime evidence: a crash loop makes it
    BAD and leads its text, e.g. `CRASHING 00027 · latest 00028 FAILED 2 h ago · 12 exits,
    300 ModuleNotFoundError since it started serving 12 min ago`."""
    if evidence is None or not crashing(evidence, now):
        return verdict
    what = counted(evidence.exits, "exit")
    if evidence.exceptions:
        kind, count = evidence.exceptions[0]
        what += f", {count} {kind}"
    if evidence.counted_from > evidence.since:
        when = f"in the last {age(now - evidence.counted_from)} of logs"
    else:
        when = f"since it started serving {age(now - evidence.since)} ago"
    name = short_name(evidence.revision)
    # The state first, then why a redeploy did not help (`latest ... FAILED`), then the
    # crash evidence: the order a narrow column keeps. "serving <name>" says it twice.
    rest = [
        p
        for p in verdict.text.split(" · ")
        if p != "healthy" and not p.startswith(f"serving {name}")
    ]
    lead = " · ".join([f"CRASHING {name}", *rest[:1], f"{what} {when}"])
    rest = rest[1:]
    # One marker a revision: a crash-looping serving revision is CRASHING, also when it is
    # the one left serving after a newer one failed (STUCK: that stays in its reason).
    rows = tuple(
        replace(
            row,
            marker=Marker.CRASHING,
            reason=f"{what} {when}" + (f"; {row.reason}" if row.marker is Marker.STUCK else ""),
        )
        if row.revision.name == evidence.revision and row.marker in (Marker.SERVING, Marker.STUCK)
        else row
        for row in verdict.rows
    )
    return replace(
        verdict, health=Health.BAD, text=" · ".join([lead, *rest]), crashing=True, rows=rows
    )


@dataclass(frozen=True, slots=True)
class RollbackChoice:
    """Where `b` would move a service's traffic, and the evidence; or why nowhere."""

    service: str
    serving: str
    """The revision serving now."""
    target: str | None
    """The revision before it, when it served cleanly in the logs read."""
    why: str


def rollback_choice(verdict: ServiceVerdict, tally: RuntimeTally) -> RollbackChoice:
    """A rollback is offered for a service whose serving revision is failing (Ready
    failed) or crash-looping, to the Ready revision before it, and only when the logs
    read reach back to when that one served and show no exit of it: a
    revision nobody saw serve, or one that crash-looped too, is never offered."""
    serving = verdict.serving
    name = verdict.service
    if serving is None:
        return RollbackChoice(name, "", None, "nothing serves it")
    here = short_name(serving.name)
    ready = serving.ready
    failed = ready is not None and ready.state is ConditionState.FAILED
    if not (verdict.crashing or failed):
        return RollbackChoice(name, serving.name, None, f"{here} is not failing")
    older = [
        row.revision
        for row in verdict.rows
        if row.revision.create_time < serving.create_time
        and row.revision.ready is not None
        and row.revision.ready.state is ConditionState.SUCCEEDED
    ]
    if not older:
        return RollbackChoice(name, serving.name, None, "no older revision was Ready")
    previous = max(older, key=lambda r: r.create_time)
    there = short_name(previous.name)
    since = serving_since(verdict)
    if tally.start is None or since is None or tally.start >= since:
        return RollbackChoice(
            name,
            serving.name,
            None,
            f"the logs read do not reach back to when {there} served; nothing shows it was healthy",
        )
    exits = tally.exits(previous.name)
    if exits:
        return RollbackChoice(
            name,
            serving.name,
            None,
            f"{there} exited {exits} times too (the logs read): rolling back would not help",
        )
    return RollbackChoice(
        name,
        serving.name,
        previous.name,
        f"{there} served until {here} took over, with no exit in the logs read",
    )
