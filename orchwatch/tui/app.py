"""The orchwatch App: composes the panes, runs the source workers, routes keys.

Each pane has a worker group. A worker reads its source off the UI thread and
posts a typed message; the handler renders it and schedules the next refresh
(so fetches never overlap). A failed worker turns its pane's border red with
the error and the age of the last good data; the other panes keep working.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from orchwatch.actions.audit import AuditLog, default_audit_path, read_audit
from orchwatch.actions.runner import ActionGuard, ActionRun, RunResult
from orchwatch.analysis.completion import business_date, date_range, reconcile_dates
from orchwatch.analysis.daily import Target
from orchwatch.analysis.tracebacks import Grouper, Reassembler, fingerprint
from orchwatch.config import Config
from orchwatch.gather import RevisionsView, gather_revisions
from orchwatch.glyphs import STATE_COLOUR, STATE_GLYPH
from orchwatch.model import DateCompletions, ErrorGroup, FailedQueueItem, LogEntry, Revision
from orchwatch.sanitize import inert_line
from orchwatch.sources.base import LogBatch, SourceError, Sources
from orchwatch.tui.screens.confirm_deploy import DeployPreview
from orchwatch.tui.styles import semantic_style
from orchwatch.tui.widgets.actions import ActionsPane, validation_lines
from orchwatch.tui.widgets.completion_grid import CompletionGrid
from orchwatch.tui.widgets.logs import ErrorGroupTable, LogPane
from orchwatch.tui.widgets.overview import OverviewStrip
from orchwatch.tui.widgets.revisions import ServiceTable
from orchwatch.tui.widgets.status_bar import StatusBar


def retry_delay(base: float, failures: int, cap: float = 300.0) -> float:
    """Seconds before the next try after `failures` failed refreshes in a row: the refresh
    interval, doubled for each further failure, at most `cap` (and never below `base`)."""
    return max(base, min(base * 2 ** max(failures - 1, 0), cap))


def format_age(seconds: float) -> str:
    """`42 s`, `7 min`, `3 h`."""
    if seconds < 120:
        return f"{int(seconds)} s"
    if seconds < 7200:
        return f"{int(seconds // 60)} min"
    return f"{int(seconds // 3600)} h"


@dataclass(frozen=True)
class CompletionFetch:
    """What one completion refresh read."""

    now: datetime
    completions: dict[date, DateCompletions]
    queue: list[FailedQueueItem]
    queue_date: date


class CompletionsLoaded(Message):
    """A completion refresh finished."""

    def __init__(self, fetch: CompletionFetch) -> None:
        self.fetch = fetch
        super().__init__()


class LogsLoaded(Message):
    """A log poll finished: new tail lines and the regrouped errors."""

    def __init__(
        self,
        entries: list[LogEntry],
        groups: list[ErrorGroup],
        links: dict[str, str],
        batch: LogBatch,
        now: datetime,
    ) -> None:
        self.entries = entries
        self.groups = groups
        self.links = links
        self.batch = batch
        self.now = now
        super().__init__()


class ValidationFailed(Message):
    """The validator could not run (no function in the repo, an unreadable repo...)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__()


class ValidationDone(Message):
    """The validator (and the extra validation commands) finished."""

    def __init__(
        self, report: object, lines: list[str], failing: int, errors: int, extra: list[RunResult]
    ) -> None:
        self.report = report
        self.lines = lines
        self.failing = failing
        self.errors = errors
        self.extra = extra
        super().__init__()


class DeployPreviewReady(Message):
    """The deploy preview is ready for confirmation."""

    def __init__(self, preview: DeployPreview) -> None:
        self.preview = preview
        super().__init__()


class DeployDone(Message):
    """A deploy command ended."""

    def __init__(self, service: str, result: RunResult) -> None:
        self.service = service
        self.result = result
        super().__init__()


class RevisionsLoaded(Message):
    """A revisions refresh finished."""

    def __init__(self, view: RevisionsView) -> None:
        self.view = view
        super().__init__()


@dataclass
class PaneState:
    """Book-keeping of one pane's refresh cycle."""

    selector: str
    label: str
    loaded_at: float | None = None
    timer: Timer | None = None
    failing: bool = False
    failures: int = 0
    """Consecutive failed refreshes: the retry interval doubles with each (see `retry_delay`)."""


