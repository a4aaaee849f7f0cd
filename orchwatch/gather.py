"""Read the sources and derive what a pane or a headless verb shows.

The one place that combines I/O (sources, git) with the pure analysis: the TUI's
workers and the CLI verbs both call these, so the screen and `orchwatch revisions`
can never disagree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TypeVar

from orchwatch.analysis.completion import reconcile_date
from orchwatch.analysis.daily import (
    NO_REPO,
    CustomCheckResult,
    DailyInputs,
    TriggerLag,
    scheduler_targets,
)
from orchwatch.analysis.explain import Deployed, ExplainInputs, Package
from orchwatch.analysis.fetched import Fetched
from orchwatch.analysis.pubsub import Hop, topics_of
from orchwatch.analysis.pubsub import judge as judge_hops
from orchwatch.analysis.pubsub import window as pubsub_window
from orchwatch.analysis.revisions import (
    Drift,
    ServiceVerdict,
    compute_drift,
    service_verdict,
    worst_first,
)
from orchwatch.analysis.runtime import RollbackChoice, RuntimeTally, judge, rollback_choice
from orchwatch.analysis.timeline import Action, TimelineInputs
from orchwatch.analysis.tracebacks import group_entries, group_lines
from orchwatch.config import Config
from orchwatch.model import (
    BuildTrigger,
    DateCompletions,
    DateStatus,
    ErrorGroup,
    LogEntry,
    LogLine,
    Revision,
    SchedulerJob,
    StoredObject,
)
from orchwatch.names import UnknownName, no_such
from orchwatch.sources.base import ErrorLines, SourceError, Sources
from orchwatch.sources.git import Commit, branch_ref, commits_since, function_paths
from orchwatch.sources.logfile import LogReader

T = TypeVar("T")


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
    runtime_off: str = ""
    """Why the serving revisions' logs were not judged (no logs, a failed read), or ""."""
    where: str = "Cloud Run"
    """Where the services were looked for: `missing` ones are "not found in" it."""

    def verdict(self, service: str) -> ServiceVerdict | None:
        """The verdict of one service, or None when Cloud Run lacks it."""
        return next((v for v in self.verdicts if v.service == service), None)


NO_COMMIT = (
    "no commit on the serving revision; put one there when deploying: "
    "`gcloud run deploy ... --update-labels=commit-sha=$(git rev-parse HEAD)` for a Cloud Run "
    "service, `gcloud functions deploy ... --update-env-vars=BUILD_COMMIT=$(git rev-parse HEAD)` "
    "for a gen2 function (its labels may not reach its Cloud Run service); "
    "[services] commit_from says where to look"
)


@dataclass(frozen=True)
class DriftReading:
    """A service's serving revision against the repo: how far behind, the commits it
    lacks (newest first), or why that cannot be told."""

    drift: Drift | None
    commits: tuple[Commit, ...] = ()
    why: str = ""


def service_drift(
    config: Config, service: str, serving_commit: str | None, now: datetime
) -> DriftReading:
    """Drift of the serving revision against the repo: the one place it is judged, for the
    revisions pane, `orchwatch revisions` and the deploy confirmation alike."""
    if config.repo_path is None:
        return DriftReading(None, why="no repo configured")
    if not serving_commit:
        return DriftReading(None, why=NO_COMMIT)
    folder = config.function_folder(service)
    if folder is None:
        return DriftReading(None, why="no function folder for this service")
    try:
        commits = commits_since(
            config.repo_path, serving_commit, function_paths(config.repo_path, folder)
        )
    except SourceError as exc:
        return DriftReading(None, why=str(exc))
    drift = compute_drift([(c.sha, c.when) for c in commits], now, config.drift_max_age)
    return DriftReading(drift, tuple(commits))


RUNTIME_WINDOW = timedelta(hours=1)
"""How far back a headless verb reads the logs to judge the serving revisions."""


