"""The completions pane: the overview strip of recent dates and the selected date's grid
of processors x phases, Firestore and BigQuery reconciled."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import Static

from orchwatch.analysis.completion import reconcile_dates
from orchwatch.analysis.fetched import Fetched
from orchwatch.dates import business_date, date_range
from orchwatch.glyphs import STATE_COLOUR, STATE_GLYPH
from orchwatch.model import DateCompletions, DateStatus, FailedQueueItem
from orchwatch.sanitize import inert_line
from orchwatch.tui.panes.base import Pane, PaneContext
from orchwatch.tui.styles import semantic_style
from orchwatch.tui.widgets.completion_grid import CompletionGrid
from orchwatch.tui.widgets.overview import OverviewStrip


@dataclass(frozen=True)
class CompletionFetch:
    """What one completion refresh read."""

    now: datetime
    completions: dict[date, DateCompletions]
    queue: list[FailedQueueItem]
    queue_date: date
    notes: tuple[str, ...] = ()
    """How the source reads, where the pane should say so (a dead listener, a costly
    unpartitioned read)."""


class CompletionsLoaded(Message):
    """A completion refresh finished."""

    def __init__(self, fetch: CompletionFetch) -> None:
        self.fetch = fetch
        super().__init__()


class CompletionsPane(Pane):
    """Completion per date and phase; Enter on a cell or a phase opens its detail."""

    LABEL = "completions"

    def __init__(self, context: PaneContext, *, id: str = "completions") -> None:
        super().__init__(context, id=id)
        self.day: date | None = None
        """The selected date (the dashboard's)."""
        self.now: datetime | None = None
        """The time the data on screen is judged against."""
        self._completions: dict[date, DateCompletions] = {}
        self._queue: tuple[date, list[FailedQueueItem]] | None = None
        self.statuses: dict[date, DateStatus] = {}
        """The dates on show (the strip's and the selected one), reconciled."""

    def compose(self) -> ComposeResult:
        yield OverviewStrip(id="overview")
        yield CompletionGrid(id="grid")
        yield Static(self._legend(), id="legend")

    def on_mount(self) -> None:
        self.border_title = "Completions"
        self.app.theme_changed_signal.subscribe(self, self._on_theme_changed)

    def _legend(self) -> Text:
        """Every state's glyph and word, on as many lines as the width needs, an entry
        never split across two."""
        width = max(self.size.width - 4, 20)
        legend, line = Text(), 0
        for state, glyph in STATE_GLYPH.items():
            entry = f"{glyph} {state.value}"
            if line and line + 2 + len(entry) > width:
                legend.append("\n")
                line = 0
            elif line:
                legend.append("  ")
                line += 2
            legend.append(glyph, style=semantic_style(self.app, STATE_COLOUR[state], bold=True))
            legend.append(f" {state.value}")
            line += len(entry)
        return legend

    def on_resize(self) -> None:
        self.query_one("#legend", Static).update(self._legend())

    def _on_theme_changed(self, _theme: object) -> None:
        self.query_one("#legend", Static).update(self._legend())
        self.render_data()  # cell texts carry theme colours, so they all change

    @property
    def grid(self) -> CompletionGrid:
        """The selected date's grid."""
        return self.query_one(CompletionGrid)

    # --- reading -------------------------------------------------------------------------

    def select(self, day: date) -> None:
        """Show `day`: at once from what is loaded, then re-read; its changes are pushed
        where the source can (Firestore listeners)."""
        self.day = day
        self._watch_date(day)
        if day in self._completions:
            self.render_data()
        if self.now is not None:
            self.refresh_now()

    def _wanted_dates(self) -> list[date]:
        today = business_date(self.sources.clock.now(), self.config.timezone)
        dates = date_range(today, self.config.overview_days)
        if self.day is not None and self.day not in dates:
            dates.append(self.day)
        return dates

    def fetch(self) -> None:
        self._fetch(self._wanted_dates(), self.day)

    @work(thread=True, exclusive=True, group="completions", exit_on_error=False)
    def _fetch(self, dates: list[date], queue_date: date | None) -> None:
        self.sources.advance()
        source = self.sources.completions
        completions = source.fetch_completions(dates)
        day = queue_date or dates[-1]
        queue = source.fetch_failed_queue(day)
        now = self.sources.clock.now()
        notes = getattr(source, "notes", None)  # only the Google Cloud source has any
        said = tuple(notes()) if callable(notes) else ()
        self.post_message(CompletionsLoaded(CompletionFetch(now, completions, queue, day, said)))

    @on(CompletionsLoaded)
    def _loaded(self, message: CompletionsLoaded) -> None:
        fetch = message.fetch
        self._completions = fetch.completions
        self._queue = (fetch.queue_date, fetch.queue)
        self.now = fetch.now
        first = not self.statuses
        self.render_data()
        if first:  # the grid opens on what needs attention
            self.grid.to_attention(fetch.now, self.config.shown_zone)
        self.loaded()
        if fetch.notes:
            self.border_subtitle = inert_line(" · ".join(fetch.notes), 300)

    @work(thread=True, exclusive=True, group="watch", exit_on_error=False)
    def _watch_date(self, day: date) -> None:
        self.sources.completions.watch_date(day, self._pushed)

    def _pushed(self) -> None:
        """The source pushed a change (from its own thread): re-read now."""
        with contextlib.suppress(RuntimeError):  # the app has stopped; sources are closing
            self.app.call_from_thread(self.refresh_now)

    # --- showing -------------------------------------------------------------------------

    def render_data(self) -> None:
        """Render what is loaded for the selected date and the overview's dates."""
        if self.now is None or self.day is None:
            return
        now, day, zone = self.now, self.day, self.config.timezone
        overview_dates = date_range(business_date(now, zone), self.config.overview_days)
        span = self.sources.dates
        if span is not None:  # a snapshot or recording: a date it does not hold is not shown
            overview_dates = [d for d in overview_dates if span[0] <= d <= span[1]] or [day]
        wanted = [*overview_dates, *([day] if day not in overview_dates else [])]
        statuses = reconcile_dates(self.config, self._completions, wanted, now)
        self.statuses = statuses
        self.query_one(OverviewStrip).show({d: statuses[d] for d in overview_dates}, day)
        self.grid.show(statuses[day], now, self.config.shown_zone)
        held = self._completions.get(day)
        empty = held is not None and not (held.firestore or held.bigquery)
        note = " · no data for this date in Firestore or BigQuery" if empty else ""
        if span is not None and not span[0] <= day <= span[1]:
            note = (
                f" · not held by {self.sources.description}: its dates are {span[0]} to {span[1]}"
            )
        self.border_title = f"Completions · {day:%Y-%m-%d (%a)}{note}"

    def status_of(self, day: date) -> Fetched[DateStatus]:
        """A date's reconciled status as shown, or why there is none."""
        if day in self.statuses:
            return Fetched(self.statuses[day])
        return Fetched(None, self.last_error or f"{day} is not loaded")

    def show_phase(self, phase: str | None) -> None:
        """Focus the grid, on `phase`'s column when it has one."""
        grid = self.grid
        grid.focus()
        if phase and phase in {str(c.value) for c in grid.columns}:
            grid.move_cursor(row=0, column=grid.get_column_index(phase))

    def focus_inside(self) -> None:
        """Focus the grid."""
        self.grid.focus()

    def phase_under_cursor(self) -> str | None:
        """The phase of the grid's cursor column."""
        grid = self.grid
        if not grid.columns:
            return None
        return str(list(grid.columns)[grid.cursor_column].value)

    @on(CompletionGrid.Chosen)
    def _chosen(self, message: CompletionGrid.Chosen) -> None:
        grid = self.grid
        if grid.status is None or self.now is None:
            return
        phase = grid.status.phase(message.target.phase)
        from orchwatch.tui.screens.completion_detail import CellDetailScreen, PhaseDetailScreen

        zone = self.config.shown_zone
        if message.target.cell is not None:
            self.app.push_screen(CellDetailScreen(message.target.cell, phase, zone))
            return
        queue: Iterable[FailedQueueItem] = ()
        if self._queue is not None and self._queue[0] == phase.game_date:
            names = {c.processor for c in phase.cells}
            queue = [item for item in self._queue[1] if item.processor_name in names]
        self.app.push_screen(PhaseDetailScreen(phase, self.now, zone, list(queue)))
