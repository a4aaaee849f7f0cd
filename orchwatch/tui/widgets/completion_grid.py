"""The completion grid: for one date, phases as columns, their processors down each column.

The top three rows are the phase headers (counts, required/optional, trigger);
the rows below hold one processor each. Cells update in place: a refresh
that changes three cells repaints three cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from rich.text import Text
from textual.events import Resize
from textual.message import Message
from textual.widgets import DataTable

from orchwatch.analysis.completion import blocked_phases, trigger_verdict
from orchwatch.model import CellState, CompletionCell, DateStatus, PhaseStatus, RunStatus
from orchwatch.sanitize import clip
from orchwatch.tui.styles import semantic_style, state_glyph
from orchwatch.tui.widgets.diff_table import DiffTable
from orchwatch.tui.widgets.keys import TABLE_COLUMNS, TABLE_ROWS
from orchwatch.tui.widgets.subject import Subject

HEADER_ROWS = ("counts", "required", "trigger")
NARROWEST = 16
"""A column is never cut below this: `◐ upco… untracked` still says which and what (at
80 columns, four phases fit)."""


@dataclass(frozen=True)
class GridTarget:
    """What a grid cell stands for: a phase header or one processor cell."""

    phase: str
    cell: CompletionCell | None


class CompletionGrid(DiffTable):
    """Processors x phases for the selected date."""

    BINDINGS = [*TABLE_ROWS, *TABLE_COLUMNS]

    DEFAULT_CSS = """
    CompletionGrid { height: auto; max-height: 100%; }
    """

    class Chosen(Message):
        """The user pressed Enter on a cell (or clicked it)."""

        def __init__(self, target: GridTarget) -> None:
            self.target = target
            super().__init__()

    class PhaseHighlighted(Message):
        """The cursor moved onto a phase's column."""

        def __init__(self, phase: str) -> None:
            self.phase = phase
            super().__init__()

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="cell", show_row_labels=False)
        self._status: DateStatus | None = None
        self._capped: int | None = None
        """The cap the columns are cut to now (None: uncut)."""
        self._last: tuple[DateStatus, datetime, ZoneInfo] | None = None
        self._natural: dict[str, int] = {}
        """Each phase column's width uncut, for the last status shown."""

    @property
    def status(self) -> DateStatus | None:
        """The date status on show."""
        return self._status

    def on_resize(self, event: Resize) -> None:
        """Re-fit the columns, when the new width changes how far they are cut."""
        if self._last is not None and self._cap(self._natural, len(self._natural)) != (
            self._capped
        ):
            self.show(*self._last)

    def show(self, status: DateStatus, now: datetime, zone: ZoneInfo) -> None:
        """Show a date's status; only cells whose content changed are repainted."""
        self._status = status
        self._last = (status, now, zone)
        depth = max((len(p.cells) for p in status.phases), default=0)
        contents = self._contents(status, depth, now, zone, None)
        self._natural = {}
        for (_, phase), text in contents.items():
            self._natural[phase] = max(self._natural.get(phase, 0), text.cell_len)
        cap = self._cap(self._natural, len(status.phases))
        if cap is not None:
            contents = self._contents(status, depth, now, zone, cap)
        self._capped = cap
        # A new cap changes cells in place (their columns re-measure): a rebuild would
        # cost a second layout pass of the whole screen on every resize.
        shape = (tuple(p.phase for p in status.phases), depth)
        self.paint(shape, contents, lambda: self._rebuild(status, depth, contents))

    def _rebuild(
        self, status: DateStatus, depth: int, contents: dict[tuple[str, str], Text]
    ) -> None:
        cursor = self.cursor_coordinate
        self.clear(columns=True)
        for phase in status.phases:
            label = Text.assemble((phase.phase, "bold"), f" {phase.label}" if phase.label else "")
            self.add_column(label, key=phase.phase)
        row_keys = [*HEADER_ROWS, *(f"p{i}" for i in range(depth))]
        for row in row_keys:
            self.add_row(*(contents[(row, p.phase)] for p in status.phases), key=row)
        if self.row_count and cursor.row < self.row_count:
            self.move_cursor(row=cursor.row, column=cursor.column, animate=False)

    def _cap(self, natural: dict[str, int], columns: int) -> int | None:
        """The widest a column may be so that every phase fits the table's width (each
        column keeps what it needs up to the cap, `natural` being what each needs), or
        None when all fit as they are."""
        room = self.size.width - 2 * columns - 1  # a cell's padding each side, the scrollbar
        if not self.size.width or sum(natural.values()) <= room:
            return None
        cap = max(natural.values())
        while cap > NARROWEST and sum(min(n, cap) for n in natural.values()) > room:
            cap -= 1
        return cap

    def _contents(
        self, status: DateStatus, depth: int, now: datetime, zone: ZoneInfo, cap: int | None
    ) -> dict[tuple[str, str], Text]:
        contents: dict[tuple[str, str], Text] = {}
        blocked = blocked_phases(status, now, zone)
        for phase in status.phases:
            contents[("counts", phase.phase)] = self._counts(phase, cap)
            contents[("required", phase.phase)] = self._required(phase, cap)
            blocker = blocked.get(phase.phase)
            trigger = (
                Text(f"⊘ blocked by {blocker.phase}", style=semantic_style(self.app, "warning"))
                if blocker is not None
                else self._trigger(phase, now, zone)
            )
            contents[("trigger", phase.phase)] = trigger if cap is None else _fit(trigger, cap)
            for i in range(depth):
                cell = phase.cells[i] if i < len(phase.cells) else None
                contents[(f"p{i}", phase.phase)] = self._cell(cell, cap)
        return contents

    def _counts(self, phase: PhaseStatus, cap: int | None) -> Text:
        agree = phase.stores_agree
        colour = (
            "success"
            if agree and phase.firestore_count == phase.expected
            else ("error" if not agree else "warning")
        )
        mark = "=" if agree else "≠"
        short = cap is not None and cap < len("Firestore 0/0 = BigQuery 0/0")
        return Text.assemble(
            ("FS " if short else "Firestore ", "dim"),
            (
                f"{phase.firestore_count}/{phase.expected}",
                semantic_style(self.app, colour, bold=True),
            ),
            (f" {mark} ", semantic_style(self.app, colour, bold=True)),
            ("BQ " if short else "BigQuery ", "dim"),
            (f"{phase.bigquery_count}/{phase.expected}", "bold"),
        )

    def _required(self, phase: PhaseStatus, cap: int | None = None) -> Text:
        required = [c for c in phase.cells if c.required]
        optional = [c for c in phase.cells if not c.required]
        done_required = len(required) - len(phase.required_missing)
        colour = "success" if not phase.required_missing else "warning"
        short = cap is not None and cap < len("required 0/0 · optional 0/0")
        text = Text.assemble(
            ("req " if short else "required ", "dim"),
            (f"{done_required}/{len(required)}", semantic_style(self.app, colour)),
        )
        if optional:
            done_optional = sum(
                1 for c in optional if c.firestore and c.firestore.status != RunStatus.FAILED
            )
            text.append_text(
                Text.assemble(
                    (" opt " if short else " · optional ", "dim"),
                    f"{done_optional}/{len(optional)}",
                )
            )
        return text

    def _trigger(self, phase: PhaseStatus, now: datetime, zone: ZoneInfo) -> Text:
        alarm, verdict = trigger_verdict(phase, now, zone)
        if phase.next_phase is None:
            return Text(verdict, style="dim")
        if phase.triggered:
            glyph, colour = "✓", "success"
        elif alarm:
            glyph, colour = "✗", "error"
        else:
            glyph, colour = "◷", "muted"
        style = semantic_style(self.app, colour, bold=alarm)
        return Text.assemble((f"{glyph} ", style), (verdict, style))

    def _cell(self, cell: CompletionCell | None, cap: int | None) -> Text:
        """A processor's glyph, name, runs and state; over `cap`, the name is cut (the
        detail has it whole) and the state word kept."""
        if cell is None:
            return Text("")
        runs = f" {cell.backup.runs}" if cell.backup and cell.backup.runs else ""
        if cap is not None and cap < 20 and cell.state is not CellState.COMPLETE:
            runs = ""  # narrow: the state word before the run count (the detail has it)
        state = (
            f" {cell.state.value}"
            if cell.state not in (CellState.COMPLETE, CellState.NOT_DUE)
            else ""
        )
        name = cell.processor
        if cap is not None:
            name = clip(name, max(cap - 2 - len(runs) - len(state), 4))
        name_style = "" if cell.required else "italic"
        text = Text.assemble(state_glyph(self.app, cell.state), " ", (name, name_style))
        if runs:
            text.append(runs, style="dim")
        if state:
            text.append(
                state,
                style=semantic_style(self.app, "error")
                if cell.state in (CellState.FAILED, CellState.UNTRACKED, CellState.MISSING)
                else semantic_style(self.app, "warning"),
            )
        return text

    def to_attention(self, now: datetime, zone: ZoneInfo) -> None:
        """Put the cursor on the header of the first phase that needs attention (its
        stores disagree, a processor is not done, or its trigger is late), if any."""
        status = self._status
        if status is None:
            return
        calm = (CellState.COMPLETE, CellState.NOT_DUE)
        for index, phase in enumerate(status.phases):
            late = phase.next_phase is not None and trigger_verdict(phase, now, zone)[0]
            worst = phase.worst_state
            if not phase.stores_agree or late or (worst is not None and worst not in calm):
                self.move_cursor(row=0, column=index, animate=False)
                return

    def subject(self, day: date) -> Subject | None:
        """The cell's processor and phase, or the phase of a header cell."""
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate)
        target = self.target_at(str(key.row_key.value), str(key.column_key.value))
        if target is None:
            return None
        if target.cell is None:
            return {"phase": target.phase}, day
        return {"phase": target.phase, "processor": target.cell.processor}, day

    def target_at(self, row_key: str, column_key: str) -> GridTarget | None:
        """What the cell at (row, column) stands for, or None for an empty cell."""
        if self._status is None:
            return None
        try:
            phase = self._status.phase(column_key)
        except KeyError:
            return None
        if row_key in HEADER_ROWS:
            return GridTarget(phase.phase, None)
        index = int(row_key[1:])
        if index >= len(phase.cells):
            return None
        return GridTarget(phase.phase, phase.cells[index])

    def on_data_table_cell_selected(self, event: DataTable.CellSelected) -> None:
        event.stop()
        target = self.target_at(
            str(event.cell_key.row_key.value), str(event.cell_key.column_key.value)
        )
        if target is not None:
            self.post_message(self.Chosen(target))

    def on_data_table_cell_highlighted(self, event: DataTable.CellHighlighted) -> None:
        event.stop()
        self.post_message(self.PhaseHighlighted(str(event.cell_key.column_key.value)))


def _fit(trigger: Text, cap: int) -> Text:
    """A trigger verdict within `cap` cells: whole if it fits, else without its arrow, then
    without the reason in brackets, then cut with an ellipsis; the glyph and the verdict's
    words (NOT triggered, at 04:55) go last."""
    style = trigger.spans[-1].style if trigger.spans else ""
    forms = [trigger.plain]
    plain = trigger.plain.replace("→ ", "", 1)
    forms.append(plain)
    if "(" in plain:
        forms.append(plain[: plain.index("(")].rstrip())
    words = plain.split(" ", 2)  # glyph, next phase, verdict
    if "→" in trigger.plain and len(words) == 3:
        forms.append(f"{words[0]} {words[2].split('(')[0].rstrip()}")
    elif plain.startswith("⊘ blocked"):
        forms.append("⊘ blocked")
    fitting = next((form for form in forms if len(form) <= cap), None)
    return Text(fitting if fitting is not None else clip(forms[-1], cap), style=style)