def judge_runtime(view: RevisionsView, tally: RuntimeTally) -> RevisionsView:
    """The verdicts with their serving revisions' logs: a Ready revision that keeps
    exiting is CRASHING, whatever Cloud Run's conditions say."""
    verdicts = [judge(v, tally.evidence(v), view.now) for v in view.verdicts]
    return replace(view, verdicts=tuple(worst_first(verdicts)), runtime_off="")


def read_runtime(sources: Sources, services: Sequence[str], now: datetime) -> RuntimeTally:
    """The watched services' logs of the last `RUNTIME_WINDOW`, tallied.

    Raises:
        SourceError: the source has no logs or they cannot be read.
    """
    if sources.logs is None:
        raise SourceError(f"{sources.description} has no logs")
    listed = sources.logs.fetch_log(now - RUNTIME_WINDOW, services, evidence_only=True)
    return window_tally(listed, now)


def window_tally(entries: Iterable[LogEntry], now: datetime) -> RuntimeTally:
    """`entries` of the last `RUNTIME_WINDOW`, tallied: the read covers the whole window,
    entries or not."""
    start = now - RUNTIME_WINDOW
    tally = RuntimeTally()
    tally.add(e for e in entries if start <= e.timestamp <= now)
    tally.start = start
    return tally


def gather_revisions(
    config: Config,
    sources: Sources,
    only: Sequence[str] | None = None,
    *,
    read_logs: bool = True,
) -> RevisionsView:
    """Verdicts for the configured services (or `only`), judged against the serving
    revisions' logs of the last hour unless `read_logs` is off (the dashboard judges
    them against its own log stream instead).

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
        commit = base.serving.commit_from(config.commit_from) if base.serving else None
        reading = service_drift(config, service.name, commit, now)
        if reading.why:
            notes[service.name] = reading.why
        drift = reading.drift
        verdicts.append(service_verdict(service, now, drift, base.rows) if drift else base)
    found = {s.name for s in services}
    view = RevisionsView(
        now=now,
        verdicts=tuple(worst_first(verdicts)),
        missing=tuple(n for n in names if n not in found),
        drift_notes=notes,
        drift_off=drift_off,
        runtime_off="not read",
        where=sources.where,
    )
    if not read_logs:
        return view
    try:
        return judge_runtime(view, read_runtime(sources, names, now))
    except SourceError as exc:
        return replace(view, runtime_off=str(exc))


def serving_behind(verdict: ServiceVerdict) -> bool:
    """The `orchwatch revisions` exit-1 rule: nothing serves, the serving revision is
    crash-looping, or it is older than the latest created one (which covers a failed
    latest revision)."""
    if verdict.crashing or verdict.serving is None or verdict.latest is None:
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
    unread: str = ""
    """What the read left out, when it stopped at its budget."""
    how: str = ""
    """Which path answered (the Logging API or Log Analytics) and what it covered."""


def gather_errors(
    config: Config,
    sources: Sources,
    since: timedelta,
    services: Sequence[str] | None = None,
) -> ErrorsView:
    """Group the tracebacks of the sources' logs since `since`.

    Raises:
        SourceError: the source has no logs or cannot be read.
        UnknownName: a service asked for is neither watched, nor in Cloud Run, nor in the
            logs read.
    """
    if sources.logs is None:
        raise SourceError("this source has no logs")
    start = sources.clock.now() - since
    search = sources.error_search
    found: ErrorLines | None = None
    if search is not None and since >= search.from_window:
        found = search.search_errors(start, services)
        seen = set(found.services)
    else:
        entries = sources.logs.fetch_log(start, services)
        seen = {e.service for e in entries if e.service}
    revisions: dict[str, list[Revision]] = {}
    unseen = sorted(set(services or ()) - seen - set(config.services))
    if sources.revisions is not None:
        for state in sources.revisions.fetch_services(sorted(seen | set(unseen))):
            revisions[state.name] = list(state.revisions)
    for name in unseen:  # neither watched, nor in Cloud Run, nor in the logs read
        if name not in revisions:
            raise UnknownName(no_such("service", name, config.services, "in the logs read"))
    if found is not None:
        groups = group_lines([found.lines], revisions, found.earliest)[0]
        return ErrorsView(tuple(groups), found.entries, 0, sources.description, how=found.how)
    groups = group_entries(entries, revisions)
    # Only a paged source has a budget, and says which path it read.
    unread = str(getattr(sources.logs, "unread", ""))
    how = str(getattr(sources.logs, "how", ""))
    return ErrorsView(tuple(groups), len(entries), 0, sources.description, unread, how)


def file_errors(
    reader: LogReader, source: str, services: Sequence[str] | None = None
) -> ErrorsView:
    """Group the tracebacks of a log file read once, batch by batch, in bounded memory;
    the records it skipped as malformed are counted once the read is done."""
    batches: Iterable[list[LogLine]] = reader
    seen: set[str] = set()
    if services:
        wanted = set(services)

        def kept(batch: list[LogLine]) -> list[LogLine]:
            seen.update(line[2][0] for line in batch)
            return [line for line in batch if line[2][0] in wanted]

        batches = (kept(batch) for batch in reader)
    groups, count = group_lines(batches)
    for name in sorted(set(services or ()) - seen):
        raise UnknownName(no_such("service", name, seen, f"in {source}"))
    return ErrorsView(tuple(groups), count, reader.skipped, source)


def _fetch(read: Callable[[], T]) -> Fetched[T]:
    """Run one source read; a failure becomes the reason the check is unknown."""
    try:
        return Fetched(read())
    except Exception as exc:  # any source failure is a state of its check, never a crash
        reason = str(exc) if isinstance(exc, SourceError) else f"{type(exc).__name__}: {exc}"
        return Fetched(None, reason)


@dataclass(frozen=True)
class DateReads:
    """One date's completions, the error groups from its start to now and the services'
    verdicts judged on those logs: what the walkthrough and explain both read."""

    status: Fetched[DateStatus]
    groups: Fetched[list[ErrorGroup]]
    verdicts: Fetched[list[ServiceVerdict]]
    logs_read: tuple[datetime, list[LogEntry]] | None
    """The logs read (from when, what), when they could be."""
    searched_from: datetime | None = None
    """The first entry of the window, when the groups were searched in the store
    (Log Analytics) instead of read entry by entry."""

    @property
    def logs_from(self) -> datetime | None:
        """The first log entry read (or searched), when any was."""
        if self.logs_read and self.logs_read[1]:
            return self.logs_read[1][0].timestamp
        return self.searched_from


def read_status(config: Config, sources: Sources, game_date: date, now: datetime) -> DateStatus:
    """One date's completions from both stores, reconciled.

    Raises:
        SourceError: the stores cannot be read.
    """
    data = sources.completions.fetch_completions([game_date])
    return reconcile_date(config, data.get(game_date, DateCompletions(game_date)), now)


def _logs_from(config: Config, game_date: date) -> datetime:
    """Where a date's logs are read from: an hour before the date begins."""
    return datetime.combine(game_date, time(0), tzinfo=config.timezone) - timedelta(hours=1)


