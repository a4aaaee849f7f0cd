"""`orchwatch postmortem`: an incident's record, written from a recording alone.

For a window of the recording it says:

- what the walkthrough said and when it changed its mind: each check of each recorded
  date, judged at `SAMPLES` moments spread across the window and, between two that
  differ, by halves down to the moment of each change of status (pass -> fail,
  fail -> pass...): a window of days costs a few hundred judgments, not one per poll;
- when a source could not be read (the recorder's outages);
- the timeline of each date, as of the window's last moment, cut to the window;
- the explain chain of everything that was red, at the last moment it was red;
- the actions taken, as the audit log recorded them and the recorder found them.
"""

from __future__ import annotations

import itertools
import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from orchwatch.analysis.daily import CheckResult, CheckStatus, evaluate
from orchwatch.analysis.explain import Explanation, explain, explanation_json, explanation_lines
from orchwatch.analysis.timeline import Timeline, timeline, timeline_json, timeline_lines
from orchwatch.config import Config
from orchwatch.gather import gather_daily, gather_explain, gather_timeline
from orchwatch.names import UnknownName
from orchwatch.sanitize import inert_line
from orchwatch.sources.base import SourceError
from orchwatch.sources.history import Moment, Recording, RecordingError
from orchwatch.sources.recorded import rewind

SAMPLES = 96
"""Moments judged evenly across the window (every moment of a shorter one). A status that
came and went between two of them, both judging it the same, is not seen: the report
says how far apart they are."""

RED = (CheckStatus.FAIL,)


@dataclass(frozen=True)
class Change:
    """A check's status changed between two judged moments."""

    at: datetime
    day: date
    check: str
    title: str
    before: CheckStatus | None
    """None: the window's first moment (the status it opened with)."""
    after: CheckStatus
    evidence: str


@dataclass(frozen=True)
class Chain:
    """Why something was red, at the last moment it was."""

    subject: str
    day: date
    at: datetime
    explanation: Explanation


@dataclass
class Postmortem:
    """What a recording says of a window."""

    pipeline: str
    path: Path
    start: datetime
    end: datetime
    moments: int
    judged: int
    every: int = 1
    """The samples' spacing, in moments (1: every moment was judged)."""
    spacing: timedelta = timedelta(0)
    """The samples' spacing, in time."""
    changes: list[Change] = field(default_factory=list)
    outages: list[tuple[datetime, str, str]] = field(default_factory=list)
    """(when it began, the source, why), in order."""
    timelines: dict[date, Timeline] = field(default_factory=dict)
    chains: list[Chain] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)


def _window_moments(recording: Recording, start: datetime, end: datetime) -> list[Moment]:
    try:
        return [m for m in recording.moments() if start <= m.captured_at <= end]
    except RecordingError as exc:
        raise SourceError(str(exc)) from None


