"""Messages a screen posts to ask the app for something only the app can start (the
dashboard's actions pane runs every action, whichever screen asked)."""

from __future__ import annotations

from datetime import date

from textual.message import Message


class ReplayRequested(Message):
    """Replay the lost completions of `phase` on `day` (after its preview)."""

    def __init__(self, phase: str, day: date) -> None:
        self.phase = phase
        self.day = day
        super().__init__()
