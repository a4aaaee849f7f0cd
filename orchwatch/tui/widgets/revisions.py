"""The revisions pane: one row per Cloud Run service, worst first, with its verdict."""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from orchwatch.analysis.revisions import Health, ServiceVerdict
from orchwatch.tui.styles import same_look, semantic_style
from orchwatch.tui.widgets.keys import TABLE_ROWS

COLUMNS = ("health", "service", "verdict", "why")
HEALTH_GLYPH = {
    Health.BAD: ("✗", "error"),
    Health.WARN: ("!", "warning"),
    Health.OK: ("✓", "success"),
}


class ServiceTable(DataTable[Text]):
    """Services and their verdicts; Enter opens a service's revision history."""

    BINDINGS = [*TABLE_ROWS]

    DEFAULT_CSS = """
    ServiceTable { height: auto; max-height: 100%; overflow-x: hidden; }
    """

    class ServiceChosen(Message):
        """The user chose a service."""

        def __init__(self, service: str) -> None:
            self.service = service
            super().__init__()

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self._order: tuple[str, ...] = ()
        self._rendered: dict[tuple[str, str], Text] = {}
        self._highlight: str | None = None

    def on_mount(self) -> None:
        # Fixed widths: a live table whose columns resize as verdicts change is hard to
        # read, and fixed columns need no measuring pass after each update.
        self.add_column("", key="health", width=1)
        self.add_column("service", key="service", width=30)
        self.add_column("verdict", key="verdict", width=56)
        self.add_column("why", key="why", width=100)

    def show(
        self,
        verdicts: tuple[ServiceVerdict, ...],
        missing: tuple[str, ...],
        drift_notes: dict[str, str] | None = None,
        where: str = "Cloud Run",
    ) -> None:
        """Show verdicts (already worst first) and the services Cloud Run does not have."""
        rows: dict[str, tuple[Text, Text, Text, Text]] = {}
        for verdict in verdicts:
            glyph, colour = HEALTH_GLYPH[verdict.health]
            style = semantic_style(self.app, colour, bold=verdict.health is not Health.OK)
            name_style = "bold underline" if verdict.service == self._highlight else "bold"
            rows[verdict.service] = (
                Text(glyph, style=style),
                Text(verdict.service, style=name_style),
                Text(verdict.text, style=style if verdict.health is not Health.OK else ""),
                Text(clip(verdict.reason, 100), style=style, no_wrap=True),
            )
        for name in missing:
            rows[name] = (
                Text("?", style=semantic_style(self.app, "warning", bold=True)),
                Text(name, style="bold"),
                Text(f"not found in {where}", style=semantic_style(self.app, "warning")),
                Text(""),
            )
        order = tuple(rows)
        if order != self._order:
            cursor_service = (
                self._order[self.cursor_row]
                if self._order and self.cursor_row < len(self._order)
                else None
            )
            self.clear()
            for name, cells in rows.items():
                self.add_row(*cells, key=name)
            self._order = order
            self._rendered = {
                (n, c): t for n, cells in rows.items() for c, t in zip(COLUMNS, cells, strict=True)
            }
            # The user's own row while they are in the table; else the grid's linked service.
            keep: str | None
            if self.has_focus and cursor_service in order:
                keep = cursor_service
            else:
                keep = self._highlight if self._highlight in order else cursor_service
            if keep in order:
                self.move_cursor(row=order.index(keep), animate=False)
            return
        with self.app.batch_update():
            for name, cells in rows.items():
                for column, text in zip(COLUMNS, cells, strict=True):
                    if not same_look(self._rendered.get((name, column)), text):
                        self.update_cell(name, column, text, update_width=True)
                        self._rendered[(name, column)] = text

    def highlight(self, service: str | None) -> None:
        """Mark (and move the cursor to) the orchestrator of the phase the grid is on."""
        self._highlight = service
        if service in self._order:
            self.move_cursor(row=self._order.index(service), animate=False)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.post_message(self.ServiceChosen(str(event.row_key.value)))


def clip(text: str, width: int) -> str:
    """One line of at most `width` characters (the history screen shows the rest)."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"
