"""The morning checklist (key `w`): what needs action first, then one row per check;
Enter shows a check's evidence whole (j/k through the checks that need action, g goes
to it in the dashboard), and `w` comes back to the same date and check."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.events import Resize
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Static

from orchwatch.analysis.daily import (
    CHECK_COLOUR,
    CHECK_GLYPH,
    CheckResult,
    CheckStatus,
    Target,
    evaluate,
    overall,
)
from orchwatch.gather import gather_daily, gather_explain
from orchwatch.render import daily_summary
from orchwatch.sanitize import inert_line, wrap_at_boundaries
from orchwatch.tui.context import context
from orchwatch.tui.failures import FailsInPlace
from orchwatch.tui.screens.goto_date import GotoDateScreen
from orchwatch.tui.styles import semantic_style
from orchwatch.tui.widgets.footer import SteadyFooter
from orchwatch.tui.widgets.keys import ListTable


class DailyLoaded(Message):
    """The checklist for a date was evaluated."""

    def __init__(self, day: date, results: list[CheckResult]) -> None:
        self.day = day
        self.results = results
        super().__init__()


@dataclass
class WalkPlace:
    """Where the walkthrough was left: its date and the check under the cursor (kept by
    the dashboard, so `w` reopens there)."""

    day: date | None = None
    check: str | None = None


NEEDS_ACTION = (CheckStatus.FAIL, CheckStatus.UNKNOWN, CheckStatus.WARN)


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

    def __init__(self, day: date, today: date, place: WalkPlace | None = None) -> None:
        super().__init__()
        self.day = day
        self.today = today
        self.results: list[CheckResult] = []
        self.place = place or WalkPlace()
        """Kept up to date with the date and the check under the cursor."""

    def compose(self) -> ComposeResult:
        with Vertical(id="daily-body"):
            yield Static(id="daily-heading")
            yield ListTable(id="daily-table", cursor_type="row")
        yield SteadyFooter()

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
            ("   Enter: the evidence · r: re-run", "dim"),
        )
        failing = [r for r in self.results if r.status is CheckStatus.FAIL]
        if failing:
            heading.append("\nNeeds action", style="bold")
            for result in failing:
                heading.append("\n✗ ", style=semantic_style(self.app, "error", bold=True))
                heading.append(inert_line(result.title, 120), style="bold")
                heading.append(f" → {inert_line(result.next_step, 200)}")
        self.query_one("#daily-heading", Static).update(heading)
        ids = [r.id for r in self.results]
        if self.place.day == self.day and self.place.check in ids:
            row = ids.index(self.place.check)
        else:  # a new date: the cursor on the first check that needs action
            row = next((i for i, r in enumerate(self.results) if r.status in NEEDS_ACTION), 0)
        self._show(row)

    def _show(self, row: int | None = None) -> None:
        """The checks, the evidence and the next step wrapped to the table's width, at word
        or separator boundaries (never inside a name)."""
        table: DataTable[Text] = self.query_one("#daily-table", DataTable)
        cursor = table.cursor_row if row is None else row
        widths = self._widths()
        table.clear(columns=True)
        for column, width in zip(("", "check", "evidence", "next step"), widths, strict=True):
            table.add_column(column, key=column or "status", width=width)

        def wrapped(text: str, width: int, limit: int) -> str:
            return "\n".join(wrap_at_boundaries(inert_line(text, limit), width))

        for result in self.results:
            style = semantic_style(self.app, CHECK_COLOUR[result.status], bold=True)
            table.add_row(
                Text(f"{CHECK_GLYPH[result.status]} {result.status.value}", style=style),
                Text(wrapped(result.title, widths[1], 200)),
                Text(wrapped(result.evidence, widths[2], 600)),
                Text(wrapped(result.next_step, widths[3], 300), style="dim"),
                key=result.id,
                height=None,  # as many lines as the wrapped evidence needs
            )
        if self.results:
            table.move_cursor(row=min(cursor, len(self.results) - 1), animate=False)

    @on(DataTable.RowHighlighted, "#daily-table")
    def _moved(self, event: DataTable.RowHighlighted) -> None:
        if 0 <= event.cursor_row < len(self.results):
            self.place.day, self.place.check = self.day, self.results[event.cursor_row].id

    @on(DataTable.RowSelected, "#daily-table")
    def _evidence(self, event: DataTable.RowSelected) -> None:
        """The check's evidence whole, over the checklist."""
        if not 0 <= event.cursor_row < len(self.results):
            return

        def closed(go: int | None) -> None:
            table = self.query_one("#daily-table", DataTable)
            if go is None:
                return
            if go < 0:  # g: show it in the dashboard
                result = self.results[table.cursor_row]
                if result.target is not None:
                    self.dismiss((result.target, self.day))
                return
            table.move_cursor(row=go, animate=False)

        self.app.push_screen(
            CheckScreen(self.results, event.cursor_row, self.day, self._moved_to), closed
        )

    def _moved_to(self, row: int) -> None:
        """The detail moved to another check: the checklist's cursor follows it."""
        self.query_one("#daily-table", DataTable).move_cursor(row=row, animate=False)

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


