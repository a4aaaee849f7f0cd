"""Quitting while a deploy runs: cancel it, wait for it, or leave it running (recorded)."""

from __future__ import annotations

from typing import Literal

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

QuitChoice = Literal["cancel", "wait", "leave", "stay"]


class QuitWhileRunningScreen(ModalScreen[QuitChoice]):
    """Asks what to do with the running deploy before orchwatch quits."""

    BINDINGS = [
        Binding("c", "choose('cancel')", "Cancel it and quit", id="quit.cancel"),
        Binding("w", "choose('wait')", "Quit when it ends", id="quit.wait"),
        Binding("l", "choose('leave')", "Leave it running", id="quit.leave"),
        Binding("escape", "choose('stay')", "Stay", id="quit.stay"),
    ]

    def __init__(self, what: str) -> None:
        super().__init__()
        self._what = what

    def compose(self) -> ComposeResult:
        with Vertical(id="quit-body"):
            yield Label(f"{self._what} is still running.", markup=False)
            yield Label("")
            yield Label("c  cancel it (SIGINT, SIGTERM, SIGKILL to its group) and quit")
            yield Label("w  quit when it ends")
            yield Label("l  leave it running and quit (the audit log records that)")
            yield Label("esc  stay")

    def action_choose(self, choice: QuitChoice) -> None:
        self.dismiss(choice)
