"""Keys every list shares: vi's j/k (and h/l where a list moves sideways), as k9s and
lazygit users type them by reflex. `g` is the dashboard's "go to date", so no g/G here:
Home and End go to the first and the last row."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

TABLE_ROWS = [
    Binding("j", "cursor_down", "Down", show=False),
    Binding("k", "cursor_up", "Up", show=False),
    # DataTable's own Home/End move across columns; a list's go to its ends.
    Binding("home", "scroll_top", "First", show=False),
    Binding("end", "scroll_bottom", "Last", show=False),
]
"""For a DataTable."""

TABLE_COLUMNS = [
    Binding("h", "cursor_left", "Left", show=False),
    Binding("l", "cursor_right", "Right", show=False),
]
"""For a DataTable whose columns are worth moving across (the grid, the strip)."""

VIEW_ROWS = [
    Binding("j", "cursor(1)", "Down", show=False),
    Binding("k", "cursor(-1)", "Up", show=False),
]
"""For the scroll views with a `cursor(delta)` action (the log tail, virtual tables)."""


class ListTable(DataTable[Text]):
    """A DataTable of rows with the keys every list shares (the audit log, the
    walkthrough)."""

    BINDINGS = [*TABLE_ROWS]
