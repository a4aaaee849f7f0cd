"""One marker per revision, and one verdict per service.

Markers (per revision), first match wins:

| condition                                                              | marker      |
|------------------------------------------------------------------------|-------------|
| Ready is CONDITION_FAILED                                              | FAILED      |
| Ready is pending or reconciling (or not reported yet)                  | PENDING     |
| takes traffic, and a newer revision failed to become Ready             | STUCK       |
| takes traffic, and a newer Ready revision exists without traffic       | ROLLED BACK |
| takes traffic                                                          | SERVING     |
| anything else                                                          | RETIRED     |

"Newer" compares create times. A service whose latest created revision is not
its latest ready one (`latest_created != latest_ready`) is stuck even before its
traffic is known.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from orchwatch.model import ConditionState, Revision, ServiceState


class Marker(StrEnum):
    """A revision's place in its service's history."""

    SERVING = "serving"
    CRASHING = "crashing"
    """Takes traffic and is Ready, and its logs show it exiting again and again
    (`analysis.runtime`)."""
    FAILED = "failed"
    STUCK = "stuck"
    ROLLED_BACK = "rolled back"
    PENDING = "pending"
    RETIRED = "retired"


MARKER_GLYPH: dict[Marker, str] = {
    Marker.SERVING: "●",
    Marker.CRASHING: "↻",
    Marker.FAILED: "✗",
    Marker.STUCK: "⚠",
    Marker.ROLLED_BACK: "↶",
    Marker.PENDING: "◷",
    Marker.RETIRED: "·",
}

MARKER_MEANING: dict[Marker, str] = {
    Marker.SERVING: "takes traffic",
    Marker.CRASHING: "takes traffic, Ready, and its logs show it exiting again and again",
    Marker.FAILED: "its Ready condition failed",
    Marker.STUCK: "takes traffic while a newer revision failed to become Ready",
    Marker.ROLLED_BACK: "takes traffic while a newer Ready revision gets none",
    Marker.PENDING: "Ready not reached yet (a deploy in progress)",
    Marker.RETIRED: "no traffic",
}
"""What each marker means: the help screen's legend (and the README's table)."""

MARKER_COLOUR: dict[Marker, str] = {
    Marker.SERVING: "success",
    Marker.CRASHING: "error",
    Marker.FAILED: "error",
    Marker.STUCK: "error",
    Marker.ROLLED_BACK: "warning",
    Marker.PENDING: "accent",
    Marker.RETIRED: "muted",
}


class Health(StrEnum):
    """A service verdict's severity, worst first when sorted by `HEALTH_ORDER`."""

    BAD = "bad"
    WARN = "warn"
    OK = "ok"


HEALTH_ORDER = (Health.BAD, Health.WARN, Health.OK)


@dataclass(frozen=True, slots=True)
class RevisionRow:
    """A revision with its marker and traffic share."""

    revision: Revision
    marker: Marker
    percent: int
    reason: str
    """For FAILED: `reason: message` of the Ready condition; otherwise a short note."""


@dataclass(frozen=True, slots=True)
class Drift:
    """How far the serving revision is behind the repo for its function's files."""

    commits_behind: int
    oldest_undeployed: datetime | None
    stale: bool
    """True when an undeployed commit is older than the configured age."""


@dataclass(frozen=True, slots=True)
class ServiceVerdict:
    """A service's one-line verdict and the rows behind it."""

    service: str
    health: Health
    text: str
    rows: tuple[RevisionRow, ...]
    serving: Revision | None
    latest: Revision | None
    drift: Drift | None = None
    reason: str = ""
    """Why the latest revision is not serving (a failure's `reason: message`), if it is not."""
    crashing: bool = False
    """The serving revision is Ready but its logs show it crash-looping (`analysis.runtime`)."""


def short_name(revision: str) -> str:
    """`phase3-to-phase4-orchestrator-00026-xyz` -> `00026`."""
    parts = revision.rsplit("-", 2)
    if len(parts) == 3 and parts[1].isdigit():
        return parts[1]
    return revision


def short_names(revisions: Sequence[str]) -> str:
    """Revisions as a reader tells them apart: `00025, 00026` within one service, with
    the service when they span several (`svc-a 00007, svc-b 00007`, not `00007, 00007`)."""
    services = {r.rsplit("-", 2)[0] for r in revisions if short_name(r) != r}
    if len(services) <= 1:
        return ", ".join(short_name(r) for r in revisions)
    return ", ".join(
        f"{r.rsplit('-', 2)[0]} {short_name(r)}" if short_name(r) != r else r for r in revisions
    )


