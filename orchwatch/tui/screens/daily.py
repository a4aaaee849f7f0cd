"""The morning checklist (key `w`): one row per check; Enter jumps to the evidence."""

from __future__ import annotations

from datetime import date, timedelta

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.events import Resize
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from orchwatch.analysis.daily import (
    CHECK_COLOUR,
    CHECK_GLYPH,
    CheckResult,
    Target,
    evaluate,
    overall,
)
from orchwatch.gather import gather_daily, gather_explain
from orchwatch.render import daily_summary
from orchwatch.sanitize import inert_line
from orchwatch.tui.context import context
from orchwatch.tui.failures import FailsInPlace
from orchwatch.tui.screens.goto_date import GotoDateScreen
from orchwatch.tui.styles import semantic_style
from orchwatch.tui.widgets.keys import ListTable


class DailyLoaded(Message):
    """The checklist for a date was evaluated."""

    def __init__(self, day: date, results: list[CheckResult]) -> None:
        self.day = day
        self.results = results
        super().__init__()


class DailyScreen(FailsInPlace, Screen[tuple[Target, date] | None]):
    """Dismisses with (target, date) of the row Enter was pressed on (None when closed)."""

    BINDINGS = [
        Binding("escape,w,q", "close", "Close", id="daily.close"),
        Binding("r", "rerun", "Re-run", id="daily.rerun"),
        Binding("p", "move(-1)", "Prev date", id="daily.previous"),
        Binding("n", "move(1)", "Next date", id="daily.next"),
        Binding("t", "yesterday", "Yesterday", id="daily.yesterday"),
        Binding("g", "goto", "Go to date", id="daily.goto"),
        Binding("x", "explain", "Why?", id="daily.explain"),
    ]

    def __init__(self, day: date, today: date) -> None:
        super().__init__()
        self.day = day
        self.today = today
        self.results: list[CheckResult] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="daily-body"):
            yield Static(id="daily-heading")
            yield ListTable(id="daily-table", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#daily-table", DataTable).focus()
        self.action_rerun()

    def on_resize(self, event: Resize) -> None:
        self._show()

    def _widths(self) -> tuple[int, int, int, int]:
        """Status, check, evidence and next step: the evidence and the next step share what
        the status and the check leave, and wrap (a row is as tall as its text)."""
        table = self.query_one("#daily-table", DataTable)
        inner = max(table.size.width, 60) - 2 * 4 - 1  # cell padding; the scrollbar
        check = min(36, max(22, inner // 4))
        rest = inner - 9 - check
        evidence = max(20, rest * 3 // 5)
        return (9, check, evidence, max(16, rest - evidence))

    def action_rerun(self) -> None:
        """Evaluate the checklist again (off the UI thread)."""
        self.query_one(
            "#daily-body"
        ).border_title = f"Morning walkthrough · {self.day:%Y-%m-%d (%a)}"
        self.query_one("#daily-heading", Static).update(Text("checking…", style="dim"))
        self._evaluate(self.day)

    @work(thread=True, exclusive=True, group="daily", exit_on_error=False)
    def _evaluate(self, day: date) -> None:
        app = context(self)
        config = app.config
        inputs = gather_daily(config, app.sources, day)
        self.post_message(DailyLoaded(day, evaluate(inputs, config.timezone, config.shown_zone)))

    def failed(self, group: str, reason: str) -> None:
        """The checklist could not be evaluated: said where the verdict goes, never a
        `checking…` left on screen."""
        self.results = []
        self._show()
        self.query_one("#daily-heading", Static).update(
            Text.assemble(
                ("? UNKNOWN  ", semantic_style(self.app, "warning", bold=True)),
                inert_line(f"the walkthrough could not be evaluated: {reason}", 400),
                ("   r: re-run", "dim"),
            )
        )
        self.notify(inert_line(f"Walkthrough: {reason}", 400), severity="error", markup=False)

    @on(DailyLoaded)
    def _loaded(self, message: DailyLoaded) -> None:
        if message.day != self.day:
            return
        self.results = message.results
        verdict = overall(self.results)
        heading = Text.assemble(
            (
                f"{CHECK_GLYPH[verdict]} {verdict.value.upper()}  ",
                semantic_style(self.app, CHECK_COLOUR[verdict], bold=True),
            ),
            inert_line(daily_summary(self.results), 400),
            ("   Enter: show the evidence · r: re-run", "dim"),
        )
        self.query_one("#daily-heading", Static).update(heading)
        self._show()

    def _show(self) -> None:
        """The checks, the evidence and the next step wrapped to the table's width."""
        table: DataTable[Text] = self.query_one("#daily-table", DataTable)
        cursor = table.cursor_row
        widths = self._widths()
        table.clear(columns=True)
        for column, width in zip(("", "check", "evidence", "next step"), widths, strict=True):
            table.add_column(column, key=column or "status", width=width)
        for result in self.results:
            style = semantic_style(self.app, CHECK_COLOUR[result.status], bold=True)
            table.add_row(
                Text(f"{CHECK_GLYPH[result.status]} {result.status.value}", style=style),
                Text(inert_line(result.title)),
                Text(inert_line(result.evidence, 600)),
                Text(inert_line(result.next_step, 300), style="dim"),
                key=result.id,
                height=None,  # as many lines as the wrapped evidence needs
            )
        if self.results:
            table.move_cursor(row=min(cursor, len(self.results) - 1), animate=False)

    @on(DataTable.RowSelected, "#daily-table")
    def _jump(self, event: DataTable.RowSelected) -> None:
        result = self.results[event.cursor_row]
        if result.target is None:
            self.notify(inert_line(result.next_step), title=result.title, markup=False)
            return
        self.dismiss((result.target, self.day))

    def action_explain(self) -> None:
        """The chain of evidence behind the check under the cursor."""
        from orchwatch.tui.screens.explain import ExplainScreen

        table = self.query_one("#daily-table", DataTable)
        if not self.results or not 0 <= table.cursor_row < len(self.results):
            return
        target = self.results[table.cursor_row].target
        subject: dict[str, str] | None = None
        if target is not None and target.key:
            kind = "phase" if target.pane == "completions" else "service"
            subject = {kind: target.key} if target.pane != "validate" else None
        if subject is None:
            self.notify("This check has no chain to follow; Enter shows where it looks.")
            return
        app = context(self)
        config, sources, day = app.config, app.sources, self.day
        self.app.push_screen(
            ExplainScreen(lambda: gather_explain(config, sources, day), subject, config.shown_zone)
        )

    def action_close(self) -> None:
        """Back to the dashboard."""
        self.dismiss(None)

    def action_move(self, days: int) -> None:
        """Check the previous or next date."""
        self.day += timedelta(days=days)
        self.action_rerun()

    def action_yesterday(self) -> None:
        """Check yesterday."""
        self.day = self.today - timedelta(days=1)
        self.action_rerun()

    def action_goto(self) -> None:
        """Ask for a date to check."""

        def chosen(day: date | None) -> None:
            if day is not None:
                self.day = day
                self.action_rerun()

        self.app.push_screen(GotoDateScreen(self.today, self.day), chosen)
