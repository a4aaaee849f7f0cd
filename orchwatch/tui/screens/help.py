"""The `?` screen: every key binding (read from the app, so it cannot drift) and the legend."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from orchwatch.glyphs import STATE_COLOUR, STATE_GLYPH, STATE_MEANING
from orchwatch.tui.styles import semantic_style


class HelpScreen(ModalScreen[None]):
    """Keys and legend."""

    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close", id="help.close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Static(self._keys(), id="help-keys")
            yield Static(self._legend(), id="help-legend")
            yield Static(self._markers(), id="help-markers")
            yield Static(
                Text(
                    "Command palette: ctrl+p lists every command. Esc or ? closes this screen.",
                    style="dim",
                )
            )

    def on_mount(self) -> None:
        body = self.query_one("#help-body")
        body.border_title = "orchwatch help"

    def _keys(self) -> Table:
        from orchwatch.tui.dashboard import DashboardScreen
        from orchwatch.tui.panes.logs import LogsPane
        from orchwatch.tui.panes.revisions import RevisionsPane
        from orchwatch.tui.widgets.logs import LogView

        table = Table(title="Keys", title_justify="left", show_header=False, box=None, expand=True)
        table.add_column("key", style="bold", no_wrap=True)
        table.add_column("action")
        everywhere = [*DashboardScreen.BINDINGS, *self.app.BINDINGS]
        moments = [
            b for b in everywhere if isinstance(b, Binding) and b.id and b.id.startswith("moment.")
        ]
        sections = (
            ("everywhere", [b for b in everywhere if b not in moments]),
            ("on a recording", moments),
            ("revisions pane (2)", RevisionsPane.BINDINGS),
            ("logs pane (3)", LogsPane.BINDINGS),
            ("log tail", LogView.BINDINGS),
        )
        for title, bindings in sections:
            table.add_row(Text(title, style="italic dim"), "")
            seen: set[str] = set()
            for binding in bindings:
                if not isinstance(binding, Binding) or not binding.description:
                    continue
                if binding.description in seen or binding.key in (
                    "up",
                    "down",
                    "pageup",
                    "pagedown",
                ):
                    continue
                seen.add(binding.description)
                keys = binding.key_display or binding.key.replace(",", " / ")
                table.add_row(keys, binding.description)
        table.add_row(Text("in any pane", style="italic dim"), "")
        table.add_row("enter", "open the detail of the cell, service, revision or group")
        table.add_row("arrows / j k", "move within a list (h l across the grid and the strip)")
        table.add_row("home / end", "the first / the last row of a list")
        table.add_row("tab", "move between panes (the overview strip is one of them)")
        return table

    def _markers(self) -> Table:
        from orchwatch.analysis.revisions import MARKER_COLOUR, MARKER_GLYPH, MARKER_MEANING

        rows = [
            (f"{glyph} {marker.value}", MARKER_COLOUR[marker], MARKER_MEANING[marker])
            for marker, glyph in MARKER_GLYPH.items()
        ]
        return self._glyph_table("Revision markers", rows)

    def _legend(self) -> Table:
        rows = [
            (glyph, STATE_COLOUR[state], STATE_MEANING[state])
            for state, glyph in STATE_GLYPH.items()
        ]
        return self._glyph_table("Cell states", rows)

    def _glyph_table(self, title: str, rows: list[tuple[str, str, str]]) -> Table:
        """A legend: each glyph in its colour, and what it means."""
        table = Table(title=title, title_justify="left", show_header=False, box=None)
        table.add_column("glyph", no_wrap=True)
        table.add_column("meaning")
        for glyph, colour, meaning in rows:
            table.add_row(Text(glyph, style=semantic_style(self.app, colour, bold=True)), meaning)
        return table
