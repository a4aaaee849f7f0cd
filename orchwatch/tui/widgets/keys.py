"""Keys every list shares: vi's j/k (and h/l where a list moves sideways), as k9s and
lazygit users type them by reflex. `g` is the dashboard's "go to date", so no g/G here:
Home and End go to the first and the last row."""

from __future__ import annotations

from textual.binding import Binding

TABLE_ROWS = [
    Binding("j", "cursor_down", "Down", show=False),
    Binding("k", "cursor_up", "Up", show=False),
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
