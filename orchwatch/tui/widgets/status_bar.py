"""The top bar: pipeline, source, selected date, scenario time and data freshness."""

from __future__ import annotations

from datetime import date, datetime

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from orchwatch.dates import humanize_age


class StatusBar(Static):
    """One line that tells the on-call engineer what they are looking at and how fresh it is."""

    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $foreground; padding: 0 1; }
    """

    pipeline: reactive[str] = reactive("")
    source: reactive[str] = reactive("")
    selected: reactive[date | None] = reactive(None)
    now_text: reactive[str] = reactive("")
    age: reactive[float | None] = reactive(None)
    nothing_read: reactive[bool] = reactive(False)
    """Every pane answered, and none with data: not "loading", never "fresh"."""
    problem: reactive[str] = reactive("")

    def set_now(self, now: datetime) -> None:
        """Show the time the data is judged against, in the pipeline's zone."""
        self.now_text = now.strftime("%Y-%m-%d %H:%M %Z")

    def render(self) -> Text:
        parts: list[Text | tuple[str, str] | str] = [
            ("orchwatch", "bold"),
            " │ ",
            (self.pipeline, "bold"),
            " │ source: ",
            self.source,
        ]
        if self.selected is not None:
            parts += [" │ date ", (f"{self.selected:%Y-%m-%d (%a)}", "bold")]
        if self.now_text:
            parts += [" │ now ", self.now_text]
        parts.append(" │ ")
        if self.age is None and self.nothing_read:
            parts.append(("nothing read", "bold red"))
        elif self.age is None:
            parts.append(("loading…", "dim"))
        else:
            parts.append(f"updated {humanize_age(self.age)} ago")
        if self.problem:
            parts += [" │ ", (f"⚠ {self.problem}", "bold red")]
        return Text.assemble(*parts, no_wrap=True, overflow="ellipsis")
