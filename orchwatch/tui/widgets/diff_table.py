"""A table repainted by difference: rebuilt only when its shape changes, else only the
cells whose look changed are updated (a rebuild costs a layout pass of the screen, and
the panes repaint every few seconds)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Literal

from rich.text import Text
from textual.geometry import Size
from textual.widget import Widget
from textual.widgets import DataTable

from orchwatch.tui.styles import same_look

CellKey = tuple[str, str]
"""(row key, column key)."""


class DiffTable(DataTable[Text]):
    """A DataTable whose `paint` rebuilds on a new shape and otherwise updates only the
    cells that look different from what is on screen."""

    def __init__(
        self,
        *,
        id: str | None = None,
        cursor_type: Literal["cell", "row", "column", "none"] = "cell",
        show_row_labels: bool = True,
    ) -> None:
        super().__init__(
            id=id, cursor_type=cursor_type, zebra_stripes=False, show_row_labels=show_row_labels
        )
        self._shape: Hashable = None
        self._rendered: dict[CellKey, Text] = {}

    def paint(
        self, shape: Hashable, cells: Mapping[CellKey, Text], rebuild: Callable[[], None]
    ) -> bool:
        """Show `cells`: `rebuild` (which adds the rows and columns) when `shape` differs
        from the one on screen, else update the cells whose look changed. Returns whether
        the table was rebuilt."""
        if shape != self._shape:
            rebuild()
            self._shape = shape
            self._rendered = dict(cells)
            return True
        with self.app.batch_update():
            for key, text in cells.items():
                if not same_look(self._rendered.get(key), text):
                    self.update_cell(key[0], key[1], text, update_width=True)
                    self._rendered[key] = text
        return False

    def forget_shape(self) -> None:
        """The next `paint` rebuilds (the columns were laid out again)."""
        self._shape = None


def container_size(table: DataTable[Text]) -> Size:
    """The room a table may fill: its container's content size (a table sized to its
    content never shrinks on its own when its pane does). Before the container is laid
    out, the table's own width and no height (never its own height: a table that grows
    into the rows it is offered would offer itself more)."""
    parent = table.parent
    room = parent.content_size if isinstance(parent, Widget) else Size(0, 0)
    return Size(room.width or table.size.width, room.height)
