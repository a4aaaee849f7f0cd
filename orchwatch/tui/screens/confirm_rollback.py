"""Confirm a rollback: what serves now, what will serve, the evidence, and the command.

Moving production traffic always takes typing the service's name; Esc cancels.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from orchwatch.analysis.revisions import ServiceVerdict, short_name
from orchwatch.analysis.runtime import RollbackChoice
from orchwatch.sanitize import inert_line
from orchwatch.tui.screens.confirm_deploy import TypedConfirmation
from orchwatch.tui.styles import semantic_style


class ConfirmRollbackScreen(TypedConfirmation):
    """Dismisses True to roll back, False to cancel."""

    BORDER_TITLE = "Confirm rollback"
    DOING = "move the traffic"

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="rollback.cancel")]

    def __init__(
        self,
        choice: RollbackChoice,
        verdict: ServiceVerdict,
        argv: Sequence[str],
        stands_for: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.choice = choice
        self.verdict = verdict
        self.argv = list(argv)
        self.stands_for = list(stands_for) if stands_for else None
        """The configured command the demo's stand-in simulates."""

    def compose(self) -> ComposeResult:
        choice, verdict = self.choice, self.verdict
        table = Table(show_header=False, box=None, expand=True)
        table.add_column("what", style="dim", no_wrap=True)
        table.add_column("value")
        error = semantic_style(self.app, "error", bold=True)
        table.add_row(
            "serving now",
            Text(inert_line(f"{short_name(choice.serving)} · {verdict.text}", 400), style=error),
        )
        target = short_name(choice.target or "")
        table.add_row("will serve", Text(f"{target} (100% of the traffic, pinned)", style="bold"))
        table.add_row("evidence", Text(inert_line(choice.why, 400)))
        table.add_row("command", Text(inert_line(shlex.join(self.argv), 500), style="bold"))
        if self.stands_for:
            table.add_row("the demo for", Text(inert_line(shlex.join(self.stands_for), 500)))
        table.add_row(
            "after",
            Text(
                "later deploys of a pinned service get no traffic until it is moved back "
                "to latest (gcloud run services update-traffic --to-latest)",
                style="dim",
            ),
        )
        with VerticalScroll(id="detail-body"):
            yield Static(Text.assemble("Roll back ", (choice.service, "bold"), f" to {target}?"))
            yield Static(table)
            yield from self.typing_prompt()

    def own_name(self) -> str:
        """Moving traffic always takes the service's name typed."""
        return self.choice.service
