"""Quitting while runs go: cancel them, wait for them, or leave them running (recorded)."""

from __future__ import annotations

from typing import Literal

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

QuitChoice = Literal["cancel", "wait", "leave", "stay"]


class QuitWhileRunningScreen(ModalScreen[QuitChoice]):
    """Asks what to do with the runs going before orchwatch quits."""

    BINDINGS = [
        Binding("c", "choose('cancel')", "Cancel it and quit", id="quit.cancel"),
        Binding("w", "choose('wait')", "Quit when it ends", id="quit.wait"),
        Binding("l", "choose('leave')", "Leave it running", id="quit.leave"),
        Binding("escape", "choose('stay')", "Stay", id="quit.stay"),
    ]

    def __init__(self, what: str, plural: bool = False) -> None:
        """`what`: the runs going, named; `plural`: whether there are several."""
        super().__init__()
        self._what = what
        self._plural = plural

    def compose(self) -> ComposeResult:
        with Vertical(id="quit-body"):
            them, are, its = ("them", "are", "their") if self._plural else ("it", "is", "its")
            yield Label(f"{self._what} {are} still running.", markup=False)
            yield Label("")
            yield Label(f"c  cancel {them} (SIGINT, SIGTERM, SIGKILL to {its} group) and quit")
            yield Label("w  quit when " + ("they end" if self._plural else "it ends"))
            yield Label(f"l  leave {them} running and quit (the audit log records that)")
            yield Label("esc  stay")

    def action_choose(self, choice: QuitChoice) -> None:
        self.dismiss(choice)
