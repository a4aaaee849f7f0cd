"""The audit log: who ran which action, where, and how it ended."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.events import Resize
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from orchwatch.actions.audit import AuditEntry, read_audit, shown_time
from orchwatch.sanitize import clip, inert_line
from orchwatch.tui.widgets.keys import ListTable


class AuditScreen(ModalScreen[None]):
    """Newest first; the outcome beside the action, the command last (cut to the width);
    Enter shows a record whole."""

    BINDINGS = [Binding("escape,q,a", "dismiss", "Close", id="audit.close")]

    def __init__(self, path: Path, zone: ZoneInfo) -> None:
        super().__init__()
        self.path = path
        self.zone = zone
        """The dashboard's zone: the records are UTC, shown here as every other time is."""
        self.entries: list[AuditEntry] = []
        """The records, newest first (the table's order)."""

    def compose(self) -> ComposeResult:
        with Vertical(id="audit-body"):
            yield Static(
                Text(
                    f"{self.path} · Enter shows a record whole · "
                    "orchwatch audit --format markdown exports it",
                    style="dim",
                )
            )
            yield ListTable(id="audit-table", cursor_type="row")

    def on_mount(self) -> None:
        self.query_one("#audit-body").border_title = "Audit log"
        entries, _ = read_audit(self.path)
        self.entries = list(reversed(entries))
        self._fill()
        self.query_one("#audit-table", DataTable).focus()

    def on_resize(self, event: Resize) -> None:
        self._fill()

    def _fill(self) -> None:
        table: DataTable[Text] = self.query_one("#audit-table", DataTable)
        cursor = table.cursor_row
        table.clear(columns=True)
        zone = datetime.now(self.zone).strftime("%Z")
        rows = [
            (
                shown_time(e.started.get("time", ""), self.zone),
                inert_line(str(e.started.get("action", ""))),
                inert_line(str(e.started.get("service", ""))),
                inert_line(e.outcome),
                inert_line(f"{e.started.get('user')}@{e.started.get('host')}", 40),
                inert_line(" ".join(str(a) for a in e.started.get("command", [])), 500),
            )
            for e in self.entries
        ]
        headers = (f"time ({zone})", "action", "service", "outcome", "user@host", "command")
        widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
        # Everything but the command fits as it is (the outcome up to 60 cells, the rest on
        # Enter); the command takes what is left, cut with an ellipsis.
        widths[3] = min(widths[3], 60)
        room = max(table.size.width or self.size.width, 80) - 2 * len(headers) - 2
        widths[5] = max(12, room - sum(widths[:5]))
        for header, width in zip(headers, widths, strict=True):
            table.add_column(header, key=header.split(" ")[0], width=width)
        for row in rows:
            table.add_row(
                *(Text(clip(cell, width)) for cell, width in zip(row, widths, strict=True))
            )
        if self.entries:
            table.move_cursor(row=min(cursor, len(self.entries) - 1), animate=False)

    @on(DataTable.RowSelected, "#audit-table")
    def _open(self, event: DataTable.RowSelected) -> None:
        if 0 <= event.cursor_row < len(self.entries):
            self.app.push_screen(AuditRecordScreen(self.entries[event.cursor_row], self.zone))


class AuditRecordScreen(ModalScreen[None]):
    """One audit record, whole: who, where, the command, how it ended, its output's tail."""

    BINDINGS = [Binding("escape,q,enter", "dismiss", "Close", id="audit.record.close")]

    def __init__(self, entry: AuditEntry, zone: ZoneInfo) -> None:
        super().__init__()
        self.entry = entry
        self.zone = zone

    def compose(self) -> ComposeResult:
        started, finished = self.entry.started, self.entry.finished or {}
        lines = [
            f"started   {shown_time(started.get('time', ''), self.zone)}",
            f"by        {started.get('user')}@{started.get('host')}",
            f"action    {started.get('action', '')} {started.get('service', '')}",
            f"command   {' '.join(str(a) for a in started.get('command', []))}",
            f"in        {started.get('cwd', '')}",
            f"validator {started.get('validator_verdict', '') or '—'}",
            f"outcome   {self.entry.outcome}",
        ]
        if self.entry.pgid is not None:
            lines.append(f"process group {self.entry.pgid}")
        if self.entry.output:
            lines.append(f"output in {self.entry.output}")
        tail = [str(line) for line in finished.get("output_tail", [])]
        if tail:
            lines += ["", "output (last lines):", *tail]
        with VerticalScroll(id="detail-body"):
            yield Static(Text("\n".join(inert_line(line, 1000) for line in lines)))

    def on_mount(self) -> None:
        self.query_one("#detail-body").border_title = "Audit record"
