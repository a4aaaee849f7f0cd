"""Textual behaviours the widgets rely on, pinned by minimal reproductions.

If a Textual release changes one of these, its test fails here, with the widget that
relies on it named, instead of as a stale frame in a snapshot.
"""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.message import Message
from textual.widgets import DataTable


class Widen(Message):
    """Update the cell from a handler of another node, as the panes do."""


class OneCell(App[None]):
    def compose(self) -> ComposeResult:
        yield DataTable()

    def on_mount(self) -> None:
        table: DataTable[str] = self.query_one(DataTable)
        table.add_column("c", key="c")
        table.add_row("x", key="r")

    def on_widen(self, _message: Widen) -> None:
        self.query_one(DataTable).update_cell("r", "c", "ten chars!", update_width=True)


async def test_a_cell_updated_from_another_nodes_handler_is_measured_without_help() -> None:
    """The incremental tables (grid, overview strip, services) update cells in place with
    `update_width=True` from their pane's handler. The column is measured on the table's
    Idle; `update_cell` calls `refresh()`, which calls `check_idle()` (Textual 8.2.8), so
    the table measures before the next frame with no nudge. Older releases needed one (a
    no-op `call_later` on the table, removed once this held)."""
    app = OneCell()
    async with app.run_test() as pilot:
        await pilot.pause()
        table: DataTable[str] = app.query_one(DataTable)
        assert table.columns["c"].content_width == 1
        app.post_message(Widen())
        await pilot.pause()
        assert table.columns["c"].content_width == len("ten chars!")