def _date_reads(
    config: Config, sources: Sources, game_date: date, now: datetime, search: bool = False
) -> DateReads:
    """The date's reads. With `search`, a wide window's groups are searched in the store
    that can (Log Analytics) rather than read entry by entry: for a reader that needs the
    groups and how far back they reach, not the entries (the walkthrough)."""
    read: list[tuple[datetime, list[LogEntry]]] = []
    """The error groups' read (from when, what), when it succeeded; it runs first."""
    searched: list[datetime | None] = []

    def groups() -> list[ErrorGroup]:
        if sources.logs is None:
            raise SourceError("this source has no logs")
        since = _logs_from(config, game_date)
        store = sources.error_search
        if search and store is not None and now - since >= store.from_window:
            found = store.search_errors(since, None)
            searched.append(found.earliest)
            return group_lines([found.lines], None, found.earliest)[0]
        entries = sources.logs.fetch_log(since, None)
        read.append((since, entries))
        return group_entries(entries)

    def verdicts() -> list[ServiceVerdict]:
        # The groups' read starts before the date and runs to now, so when it covers
        # the crash-loop window the verdicts are judged on it rather than listed again.
        if not read or read[0][0] > now - RUNTIME_WINDOW:
            return list(gather_revisions(config, sources).verdicts)
        view = gather_revisions(config, sources, read_logs=False)
        return list(judge_runtime(view, window_tally(read[0][1], view.now)).verdicts)

    status = _fetch(lambda: read_status(config, sources, game_date, now))
    error_groups = _fetch(groups)
    return DateReads(
        status,
        error_groups,
        _fetch(verdicts),
        read[0] if read else None,
        searched[0] if searched else None,
    )


