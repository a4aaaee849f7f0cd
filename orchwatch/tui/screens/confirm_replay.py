"""Confirm a replay: what will be published (every message, in full) or sought, and why.

Publishing to a production topic takes typing the phase's name; Esc cancels. A plan that
cannot run (nothing to replay, the orchestrator still refuses) shows why, and only Esc.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from orchwatch.analysis.replay import ReplayPlan, preview_lines
from orchwatch.sanitize import inert_line
from orchwatch.tui.screens.confirm_deploy import typed_name
from orchwatch.tui.styles import semantic_style


class ConfirmReplayScreen(ModalScreen[bool]):
    """Dismisses True to replay, False to cancel."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="replay.cancel")]

    def __init__(self, plan: ReplayPlan, zone: ZoneInfo) -> None:
        super().__init__()
        self.plan = plan
        self.zone = zone

    def compose(self) -> ComposeResult:
        plan = self.plan
        warning = semantic_style(self.app, "warning", bold=True)
        error = semantic_style(self.app, "error", bold=True)
        lines = preview_lines(plan, self.zone)
        with VerticalScroll(id="detail-body"):
            yield Static(
                Text.assemble(
                    "Replay ",
                    (plan.phase, "bold"),
                    f" {plan.game_date}: {', '.join(plan.processors) or 'nothing'}",
                )
            )
            for line in lines:
                style = error if line.startswith("Refused") or not plan.messages else ""
                yield Static(Text(inert_line(line, 4000), style=style), classes="replay-line")
            if plan.runnable:
                yield Static(
                    Text(
                        "After it: the watch reports Firestore reaching "
                        f"{plan.expected}/{plan.expected} and "
                        f"{plan.next_phase or 'no next phase'} triggered, or what did not happen.",
                        style="dim",
                    )
                )
                yield Static(
                    Text(f"Type {plan.phase} and Enter to replay; Esc cancels.", style=warning)
                )
                yield Input(placeholder=plan.phase, id="confirm-name")
            else:
                yield Static(Text("Esc: back", style="dim"))

    def on_mount(self) -> None:
        self.query_one("#detail-body").border_title = "Confirm replay"
        if self.plan.runnable:
            self.query_one("#confirm-name", Input).focus()

    def action_cancel(self) -> None:
        """Do not replay."""
        self.dismiss(False)

    @on(Input.Submitted, "#confirm-name")
    def _typed(self, event: Input.Submitted) -> None:
        event.stop()
        typed_name(self, event.value, self.plan.phase, "replay")