def age(delta: timedelta) -> str:
    """A compact age: `35 min`, `48 h`, `3 d`."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 72 * 3600:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def _ready_state(revision: Revision) -> ConditionState:
    ready = revision.ready
    return ready.state if ready is not None else ConditionState.PENDING


def failure_reason(revision: Revision) -> str:
    """`reason: message` of a failed Ready condition (or of the first failed condition)."""
    failed = [c for c in revision.conditions if c.state is ConditionState.FAILED]
    failed.sort(key=lambda c: c.type != "Ready")
    if not failed:
        return ""
    condition = failed[0]
    return ": ".join(part for part in (condition.reason, condition.message) if part)


def derive_markers(service: ServiceState) -> tuple[RevisionRow, ...]:
    """Each revision's marker, newest first."""
    percent: dict[str, int] = {}
    for status in service.traffic:
        percent[status.revision] = percent.get(status.revision, 0) + status.percent
    previews = _previews(service)
    revisions = sorted(service.revisions, key=lambda r: r.create_time, reverse=True)
    newest_unready_at = None
    newest_ready_at = None
    rows: list[RevisionRow] = []
    after_unready: list[datetime | None] = []
    after_ready: list[datetime | None] = []
    for revision in revisions:  # newest first: record what is newer than each revision
        after_unready.append(newest_unready_at)
        after_ready.append(newest_ready_at)
        state = _ready_state(revision)
        if (
            state is ConditionState.SUCCEEDED
            and percent.get(revision.name, 0) == 0
            and revision.name not in previews  # a tagged 0% preview is not a rollback
        ):
            newest_ready_at = newest_ready_at or revision.create_time
        elif state is ConditionState.FAILED:  # a pending one is a deploy in progress
            newest_unready_at = newest_unready_at or revision.create_time
    for index, revision in enumerate(revisions):
        share = percent.get(revision.name, 0)
        state = _ready_state(revision)
        if state is ConditionState.FAILED:
            marker, reason = Marker.FAILED, failure_reason(revision)
        elif state is not ConditionState.SUCCEEDED:
            ready = revision.ready
            marker = Marker.PENDING
            reason = (ready.reason or ready.message) if ready else "no Ready condition yet"
        elif share and after_unready[index] is not None:
            marker, reason = Marker.STUCK, "a newer revision never became Ready"
        elif share and after_ready[index] is not None:
            marker, reason = Marker.ROLLED_BACK, "a newer Ready revision gets no traffic"
        elif share:
            marker, reason = Marker.SERVING, ""
        else:
            marker, reason = Marker.RETIRED, ""
        rows.append(RevisionRow(revision, marker, share, reason))
    return tuple(rows)


def _previews(service: ServiceState) -> dict[str, str]:
    """Revisions given a tag and no traffic (`--tag canary --no-traffic`): previews, reached
    at their tag's URL, not rollbacks."""
    return {t.revision: t.tag for t in service.traffic if t.tag and t.percent == 0 and t.revision}