class CheckScreen(ModalScreen[int | None]):
    """One check whole: its verdict, evidence, next step, and what it blocks. j/k go to
    the next or previous check that needs action; g shows it in the dashboard; Esc goes
    back to the checklist, its cursor on the check last shown."""

    BINDINGS = [
        Binding("escape,q,enter", "close", "Back", id="check.close"),
        Binding("j,down,n", "step(1)", "Next to act on", id="check.next"),
        Binding("k,up,p", "step(-1)", "Previous", id="check.previous"),
        Binding("g", "go", "Show in dashboard", id="check.go"),
    ]

    def __init__(
        self,
        results: list[CheckResult],
        index: int,
        day: date,
        moved: Callable[[int], None],
    ) -> None:
        super().__init__()
        self.results = results
        self.index = index
        self.day = day
        self._moved = moved

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="detail-body"):
            yield Static(id="check-body")
        yield SteadyFooter()

    def on_mount(self) -> None:
        self._show()

    def _show(self) -> None:
        result = self.results[self.index]
        style = semantic_style(self.app, CHECK_COLOUR[result.status], bold=True)
        body = Text.assemble(
            (f"{CHECK_GLYPH[result.status]} {result.status.value}  ", style),
            (inert_line(result.title, 200), "bold"),
            f"  · {self.day:%Y-%m-%d}\n\n",
            inert_line(result.evidence, 4000),
            "\n\nnext step: ",
            (inert_line(result.next_step, 1000), "bold"),
        )
        blocked = [r.title for r in self.results if r.cause == result.id]
        if blocked:
            body.append(f"\n\nblocks: {inert_line(', '.join(blocked), 600)}")
        if result.cause:
            cause = next((r.title for r in self.results if r.id == result.cause), result.cause)
            body.append(f"\n\nblocked by: {inert_line(cause, 200)}")
        self.query_one("#check-body", Static).update(body)
        self.query_one(
            "#detail-body"
        ).border_title = f"Check {self.index + 1} of {len(self.results)}"

    def action_step(self, step: int) -> None:
        """The next (or previous) check that needs action, else the next (previous) one."""
        order = range(self.index + step, len(self.results) if step > 0 else -1, step)
        wanted = [i for i in order if self.results[i].status in NEEDS_ACTION]
        if not wanted:
            self.notify("No further check needs action.", timeout=2, markup=False)
            return
        self.index = wanted[0]
        self._moved(self.index)
        self._show()

    def action_go(self) -> None:
        """Close the walkthrough and show the check's evidence in the dashboard."""
        if self.results[self.index].target is None:
            self.notify(inert_line(self.results[self.index].next_step), markup=False)
            return
        self.dismiss(-1)

    def action_close(self) -> None:
        """Back to the checklist."""
        self.dismiss(self.index)
