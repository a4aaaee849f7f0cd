"""Build the `Sources` a command reads from, from the shared source options."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from orchwatch.clock import AcceleratedClock, Clock, FrozenClock, SystemClock
from orchwatch.config import Config
from orchwatch.model import LogEntry
from orchwatch.sources.base import (
    ErrorLines,
    ErrorSearch,
    LogBatch,
    LogSource,
    SourceError,
    Sources,
)
from orchwatch.sources.demo import (
    DEMO_START,
    FIRST_DATE,
    REPLAY_SPAN,
    DemoActions,
    DemoBuilds,
    DemoExports,
    DemoInvokers,
    DemoPubSub,
    DemoScheduler,
    build_demo,
)
from orchwatch.sources.history import Recording
from orchwatch.sources.keyed import keyed
from orchwatch.sources.local import LocalStore
from orchwatch.sources.recorded import rewind
from orchwatch.sources.stored_pubsub import StoredPubSub


@dataclass(frozen=True)
class SourceOptions:
    """The source options every command shares: `--demo`, `--source PATH`, `--project P`."""

    demo: bool = False
    store_path: Path | None = None
    project: str | None = None


def demo_cache_dir() -> Path:
    """Where the demo keeps its built scenario (`$ORCHWATCH_CACHE_DIR` overrides)."""
    override = os.environ.get("ORCHWATCH_CACHE_DIR")
    if override:
        return Path(override) / "demo"
    import platformdirs

    return Path(platformdirs.user_cache_dir("orchwatch")) / "demo"


class LogsAsOf:
    """A log source read as of its clock's moment (`--as-of`): no entry after the moment is
    read (a snapshot or Google Cloud hold later ones), and its stream says "replay", not
    "live": nothing new will arrive."""

    def __init__(self, inner: LogSource, clock: Clock) -> None:
        self.inner = inner
        self.clock = clock

    def read_log(self, cursor: int | None, limit: int) -> LogBatch:
        """The inner batch, less what came after the moment."""
        batch = self.inner.read_log(cursor, limit)
        return replace(batch, entries=self._until_now(batch.entries), health="replay")

    def fetch_log(
        self, since: datetime, services: Sequence[str] | None, evidence_only: bool = False
    ) -> list[LogEntry]:
        """The inner read, less what came after the moment."""
        return self._until_now(self.inner.fetch_log(since, services, evidence_only))

    def _until_now(self, entries: list[LogEntry]) -> list[LogEntry]:
        now = self.clock.now()
        return [e for e in entries if e.timestamp <= now]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # health, unread, notices: the inner source's


class SearchAsOf:
    """An error search cut at its clock's moment (`--as-of`)."""

    def __init__(self, inner: ErrorSearch, clock: Clock) -> None:
        self.inner = inner
        self.clock = clock

    @property
    def from_window(self) -> timedelta:
        """The inner search's."""
        return self.inner.from_window

    def search_errors(
        self, since: datetime, services: Sequence[str] | None, until: datetime | None = None
    ) -> ErrorLines:
        """The inner search, to the moment at the latest."""
        now = self.clock.now()
        return self.inner.search_errors(since, services, min(until or now, now))


def read_as_of(sources: Sources) -> Sources:
    """`sources`, built on the frozen clock of `--as-of`, read as of its moment: one clock
    for every source (the demo replays to it; a snapshot or Google Cloud is cut at it)."""
    if sources.logs is None:
        return sources
    search = sources.error_search
    return replace(
        sources,
        logs=LogsAsOf(sources.logs, sources.clock),
        error_search=SearchAsOf(search, sources.clock) if search is not None else None,
    )


def _held_dates(meta: str | None) -> tuple[date, date] | None:
    """The first and last date a snapshot captured (its `dates` meta), if it says."""
    try:
        days = sorted(date.fromisoformat(d) for d in (meta or "").split(",") if d)
    except ValueError:
        return None
    return (days[0], days[-1]) if days else None


def build_sources(options: SourceOptions, config: Config, clock: Clock | None = None) -> Sources:
    """The sources the options ask for, their completions read by game date as each phase
    is keyed (`[[phases]] keyed_by`: a phase keyed by its processing date is read from the
    store's next day).

    Raises:
        SourceError: the options name nothing usable; the message says what to pass.
    """
    sources = _build_sources(options, config, clock)
    return replace(sources, completions=keyed(sources.completions, config.phases))


def _build_sources(options: SourceOptions, config: Config, clock: Clock | None) -> Sources:
    if options.demo:
        if clock is not None and not REPLAY_SPAN[0] <= clock.now() <= REPLAY_SPAN[1]:
            first, last = (f"{moment:%Y-%m-%dT%H:%M}Z" for moment in REPLAY_SPAN)
            raise SourceError(
                f"--as-of {clock.now():%Y-%m-%dT%H:%M%z}: the demo covers {first} to {last}; "
                "pick a moment inside it"
            )
        demo_clock = clock or AcceleratedClock(DEMO_START, config.demo_speed)
        store, simulator = build_demo(config, demo_clock, cache_dir=demo_cache_dir())
        speed = getattr(demo_clock, "speed", None)
        live = f"live, ×{speed:g}" if speed else "frozen"
        return Sources(
            kind="demo",
            description=f"demo ({live})",
            clock=demo_clock,
            completions=store,
            revisions=store,
            logs=store,
            where="the demo's Cloud Run",
            live=simulator,
            pubsub=DemoPubSub(store, config, simulator.deliver, demo_clock.now),
            invokers=DemoInvokers(config.services),
            scheduler=DemoScheduler(demo_clock.now),
            builds=DemoBuilds(config.extra_services, store.fetch_services),
            exports=DemoExports(
                store,
                config.daily_exports,
                config.phases[-1],
                demo_clock.now,
            )
            if config.daily_exports
            else None,
            actions=DemoActions(simulator.spool),
            dates=(FIRST_DATE, REPLAY_SPAN[1].date()),
            closers=[store],
        )
    if options.store_path is not None and Recording.is_recording(options.store_path):
        return rewind(options.store_path, clock.now() if clock is not None else None)
    if options.store_path is not None:
        store = LocalStore(options.store_path, create=False)
        captured = store.get_meta("captured_at")
        if clock is None and captured:
            # A snapshot is judged as of its capture: "yesterday", ages and --since
            # mean what they meant when it was taken.
            try:
                clock = FrozenClock(datetime.fromisoformat(captured))
            except ValueError:
                raise SourceError(
                    f"{options.store_path}: its captured_at ({captured[:40]!r}) is not a time"
                ) from None
        description = f"{options.store_path}" + (
            f" (captured {captured[:16]}Z)" if captured else ""
        )
        held = _held_dates(store.get_meta("dates"))
        return Sources(
            kind="file",
            description=description,
            where=f"the snapshot {options.store_path}",
            clock=clock or SystemClock(),
            completions=store,
            revisions=store,
            logs=store,
            pubsub=StoredPubSub(store) if StoredPubSub.held_by(store) else None,
            dates=held,
            closers=[store],
        )
    from orchwatch.sources.gcp import build_gcp_sources, resolve_project

    project = resolve_project(options.project, config)
    if project:
        return build_gcp_sources(config, project, clock)
    raise SourceError(
        "no data source: pass --project PROJECT (or set [gcp] project in orchwatch.toml, or "
        "GOOGLE_CLOUD_PROJECT), --source FILE for a snapshot, or --demo"
    )
