"""Plain-text and JSON renderings of the views, for the headless verbs."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from orchwatch.analysis.daily import CHECK_GLYPH, CheckResult, CheckStatus, overall
from orchwatch.analysis.revisions import MARKER_GLYPH, Health, short_name, short_names
from orchwatch.gather import NO_COMMIT, ErrorsView, RevisionsView
from orchwatch.model import Revision
from orchwatch.plural import counted
from orchwatch.sanitize import inert_line

_HEALTH_MARK = {Health.BAD: "✗", Health.WARN: "!", Health.OK: "✓"}


def revisions_text(view: RevisionsView, zone: ZoneInfo) -> str:
    """One line per service (worst first); a failing latest revision adds its reason."""
    lines = []
    width = max((len(v.service) for v in view.verdicts), default=0)
    for verdict in view.verdicts:
        lines.append(f"{_HEALTH_MARK[verdict.health]} {verdict.service:<{width}}  {verdict.text}")
        if verdict.reason:
            lines.append(f"  {' ' * width}  {verdict.reason}")
        note = view.drift_notes.get(verdict.service)
        if note and verdict.drift is None and note != NO_COMMIT:
            lines.append(f"  {' ' * width}  drift unknown: {note}")
    for name in view.missing:
        lines.append(f"? {name:<{width}}  not found in {view.where}")
    without_commit = sorted(s for s, n in view.drift_notes.items() if n == NO_COMMIT)
    if without_commit:  # said once, with how to fix it
        lines.append(f"drift unknown for {', '.join(without_commit)}: {NO_COMMIT}")
    if view.drift_off:
        lines.append(f"drift not checked: {view.drift_off}")
    if view.runtime_off:
        lines.append(f"crash loops not checked (the serving revisions' logs): {view.runtime_off}")
    lines.append(f"as of {view.now.astimezone(zone):%Y-%m-%d %H:%M %Z}")
    return "\n".join(lines)


def _revision_json(revision: Revision) -> dict[str, object]:
    return {
        "name": revision.name,
        "create_time": revision.create_time.isoformat(),
        "creator": revision.creator,
        "commit": revision.commit,
        "image": revision.image,
    }


def revisions_json(view: RevisionsView, zone: ZoneInfo) -> str:
    """`{"version": 1, "now", "services": [...], "missing": [...]}`."""
    services = []
    for verdict in view.verdicts:
        services.append(
            {
                "service": verdict.service,
                "health": verdict.health.value,
                "verdict": verdict.text,
                "reason": verdict.reason,
                "crashing": verdict.crashing,
                "serving": short_name(verdict.serving.name) if verdict.serving else None,
                "latest": short_name(verdict.latest.name) if verdict.latest else None,
                "drift": None
                if verdict.drift is None
                else {
                    "commits_behind": verdict.drift.commits_behind,
                    "oldest_undeployed": verdict.drift.oldest_undeployed.isoformat()
                    if verdict.drift.oldest_undeployed
                    else None,
                    "stale": verdict.drift.stale,
                },
                "revisions": [
                    {
                        **_revision_json(row.revision),
                        "marker": row.marker.value,
                        "glyph": MARKER_GLYPH[row.marker],
                        "traffic_percent": row.percent,
                        "reason": row.reason,
                    }
                    for row in verdict.rows
                ],
            }
        )
    return json.dumps(
        {
            "version": 1,
            "now": view.now.isoformat(),
            "services": services,
            "missing": list(view.missing),
        },
        indent=2,
    )


def errors_text(view: ErrorsView, zone: ZoneInfo, samples: bool = False) -> str:
    """One block per group, most recently active and most frequent first; log text inert."""
    lines = []
    for group in view.groups:
        first = group.first_seen.astimezone(zone).strftime("%m-%d %H:%M")
        last = group.last_seen.astimezone(zone).strftime("%m-%d %H:%M")
        new = f" · new since {short_name(group.new_since)}" if group.new_since else ""
        lines.append(
            f"{inert_line(group.exception_type)} ×{group.count}  "
            f"{inert_line(', '.join(group.services))}  last {last} (first {first}){new}"
        )
        lines.append(f"    {inert_line(group.message, 300)}")
        lines.append(
            f"    fingerprint {group.fingerprint} · revisions "
            f"{inert_line(short_names(group.revisions))}"
        )
        if samples:
            lines.extend(f"      {inert_line(line)}" for line in group.sample.splitlines())
    skipped = f", {counted(view.skipped, 'malformed record')} skipped" if view.skipped else ""
    lines.append(
        f"{counted(len(view.groups), 'group')} from {counted(view.entries, 'entry')}{skipped}"
    )
    if view.how:
        lines.append(f"read: {view.how}")
    if view.unread:
        lines.append(f"not read: {view.unread}")
    return "\n".join(lines)


def errors_json(view: ErrorsView) -> str:
    """`{"version": 1, "groups": [{fingerprint, exception_type, message, count, first_seen,
    last_seen, services, revisions, sample}]}` (JSON escapes control characters)."""
    return json.dumps(
        {
            "version": 1,
            "groups": [
                {
                    "fingerprint": g.fingerprint,
                    "exception_type": g.exception_type,
                    "message": g.message,
                    "count": g.count,
                    "first_seen": g.first_seen.isoformat(),
                    "last_seen": g.last_seen.isoformat(),
                    "services": list(g.services),
                    "revisions": list(g.revisions),
                    "new_since": g.new_since,
                    "sample": g.sample,
                }
                for g in view.groups
            ],
            "entries": view.entries,
            "skipped": view.skipped,
            "unread": view.unread,
            "read": view.how,
        },
        indent=2,
    )


def daily_summary(results: Sequence[CheckResult]) -> str:
    """The counts behind the verdict; an UNKNOWN verdict first names what it could not
    check (the CLI's header and the walkthrough screen's)."""
    counts = {s: sum(1 for r in results if r.status is s) for s in CheckStatus}
    summary = (
        f"{counts[CheckStatus.FAIL]} fail, {counts[CheckStatus.WARN]} warn, "
        f"{counts[CheckStatus.PASS]} pass, {counts[CheckStatus.UNKNOWN]} unknown"
    )
    for status, words in (
        (CheckStatus.BLOCKED, "blocked by an earlier failure"),
        (CheckStatus.NOT_DUE, "not due"),
        (CheckStatus.SKIPPED, "skipped"),
    ):
        if counts[status]:
            summary += f", {counts[status]} {words}"
    if overall(results) is CheckStatus.UNKNOWN:
        titles = [r.title for r in results if r.status is CheckStatus.UNKNOWN]
        kinds = Counter(title.split()[0] for title in titles)
        named: list[str] = []  # "orchestrator ×4" for checks of one kind (rows name each)
        for title in titles:
            kind = title.split()[0]
            shown = f"{kind} ×{kinds[kind]}" if kinds[kind] > 1 else title
            if shown not in named:
                named.append(shown)
        summary = f"could not check: {', '.join(named)}; {summary}"
    return summary


def _daily_header(results: Sequence[CheckResult]) -> tuple[CheckStatus, str]:
    return overall(results), daily_summary(results)


def daily_text(
    results: Sequence[CheckResult], day: date, now: datetime, zone: ZoneInfo, pipeline: str
) -> str:
    """The checklist as aligned text."""
    verdict, summary = _daily_header(results)
    width = max((len(r.title) for r in results), default=0)
    lines = [f"{pipeline} · {day:%Y-%m-%d (%a)} · {verdict.value.upper()} ({summary})"]
    for r in results:
        lines.append(
            f"{CHECK_GLYPH[r.status]} {r.status.value:<7} {r.title:<{width}}  "
            f"{inert_line(r.evidence, 300)}"
        )
        if r.status in (CheckStatus.FAIL, CheckStatus.UNKNOWN, CheckStatus.WARN):
            lines.append(f"{'':<{width + 12}}→ {inert_line(r.next_step, 300)}")
    lines.append(f"as of {now.astimezone(zone):%Y-%m-%d %H:%M %Z}")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return inert_line(text, 300).replace("|", "\\|")


def daily_markdown(
    results: Sequence[CheckResult],
    day: date,
    now: datetime,
    zone: ZoneInfo,
    pipeline: str,
    source: str,
) -> str:
    """A handoff for an incident doc or chat: verdict first, then failures, then the table."""
    verdict, summary = _daily_header(results)
    lines = [
        f"## Morning walkthrough · {pipeline} · {day:%Y-%m-%d (%a)}",
        "",
        f"**{verdict.value.upper()}** · {summary} · as of {now.astimezone(zone):%Y-%m-%d %H:%M %Z}"
        f" · source: {_cell(source)}",
        "",
    ]
    failing = [r for r in results if r.status is CheckStatus.FAIL]
    if failing:
        lines.append("**Needs action**")
        lines.append("")
        for r in failing:
            lines.append(f"- **{_cell(r.title)}**: {_cell(r.evidence)} → {_cell(r.next_step)}")
            blocked = [b.title for b in results if b.cause == r.id]
            if blocked:
                lines.append(f"  - blocked by it: {_cell(', '.join(blocked))}")
        lines.append("")
    lines += ["| | check | evidence | next step |", "|---|---|---|---|"]
    lines += [
        f"| {CHECK_GLYPH[r.status]} {r.status.value} | {_cell(r.title)} | "
        f"{_cell(r.evidence)} | {_cell(r.next_step)} |"
        for r in results
    ]
    return "\n".join(lines)


def daily_json(results: Sequence[CheckResult], day: date, now: datetime) -> str:
    """`{"version": 1, "date", "now", "status", "checks": [{id, title, status, evidence,
    next_step, cause}]}`; `cause` is the id of the failed check a blocked one waits on."""
    return json.dumps(
        {
            "version": 1,
            "date": day.isoformat(),
            "now": now.isoformat(),
            "status": overall(results).value,
            "checks": [
                {
                    "id": r.id,
                    "title": r.title,
                    "status": r.status.value,
                    "evidence": r.evidence,
                    "next_step": r.next_step,
                    "cause": r.cause or None,
                }
                for r in results
            ],
        },
        indent=2,
    )