def package_reads(
    config: Config, services: Sequence[str], verdicts: Sequence[ServiceVerdict], now: datetime
) -> tuple[dict[str, Fetched[Package]], dict[str, Fetched[Deployed]]]:
    """Each service's function package as the validator sees it, and the commits to it
    since its serving revision's commit: the last links of an explain chain."""
    packages: dict[str, Fetched[Package]] = {}
    deployed: dict[str, Fetched[Deployed]] = {}
    by_name = {v.service: v for v in verdicts}
    for service in services:
        folder = config.function_folder(service)
        repo = config.repo_path
        if repo is None or folder is None:
            why = "no repo configured ([repo] path)" if repo is None else "no function folder"
            packages[service], deployed[service] = Fetched(None, why), Fetched(None, why)
            continue

        def validated(name: str = folder.name, root: Path = repo) -> Package:
            from orchwatch.validate.summary import validate

            report = validate(config.validate, root, only=name).report
            return Package(name, report.findings)

        packages[service] = _fetch(validated)
        verdict = by_name.get(service)
        commit = (
            verdict.serving.commit_from(config.commit_from)
            if verdict is not None and verdict.serving is not None
            else None
        )
        reading = service_drift(config, service, commit, now)
        deployed[service] = (
            Fetched(None, reading.why)
            if reading.why or not commit
            else Fetched(Deployed(commit, reading.commits))
        )
    return packages, deployed


def explain_inputs(
    config: Config,
    game_date: date,
    now: datetime,
    reads: DateReads,
    rollbacks: dict[str, RollbackChoice],
    sources: Sources | None = None,
) -> ExplainInputs:
    """What the panes or the sources gave, with the packages and the commits read (the
    validator, git) and, given the sources, the date's Pub/Sub hops: an explain chain's
    inputs, for `orchwatch explain` and `x` alike."""
    verdicts = reads.verdicts.value or []
    hops: Fetched[list[Hop]] | None = None
    if sources is not None and sources.pubsub is not None:
        hops = _hops(config, sources, game_date, now)
    packages, deployed = package_reads(config, config.services, verdicts, now)
    return ExplainInputs(
        game_date=game_date,
        now=now,
        status=reads.status,
        verdicts=reads.verdicts,
        groups=reads.groups,
        orchestrators={p.name: p.orchestrator for p in config.phases if p.orchestrator},
        packages=packages,
        deployed=deployed,
        rollbacks=rollbacks,
        hops=hops,
    )


def gather_explain(config: Config, sources: Sources, game_date: date) -> ExplainInputs:
    """Read what an explain chain for `game_date` needs; each read may fail alone."""
    sources.advance()
    now = sources.clock.now()
    reads = _date_reads(config, sources, game_date, now, search=True)
    rollbacks = {}
    tally: RuntimeTally | None = None
    if reads.logs_read is not None:
        tally = RuntimeTally()
        tally.add(reads.logs_read[1])
        tally.start = reads.logs_read[0]  # the read covers its whole window, entries or not
    elif reads.searched_from is not None and sources.logs is not None:
        # The groups were searched (Log Analytics): a rollback's evidence is the window's
        # exits, which the evidence-only read lists without the rest.
        logs, since = sources.logs, _logs_from(config, game_date)
        evidence = _fetch(lambda: logs.fetch_log(since, None, evidence_only=True))
        if evidence.value is not None:
            tally = RuntimeTally()
            tally.add(evidence.value)
            capped = bool(getattr(logs, "unread", ""))
            tally.start = evidence.value[0].timestamp if capped and evidence.value else since
    if tally is not None:
        rollbacks = {v.service: rollback_choice(v, tally) for v in reads.verdicts.value or ()}
    return explain_inputs(config, game_date, now, reads, rollbacks, sources)