def build(config: Config, path: Path, start: datetime, end: datetime) -> Postmortem:
    """Read the recording at `path` for the window [start, end].

    Raises:
        SourceError: not a recording, or it holds no moment in the window (the message
            says what it covers).
    """
    try:
        recording = Recording(path)
    except RecordingError as exc:
        raise SourceError(str(exc)) from None
    try:  # one opening for every moment rewound: each log batch is decoded once
        moments = _window_moments(recording, start, end)
        if not moments:
            span = recording.span()
            covers = (
                f"it covers {span[0].captured_at:%Y-%m-%dT%H:%M:%S}Z to "
                f"{span[1].captured_at:%Y-%m-%dT%H:%M:%S}Z"
                if span
                else "it holds nothing yet"
            )
            raise SourceError(
                f"{path}: no moment recorded from {start:%Y-%m-%dT%H:%M:%S}Z to "
                f"{end:%Y-%m-%dT%H:%M:%S}Z; {covers}"
            )
        outages = recording.outages_between(moments[0].id, moments[-1].id)
        actions = recording.actions_seen(moments[0].id, moments[-1].id)
        every = max(-(-len(moments) // SAMPLES), 1)
        judged = judge_window(
            moments, every, lambda moment: _walkthroughs(config, path, moment, recording)
        )
        span_of_window = moments[-1].captured_at - moments[0].captured_at
        report = Postmortem(
            config.pipeline_name,
            path,
            start,
            end,
            len(moments),
            len(judged),
            every,
            span_of_window * every / max(len(moments) - 1, 1),
            outages=outages,
            actions=actions,
        )
        report.changes, red_at = _changes(judged)
        report.chains = _chains(config, path, recording, red_at)
        report.timelines = _timelines(
            config, path, recording, moments[-1], report.actions, start, end
        )
    finally:
        recording.close()
    return report


Walkthroughs = dict[date, list[CheckResult]]
RedAt = dict[tuple[date, str], tuple[Moment, CheckResult]]


def _changes(judged: Sequence[tuple[Moment, Walkthroughs]]) -> tuple[list[Change], RedAt]:
    """Each change of a check's status across the judged moments (a check that opens the
    window red counts as one), and the last moment each (date, check) was red."""
    changes: list[Change] = []
    last: dict[tuple[date, str], CheckStatus] = {}
    red_at: RedAt = {}
    for moment, walkthroughs in judged:
        for day, results in walkthroughs.items():
            for result in results:
                key = (day, result.id)
                before = last.get(key)
                if before != result.status and (before is not None or result.status in RED):
                    changes.append(
                        Change(
                            moment.captured_at,
                            day,
                            result.id,
                            result.title,
                            before,
                            result.status,
                            result.evidence,
                        )
                    )
                last[key] = result.status
                if result.status in RED:
                    red_at[key] = (moment, result)
    return changes, red_at


def judge_window(
    moments: Sequence[Moment], every: int, judge: Callable[[Moment], Walkthroughs]
) -> list[tuple[Moment, Walkthroughs]]:
    """`judge` at every `every`th moment and the last; between two whose statuses differ,
    at the moment halfway, and so on down to neighbours: each change is found at the
    moment it happened with a judgment per halving. Returns the judged moments in order."""
    seen: dict[int, Walkthroughs] = {}
    statuses: dict[int, dict[tuple[date, str], CheckStatus]] = {}

    def at(i: int) -> dict[tuple[date, str], CheckStatus]:
        if i not in statuses:
            seen[i] = judge(moments[i])
            statuses[i] = {(d, r.id): r.status for d, rs in seen[i].items() for r in rs}
        return statuses[i]

    samples = sorted({*range(0, len(moments), every), len(moments) - 1})
    for i in samples:
        at(i)
    for first, last in itertools.pairwise(samples):
        halves = [(first, last)]
        while halves:
            a, b = halves.pop()
            if b - a > 1 and at(a) != at(b):
                middle = (a + b) // 2
                at(middle)
                halves += [(middle, b), (a, middle)]
    return [(moments[i], seen[i]) for i in sorted(seen)]


def _walkthroughs(config: Config, path: Path, moment: Moment, recording: Recording) -> Walkthroughs:
    sources = rewind(path, moment.captured_at, recording)
    try:
        return {
            day: evaluate(gather_daily(config, sources, day), config.timezone, config.shown_zone)
            for day in moment.dates
        }
    finally:
        sources.close()


def _subject(result: CheckResult) -> dict[str, str] | None:
    """What explain takes for a red check: its phase or its service."""
    if result.target is None or not result.target.key:
        return None
    if result.target.pane == "completions":
        return {"phase": result.target.key}
    if result.target.pane in ("revisions", "logs"):
        return {"service": result.target.key}
    return None


def _chains(
    config: Config,
    path: Path,
    recording: Recording,
    red_at: RedAt,
) -> list[Chain]:
    chains: list[Chain] = []
    seen: set[tuple[date, str]] = set()
    for (day, _), (moment, result) in sorted(red_at.items(), key=lambda kv: kv[1][0].id):
        subject = _subject(result)
        if subject is None:
            continue
        name = next(iter(subject.values()))
        if (day, name) in seen:
            continue
        seen.add((day, name))
        sources = rewind(path, moment.captured_at, recording)
        try:
            inputs = gather_explain(config, sources, day)
            explanation = explain(inputs, config.shown_zone, **subject)
        except UnknownName:
            continue
        finally:
            sources.close()
        chains.append(Chain(name, day, moment.captured_at, explanation))
    return chains


def _timelines(
    config: Config,
    path: Path,
    recording: Recording,
    moment: Moment,
    actions: Sequence[dict[str, Any]],
    start: datetime,
    end: datetime,
) -> dict[date, Timeline]:
    """Each date's timeline as of the window's last moment, its actions from the recording
    (written to a file of the audit log's format for the timeline to read)."""
    with tempfile.TemporaryDirectory(prefix="orchwatch-postmortem-") as folder:
        audit = Path(folder) / "audit.jsonl"
        audit.write_text("".join(json.dumps(record) + "\n" for record in actions))
        sources = rewind(path, moment.captured_at, recording)
        try:
            lines = {
                day: timeline(gather_timeline(config, sources, day, audit), config.shown_zone)
                for day in moment.dates
            }
        finally:
            sources.close()
    return {
        day: replace(line, events=tuple(e for e in line.events if start <= e.at <= end))
        for day, line in lines.items()
    }


# --- output ----------------------------------------------------------------------------------


def _how_judged(report: Postmortem) -> str:
    if report.every == 1:
        return "every moment"
    minutes = report.spacing.total_seconds() / 60
    apart = f"{minutes:.0f} min" if minutes >= 2 else f"{report.spacing.total_seconds():.0f} s"
    return (
        f"one in {report.every} across the window, {apart} apart, and between two that "
        "differ down to the moment of each change; a status that came and went between two "
        f"of those, within {apart}, is not seen"
    )


def _t(moment: datetime, config: Config) -> str:
    return moment.astimezone(config.shown_zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def postmortem_lines(report: Postmortem, config: Config, markdown: bool) -> list[str]:
    """The report as text or markdown."""
    h1, h2, h3 = ("# ", "## ", "### ") if markdown else ("", "", "")
    bullet = "- " if markdown else "  "
    out = [
        f"{h1}Postmortem: {report.pipeline}, {_t(report.start, config)} to "
        f"{_t(report.end, config)}",
        "",
        f"From the recording {report.path}: {report.moments} moments in the window, the "
        f"walkthrough judged at {report.judged} ({_how_judged(report)}).",
        "",
        f"{h2}What the walkthrough said",
        "",
    ]
    if not report.changes:
        out.append(f"{bullet}nothing failed and no check changed its status in the window")
    for change in report.changes:
        was = change.before.value if change.before else "at the start"
        out.append(
            f"{bullet}{_t(change.at, config)} · {change.day} · {change.title}: {was} → "
            f"{change.after.value} · {inert_line(change.evidence, 300)}"
        )
    out += ["", f"{h2}Sources the recorder could not read", ""]
    if not report.outages:
        out.append(f"{bullet}none: every poll read every source")
    for began, group, reason in report.outages:
        out.append(f"{bullet}{_t(began, config)} · {group}: {inert_line(reason, 300)}")
    out += ["", f"{h2}Why: the chains of what was red", ""]
    if not report.chains:
        out.append(f"{bullet}nothing was red")
    for chain in report.chains:
        out += [f"{h3}{chain.subject} on {chain.day} (last red {_t(chain.at, config)})", ""]
        out += explanation_lines(chain.explanation, config.shown_zone, markdown)
        out.append("")
    out += [f"{h2}Timeline", ""]
    for day, line in sorted(report.timelines.items()):
        out += [f"{h3}{day}", ""]
        out += (
            timeline_lines(line, config.shown_zone, markdown)
            if line.events
            else [f"{bullet}no event in the window"]
        )
        out.append("")
    out += [f"{h2}Actions taken", ""]
    runs = [r for r in report.actions if r.get("event") == "started"]
    ends = {r.get("id"): r for r in report.actions if r.get("event") == "finished"}
    if not runs:
        out.append(f"{bullet}none recorded in the window")
    for run in runs:
        end = ends.get(run.get("id"))
        how = (
            "not finished in the window"
            if end is None
            else f"exit {end.get('exit_code')}"
            + (" (cancelled)" if end.get("cancelled") else "")
            + (" (timed out)" if end.get("timed_out") else "")
        )
        command = " ".join(str(a) for a in run.get("command", []))
        out.append(
            f"{bullet}{run.get('time', '?')} · {run.get('user', '?')}@{run.get('host', '?')} · "
            f"{run.get('action', '?')} {run.get('service', '')} · `{inert_line(command, 300)}` · "
            f"{how}"
        )
    return [inert_line(line, 2000) for line in out]


def postmortem_json(report: Postmortem) -> dict[str, Any]:
    """The report as data."""
    return {
        "pipeline": report.pipeline,
        "recording": str(report.path),
        "from": report.start.isoformat(),
        "to": report.end.isoformat(),
        "moments": report.moments,
        "judged": report.judged,
        "judged_every": report.every,
        "changes": [
            {
                "at": c.at.isoformat(),
                "date": c.day.isoformat(),
                "check": c.check,
                "title": c.title,
                "before": c.before.value if c.before else None,
                "after": c.after.value,
                "evidence": c.evidence,
            }
            for c in report.changes
        ],
        "outages": [
            {"at": at.isoformat(), "source": group, "reason": reason}
            for at, group, reason in report.outages
        ],
        "chains": [
            {
                "subject": c.subject,
                "date": c.day.isoformat(),
                "at": c.at.isoformat(),
                "explanation": explanation_json(c.explanation),
            }
            for c in report.chains
        ],
        "timelines": {d.isoformat(): timeline_json(t) for d, t in report.timelines.items()},
        "actions": report.actions,
    }
