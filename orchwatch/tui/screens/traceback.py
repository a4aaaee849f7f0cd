"""A group's sample traceback, highlighted as a Python traceback (never as markup)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from orchwatch.analysis.revisions import short_name, short_names
from orchwatch.model import ErrorGroup
from orchwatch.sanitize import inert, inert_line


class TracebackScreen(ModalScreen[None]):
    """The latest event of a group, with its counts and where it was seen."""

    BINDINGS = [Binding("escape,q,enter", "dismiss", "Close", id="traceback.close")]

    def __init__(self, group: ErrorGroup, now: datetime, zone: ZoneInfo) -> None:
        super().__init__()
        self.group = group
        self._now = now
        self._zone = zone

    def compose(self) -> ComposeResult:
        group = self.group
        first = group.first_seen.astimezone(self._zone).strftime("%Y-%m-%d %H:%M:%S %Z")
        last = group.last_seen.astimezone(self._zone).strftime("%Y-%m-%d %H:%M:%S %Z")
        revisions = short_names(group.revisions)
        with VerticalScroll(id="detail-body"):
            yield Static(
                Text.assemble(
                    (inert_line(group.exception_type), "bold"),
                    f"  ×{group.count}  ",
                    (f"new since {short_name(group.new_since)}" if group.new_since else "", "bold"),
                )
            )
            yield Static(Text(inert_line(group.message, 400)))
            yield Static(
                Text(f"first {first} · last {last} · fingerprint {group.fingerprint}", style="dim")
            )
            yield Static(
                Text(
                    f"services {inert_line(', '.join(group.services))} · revisions "
                    f"{inert_line(revisions)}",
                    style="dim",
                )
            )
            yield Static(
                Syntax(inert(group.sample), "pytb", word_wrap=True, theme="ansi_dark"),
                id="traceback-sample",
            )
            yield Static(Text("Esc closes.", style="dim"))

    def on_mount(self) -> None:
        self.query_one("#detail-body").border_title = "Sample traceback"
