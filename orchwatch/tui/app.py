"""The orchwatch App: composes the panes, runs the source workers, routes keys."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from orchwatch.analysis.completion import business_date, date_range, reconcile_dates
from orchwatch.config import Config
from orchwatch.glyphs import STATE_COLOUR, STATE_GLYPH
from orchwatch.model import DateCompletions, FailedQueueItem
from orchwatch.sources.base import Sources
from orchwatch.tui.screens.completion_detail import CellDetailScreen, PhaseDetailScreen
from orchwatch.tui.screens.goto_date import GotoDateScreen
from orchwatch.tui.screens.help import HelpScreen
from orchwatch.tui.styles import semantic_style
from orchwatch.tui.widgets.completion_grid import CompletionGrid
from orchwatch.tui.widgets.overview import OverviewStrip
from orchwatch.tui.widgets.status_bar import StatusBar


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
        wall: Callable[[], float] = time.monotonic,
        initial_date: date | None = None,
        exit_after_first_data: bool = False,
    ) -> None:
        """Build the app around already-built sources (tests pass a local store).

        Args:
            config: the validated configuration.
            sources: where every pane reads from.
            refresh_seconds: poll interval (default: the config's).
            wall: a monotonic clock for data ages; tests freeze it.
            initial_date: the date to open on (default: today in the pipeline's zone).
            exit_after_first_data: exit once the first data is on screen (benchmarks).
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
        self._loaded_at: float | None = None
        self._next_refresh: object | None = None

    # --- layout --------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Vertical(id="completions", classes="pane"):
            yield OverviewStrip(id="overview")
            yield CompletionGrid(id="grid")
            yield Static(self._legend(), id="legend")
        yield Footer()

    def _legend(self) -> Text:
        parts: list[Text | str] = []
        for state, glyph in STATE_GLYPH.items():
            parts += [
                Text(glyph, style=semantic_style(self, STATE_COLOUR[state], bold=True)),
                f" {state.value}  ",
            ]
        return Text.assemble(*parts)

    def on_mount(self) -> None:
        if self.config.theme in self.available_themes:
            self.theme = self.config.theme
        status = self.query_one(StatusBar)
        status.pipeline = self.config.pipeline_name
        status.source = self.sources.description
        self.query_one("#completions").border_title = "Completions"
        self.selected_date = self._initial_date or business_date(
            self.sources.clock.now(), self.config.timezone
        )
        self.set_interval(1.0, self._tick_status)
        self.theme_changed_signal.subscribe(self, self._on_theme_changed)
        self.query_one(CompletionGrid).focus()
        self.refresh_completions()

    def _on_theme_changed(self, _theme: object) -> None:
        self.query_one("#legend", Static).update(self._legend())
        self._render_completions()  # cell texts carry theme colours, so they all change

    def _tick_status(self) -> None:
        status = self.query_one(StatusBar)
        if self._loaded_at is not None:
            status.age = self._wall() - self._loaded_at

    # --- data ----------------------------------------------------------------------------------

    def _wanted_dates(self) -> list[date]:
        today = business_date(self.sources.clock.now(), self.config.timezone)
        dates = date_range(today, self.config.overview_days)
        if self.selected_date is not None and self.selected_date not in dates:
            dates.append(self.selected_date)
        return dates

    def refresh_completions(self) -> None:
        """Start a completion refresh now (any scheduled one is superseded)."""
        if self._next_refresh is not None:
            self._next_refresh.stop()  # type: ignore[attr-defined]
            self._next_refresh = None
        self._fetch_completions(self._wanted_dates(), self.selected_date)

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
        self._loaded_at = self._wall()
        self.query_one("#completions").border_subtitle = ""
        self.query_one("#completions").remove_class("-error")
        status = self.query_one(StatusBar)
        status.problem = ""
        status.age = 0.0
        self._render_completions()
        self._schedule_refresh()
        if self._exit_after_first_data:
            self.call_after_refresh(self.exit)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Turn a failed fetch into a visible pane state; the last good data stays on screen."""
        if event.state is not WorkerState.ERROR or event.worker.group != "completions":
            return
        error = event.worker.error
        pane = self.query_one("#completions")
        pane.add_class("-error")
        age = (
            f" · showing data from {int(self._wall() - self._loaded_at)} s ago"
            if self._loaded_at is not None
            else ""
        )
        pane.border_subtitle = Text(  # type: ignore[assignment]
            f"⚠ {type(error).__name__}: {error}{age} · retrying in {self.refresh_seconds:g} s"
        ).plain
        self.query_one(StatusBar).problem = "completions unavailable"
        self._schedule_refresh()

    def _schedule_refresh(self) -> None:
        self._next_refresh = self.set_timer(self.refresh_seconds, self.refresh_completions)

    def _render_completions(self) -> None:
        if self._now is None or self.selected_date is None:
            return
        now, day = self._now, self.selected_date
        self.query_one(StatusBar).set_now(now.astimezone(self.config.timezone))
        overview_dates = date_range(
            business_date(now, self.config.timezone), self.config.overview_days
        )
        wanted = [*overview_dates, *([day] if day not in overview_dates else [])]
        statuses = reconcile_dates(self.config, self._completions, wanted, now)
        overview = self.query_one(OverviewStrip)
        grid = self.query_one(CompletionGrid)
        overview.show({d: statuses[d] for d in overview_dates}, day)
        grid.show(statuses[day], now, self.config.timezone)
        self.query_one("#completions").border_title = f"Completions · {day:%Y-%m-%d (%a)}"

    def watch_selected_date(self, day: date | None) -> None:
        self.query_one(StatusBar).selected = day
        if day is None:
            return
        if day in self._completions:
            self._render_completions()
        if self._now is not None:
            self.refresh_completions()

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

        self.push_screen(GotoDateScreen(self._today(), self.selected_date or self._today()), chosen)

    def action_refresh(self) -> None:
        """Refresh every pane now."""
        self.refresh_completions()
        self.notify("Refreshing…", timeout=1.5)

    def action_help(self) -> None:
        """Show keys and legend."""
        self.push_screen(HelpScreen())

    @on(OverviewStrip.DateChosen)
    def _date_chosen(self, message: OverviewStrip.DateChosen) -> None:
        self.selected_date = message.day

    @on(CompletionGrid.Chosen)
    def _cell_chosen(self, message: CompletionGrid.Chosen) -> None:
        grid = self.query_one(CompletionGrid)
        if grid.status is None or self._now is None:
            return
        phase = grid.status.phase(message.target.phase)
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
        yield SystemCommand("Help", "Keys and legend", self.action_help)