class OrchwatchApp(App[None]):
    """The dashboard."""

    CSS_PATH = "app.tcss"
    TITLE = "orchwatch"

    BINDINGS = [
        Binding("p", "previous_date", "Prev date", id="date.previous"),
        Binding("n", "next_date", "Next date", id="date.next"),
        Binding("t", "today", "Today", id="date.today"),
        Binding("g", "goto_date", "Go to date", id="date.goto"),
        Binding("r", "refresh", "Refresh", id="data.refresh"),
        Binding("w", "walkthrough", "Walkthrough", id="app.walkthrough"),
        Binding(
            "v",
            "validate",
            "Validate",
            id="actions.validate",
            tooltip="Run the package validator (off unless --allow-actions or [actions] enabled)",
        ),
        Binding(
            "d",
            "deploy",
            "Deploy",
            id="actions.deploy",
            tooltip="Redeploy the selected service (off unless actions are on)",
        ),
        Binding("c", "cancel_action", "Cancel run", show=False, id="actions.cancel"),
        Binding("a", "audit", "Audit log", show=False, id="actions.audit"),
        Binding("1", "focus_completions", "Completions pane", show=False, id="pane.completions"),
        Binding("2", "focus_revisions", "Revisions pane", show=False, id="pane.revisions"),
        Binding("3", "focus_logs", "Logs pane", show=False, id="pane.logs"),
        Binding("question_mark", "help", "Help", key_display="?", id="app.help"),
        Binding("ctrl+t", "change_theme", "Theme", show=False, id="app.theme"),
        Binding("q", "quit", "Quit", id="app.quit"),
    ]

    selected_date: reactive[date | None] = reactive(None)

    def __init__(
        self,
        config: Config,
        sources: Sources,
        *,
        refresh_seconds: float | None = None,
        log_poll_seconds: float = 1.0,
        wall: Callable[[], float] = time.monotonic,
        initial_date: date | None = None,
        exit_after_first_data: bool = False,
        allow_actions: bool = False,
        audit_path: Path | None = None,
    ) -> None:
        """Build the app around already-built sources (tests pass a local store).

        Args:
            config: the validated configuration.
            sources: where every pane reads from.
            refresh_seconds: poll interval (default: the config's).
            log_poll_seconds: how often the log tail polls its source.
            wall: a monotonic clock for data ages; tests freeze it.
            initial_date: the date to open on (default: today in the pipeline's zone).
            exit_after_first_data: exit once the first data is on screen (benchmarks).
            allow_actions: enable the one-key actions even if the config does not.
            audit_path: where actions are recorded (default: the user data dir).
        """
        super().__init__()
        self.config = config
        self.sources = sources
        self.refresh_seconds = refresh_seconds or config.refresh_seconds
        self._wall = wall
        self._initial_date = initial_date
        self._exit_after_first_data = exit_after_first_data
        self._completions: dict[date, DateCompletions] = {}
        self._queue: tuple[date, list[FailedQueueItem]] | None = None
        self._now: datetime | None = None
        self._revisions: RevisionsView | None = None
        self._panes = {
            "completions": PaneState("#completions", "completions"),
            "revisions": PaneState("#revisions", "revisions"),
            "logs": PaneState("#logs", "logs"),
        }
        self.log_poll_seconds = log_poll_seconds
        self._log_health = ""
        self.actions_enabled = allow_actions or config.actions_enabled
        self.audit = AuditLog(audit_path or default_audit_path())
        self.guard = ActionGuard()
        self._current_run: ActionRun | None = None
        self._current_run_id: str | None = None
        self._quit_when_done = False
        self._watching: dict[str, str] = {}
        self.announcements: list[str] = []
        """What orchwatch announced about deploys' new revisions, newest last."""
        """Deployed services -> their latest revision before the deploy."""
        self._drain_timer: Timer | None = None
        self._log_cursor: int | None = None
        self._log_lock = threading.Lock()  # the reassembler is fed by one worker at a time
        self._reassembler = Reassembler()
        self._grouper = Grouper()
        self._log_start: datetime | None = None
        self._told: set[str] = set()
        """How-tos already shown (each is shown once)."""

    @property
    def main(self) -> Screen[object]:
        """The dashboard screen. `App.query_one` searches the active screen, which is a
        modal while a detail view is open; refreshes must still find the panes."""
        return self.screen_stack[0]

    # --- layout --------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Vertical(id="completions", classes="pane"):
            yield OverviewStrip(id="overview")
            yield CompletionGrid(id="grid")
            yield Static(self._legend(), id="legend")
        with Horizontal(id="lower"):
            with Vertical(id="revisions", classes="pane"):
                yield ServiceTable(id="services")
            yield LogPane(self.config.log_capacity, self.config.timezone, id="logs")
            yield ActionsPane(id="actions")
        yield Footer()

    def _legend(self) -> Text:
        parts: list[Text | str] = []
        for state, glyph in STATE_GLYPH.items():
            style = semantic_style(self, STATE_COLOUR[state], bold=True)
            parts += [Text(glyph, style=style), f" {state.value}  "]
        return Text.assemble(*parts)

    def on_mount(self) -> None:
        if self.config.theme in self.available_themes:
            self.theme = self.config.theme
        status = self.main.query_one(StatusBar)
        status.pipeline = self.config.pipeline_name
        status.source = self.sources.description
        self.main.query_one("#completions").border_title = "Completions"
        self.main.query_one("#revisions").border_title = "Cloud Run revisions"
        self.selected_date = self._initial_date or business_date(
            self.sources.clock.now(), self.config.timezone
        )
        self.set_interval(1.0, self._tick_status)
        self.theme_changed_signal.subscribe(self, self._on_theme_changed)
        self.main.query_one(CompletionGrid).focus()
        self.refresh_pane("completions")  # the other panes start once it has painted
        self._report_unfinished_runs()

    def _report_unfinished_runs(self) -> None:
        """Runs an earlier orchwatch started and never saw end (it was killed): say whether
        their process group still runs, from the audit log."""
        try:
            entries, _ = read_audit(self.audit.path)
        except OSError:
            return
        for entry in entries[-50:]:
            if entry.finished is not None or entry.pgid is None:
                continue
            what = f"{entry.started.get('action')} {entry.started.get('service', '')}".strip()
            when = str(entry.started.get("time", ""))[:16].replace("T", " ")
            self.notify(
                f"A {what} started at {when} UTC by an earlier orchwatch: {entry.outcome}. "
                "The audit log (a) has it.",
                title="Unfinished run",
                severity="warning" if "still running" in entry.outcome else "information",
                timeout=20,
                markup=False,
            )

    def _on_theme_changed(self, _theme: object) -> None:
        self.main.query_one("#legend", Static).update(self._legend())
        self._render_completions()  # cell texts carry theme colours, so they all change
        self._render_revisions()

    def _tick_status(self) -> None:
        self.update_status()

    def update_status(self) -> None:
        """The status bar's age is the oldest of the panes' last successful reads (never of
        a mere attempt), and a pane whose data is older than three of its intervals is
        called stale even when no error came back (a read that hangs)."""
        now = self._wall()
        loaded = [p.loaded_at for p in self._panes.values() if p.loaded_at is not None]
        if loaded:
            self.main.query_one(StatusBar).age = now - min(loaded)
        self._show_problems()

    # --- the refresh cycle, shared by every pane ----------------------------------------------

    @property
    def panes_ready(self) -> bool:
        """Whether every pane has answered once (with data or an error)."""
        return all(p.loaded_at is not None or p.failing for p in self._panes.values())

    def refresh_pane(self, group: str) -> None:
        """Start a pane's refresh now (its scheduled one is superseded)."""
        pane = self._panes[group]
        if pane.timer is not None:
            pane.timer.stop()
            pane.timer = None
        if group == "completions":
            self._fetch_completions(self._wanted_dates(), self.selected_date)
        elif group == "revisions":
            self._fetch_revisions()
        elif group == "logs":
            self._fetch_logs(self._log_cursor, self._revisions_by_service())

    def _pane_loaded(self, group: str) -> None:
        pane = self._panes[group]
        pane.loaded_at = self._wall()
        pane.failing = False
        pane.failures = 0
        widget = self.main.query_one(pane.selector)
        widget.border_subtitle = ""
        widget.remove_class("-error")
        self._show_problems()
        interval = self.log_poll_seconds if group == "logs" else self.refresh_seconds
        pane.timer = self.set_timer(interval, lambda: self.refresh_pane(group))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Turn a failed fetch into a visible pane state; the last good data stays on screen."""
        group = event.worker.group
        if event.state is not WorkerState.ERROR or group not in self._panes:
            return
        pane = self._panes[group]
        error = event.worker.error
        widget = self.main.query_one(pane.selector)
        widget.add_class("-error")
        pane.failures += 1
        delay = retry_delay(self.refresh_seconds, pane.failures)
        age = (
            f" · showing data from {format_age(self._wall() - pane.loaded_at)} ago"
            if pane.loaded_at is not None
            else ""
        )
        what = str(error) if isinstance(error, SourceError) else f"{type(error).__name__}: {error}"
        widget.border_subtitle = inert_line(f"⚠ {what}{age} · retrying in {delay:g} s", 400)
        how_to = getattr(error, "how_to", None)
        if isinstance(how_to, str) and how_to not in self._told:
            self._told.add(how_to)
            self.notify(how_to, title="No credentials", severity="error", timeout=60, markup=False)
        pane.failing = True
        self._show_problems()
        if group == "completions":  # one failing source never holds the others back
            self._start_once("revisions")
        if group == "revisions":
            self._start_logs_once()
        pane.timer = self.set_timer(delay, lambda: self.refresh_pane(group))

    def _show_problems(self) -> None:
        now = self._wall()
        problems = []
        failing = [p.label for p in self._panes.values() if p.failing]
        if failing:
            problems.append(f"{', '.join(failing)} unavailable")
        for name, pane in self._panes.items():
            interval = self.log_poll_seconds if name == "logs" else self.refresh_seconds
            limit = max(3 * interval, 30.0)
            if not pane.failing and pane.loaded_at is not None and now - pane.loaded_at > limit:
                problems.append(f"{pane.label} stale ({format_age(now - pane.loaded_at)})")
        if self._log_health == "reconnecting":
            problems.append("log stream reconnecting")
        self.main.query_one(StatusBar).problem = " · ".join(problems)

    # --- completions ---------------------------------------------------------------------------

    def _wanted_dates(self) -> list[date]:
        today = business_date(self.sources.clock.now(), self.config.timezone)
        dates = date_range(today, self.config.overview_days)
        if self.selected_date is not None and self.selected_date not in dates:
            dates.append(self.selected_date)
        return dates

    @work(thread=True, exclusive=True, group="completions", exit_on_error=False)
    def _fetch_completions(self, dates: list[date], queue_date: date | None) -> None:
        self.sources.advance()
        source = self.sources.completions
        completions = source.fetch_completions(dates)
        day = queue_date or dates[-1]
        queue = source.fetch_failed_queue(day)
        self.post_message(
            CompletionsLoaded(CompletionFetch(self.sources.clock.now(), completions, queue, day))
        )

    @on(CompletionsLoaded)
    def _completions_loaded(self, message: CompletionsLoaded) -> None:
        fetch = message.fetch
        self._completions = fetch.completions
        self._queue = (fetch.queue_date, fetch.queue)
        self._now = fetch.now
        self.main.query_one(StatusBar).age = 0.0
        first = self._panes["completions"].loaded_at is None
        self._render_completions()
        self._pane_loaded("completions")
        if self._exit_after_first_data:
            self.call_after_refresh(self.exit)
        elif first:  # the first frame with data comes first; then the other panes
            self.call_after_refresh(self._start_once, "revisions")

    def _start_logs_once(self) -> None:
        """Logs start after the revisions' first answer, so "new since" can be judged."""
        self._start_once("logs")

    def _start_once(self, group: str) -> None:
        """Start a pane's first refresh unless it has started already."""
        pane = self._panes[group]
        if pane.loaded_at is None and pane.timer is None and not pane.failing:
            running = any(w.group == group and not w.is_finished for w in self.workers)
            if not running:
                self.refresh_pane(group)

    def _render_completions(self) -> None:
        if self._now is None or self.selected_date is None:
            return
        now, day = self._now, self.selected_date
        self.main.query_one(StatusBar).set_now(now.astimezone(self.config.timezone))
        overview_dates = date_range(
            business_date(now, self.config.timezone), self.config.overview_days
        )
        wanted = [*overview_dates, *([day] if day not in overview_dates else [])]
        statuses = reconcile_dates(self.config, self._completions, wanted, now)
        self.main.query_one(OverviewStrip).show({d: statuses[d] for d in overview_dates}, day)
        self.main.query_one(CompletionGrid).show(statuses[day], now, self.config.timezone)
        self.main.query_one("#completions").border_title = f"Completions · {day:%Y-%m-%d (%a)}"

    def watch_selected_date(self, day: date | None) -> None:
        self.main.query_one(StatusBar).selected = day
        if day is None:
            return
        self._watch_date(day)
        if day in self._completions:
            self._render_completions()
        if self._now is not None:
            self.refresh_pane("completions")

    @work(thread=True, exclusive=True, group="watch", exit_on_error=False)
    def _watch_date(self, day: date) -> None:
        """Ask the source to push changes of the selected date (Firestore listeners)."""
        self.sources.completions.watch_date(day, self._pushed)

    def _pushed(self) -> None:
        """A source pushed a change (from its own thread): refresh the completions now."""
        with contextlib.suppress(RuntimeError):  # the app has stopped; sources are closing
            self.call_from_thread(self.refresh_pane, "completions")

    # --- revisions -----------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="revisions", exit_on_error=False)
    def _fetch_revisions(self) -> None:
        self.sources.advance()
        self.post_message(RevisionsLoaded(gather_revisions(self.config, self.sources)))

    @on(RevisionsLoaded)
    def _revisions_loaded(self, message: RevisionsLoaded) -> None:
        self._revisions = message.view
        self._render_revisions()
        self._announce_new_revisions()
        self._pane_loaded("revisions")
        self._start_logs_once()

    def _render_revisions(self) -> None:
        view = self._revisions
        if view is None:
            return
        self.main.query_one(ServiceTable).show(view.verdicts, view.missing, view.drift_notes)
        bad = sum(1 for v in view.verdicts if v.health.value == "bad")
        self.main.query_one("#revisions").border_title = (
            f"Cloud Run revisions · {bad} need attention" if bad else "Cloud Run revisions"
        )

    # --- logs ----------------------------------------------------------------------------------

    def _revisions_by_service(self) -> dict[str, list[Revision]]:
        if self._revisions is None:
            return {}
        return {v.service: [row.revision for row in v.rows] for v in self._revisions.verdicts}

    @work(thread=True, exclusive=True, group="logs", exit_on_error=False)
    def _fetch_logs(self, cursor: int | None, revisions: dict[str, list[Revision]]) -> None:
        logs = self.sources.logs
        if logs is None:
            raise RuntimeError(f"{self.sources.description} has no logs")
        self.sources.advance()
        batch = logs.read_log(cursor, self.config.log_capacity if cursor is None else 5000)
        now = self.sources.clock.now()
        with self._log_lock:  # reassembly and grouping run here, off the UI thread
            if batch.entries and self._log_start is None:
                self._log_start = batch.entries[0].timestamp
            events = self._reassembler.feed(batch.entries) + self._reassembler.tick(now)
            self._grouper.add(events)
            links = {i: fingerprint(e) for e in events for i in e.entry_ids}
            groups = self._grouper.groups(revisions, self._log_start)
        self.post_message(LogsLoaded(batch.entries, groups, links, batch, now))

    @on(LogsLoaded)
    def _logs_loaded(self, message: LogsLoaded) -> None:
        self._log_cursor = message.batch.cursor
        self._log_health = message.batch.health
        self.main.query_one(LogPane).ingest(
            message.entries,
            message.groups,
            message.links,
            message.batch.health,
            message.batch.notice,
            message.now,
        )
        self._pane_loaded("logs")

    @on(ErrorGroupTable.GroupChosen)
    def _group_chosen(self, message: ErrorGroupTable.GroupChosen) -> None:
        pane = self.main.query_one(LogPane)
        group = next((g for g in pane.groups if g.fingerprint == message.fingerprint), None)
        if group is not None:
            from orchwatch.tui.screens.traceback import TracebackScreen  # pulls in pygments

            now = self.sources.clock.now()
            self.push_screen(TracebackScreen(group, now, self.config.timezone))

    @on(CompletionGrid.PhaseHighlighted)
    def _phase_highlighted(self, message: CompletionGrid.PhaseHighlighted) -> None:
        try:
            orchestrator = self.config.phase(message.phase).orchestrator
        except KeyError:
            return
        self.main.query_one(ServiceTable).highlight(orchestrator)
        self._render_revisions()

    @on(ServiceTable.ServiceChosen)
    def _service_chosen(self, message: ServiceTable.ServiceChosen) -> None:
        if self._revisions is None:
            return
        verdict = next((v for v in self._revisions.verdicts if v.service == message.service), None)
        if verdict is None:
            self.notify(f"{message.service} is not in Cloud Run", severity="warning")
            return
        from orchwatch.tui.screens.revisions import RevisionHistoryScreen

        self.push_screen(RevisionHistoryScreen(verdict, self._revisions.now, self.config.timezone))

    # --- actions -------------------------------------------------------------------------------

    def _today(self) -> date:
        return business_date(self.sources.clock.now(), self.config.timezone)

    def action_previous_date(self) -> None:
        """Select the previous date."""
        if self.selected_date is not None:
            self.selected_date -= timedelta(days=1)

    def action_next_date(self) -> None:
        """Select the next date."""
        if self.selected_date is not None:
            self.selected_date += timedelta(days=1)

    def action_today(self) -> None:
        """Select today (in the pipeline's timezone)."""
        self.selected_date = self._today()

    def action_goto_date(self) -> None:
        """Ask for a date and select it."""

        def chosen(day: date | None) -> None:
            if day is not None:
                self.selected_date = day

        from orchwatch.tui.screens.goto_date import GotoDateScreen

        self.push_screen(GotoDateScreen(self._today(), self.selected_date or self._today()), chosen)

    def action_refresh(self) -> None:
        """Refresh every pane now."""
        for group in self._panes:
            self.refresh_pane(group)
        self.notify("Refreshing…", timeout=1.5)

    def action_walkthrough(self) -> None:
        """Open the morning checklist for yesterday (or the selected date)."""
        from orchwatch.tui.screens.daily import DailyScreen

        today = self._today()
        day = today - timedelta(days=1)
        self.push_screen(DailyScreen(day, today), self._show_target)

    def _show_target(self, chosen: tuple[Target, date] | None) -> None:
        """Select the evidence a checklist row points at."""
        if chosen is None:
            return
        target, day = chosen
        if target.pane == "completions":
            self.selected_date = day
            grid = self.main.query_one(CompletionGrid)
            grid.focus()
            if target.key and target.key in {str(c.value) for c in grid.columns}:
                grid.move_cursor(row=0, column=grid.get_column_index(target.key))
        elif target.pane == "revisions":
            table = self.main.query_one(ServiceTable)
            table.focus()
            table.highlight(target.key or None)
        elif target.pane == "logs":
            pane = self.main.query_one(LogPane)
            pane.action_show("groups")
            match = next((g for g in pane.groups if target.key in g.services), None)
            if match is not None:
                pane.query_one(ErrorGroupTable).select(match.fingerprint)
        else:
            self.notify("Run `orchwatch validate` on the repo for the findings.", markup=False)

    # --- actions -------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """One-key actions are shown dimmed (disabled) while actions are off."""
        if action in ("validate", "deploy") and not self.actions_enabled:
            return None
        return True

    def action_validate(self) -> None:
        """Run the package validator on the configured repo, off the UI thread."""
        repo = self.config.repo_path
        if repo is None:
            self.notify(
                "No repo to validate: set [repo] path in orchwatch.toml.",
                severity="warning",
                markup=False,
            )
            return
        if not self.guard.acquire("validate", str(repo)):
            self.notify("A validation is already running.", markup=False)
            return
        self.main.query_one(ActionsPane).start("validation")
        self._validate(repo)

    @work(thread=True, group="validate", exit_on_error=False)
    def _validate(self, repo: Path) -> None:
        from orchwatch.validate.cache import FactsCache
        from orchwatch.validate.engine import settings_from, validate_repo
        from orchwatch.validate.model import Severity

        run_id: str | None = None
        started = time.monotonic()
        try:
            run_id = self.audit.started("validate", ["orchwatch", "validate", str(repo)], repo)
            try:
                report = validate_repo(
                    repo, settings=settings_from(self.config.validate), cache=FactsCache.default()
                )
            except Exception as exc:  # a state of the pane and a finished audit record
                reason = (
                    str(exc) if isinstance(exc, LookupError) else f"{type(exc).__name__}: {exc}"
                )
                self.audit.finished(
                    run_id, RunResult(2, time.monotonic() - started, (reason,), error=reason)
                )
                self.post_message(ValidationFailed(reason))
                return
            errors = sum(1 for f in report.findings if f.severity is Severity.ERROR)
            failing = sum(1 for f in report.functions if not f.ok)
            tail = tuple(validation_lines(report)[-50:])
            self.audit.finished(
                run_id, RunResult(1 if errors else 0, time.monotonic() - started, tail)
            )
            extra = []
            for command in self.config.validate_commands:
                run = ActionRun(list(command), repo, timeout=self.config.action_timeout)
                extra_id = self.audit.started("validate", list(command), repo)
                result = run.run()
                self.audit.finished(extra_id, result)
                extra.append(result)
            self.post_message(
                ValidationDone(report, validation_lines(report), failing, errors, extra)
            )
        finally:
            self.guard.release("validate", str(repo))

    @on(ValidationFailed)
    def _validation_failed(self, message: ValidationFailed) -> None:
        pane = self.main.query_one(ActionsPane)
        pane.write([f"validation could not run: {message.reason}"])
        pane.set_status(
            Text(
                f"validation failed: {message.reason}"[:200],
                style=semantic_style(self, "error", bold=True),
            )
        )

    @on(ValidationDone)
    def _validation_done(self, message: ValidationDone) -> None:
        pane = self.main.query_one(ActionsPane)
        pane.write(message.lines)
        for result in message.extra:
            pane.write(
                [
                    f"$ extra validation command: {result.error or f'exit {result.exit_code}'}",
                    *(f"  {line}" for line in result.output_tail),
                ]
            )
        extra_failed = sum(1 for r in message.extra if not r.ok)
        clean = message.errors == 0 and extra_failed == 0
        when = datetime.now().strftime("%H:%M:%S")
        verdict = (
            "clean"
            if clean
            else f"{message.failing} functions failing, {message.errors} errors"
            + (f", {extra_failed} extra commands failed" if extra_failed else "")
        )
        pane.set_status(
            Text(
                f"validation at {when}: {verdict}",
                style=semantic_style(self, "success" if clean else "error", bold=True),
            )
        )
        self.notify(
            f"Validation: {verdict}", severity="information" if clean else "error", markup=False
        )

    def _announce_new_revisions(self) -> None:
        """After a deploy: say when its new revision is Ready and serving, or failed."""
        from orchwatch.analysis.revisions import Marker, short_name

        if self._revisions is None:
            return
        for service, before in list(self._watching.items()):
            verdict = next((v for v in self._revisions.verdicts if v.service == service), None)
            if verdict is None or verdict.latest is None or verdict.latest.name == before:
                continue
            row = next(r for r in verdict.rows if r.revision == verdict.latest)
            name = short_name(verdict.latest.name)
            if row.marker is Marker.FAILED:
                text = f"{service}: new revision {name} failed: {row.reason[:160]}"
                self.notify(text, severity="error", timeout=15, markup=False)
            elif verdict.serving == verdict.latest:
                text = f"{service}: new revision {name} is Ready and serving."
                self.notify(text, timeout=15, markup=False)
            else:
                continue  # still pending
            self.announcements.append(text)
            del self._watching[service]

    def _selected_service(self) -> str | None:
        """The service the deploy key means: the revisions pane's row, else the grid's phase."""
        focused = self.focused
        if isinstance(focused, ServiceTable) and focused.row_count:
            return str(focused.coordinate_to_cell_key(focused.cursor_coordinate).row_key.value)
        grid = self.main.query_one(CompletionGrid)
        if grid.columns:
            column = list(grid.columns)[grid.cursor_column]
            try:
                return self.config.phase(str(column.value)).orchestrator
            except KeyError:
                return None
        return None

    def action_deploy(self) -> None:
        """Redeploy the selected service, after a preview and a confirmation."""
        from orchwatch.actions.template import TemplateError, render_command

        service = self._selected_service()
        if service is None:
            self.notify("Select a service (2) or a phase first.", markup=False)
            return
        template = self.config.deploy_commands.get(service)
        if template is None:
            self.notify(
                f"No deploy command for {service}: add it under [actions] deploy.",
                severity="warning",
                markup=False,
            )
            return
        folder = self.config.function_folder(service)
        phase = next((p.name for p in self.config.phases if p.orchestrator == service), "")
        values = {"service": service, "date": (self.selected_date or self._today()).isoformat()}
        if folder is not None:
            values["function"] = folder.name
        if phase:
            values["phase"] = phase
        try:
            argv = render_command(template, values)
        except TemplateError as exc:
            self.notify(f"Cannot build the deploy command: {exc}", severity="error", markup=False)
            return
        verdict = None
        if self._revisions is not None:
            verdict = next((v for v in self._revisions.verdicts if v.service == service), None)
        self._prepare_deploy(service, argv, folder, verdict)

    @work(thread=True, group="deploy-preview", exit_on_error=False)
    def _prepare_deploy(
        self, service: str, argv: list[str], folder: Path | None, verdict: object
    ) -> None:
        from orchwatch.analysis.revisions import ServiceVerdict, short_name
        from orchwatch.sources.base import SourceError
        from orchwatch.sources.git import commits_since, function_paths

        repo = self.config.repo_path
        serving, commit, commits, note = "unknown", "", [], "no repo configured"
        if isinstance(verdict, ServiceVerdict) and verdict.serving is not None:
            serving = short_name(verdict.serving.name)
            commit = verdict.serving.commit_from(self.config.commit_from) or ""
        if repo is not None and folder is not None:
            if not commit:
                note = "the serving revision has no commit label"
            else:
                try:
                    found = commits_since(repo, commit, function_paths(repo, folder))
                    commits = [f"{c.sha[:10]} {c.subject}" for c in found]
                    note = "nothing new" if not commits else ""
                except SourceError as exc:
                    note = str(exc)
        errors, lines, vnote = 0, [], "no repo configured"
        if repo is not None and folder is not None:
            from orchwatch.validate.cache import FactsCache
            from orchwatch.validate.engine import settings_from, validate_repo
            from orchwatch.validate.model import Severity

            try:
                report = validate_repo(
                    repo,
                    only=folder.name,
                    settings=settings_from(self.config.validate),
                    cache=FactsCache.default(),
                )
                errors = sum(1 for f in report.findings if f.severity is Severity.ERROR)
                lines, vnote = validation_lines(report), ""
            except LookupError:
                vnote = f"no function folder {folder.name} in the repo"
        preview = DeployPreview(
            service, argv, repo or Path.cwd(), serving, commit, commits, note, errors, lines, vnote
        )
        self.post_message(DeployPreviewReady(preview))

    @on(DeployPreviewReady)
    def _confirm_deploy(self, message: DeployPreviewReady) -> None:
        from orchwatch.tui.screens.confirm_deploy import ConfirmDeployScreen

        preview = message.preview

        def confirmed(go: bool | None) -> None:
            if go:
                self._start_deploy(preview)

        self.push_screen(ConfirmDeployScreen(preview), confirmed)

    def _start_deploy(self, preview: DeployPreview) -> None:
        if not self.guard.acquire("deploy", preview.service):
            self.notify(f"A deploy of {preview.service} is already running.", markup=False)
            return
        pane = self.main.query_one(ActionsPane)
        pane.start(f"deploy {preview.service}")
        verdict = (
            f"{preview.validator_errors} errors"
            if preview.validator_errors
            else (preview.validator_note or "clean")
        )
        env = None
        spool = getattr(self.sources.live, "spool", None)
        if spool is not None:  # the demo: deploy scripts hand their deploy to the simulator
            env = {
                **os.environ,
                "ORCHWATCH_DEMO_SPOOL": str(spool),
                "ORCHWATCH_PYTHON": sys.executable,
            }
        run = ActionRun(preview.argv, preview.cwd, timeout=self.config.action_timeout, env=env)
        self._current_run = run
        if self._revisions is not None:
            before = next(
                (v for v in self._revisions.verdicts if v.service == preview.service), None
            )
            self._watching[preview.service] = before.latest.name if before and before.latest else ""
        self._drain_timer = self.set_interval(0.1, lambda: self._drain(run, preview.service))
        self._deploy(run, preview.service, verdict)

    @work(thread=True, group="deploy", exit_on_error=False)
    def _deploy(self, run: ActionRun, service: str, verdict: str) -> None:
        try:
            run_id = self.audit.started("deploy", list(run.argv), run.cwd, service, verdict)
            self._current_run_id = run_id
            run.on_start = lambda pgid: self.audit.process(run_id, pgid)
            result = run.run()
            self.audit.finished(run_id, result)
            self.post_message(DeployDone(service, result))
        finally:
            self.guard.release("deploy", service)

    def _drain(self, run: ActionRun, service: str) -> None:
        """Move queued output into the pane: one write per tick, however many lines."""
        lines = []
        while not run.lines.empty() and len(lines) < 2000:
            stream, line = run.lines.get_nowait()
            lines.append(inert_line(line if stream == "stdout" else f"! {line}", 1000))
        pane = self.main.query_one(ActionsPane)
        if lines:
            pane.write(lines)
        pane.set_status(
            Text(f"deploy {service}: running {run.elapsed:.0f} s · c cancels", style="bold")
        )

    @on(DeployDone)
    def _deploy_done(self, message: DeployDone) -> None:
        run = self._current_run
        if self._drain_timer is not None:
            self._drain_timer.stop()
            self._drain_timer = None
        if run is not None:
            self._drain(run, message.service)
        self._current_run = None
        result = message.result
        if result.cancelled or result.timed_out or result.error:
            self._watching.pop(message.service, None)
        else:
            self.refresh_pane("revisions")  # then watch for the new revision
        if result.ok:
            text, colour = f"deploy {message.service}: exit 0 in {result.duration:.1f} s", "success"
        elif result.error:
            text, colour = f"deploy {message.service}: {result.error}", "error"
        else:
            how = (
                "timed out"
                if result.timed_out
                else "cancelled"
                if result.cancelled
                else (f"exit {result.exit_code}")
            )
            text, colour = f"deploy {message.service}: {how} after {result.duration:.1f} s", "error"
        self.main.query_one(ActionsPane).set_status(
            Text(text, style=semantic_style(self, colour, bold=True))
        )
        self.notify(text, severity="information" if result.ok else "error", markup=False)
        if self._quit_when_done:
            self.exit()

    async def action_quit(self) -> None:
        """Quit; with a deploy running, ask first (cancel it, wait, or leave it running)."""
        run = self._current_run
        if run is None:
            self.exit()
            return
        from orchwatch.tui.screens.quit_running import QuitWhileRunningScreen

        def chosen(choice: str | None) -> None:
            if choice == "cancel":
                self._quit_when_done = True
                run.cancel()
                self.notify("Cancelling the deploy; quitting when it has stopped…", markup=False)
            elif choice == "wait":
                self._quit_when_done = True
                self.notify("Quitting when the deploy ends…", markup=False)
            elif choice == "leave":
                if self._current_run_id is not None:
                    self.audit.left_running(self._current_run_id)
                self.exit()

        self.push_screen(QuitWhileRunningScreen(f"A deploy ({shlex.join(run.argv)})"), chosen)

    def action_cancel_action(self) -> None:
        """Cancel the running deploy (SIGINT, SIGTERM, SIGKILL to its process group)."""
        run = self._current_run
        if run is None:
            self.notify("Nothing is running.", markup=False)
            return
        run.cancel()
        self.notify("Cancelling…", markup=False)

    def action_audit(self) -> None:
        """Show the audit log."""
        from orchwatch.tui.screens.audit import AuditScreen

        self.push_screen(AuditScreen(self.audit.path))

    def action_help(self) -> None:
        """Show keys and legend."""
        from orchwatch.tui.screens.help import HelpScreen

        self.push_screen(HelpScreen())

    @on(OverviewStrip.DateChosen)
    def _date_chosen(self, message: OverviewStrip.DateChosen) -> None:
        self.selected_date = message.day

    @on(CompletionGrid.Chosen)
    def _cell_chosen(self, message: CompletionGrid.Chosen) -> None:
        grid = self.main.query_one(CompletionGrid)
        if grid.status is None or self._now is None:
            return
        phase = grid.status.phase(message.target.phase)
        from orchwatch.tui.screens.completion_detail import CellDetailScreen, PhaseDetailScreen

        if message.target.cell is not None:
            self.push_screen(CellDetailScreen(message.target.cell, phase, self.config.timezone))
            return
        queue: Iterable[FailedQueueItem] = ()
        if self._queue is not None and self._queue[0] == phase.game_date:
            names = {c.processor for c in phase.cells}
            queue = [item for item in self._queue[1] if item.processor_name in names]
        self.push_screen(PhaseDetailScreen(phase, self._now, self.config.timezone, list(queue)))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "Go to date…", "Select a date (YYYY-MM-DD, yesterday, -3)", self.action_goto_date
        )
        yield SystemCommand("Today", "Select today in the pipeline's timezone", self.action_today)
        yield SystemCommand("Previous date", "Select the day before", self.action_previous_date)
        yield SystemCommand("Next date", "Select the day after", self.action_next_date)
        yield SystemCommand("Refresh now", "Re-read every source", self.action_refresh)
        yield SystemCommand(
            "Revisions", "Focus the Cloud Run revisions pane", self.action_focus_revisions
        )
        yield SystemCommand("Logs", "Focus the log pane (errors and tail)", self.action_focus_logs)
        yield SystemCommand(
            "Morning walkthrough", "The checklist for yesterday (w)", self.action_walkthrough
        )
        yield SystemCommand("Help", "Keys and legend", self.action_help)

    def action_focus_completions(self) -> None:
        """Move the focus to the completion grid."""
        self.main.query_one(CompletionGrid).focus()

    def action_focus_revisions(self) -> None:
        """Move the focus to the revisions pane."""
        self.main.query_one(ServiceTable).focus()

    def action_focus_logs(self) -> None:
        """Move the focus to the log pane."""
        pane = self.main.query_one(LogPane)
        pane.query_one(f"#{pane.mode}").focus()
