"""Confirm a replay: what will be published (every message, in full) or sought, and why.

Publishing to a production topic takes typing the phase's name; Esc cancels. A plan that
cannot run (nothing to replay, the orchestrator still refuses) shows why, and only Esc.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from orchwatch.analysis.replay import ReplayPlan, preview_lines
from orchwatch.sanitize import inert_line
from orchwatch.tui.screens.confirm_deploy import TypedConfirmation
from orchwatch.tui.styles import semantic_style


class ConfirmReplayScreen(TypedConfirmation):
    """Dismisses True to replay, False to cancel."""

    BORDER_TITLE = "Confirm replay"
    DOING = "replay"

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="replay.cancel")]

    def __init__(self, plan: ReplayPlan, zone: ZoneInfo) -> None:
        super().__init__()
        self.plan = plan
        self.zone = zone

    def compose(self) -> ComposeResult:
        plan = self.plan
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
                yield from self.typing_prompt()
            else:
                yield Static(Text("Esc: back", style="dim"))

    def own_name(self) -> str | None:
        """The phase's name; None when the plan cannot run (only Esc then)."""
        return self.plan.phase if self.plan.runnable else None

    def confirmable(self) -> bool:
        """A plan that cannot run cannot be confirmed, in production or not."""
        return self.plan.runnable
