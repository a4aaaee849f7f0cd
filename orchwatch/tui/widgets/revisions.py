"""The revisions pane: one row per Cloud Run service, worst first, with its verdict."""

from __future__ import annotations

from datetime import date

from rich.text import Text
from textual.events import Resize
from textual.message import Message
from textual.widgets import DataTable

from orchwatch.analysis.revisions import Health, ServiceVerdict
from orchwatch.sanitize import clip, clip_lines, distinct_width
from orchwatch.tui.styles import semantic_style
from orchwatch.tui.widgets.diff_table import DiffTable, container_size
from orchwatch.tui.widgets.keys import TABLE_ROWS
from orchwatch.tui.widgets.list_filter import matches
from orchwatch.tui.widgets.subject import Subject

COLUMNS = ("health", "service", "verdict", "why")
Widths = tuple[int, ...]
"""A width per column of COLUMNS, in order; the last column may be left out."""
REASON_LINES = 2
"""Lines a reason gets under its verdict when the table has no room for a why column."""
HEALTH_GLYPH = {
    Health.BAD: ("✗", "error"),
    Health.WARN: ("!", "warning"),
    Health.OK: ("✓", "success"),
}


class ServiceTable(DiffTable):
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
        super().__init__(id=id, cursor_type="row")
        self._order: tuple[str, ...] = ()
        self._highlight: str | None = None
        self._widths: Widths = (0, 0, 0, 0)
        self._heights: tuple[int, ...] = ()
        self._last: tuple[tuple[ServiceVerdict, ...], tuple[str, ...], str] | None = None
        self.words = ""
        """The filter's words: only services that hold them are shown."""

    def on_mount(self) -> None:
        self._fit_columns(self._fit((), ()))

    def on_resize(self, event: Resize) -> None:
        self.refit()

    def refit(self) -> None:
        """Lay the columns out again for the room there is now (the pane was resized)."""
        if self._last is not None:
            self.show(*self._last)

    def _fit(self, verdicts: tuple[ServiceVerdict, ...], missing: tuple[str, ...]) -> Widths:
        """Column widths for the table's width: the verdict gets the room it needs first,
        then the reason; a long service name is cut when the verdict would otherwise get
        less than 40 columns, but never so far that two services read alike (the history
        screen has the whole name).
        Widths are fixed between resizes: a live table whose columns move as verdicts
        change is hard to read, and fixed columns need no measuring after each update."""
        inner = max(container_size(self).width, 30) - 2 * len(COLUMNS)  # each cell's padding
        names = [v.service for v in verdicts] + list(missing)
        texts = [v.text for v in verdicts] + [""]
        longest = min(max(map(len, names), default=7), 30)
        # Enough for the state, both revisions and FAILED (`CRASHING 00025 · latest 00026
        # FAILED`); the name keeps its distinguishing part.
        service = min(longest, max(distinct_width(names, 10, longest), inner - 1 - 40))
        verdict = min(max(map(len, texts)), max(12, inner - 1 - service))
        why = inner - 1 - service - verdict
        if why < 12:  # no room for a readable reason: no column (the history has it)
            return (1, service, min(max(map(len, texts)), inner + 2 - 1 - service))
        return (1, service, verdict, why)

    def _fit_columns(self, widths: Widths) -> None:
        self._widths = widths
        self.clear(columns=True)
        for key, width in zip(COLUMNS, widths, strict=False):
            self.add_column("" if key == "health" else key, key=key, width=width)
        self._order, self._heights = (), ()
        self.forget_shape()

    def show(
        self,
        verdicts: tuple[ServiceVerdict, ...],
        missing: tuple[str, ...],
        where: str = "Cloud Run",
    ) -> None:
        """Show verdicts (already worst first) and the services Cloud Run does not have,
        those the filter's words keep."""
        self._last = (verdicts, missing, where)
        if self.words:
            verdicts = tuple(
                v for v in verdicts if matches(self.words, (v.service, v.text, v.reason))
            )
            missing = tuple(name for name in missing if matches(self.words, (name,)))
        cursor_service = (
            self._order[self.cursor_row]
            if self._order and self.cursor_row < len(self._order)
            else None
        )
        widths = self._fit(verdicts, missing)
        if widths != self._widths:
            self._fit_columns(widths)
        service_width, verdict_width = widths[1], widths[2]
        why_width = widths[3] if len(widths) > 3 else 0
        shown = len(widths)
        rows: dict[str, tuple[Text, Text, Text, Text]] = {}
        # Rows the pane has to spare go to the worst verdict's text and reason (wrapped,
        # never cut while rows sit empty below).
        spare = max(0, container_size(self).height - 1 - len(verdicts) - len(missing))
        spare -= sum(REASON_LINES for v in verdicts if v.reason and not why_width)
        for verdict in verdicts:
            glyph, colour = HEALTH_GLYPH[verdict.health]
            style = semantic_style(self.app, colour, bold=verdict.health is not Health.OK)
            name_style = "bold underline" if verdict.service == self._highlight else "bold"
            extra = spare if verdict.health is Health.BAD and spare > 0 else 0
            spare -= extra
            verdict_lines = clip_lines(verdict.text, verdict_width, 1 + min(extra, 2))
            extra -= len(verdict_lines) - 1
            text = Text(
                "\n".join(verdict_lines),
                style=style if verdict.health is not Health.OK else "",
            )
            reason = lead_with_cause(verdict.reason)
            if not why_width and reason:  # no why column: the reason below the verdict
                for line in clip_lines(reason, verdict_width, REASON_LINES + max(extra, 0)):
                    text.append("\n" + line, style="dim")
            rows[verdict.service] = (
                Text(glyph, style=style),
                Text(clip(verdict.service, service_width), style=name_style),
                text,
                Text(clip(reason, why_width), style=style, no_wrap=True),
            )
        for name in missing:
            rows[name] = (
                Text("?", style=semantic_style(self.app, "warning", bold=True)),
                Text(clip(name, service_width), style="bold"),
                Text(
                    clip(f"not found in {where}", verdict_width),
                    style=semantic_style(self.app, "warning"),
                ),
                Text(""),
            )
        order = tuple(rows)
        heights = tuple(cells[2].plain.count("\n") + 1 for cells in rows.values())

        def rebuild() -> None:
            self.clear()
            for (name, cells), height in zip(rows.items(), heights, strict=True):
                self.add_row(*cells[:shown], key=name, height=height)
            self._order, self._heights = order, heights
            # The user's own row while they are in the table; else the grid's linked service.
            keep: str | None
            if self.has_focus and cursor_service in order:
                keep = cursor_service
            else:
                keep = self._highlight if self._highlight in order else cursor_service
            if keep in order:
                self.move_cursor(row=order.index(keep), animate=False)

        cells = {
            (name, column): text
            for name, row in rows.items()
            for column, text in zip(COLUMNS[:shown], row, strict=False)
        }
        self.paint((widths, order, heights), cells, rebuild)

    def service_under_cursor(self) -> str | None:
        """The service of the cursor's row."""
        if not self._order or not 0 <= self.cursor_row < len(self._order):
            return None
        return self._order[self.cursor_row]

    def subject(self, day: date) -> Subject | None:
        """The service of the cursor's row."""
        service = self.service_under_cursor()
        return ({"service": service}, day) if service else None

    def to_attention(self) -> None:
        """Put the cursor on the first row that needs attention (rows are worst first), if
        any; else leave it where it is (on the grid's linked orchestrator)."""
        verdicts = self._last[0] if self._last is not None else ()
        if verdicts and verdicts[0].health is not Health.OK:
            self.move_cursor(row=0, animate=False)

    def highlight(self, service: str | None) -> None:
        """Mark (and move the cursor to) the orchestrator of the phase the grid is on."""
        self._highlight = service
        if service in self._order:
            self.move_cursor(row=self._order.index(service), animate=False)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.post_message(self.ServiceChosen(str(event.row_key.value)))


def lead_with_cause(reason: str) -> str:
    """A revision's reason with the cause its logs name first: Cloud Run ends a failed
    health check's message with `Logs: <the exception>`, and that exception is what an
    operator needs (a cut message would hide it)."""
    head, found, logs = reason.partition("Logs: ")
    if not found or not logs.strip():
        return reason
    kind = head.split(":", 1)[0].strip()
    return f"{logs.strip()} ({kind})" if kind else logs.strip()
