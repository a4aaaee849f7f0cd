"""Ask for a moment of a recording (a UTC time, as `--as-of` takes it); returns it, or None
when cancelled."""

from __future__ import annotations

from datetime import datetime

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from orchwatch.dates import parse_instant


class GotoMomentScreen(ModalScreen[datetime | None]):
    """A one-field dialog: 2026-02-01T11:40 (UTC)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="goto-moment.cancel")]
    DEFAULT_CSS = """
    GotoMomentScreen { align: center middle; }
    #goto-moment-body {
        width: 64; height: auto; padding: 1 2; border: thick $accent; background: $surface;
    }
    """

    def __init__(self, current: datetime) -> None:
        super().__init__()
        self._current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="goto-moment-body"):
            yield Label("Jump to a recorded moment (UTC, 2026-02-01T11:40):")
            yield Input(
                value=f"{self._current:%Y-%m-%dT%H:%M:%S}",
                id="goto-moment-input",
                select_on_focus=True,
            )
            yield Label("", id="goto-moment-error", markup=False)

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        try:
            chosen = parse_instant(event.value)
        except ValueError as exc:
            self.query_one("#goto-moment-error", Label).update(str(exc))
            return
        self.dismiss(chosen)

    def action_cancel(self) -> None:
        self.dismiss(None)
