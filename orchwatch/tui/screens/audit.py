"""The audit log: who ran which action, where, and how it ended."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from orchwatch.actions.audit import read_audit, shown_time
from orchwatch.sanitize import inert_line
from orchwatch.tui.widgets.keys import ListTable


class AuditScreen(ModalScreen[None]):
    """Newest first."""

    BINDINGS = [Binding("escape,q,a", "dismiss", "Close", id="audit.close")]

    def __init__(self, path: Path, zone: ZoneInfo) -> None:
        super().__init__()
        self.path = path
        self.zone = zone
        """The dashboard's zone: the records are UTC, shown here as every other time is."""

    def compose(self) -> ComposeResult:
        with Vertical(id="audit-body"):
            yield Static(
                Text(f"{self.path} · orchwatch audit --format markdown exports it", style="dim")
            )
            yield ListTable(id="audit-table", cursor_type="row")

    def on_mount(self) -> None:
        self.query_one("#audit-body").border_title = "Audit log"
        table: DataTable[Text] = self.query_one("#audit-table", DataTable)
        zone = datetime.now(self.zone).strftime("%Z")
        for column in (f"time ({zone})", "user@host", "action", "service", "command", "outcome"):
            table.add_column(column, key=column)
        entries, _ = read_audit(self.path)
        for entry in reversed(entries):
            started = entry.started
            table.add_row(
                Text(shown_time(started.get("time", ""), self.zone)),
                Text(inert_line(f"{started.get('user')}@{started.get('host')}", 40)),
                Text(inert_line(str(started.get("action", "")))),
                Text(inert_line(str(started.get("service", "")))),
                Text(inert_line(" ".join(str(a) for a in started.get("command", [])), 80)),
                Text(entry.outcome),
            )
        table.focus()