def service_verdict(
    service: ServiceState,
    now: datetime,
    drift: Drift | None = None,
    rows: Sequence[RevisionRow] | None = None,
) -> ServiceVerdict:
    """The one-line verdict, e.g. `serving 00025 (3 d) · latest 00026 FAILED 48 h ago`."""
    rows = tuple(rows if rows is not None else derive_markers(service))
    if service.read_error and not rows:
        return ServiceVerdict(  # nothing read: unknown, said as such, never healthy
            service=service.name,
            health=Health.WARN,
            text=f"not read: {service.read_error}",
            rows=(),
            serving=None,
            latest=None,
        )
    by_name = {row.revision.name: row for row in rows}
    serving_rows = sorted(
        (row for row in rows if row.percent > 0), key=lambda r: r.percent, reverse=True
    )
    serving = serving_rows[0] if serving_rows else None
    latest_row = by_name.get(service.latest_created_revision) or (rows[0] if rows else None)
    parts: list[str] = []
    health = Health.OK
    previews = _previews(service)
    if serving is None:
        parts.append("no revision takes traffic")
        health = Health.BAD
    elif serving.marker is Marker.FAILED:  # Cloud Run can route to a revision that is not Ready
        name = short_name(serving.revision.name)
        parts.append(f"serving {name}, whose Ready condition FAILED: {serving.reason}")
        health = Health.BAD
    else:
        name = short_name(serving.revision.name)
        split = "" if serving.percent == 100 else f" {serving.percent}%"
        follows = any(
            t.follows_latest and t.revision == serving.revision.name for t in service.traffic
        )
        parts.append(
            f"serving {name}{split} ({age(now - serving.revision.create_time)})"
            + (" as the latest Ready revision" if follows else "")
        )
    if latest_row is not None and (serving is None or latest_row.revision != serving.revision):
        latest_name = short_name(latest_row.revision.name)
        when = age(now - latest_row.revision.create_time)
        if latest_row.marker is Marker.FAILED:
            parts.append(f"latest {latest_name} FAILED {when} ago")
            health = Health.BAD
        elif latest_row.marker is Marker.PENDING:
            parts.append(f"latest {latest_name} pending ({when})")
        elif latest_row.marker is Marker.RETIRED and latest_row.revision.name in previews:
            parts.append(f"preview {latest_name} (tag {previews[latest_row.revision.name]})")
        elif latest_row.marker is Marker.RETIRED and serving is not None:
            parts.append(f"rolled back from {latest_name}")
            health = Health.WARN
    if service.latest_created_revision != service.latest_ready_revision and (
        latest_row is None or latest_row.marker is not Marker.PENDING
    ):
        health = Health.BAD
    if serving is not None and serving.marker is Marker.STUCK:
        health = Health.BAD
    if service.pinned_to:
        pinned = ", ".join(short_name(r) for r in service.pinned_to)
        parts.append(f"pinned to {pinned}: new deploys will get no traffic")
        if health is Health.OK:
            health = Health.WARN
    if service.reconciling:
        parts.append("reconciling: a change is rolling out")
    terminal = service.terminal_condition
    if terminal is not None and terminal.state is ConditionState.FAILED:
        why = ": ".join(p for p in (terminal.reason, terminal.message) if p)
        parts.append(f"service not ready ({why})" if why else "service not ready")
        health = Health.BAD
    if drift is not None and drift.commits_behind:
        plural = "s" if drift.commits_behind != 1 else ""
        parts.append(f"{drift.commits_behind} commit{plural} behind")
        if drift.stale and health is Health.OK:
            health = Health.WARN
    if service.read_error:
        parts.append(f"revisions not read: {service.read_error}")
        if health is Health.OK:
            health = Health.WARN  # unknown, never healthy
    if (
        health is Health.OK
        and serving is not None
        and not [p for p in parts[1:] if not p.startswith("preview ")]
    ):
        parts.append("healthy")
    not_serving = latest_row is not None and (serving is None or latest_row is not serving)
    return ServiceVerdict(
        service=service.name,
        health=health,
        text=" · ".join(parts),
        rows=rows,
        serving=serving.revision if serving else None,
        latest=latest_row.revision if latest_row else None,
        drift=drift,
        reason=latest_row.reason if not_serving and latest_row is not None else "",
    )


def worst_first(verdicts: Iterable[ServiceVerdict]) -> list[ServiceVerdict]:
    """Bad, then warn, then ok; by service name within each."""
    return sorted(verdicts, key=lambda v: (HEALTH_ORDER.index(v.health), v.service))


def compute_drift(
    commits: Sequence[tuple[str, datetime]], now: datetime, max_age: timedelta
) -> Drift:
    """Drift from the commits (sha, time) in the repo that the serving revision lacks."""
    oldest = min((when for _, when in commits), default=None)
    return Drift(
        commits_behind=len(commits),
        oldest_undeployed=oldest,
        stale=oldest is not None and now - oldest > max_age,
    )


def revision_differences(revision: Revision, serving: Revision) -> list[tuple[str, str, str]]:
    """(field, this revision, serving revision) for image, env and labels that differ."""
    rows: list[tuple[str, str, str]] = []
    if revision.image != serving.image:
        rows.append(("image", revision.image, serving.image))
    for label, mine, theirs in (
        ("env", revision.env, serving.env),
        ("label", revision.labels, serving.labels),
    ):
        for key in sorted(set(mine) | set(theirs)):
            if mine.get(key) != theirs.get(key):
                rows.append((f"{label} {key}", mine.get(key, "—"), theirs.get(key, "—")))
    return rows