def gather_timeline(
    config: Config, sources: Sources, game_date: date, audit: Path | None = None
) -> TimelineInputs:
    """Read what the timeline of `game_date` needs; each read may fail alone. `audit`:
    the actions audit log whose runs are events too."""
    from orchwatch.actions.audit import read_audit, recorded_at

    sources.advance()
    now = sources.clock.now()
    reads = _date_reads(config, sources, game_date, now)
    actions: list[Action] = []
    if audit is not None:
        entries, _ = read_audit(audit)
        for entry in entries:
            started = entry.started
            at = recorded_at(started.get("time", ""))
            if at is None or at > now:
                continue  # no time, no place on the axis; after `now`, not yet (--as-of)
            who = f"{started.get('user', '?')}@{started.get('host', '?')}"
            service = str(started.get("service", "") or "")
            ended = recorded_at((entry.finished or {}).get("time", ""))
            outcome = "running" if ended is not None and ended > now else entry.outcome
            actions.append(Action(at, who, str(started.get("action", "")), service, outcome))
    hops = _hops(config, sources, game_date, now) if sources.pubsub is not None else None
    return TimelineInputs(game_date, now, reads.status, reads.verdicts, reads.groups, actions, hops)


def gather_daily(
    config: Config,
    sources: Sources,
    game_date: date,
    validation: Callable[[], tuple[int, int, list[str]]] | None = None,
) -> DailyInputs:
    """Read everything the morning checklist needs for one date; each read may fail alone.

    Args:
        config: the configuration (phases, orchestrators, custom checks, repo).
        sources: where to read.
        game_date: the business date to check.
        validation: runs the package validator; default: on `[repo] path` when set.
    """
    sources.advance()
    now = sources.clock.now()
    completions = sources.completions
    reads = _date_reads(config, sources, game_date, now, search=True)

    if validation is None and config.repo_path is not None:
        repo = config.repo_path

        def validation() -> tuple[int, int, list[str]]:
            from orchwatch.validate.summary import validate

            done = validate(config.validate, repo)
            return done.errors, done.warnings, list(done.failing)

    validated: Fetched[tuple[int, int, list[str]]] = (
        _fetch(validation) if validation is not None else Fetched(None, NO_REPO)
    )
    custom = []
    for check in config.daily_checks:

        def run(query: str = check.sql) -> float | None:
            return completions.scalar_query(query, game_date)

        result = _fetch(run)
        custom.append(
            CustomCheckResult(
                check.name,
                check.expect,
                result.value,
                result.error or ("" if result.value is not None else "no rows"),
                check.phase,
                check,
            )
        )
    platform = read_platform(config, sources, [game_date])
    builds: Fetched[list[TriggerLag]] | None = None
    if platform.builds is not None:
        triggers = platform.builds
        builds = (
            Fetched([trigger_lag(t, config.repo_path) for t in triggers.value])
            if triggers.value is not None
            else Fetched(None, triggers.error)
        )
    games: Fetched[float | None] | None = None
    calendar = config.game_day_sql
    if calendar is not None:
        games = _fetch(lambda: completions.scalar_query(calendar, game_date))
    return DailyInputs(
        game_date=game_date,
        now=now,
        completions=reads.status,
        execution_log=_fetch(lambda: completions.fetch_execution_log(game_date)),
        failed_queue=_fetch(lambda: completions.fetch_failed_queue(game_date)),
        services=reads.verdicts,
        error_groups=reads.groups,
        logs_cover_from=reads.logs_from,
        validation=validated,
        custom=custom,
        orchestrators=[p.orchestrator for p in config.phases if p.orchestrator],
        words=config.daily_words,
        tiers=config.daily_tiers,
        export_specs=config.daily_exports,
        exports=platform.exports,
        where=sources.where,
        hops=_hops(config, sources, game_date, now) if sources.pubsub is not None else None,
        games=games,
        invokers=platform.invokers,
        scheduler=platform.scheduler,
        builds=builds,
        region=config.gcp_region if sources.kind == "gcp" else "",
    )


