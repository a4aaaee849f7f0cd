"""Ask for a date; returns it, or None when cancelled."""

from __future__ import annotations

from datetime import date

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from orchwatch.dates import parse_date


class GotoDateScreen(ModalScreen[date | None]):
    """A one-field dialog: YYYY-MM-DD, today, yesterday or -N."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="goto.cancel")]

    def __init__(self, today: date, current: date) -> None:
        super().__init__()
        self._today = today
        self._current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="goto-body"):
            yield Label("Go to date (YYYY-MM-DD, today, yesterday, -3):")
            yield Input(value=self._current.isoformat(), id="goto-input", select_on_focus=True)
            yield Label("", id="goto-error", markup=False)

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        try:
            chosen = parse_date(event.value, self._today)
        except ValueError as exc:
            self.query_one("#goto-error", Label).update(str(exc))
            return
        self.dismiss(chosen)

    def action_cancel(self) -> None:
        self.dismiss(None)
