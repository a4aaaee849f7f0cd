"""Read the sources and derive what a pane or a headless verb shows.

The one place that combines I/O (sources, git) with the pure analysis: the TUI's
workers and the CLI verbs both call these, so the screen and `orchwatch revisions`
can never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from orchwatch.analysis.revisions import (
    Drift,
    ServiceVerdict,
    compute_drift,
    service_verdict,
    worst_first,
)
from orchwatch.analysis.tracebacks import group_entries
from orchwatch.config import Config
from orchwatch.model import ErrorGroup, LogEntry, Revision, ServiceState
from orchwatch.sources.base import SourceError, Sources
from orchwatch.sources.git import commits_since, function_paths


@dataclass(frozen=True)
class RevisionsView:
    """Every watched service's verdict, worst first, and the services Cloud Run lacks."""

    now: datetime
    verdicts: tuple[ServiceVerdict, ...]
    missing: tuple[str, ...]
    drift_notes: dict[str, str]
    """Service -> why its drift is unknown (no commit label, git error...)."""
    drift_off: str = ""
    """Why drift is not computed at all (no repo configured), or ""."""


def service_drift(
    config: Config, service: ServiceState, serving_commit: str | None, now: datetime
) -> tuple[Drift | None, str]:
    """Drift of the serving revision against the repo, or (None, why it is unknown)."""
    if config.repo_path is None:
        return None, "no repo configured"
    if not serving_commit:
        return None, "the serving revision has no commit label"
    folder = config.function_folder(service.name)
    if folder is None:
        return None, "no function folder for this service"
    try:
        commits = commits_since(
            config.repo_path, serving_commit, function_paths(config.repo_path, folder)
        )
    except SourceError as exc:
        return None, str(exc)
    return compute_drift([(c.sha, c.when) for c in commits], now, config.drift_max_age), ""


def gather_revisions(
    config: Config, sources: Sources, only: Sequence[str] | None = None
) -> RevisionsView:
    """Verdicts for the configured services (or `only`).

    Raises:
        SourceError: the source has no Cloud Run data or cannot be read.
    """
    if sources.revisions is None:
        raise SourceError(f"{sources.description} has no Cloud Run data")
    names = list(only) if only else list(config.services)
    services = sources.revisions.fetch_services(names)
    now = sources.clock.now()
    verdicts = []
    notes: dict[str, str] = {}
    drift_off = "" if config.repo_path else "no repo configured ([repo] path in orchwatch.toml)"
    for service in services:
        base = service_verdict(service, now)
        if drift_off:
            verdicts.append(base)
            continue
        commit = base.serving.commit if base.serving else None
        drift, why = service_drift(config, service, commit, now)
        if why:
            notes[service.name] = why
        verdicts.append(service_verdict(service, now, drift, base.rows) if drift else base)
    found = {s.name for s in services}
    return RevisionsView(
        now=now,
        verdicts=tuple(worst_first(verdicts)),
        missing=tuple(n for n in names if n not in found),
        drift_notes=notes,
        drift_off=drift_off,
    )


def serving_behind(verdict: ServiceVerdict) -> bool:
    """The `orchwatch revisions` exit-1 rule: nothing serves, or the serving revision is
    older than the latest created one (which covers a failed latest revision)."""
    if verdict.serving is None or verdict.latest is None:
        return True
    return verdict.serving.name != verdict.latest.name


@dataclass(frozen=True)
class ErrorsView:
    """Traceback groups of a window of logs."""

    groups: tuple[ErrorGroup, ...]
    entries: int
    skipped: int = 0
    """Malformed records skipped while reading a file."""
    source: str = ""


def gather_errors(
    config: Config,
    sources: Sources | None,
    since: timedelta,
    services: Sequence[str] | None = None,
    entries: Sequence[LogEntry] | None = None,
    skipped: int = 0,
    source: str = "",
) -> ErrorsView:
    """Group the tracebacks of `entries` (a file) or of the sources' logs since `since`.

    Raises:
        SourceError: the source has no logs or cannot be read.
    """
    revisions: dict[str, list[Revision]] = {}
    if entries is None:
        if sources is None or sources.logs is None:
            raise SourceError("this source has no logs")
        entries = sources.logs.fetch_log(sources.clock.now() - since, services)
        source = source or sources.description
        if sources.revisions is not None:
            watched = sorted({e.service for e in entries if e.service})
            for state in sources.revisions.fetch_services(watched):
                revisions[state.name] = list(state.revisions)
    elif services:
        entries = [e for e in entries if e.service in services]
    return ErrorsView(tuple(group_entries(entries, revisions)), len(entries), skipped, source)