@dataclass(frozen=True)
class PlatformReads:
    """What the walkthrough reads of the project beyond the pipeline's records, each
    read on its own (None: the source holds no such thing)."""

    scheduler: Fetched[list[SchedulerJob]] | None
    invokers: Fetched[dict[str, frozenset[str]]] | None
    """The `roles/run.invoker` members of `invoker_targets`."""
    builds: Fetched[list[BuildTrigger]] | None
    exports: Fetched[list[StoredObject]] | None
    asked: list[tuple[str, str]]
    """The exports asked for (bucket, object): those of the dates read."""


def read_platform(config: Config, sources: Sources, dates: Sequence[date]) -> PlatformReads:
    """Cloud Scheduler's jobs, the invoker policies of the services that are pushed to or
    called by a job, Cloud Build's triggers and the exports of `dates`: what the
    walkthrough judges, and what the recorder records, read the same way by both."""
    scheduler = _fetch(sources.scheduler.fetch_jobs) if sources.scheduler is not None else None
    invokers = None
    if sources.invokers is not None:
        iam, targets = sources.invokers, invoker_targets(config, sources, scheduler)
        invokers = _fetch(lambda: iam.fetch_invokers(targets))
    builds = _fetch(sources.builds.fetch_triggers) if sources.builds is not None else None
    asked = export_names(config, dates)
    exports = None
    if sources.exports is not None and asked:
        shelf = sources.exports
        exports = _fetch(lambda: shelf.fetch_objects(asked))
    return PlatformReads(scheduler, invokers, builds, exports, asked)


def export_names(config: Config, dates: Sequence[date]) -> list[tuple[str, str]]:
    """The (bucket, object) of every configured export for each of `dates`, once each."""
    names = [(e.bucket, e.object_name(day)) for day in dates for e in config.daily_exports]
    return list(dict.fromkeys(names))


def invoker_targets(
    config: Config, sources: Sources, scheduler: Fetched[list[SchedulerJob]] | None
) -> list[str]:
    """The services whose invoker policies the walkthrough judges: the orchestrators the
    pushes deliver to (where there is Pub/Sub) and the services Cloud Scheduler's enabled
    jobs call."""
    names = [p.orchestrator for p in config.phases if p.orchestrator] if sources.pubsub else []
    jobs = scheduler.value if scheduler is not None else None
    for service in scheduler_targets(jobs or []).values():
        if service not in names:
            names.append(service)
    return names


BRANCH_PATTERN = re.compile(r"\^?([\w./-]+)\$?")
"""A trigger's branch pattern that names one branch (`^main$`, `main`)."""


def trigger_lag(trigger: BuildTrigger, repo: Path | None) -> TriggerLag:
    """A trigger with what its branch holds, in the repository, that its newest build did
    not build (only a green build is compared: a failed one is judged as such)."""
    build = trigger.last_build
    if trigger.disabled or build is None or build.status != "SUCCESS":
        return TriggerLag(trigger)
    if repo is None:
        return TriggerLag(trigger, error=NO_REPO)
    named = BRANCH_PATTERN.fullmatch(trigger.branch)
    if named is None:
        why = (
            f"it builds branches matching {trigger.branch}: no one branch to compare with"
            if trigger.branch
            else "it is not started by a branch push"
        )
        return TriggerLag(trigger, error=why)
    if not build.commit:
        return TriggerLag(trigger, error=f"its newest build ({build.id}) names no commit")
    paths = [f":(glob){g}" for g in trigger.included_files]
    paths += [f":(glob,exclude){g}" for g in trigger.ignored_files]
    try:
        ref = branch_ref(repo, named.group(1))
        behind = commits_since(repo, build.commit, paths, to=ref)
    except SourceError as exc:
        return TriggerLag(trigger, error=str(exc))
    return TriggerLag(trigger, ref, tuple(behind))


