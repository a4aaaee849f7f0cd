"""The recording banner: the dashboard shows a recorded moment, which one, and whether it
follows the recorder (`orchwatch --source recording.db`)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from orchwatch.sanitize import inert_line
from orchwatch.sources.base import SourceError
from orchwatch.sources.recorded import Playhead


class RecordingBanner(Static):
    """One line across the top, in the warning colour: this is not now."""

    DEFAULT_CSS = """
    RecordingBanner {
        height: 1; width: 100%; padding: 0 1;
        background: $warning; color: $background; text-style: bold;
    }
    """

    def __init__(self, playhead: Playhead) -> None:
        super().__init__(id="recording")
        self.playhead = playhead

    def on_mount(self) -> None:
        self.show_moment()

    def show_moment(self) -> None:
        """Say which moment is shown (the recording may have grown)."""
        try:
            text = self.playhead.banner()
        except SourceError as exc:
            text = f"RECORDING · {self.playhead.path.name} · {exc}"
        keys = "  [ ] step  { } hour  @ jump"
        self.update(Text(inert_line(text) + keys, no_wrap=True, overflow="ellipsis"))
