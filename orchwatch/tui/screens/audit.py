"""The audit log: who ran which action, where, and how it ended."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from orchwatch.actions.audit import read_audit
from orchwatch.sanitize import inert_line


class AuditScreen(ModalScreen[None]):
    """Newest first."""

    BINDINGS = [Binding("escape,q,a", "dismiss", "Close", id="audit.close")]

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def compose(self) -> ComposeResult:
        with Vertical(id="audit-body"):
            yield Static(
                Text(f"{self.path} · orchwatch audit --format markdown exports it", style="dim")
            )
            yield DataTable(id="audit-table", cursor_type="row")

    def on_mount(self) -> None:
        self.query_one("#audit-body").border_title = "Audit log"
        table: DataTable[Text] = self.query_one("#audit-table", DataTable)
        for column in ("time (UTC)", "user@host", "action", "service", "command", "outcome"):
            table.add_column(column, key=column)
        entries, _ = read_audit(self.path)
        for entry in reversed(entries):
            started = entry.started
            table.add_row(
                Text(str(started.get("time", ""))[:19]),
                Text(inert_line(f"{started.get('user')}@{started.get('host')}", 40)),
                Text(inert_line(str(started.get("action", "")))),
                Text(inert_line(str(started.get("service", "")))),
                Text(inert_line(" ".join(str(a) for a in started.get("command", [])), 80)),
                Text(entry.outcome),
            )
        table.focus()
