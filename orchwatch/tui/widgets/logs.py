"""The log pane's widgets: the grouped errors table, and the raw tail of the stream.

Everything from the logs is data: it goes into `rich.text.Text` (never parsed as
markup) after `orchwatch.sanitize.inert_line` has made control characters visible.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.events import Resize
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import DataTable

from orchwatch.analysis.revisions import age, short_name
from orchwatch.analysis.tracebacks import in_traceback
from orchwatch.model import ErrorGroup, LogEntry, severity_rank
from orchwatch.sanitize import clip, clip_lines, inert_line
from orchwatch.tui.styles import semantic_style
from orchwatch.tui.widgets.diff_table import container_size
from orchwatch.tui.widgets.keys import TABLE_ROWS, VIEW_ROWS
from orchwatch.tui.widgets.list_filter import matches
from orchwatch.tui.widgets.subject import Subject

HEALTH_LIGHT: dict[str, tuple[str, str]] = {
    "live": ("●", "success"),
    "reconnecting": ("◌", "warning"),
    "gap backfilled": ("◍", "accent"),
    "stopped": ("■", "muted"),
    "replay": ("◆", "accent"),
}
SEVERITY_COLOUR = {
    "WARNING": "warning",
    "ERROR": "error",
    "CRITICAL": "error",
    "ALERT": "error",
    "EMERGENCY": "error",
    "DEBUG": "muted",
    "DEFAULT": "muted",
}
THRESHOLDS = ("DEFAULT", "INFO", "WARNING", "ERROR")
CONTEXT_LINES = 2
NARROW_MESSAGE = 60
"""With fewer columns than this for a message that needs more, the exception and its
message share one column over two lines."""


class LogView(ScrollView, can_focus=True):
    """A ring buffer of entries, rendered one visible line at a time.

    Follows the stream unless paused; a severity threshold and a service filter
    hide lines; a search highlights matches and keeps `CONTEXT_LINES` lines of
    context around each (the rest are folded away until the search is cleared).
    """

    DEFAULT_CSS = """
    LogView { height: 1fr; }
    LogView > .log-view--cursor { background: $accent 30%; }
    LogView:focus > .log-view--cursor { background: $accent 60%; }
    """
    COMPONENT_CLASSES = {"log-view--cursor"}
    BINDINGS = [
        *VIEW_ROWS,
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "cursor(-20)", "Page up", show=False),
        Binding("pagedown", "cursor(20)", "Page down", show=False),
        Binding("home", "cursor_to(0)", "First", show=False),
        Binding("end", "cursor_to(-1)", "Last", show=False),
        Binding("enter", "jump", "Its group", id="logs.jump"),
    ]

    cursor: reactive[int] = reactive(-1)

    class JumpToGroup(Message):
        """Enter on a line that belongs to a traceback."""

        def __init__(self, insert_id: str) -> None:
            self.insert_id = insert_id
            super().__init__()

    def __init__(self, capacity: int, zone: ZoneInfo, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.zone = zone
        self._entries: deque[LogEntry] = deque(maxlen=capacity)
        self._dropped = 0
        """Entries that fell off the front of the ring (so positions stay stable)."""
        self._visible: list[int] = []
        """Absolute positions (dropped + index) of the lines on show; -1 marks a fold."""
        self.following = True
        self.threshold = "DEFAULT"
        self.service: str | None = None
        self.search: re.Pattern[str] | None = None
        self.unseen = 0

    # --- content -------------------------------------------------------------------------------

    @property
    def entries(self) -> Sequence[LogEntry]:
        """The buffered entries, oldest first."""
        return self._entries

    def append(self, entries: Sequence[LogEntry]) -> None:
        """Add a batch (one call per frame, however many entries)."""
        if not entries:
            return
        overflow = max(0, len(self._entries) + len(entries) - (self._entries.maxlen or 0))
        self._entries.extend(entries)
        self._dropped += overflow
        if self.search is not None or overflow:
            self._recompute()
        else:
            start = self._dropped + len(self._entries) - len(entries)
            self._visible.extend(start + i for i, e in enumerate(entries) if self._passes(e))
            self._resize()
        if self.following:
            self.cursor = len(self._visible) - 1
            self.scroll_end(animate=False)
        else:
            self.unseen += len(entries)
        self.refresh()

    def _passes(self, entry: LogEntry) -> bool:
        rank = severity_rank(entry.severity)
        if rank < severity_rank(self.threshold) and not (rank == 0 and in_traceback(entry.text)):
            return False  # (a line with no severity that is part of a traceback always shows)
        return self.service is None or entry.service == self.service

    def _recompute(self) -> None:
        base = self._dropped
        passing = [base + i for i, e in enumerate(self._entries) if self._passes(e)]
        if self.search is None:
            self._visible = passing
        else:
            keep: list[int] = []
            matches = [p for p in passing if self.search.search(self._entries[p - base].text)]
            index = {p: n for n, p in enumerate(passing)}
            wanted: set[int] = set()
            for match in matches:
                n = index[match]
                wanted.update(passing[max(0, n - CONTEXT_LINES) : n + CONTEXT_LINES + 1])
            previous = None
            for position in sorted(wanted):
                if previous is not None and index[position] != index[previous] + 1:
                    keep.append(-1)  # a fold between context blocks
                keep.append(position)
                previous = position
            self._visible = keep
        self._resize()
        self.cursor = min(self.cursor, len(self._visible) - 1)

    def _resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self._visible))

    def set_filters(
        self, threshold: str, service: str | None, search: re.Pattern[str] | None
    ) -> None:
        """Change what is shown; the buffer is kept."""
        self.threshold, self.service, self.search = threshold, service, search
        self._recompute()
        if self.following:
            self.cursor = len(self._visible) - 1
            self.scroll_end(animate=False)
        self.refresh()

    def set_following(self, following: bool) -> None:
        """Pause (keep the view still) or follow the stream."""
        self.following = following
        if following:
            self.unseen = 0
            self.cursor = len(self._visible) - 1
            self.scroll_end(animate=False)

    def line_text(self, row: int) -> str:
        """The plain text of a visible row (for tests and copying)."""
        return self._render_text(self._visible[row]).plain

    @property
    def visible_count(self) -> int:
        """Rows on show (including folds)."""
        return len(self._visible)

    # --- rendering -----------------------------------------------------------------------------

    def _render_text(self, position: int) -> Text:
        if position < 0:
            return Text("  ⋯", style="dim")
        entry = self._entries[position - self._dropped]
        severity = entry.severity.upper()
        when = entry.timestamp.astimezone(self.zone).strftime("%H:%M:%S")
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"{when} ", style="dim")
        text.append(
            f"{severity[:4]:<4} ", style=semantic_style(self.app, SEVERITY_COLOUR.get(severity, ""))
        )
        width = 36 if self.size.width >= 140 else 28  # wide: every name whole
        text.append(f"{clip(inert_line(entry.service), width):<{width}} ", style="bold")
        body = Text(inert_line(entry.text))
        if self.search is not None:
            body.highlight_regex(self.search, style=Style(reverse=True, bold=True))
        text.append_text(body)
        return text

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = scroll_y + y
        width = self.size.width
        if row >= len(self._visible):
            return Strip.blank(width, self.rich_style)
        text = self._render_text(self._visible[row])
        style = self.get_component_rich_style("log-view--cursor") if row == self.cursor else None
        segments = list(text.render(self.app.console))
        strip = Strip(segments).crop(scroll_x, scroll_x + width).extend_cell_length(width)
        return strip.apply_style(style) if style else strip

    def on_resize(self) -> None:
        self._resize()

    # --- keys ----------------------------------------------------------------------------------

    def watch_cursor(self, _old: int, new: int) -> None:
        if new >= 0 and not (self.scroll_offset.y <= new < self.scroll_offset.y + self.size.height):
            self.scroll_to(y=max(0, new - self.size.height + 1), animate=False)
        self.refresh()

    def action_cursor(self, delta: int) -> None:
        """Move the cursor; moving up stops following."""
        if not self._visible:
            return
        self.cursor = max(0, min(len(self._visible) - 1, self.cursor + delta))
        if delta < 0 and self.following:
            self.set_following(False)

    def action_cursor_to(self, row: int) -> None:
        """Jump to the first or (-1) the last line."""
        if self._visible:
            self.cursor = row % len(self._visible)

    def action_jump(self) -> None:
        """Ask to show the group of the traceback under the cursor."""
        if 0 <= self.cursor < len(self._visible) and self._visible[self.cursor] >= 0:
            entry = self._entries[self._visible[self.cursor] - self._dropped]
            self.post_message(self.JumpToGroup(entry.insert_id))


class ErrorGroupTable(DataTable[Text]):
    """Grouped exceptions; Enter shows the sample traceback."""

    BINDINGS = [*TABLE_ROWS]

    class GroupChosen(Message):
        """Enter on a group."""

        def __init__(self, fingerprint: str) -> None:
            self.fingerprint = fingerprint
            super().__init__()

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row")
        self._order: tuple[str, ...] = ()
        self._widths: dict[str, int] = {}
        self._last: tuple[Sequence[ErrorGroup], datetime] | None = None
        self.words = ""
        """The filter's words: only groups that hold them are shown."""

    def on_mount(self) -> None:
        self.show([], datetime.now().astimezone())  # the header before the first read

    def on_resize(self, event: Resize) -> None:
        self.refit()

    def refit(self) -> None:
        """Lay the columns out again for the room there is now (the pane was resized)."""
        if self._last is not None:
            self.show(*self._last)

    def _fit(self, groups: Sequence[ErrorGroup]) -> dict[str, int]:
        """Column widths for the table's width: the exception and its message first (up
        to what they need), then the last time, the services and "new since" while the
        message keeps its room. Too narrow for the message beside its exception, both
        share one `error` column over two lines (`ModuleNotFoundError: No module named`,
        then the module). Fixed between resizes, so rows do not shift as counts change."""
        exception = min(22, max((len(g.exception_type) for g in groups), default=0))
        exception = max(exception, len("exception"))
        message = min(90, max((len(g.message) for g in groups), default=7))
        services = min(34, max((len(", ".join(g.services)) for g in groups), default=8))
        room = max(container_size(self).width, 24) - 3 * 2 - 6 - exception  # the message's, for now
        if room < message and room < NARROW_MESSAGE:
            return {"count": 6, "error": room + exception + 2}
        widths = {"count": 6, "exception": exception}
        optional = {"last": 10, "services": max(8, services), "new since": 9}
        for column, width in optional.items():
            if room - (width + 2) >= message:
                widths[column] = width
                room -= width + 2
        widths["message"] = max(12, room)
        order = ("count", "exception", "message", "services", "last", "new since")
        return {column: widths[column] for column in order if column in widths}

    def show(self, groups: Sequence[ErrorGroup], now: datetime) -> None:
        """Show groups (already ordered) that the filter's words keep, keeping the cursor
        on its group."""
        self._last = (groups, now)
        if self.words:
            groups = [
                g for g in groups if matches(self.words, (g.exception_type, g.message, *g.services))
            ]
        current = (
            self._order[self.cursor_row]
            if self._order and self.cursor_row < len(self._order)
            else None
        )
        widths = self._fit(groups)
        with self.app.batch_update():
            if widths != self._widths:
                self._widths = widths
                self.clear(columns=True)
                for column, width in widths.items():
                    self.add_column(column, key=column, width=width)
            self.clear()
            for group in groups:
                recent = now - group.last_seen <= timedelta(minutes=15)
                style = semantic_style(self.app, "error" if recent else "warning", bold=recent)
                exception = inert_line(group.exception_type, 200)
                message = inert_line(group.message, 300)
                services = ", ".join(group.services)
                error = Text()
                if "error" in widths:
                    lines = clip_lines(f"{exception}: {message}", widths["error"], 2)
                    error = Text("\n".join(lines))
                    error.stylize(style, 0, min(len(exception), len(error)))
                cells = {
                    "count": Text(str(group.count), style=style, justify="right"),
                    "exception": Text(clip(exception, widths.get("exception", 9)), style=style),
                    "message": Text(clip(message, widths.get("message", 12))),
                    "error": error,
                    "services": Text(clip(inert_line(services, 300), widths.get("services", 8))),
                    "last": Text(f"{age(now - group.last_seen)} ago"),
                    "new since": Text(
                        short_name(group.new_since) if group.new_since else "",
                        style=semantic_style(self.app, "accent", bold=True),
                    ),
                }
                self.add_row(
                    *(cells[column] for column in widths),
                    key=group.fingerprint,
                    height=error.plain.count("\n") + 1,
                )
        self._order = tuple(g.fingerprint for g in groups)
        if current in self._order:
            self.move_cursor(row=self._order.index(current), animate=False)

    def fingerprint_under_cursor(self) -> str | None:
        """The group of the cursor's row."""
        if not self._order or not 0 <= self.cursor_row < len(self._order):
            return None
        return self._order[self.cursor_row]

    def subject(self, day: date) -> Subject | None:
        """The error group of the cursor's row."""
        fingerprint = self.fingerprint_under_cursor()
        return ({"group": fingerprint}, day) if fingerprint else None

    def filter(self, words: str) -> None:
        """Show only the groups that hold `words` (all of them for "")."""
        self.words = words
        if self._last is not None:
            self.show(*self._last)

    def select(self, fingerprint: str) -> bool:
        """Move the cursor to a group; False when it is not on show."""
        if fingerprint not in self._order:
            return False
        self.move_cursor(row=self._order.index(fingerprint), animate=False)
        return True

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.post_message(self.GroupChosen(str(event.row_key.value)))
