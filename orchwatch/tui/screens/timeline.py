"""The incident timeline of a date: every layer on one time axis; zoom in around the
event under the cursor, and out again; Enter shows an event whole."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.events import Resize
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Static

from orchwatch.analysis.timeline import Event, Severity, Timeline, timeline
from orchwatch.gather import gather_timeline
from orchwatch.sanitize import clip, inert_line
from orchwatch.tui.context import context
from orchwatch.tui.failures import FailsInPlace
from orchwatch.tui.styles import semantic_style
from orchwatch.tui.widgets.footer import SteadyFooter
from orchwatch.tui.widgets.keys import ListTable

ZOOMS: tuple[timedelta | None, ...] = (
    None,
    timedelta(hours=6),
    timedelta(hours=1),
    timedelta(minutes=15),
)
"""The spans shown, widest first: the whole window, then around the cursor's event."""
MARK = {
    Severity.BAD: ("✗", "error"),
    Severity.WARN: ("!", "warning"),
    Severity.OK: ("✓", "success"),
    Severity.INFO: ("·", "muted"),
}


class TimelineLoaded(Message):
    """A date's timeline was read."""

    def __init__(self, day: date, line: Timeline) -> None:
        self.day = day
        self.line = line
        super().__init__()


class TimelineScreen(FailsInPlace, Screen[None]):
    """Events oldest first; `+`/`-` zoom around the cursor's event."""

    BINDINGS = [
        Binding("escape,q", "close", "Close", id="timeline.close"),
        Binding("plus,equals_sign", "zoom(1)", "Zoom in", key_display="+", id="timeline.in"),
        Binding("minus", "zoom(-1)", "Zoom out", key_display="-", id="timeline.out"),
        Binding("p", "move(-1)", "Prev date", id="timeline.previous"),
        Binding("n", "move(1)", "Next date", id="timeline.next"),
        Binding("r", "reload", "Re-read", id="timeline.reload"),
    ]

    def __init__(self, day: date, audit: Path | None) -> None:
        super().__init__()
        self.day = day
        self._audit = audit
        self.line: Timeline | None = None
        """The date's timeline, once read."""
        self.zoom = 0
        self.shown: list[Event] = []
        """The events on show, in the table's order."""

    def compose(self) -> ComposeResult:
        with Vertical(id="daily-body"):
            yield Static(id="timeline-heading")
            yield ListTable(id="timeline-table", cursor_type="row")
        yield SteadyFooter()

    def on_mount(self) -> None:
        self.query_one("#timeline-table", DataTable).focus()
        self.action_reload()

    def on_resize(self, event: Resize) -> None:
        self._show()

    def action_reload(self) -> None:
        """Read the date's timeline (off the UI thread)."""
        self.query_one("#daily-body").border_title = f"Timeline · {self.day:%Y-%m-%d (%a)}"
        self.query_one("#timeline-heading", Static).update(Text("reading…", style="dim"))
        self._read(self.day)

    @work(thread=True, exclusive=True, group="timeline", exit_on_error=False)
    def _read(self, day: date) -> None:
        app = context(self)
        config, sources = app.config, app.sources
        line = timeline(gather_timeline(config, sources, day, self._audit), config.shown_zone)
        self.post_message(TimelineLoaded(day, line))

    def failed(self, group: str, reason: str) -> None:
        """The timeline could not be read: said where it goes, never `reading…` forever."""
        self.line = None
        self.shown = []
        self.query_one("#timeline-table", DataTable).clear(columns=True)
        self.query_one("#timeline-heading", Static).update(
            Text.assemble(
                (
                    inert_line(f"⚠ the timeline could not be read: {reason}", 400),
                    semantic_style(self.app, "error", bold=True),
                ),
                ("   r: re-read", "dim"),
            )
        )
        self.notify(inert_line(f"Timeline: {reason}", 400), severity="error", markup=False)

    @on(TimelineLoaded)
    def _loaded(self, message: TimelineLoaded) -> None:
        if message.day == self.day:
            self.line = message.line
            self.zoom = 0
            self._show()

    def _show(self, around: Event | None = None) -> None:
        line = self.line
        if line is None:
            return
        zone = context(self).config.shown_zone
        span = ZOOMS[self.zoom]
        events = list(line.events)
        if span is not None and around is not None:
            events = [e for e in events if abs(e.at - around.at) <= span / 2]
        self.shown = events
        start, end = (events[0].at, events[-1].at) if events else (line.start, line.end)
        scope = "the whole window" if span is None else f"{_span(span)} around the cursor"
        heading = Text.assemble(
            f"{len(events)} events, {start.astimezone(zone):%m-%d %H:%M} to ",
            f"{end.astimezone(zone):%m-%d %H:%M} {zone.key} · {scope}",
            ("   + / - zoom · Enter: the event whole", "dim"),
        )
        for why in line.unavailable:
            heading.append(f"\nnot read: {inert_line(why, 300)}", style="bold")
        self.query_one("#timeline-heading", Static).update(heading)
        table: DataTable[Text] = self.query_one("#timeline-table", DataTable)
        width = max(table.size.width, 60) - 2 * 4 - 1 - 11 - 1 - 13
        table.clear(columns=True)
        for column in ("time", "", "source", "event"):
            table.add_column(column, key=column or "mark")
        for event in events:
            glyph, colour = MARK[event.severity]
            style = semantic_style(self.app, colour, bold=event.severity is Severity.BAD)
            table.add_row(
                Text(event.at.astimezone(zone).strftime("%m-%d %H:%M")),
                Text(glyph, style=style),
                Text(event.source, style="dim"),
                Text(clip(inert_line(event.summary, 600), width)),
            )
        if around is not None and around in events:
            table.move_cursor(row=events.index(around), animate=False)

    def _cursor_event(self) -> Event | None:
        table = self.query_one("#timeline-table", DataTable)
        row = table.cursor_row
        return self.shown[row] if 0 <= row < len(self.shown) else None

    def action_zoom(self, step: int) -> None:
        """Narrow the span around the cursor's event, or widen it back."""
        event = self._cursor_event()
        self.zoom = min(max(self.zoom + step, 0), len(ZOOMS) - 1)
        self._show(event)

    def action_move(self, days: int) -> None:
        """The previous or next date's timeline."""
        self.day += timedelta(days=days)
        self.action_reload()

    def action_close(self) -> None:
        """Back to the dashboard."""
        self.dismiss(None)

    @on(DataTable.RowSelected, "#timeline-table")
    def _detail(self, event: DataTable.RowSelected) -> None:
        chosen = self._cursor_event()
        if chosen is None:
            return
        zone = context(self).config.shown_zone
        lines = [
            f"{chosen.at.astimezone(zone):%Y-%m-%d %H:%M:%S %Z} · {chosen.source}",
            chosen.summary,
            *chosen.detail,
        ]
        self.notify(
            "\n".join(inert_line(line, 800) for line in lines),
            title=chosen.kind,
            timeout=10,
            markup=False,
        )


def _span(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    return f"{minutes // 60} h" if minutes >= 60 else f"{minutes} min"
