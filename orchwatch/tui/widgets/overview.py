"""The overview strip: the last N dates x phases, completed/expected per cell."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from rich.text import Text
from textual.events import Resize
from textual.message import Message
from textual.widgets import DataTable

from orchwatch.glyphs import STATE_COLOUR, STATE_GLYPH
from orchwatch.model import CellState, DateStatus, PhaseStatus
from orchwatch.tui.styles import semantic_style
from orchwatch.tui.widgets.diff_table import DiffTable
from orchwatch.tui.widgets.keys import TABLE_COLUMNS
from orchwatch.tui.widgets.subject import Subject

DATE_COLUMN = 7
"""A date's column: `Mo 19` or `◐3/5` and a cell's padding each side."""


class OverviewStrip(DiffTable):
    """Dates as columns, phases as rows; Enter on a column selects its date."""

    BINDINGS = [*TABLE_COLUMNS]

    DEFAULT_CSS = """
    OverviewStrip { height: auto; }
    """

    class DateChosen(Message):
        """The user chose a date in the strip."""

        def __init__(self, day: date) -> None:
            self.day = day
            super().__init__()

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="cell", show_row_labels=True)
        self._dates: tuple[date, ...] = ()
        self._phases: tuple[str, ...] = ()
        self._selected: date | None = None
        self._last: tuple[Mapping[date, DateStatus], date] | None = None

    def show(self, statuses: Mapping[date, DateStatus], selected: date) -> None:
        """Show the statuses of consecutive dates (oldest first), marking `selected`: as
        many as the width holds, the selected one always among them."""
        self._last = (statuses, selected)
        dates = self._window(tuple(statuses), selected)
        statuses = {day: statuses[day] for day in dates}
        phases = tuple(p.phase for p in next(iter(statuses.values())).phases) if statuses else ()
        contents = {
            (phase.phase, day.isoformat()): self._cell(phase)
            for day, status in statuses.items()
            for phase in status.phases
        }
        self.paint(
            (dates, phases, selected),
            contents,
            lambda: self._rebuild(dates, phases, contents, selected),
        )

    def _rebuild(
        self,
        dates: tuple[date, ...],
        phases: tuple[str, ...],
        contents: dict[tuple[str, str], Text],
        selected: date,
    ) -> None:
        self.clear(columns=True)
        for day in dates:
            style = "bold reverse" if day == selected else "bold"
            label = Text.assemble((f"{day:%a}"[:2] + f" {day:%d}", style))
            self.add_column(label, key=day.isoformat())
        for phase in phases:
            self.add_row(*(contents[(phase, d.isoformat())] for d in dates), key=phase, label=phase)
        self._dates, self._phases, self._selected = dates, phases, selected
        if selected in dates:
            self.move_cursor(column=dates.index(selected), animate=False)

    def subject(self, day: date) -> Subject | None:
        """The phase of the cursor's row, on the date of its column (not `day`)."""
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate)
        return {"phase": str(key.row_key.value)}, date.fromisoformat(str(key.column_key.value))

    def _window(self, dates: tuple[date, ...], selected: date) -> tuple[date, ...]:
        """The dates that fit the width without scrolling (a scrolled table hides the
        first cell's glyph under the row labels): the newest, or around `selected`."""
        labels = max((len(p) for p in self._phases), default=6) + 2
        fit = max(1, (self.size.width - labels - 1) // DATE_COLUMN) if self.size.width else 0
        if not fit or len(dates) <= fit:
            return dates
        index = dates.index(selected) if selected in dates else len(dates) - 1
        start = min(max(0, index - fit // 2), len(dates) - fit)
        return dates[start : start + fit]

    def on_resize(self, event: Resize) -> None:
        """Keep the selected date in view when the terminal narrows (nothing to do when
        the same dates fit)."""
        if self._last is not None:
            statuses, selected = self._last
            if self._window(tuple(statuses), selected) != self._dates:
                self.show(statuses, selected)

    def _cell(self, phase: PhaseStatus) -> Text:
        worst = phase.worst_state or CellState.NOT_DUE
        glyph = STATE_GLYPH[worst]
        style = semantic_style(self.app, STATE_COLOUR[worst], bold=worst is not CellState.COMPLETE)
        return Text.assemble((glyph, style), (f"{phase.firestore_count}/{phase.expected}", style))

    def on_data_table_cell_selected(self, event: DataTable.CellSelected) -> None:
        event.stop()
        self.post_message(self.DateChosen(date.fromisoformat(str(event.cell_key.column_key.value))))