@dataclass(frozen=True)
class PubSubView:
    """One date's Pub/Sub hops, and its completions (what a replay would bring back)."""

    game_date: date
    now: datetime
    window: tuple[datetime, datetime] | None
    """The moments read (None: the date has not begun)."""
    hops: Fetched[list[Hop]]
    status: Fetched[DateStatus]
    cannot_publish: str = ""
    """Why this source cannot replay ("" when it can)."""
    read_until: datetime | None = None
    """Where the reading ends when it ends before the window: a recorded moment between
    two readings shows the one taken before it (Pub/Sub is recorded once a minute)."""

    def hop(self, phase: str) -> Hop | None:
        """The phase's hop, when it was read."""
        return next((h for h in self.hops.value or () if h.phase == phase), None)


RECENT = timedelta(minutes=15)
"""How far back "does the orchestrator refuse now?" looks, for a date that has ended."""


def gather_pubsub(
    config: Config, sources: Sources, game_date: date, *, now_too: bool = False
) -> PubSubView:
    """Read the date's Pub/Sub hops and completions; each read may fail alone. With
    `now_too` (a replay's preview), whether each orchestrator refuses its pushes now is
    read from the last minutes even when the date ended earlier."""
    sources.advance()
    now = sources.clock.now()
    span = pubsub_window(game_date, config.timezone, now)

    read_until: list[datetime] = []

    def hops() -> list[Hop]:
        judged = read_hops(config, sources, game_date, span, read_until.append)
        ended = span is not None and span[1] < now - RECENT / 3
        if now_too and ended and sources.pubsub is not None:
            try:
                latest = sources.pubsub.read_pubsub(topics_of(config), now - RECENT, now)
            except SourceError:
                return judged  # the date's own reading stands (a snapshot holds no other)
            recent = {h.phase: h.refusing_now for h in judge_hops(config, latest)}
            judged = [replace(h, refusing_now=recent.get(h.phase, False)) for h in judged]
        return judged

    cannot = (
        "this source has no Pub/Sub to publish to"
        if sources.pubsub is None
        else "a snapshot cannot publish: open the pipeline's project to replay"
        if sources.kind == "file"
        else ""
    )
    return PubSubView(
        game_date,
        now,
        span,
        _fetch(hops),
        _fetch(lambda: read_status(config, sources, game_date, now)),
        cannot,
        read_until[0] if read_until and span and read_until[0] < span[1] else None,
    )


def read_hops(
    config: Config,
    sources: Sources,
    game_date: date,
    span: tuple[datetime, datetime] | None,
    until: Callable[[datetime], None] = lambda at: None,
) -> list[Hop]:
    """The date's hops over `span`, judged.

    Raises:
        SourceError: Pub/Sub cannot be read (the source's own error, with its how-to).
    """
    if sources.pubsub is None:
        raise SourceError("this source has no Pub/Sub (a snapshot holds none)")
    if span is None:
        raise SourceError(f"{game_date} has not begun: there is no traffic to read yet")
    reading = sources.pubsub.read_pubsub(topics_of(config), *span)
    until(reading.until)
    return judge_hops(config, reading)


def _hops(config: Config, sources: Sources, game_date: date, now: datetime) -> Fetched[list[Hop]]:
    span = pubsub_window(game_date, config.timezone, now)
    return _fetch(lambda: read_hops(config, sources, game_date, span))
