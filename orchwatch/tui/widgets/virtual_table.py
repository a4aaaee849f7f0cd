"""A read-only table that renders only the rows on screen (Textual's Line API).

DataTable costs ~40 us per cell to populate, so 1,000 revisions x 8 columns take a
third of a second before the first frame. This table stores the rows and builds a
line only when it scrolls into view: showing 1,000 rows costs the same as 40.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from orchwatch.tui.widgets.keys import VIEW_ROWS

GAP = 2


class VirtualTable(ScrollView, can_focus=True):
    """Columns with a header line; a row cursor; Enter posts `RowSelected`."""

    DEFAULT_CSS = """
    VirtualTable { height: 1fr; }
    VirtualTable > .virtual-table--header { text-style: bold; background: $panel; }
    VirtualTable > .virtual-table--cursor { background: $accent 40%; }
    VirtualTable:focus > .virtual-table--cursor { background: $accent; }
    """
    COMPONENT_CLASSES = {"virtual-table--header", "virtual-table--cursor"}

    BINDINGS = [
        *VIEW_ROWS,
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "cursor_to(0)", "First", show=False),
        Binding("end", "cursor_to(-1)", "Last", show=False),
        Binding("enter", "select", "Open", show=False),
    ]

    cursor_row: reactive[int] = reactive(0)

    class RowSelected(Message):
        """Enter was pressed on a row."""

        def __init__(self, table: VirtualTable, index: int) -> None:
            self.table = table
            self.index = index
            super().__init__()

        @property
        def control(self) -> VirtualTable:
            """The table (lets `@on(..., "#id")` match it)."""
            return self.table

    def __init__(self, columns: Sequence[str], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns = tuple(columns)
        self._rows: list[tuple[Text, ...]] = []
        self._widths = [len(c) for c in self.columns]

    @property
    def row_count(self) -> int:
        """How many rows the table holds."""
        return len(self._rows)

    def row_plain(self, index: int) -> list[str]:
        """A row's cells as plain text (for tests and copying)."""
        return [cell.plain for cell in self._rows[index]]

    def set_rows(self, rows: Sequence[Sequence[Text]]) -> None:
        """Replace every row; column widths fit the widest cell."""
        self._rows = [tuple(row) for row in rows]
        self._widths = [len(c) for c in self.columns]
        for row in self._rows:
            for i, cell in enumerate(row):
                self._widths[i] = max(self._widths[i], cell.cell_len)
        width = sum(self._widths) + GAP * len(self._widths)
        self.virtual_size = Size(width, len(self._rows) + 1)
        self.cursor_row = min(self.cursor_row, max(0, len(self._rows) - 1))
        self.refresh()

    def _line(self, cells: Sequence[Text], style: Style) -> Strip:
        line = Text(no_wrap=True, overflow="ellipsis")
        for cell, width in zip(cells, self._widths, strict=False):
            piece = cell.copy()
            piece.truncate(width, overflow="ellipsis", pad=True)
            line.append_text(piece)
            line.append(" " * GAP)
        segments = list(line.render(self.app.console))
        strip = Strip(Segment.apply_style(segments, post_style=style) if style else segments)
        return strip

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        if y == 0:
            header = self.get_component_rich_style("virtual-table--header")
            strip = self._line([Text(c) for c in self.columns], header)
            return strip.crop(scroll_x, scroll_x + width).extend_cell_length(width, header)
        index = scroll_y + y - 1
        if index >= len(self._rows):
            return Strip.blank(width, self.rich_style)
        style = (
            self.get_component_rich_style("virtual-table--cursor")
            if index == self.cursor_row
            else Style()
        )
        strip = self._line(self._rows[index], style)
        return strip.crop(scroll_x, scroll_x + width).extend_cell_length(width, style)

    def watch_cursor_row(self, old: int, new: int) -> None:
        visible = Region(0, self.scroll_offset.y, self.size.width, max(1, self.size.height - 1))
        if not visible.contains(0, new):
            self.scroll_to(y=max(0, new - (self.size.height - 2) // 2), animate=False)
        self.refresh()

    def action_cursor(self, delta: int) -> None:
        """Move the cursor by `delta` rows."""
        if self._rows:
            self.cursor_row = max(0, min(len(self._rows) - 1, self.cursor_row + delta))

    def action_page(self, direction: int) -> None:
        """Move the cursor by a screenful."""
        self.action_cursor(direction * max(1, self.size.height - 2))

    def action_cursor_to(self, index: int) -> None:
        """Move the cursor to a row (-1: the last)."""
        if self._rows:
            self.cursor_row = index % len(self._rows)

    def action_select(self) -> None:
        """Post RowSelected for the cursor row."""
        if self._rows:
            self.post_message(self.RowSelected(self, self.cursor_row))
