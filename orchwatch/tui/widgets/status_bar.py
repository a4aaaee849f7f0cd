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
        """The widest form that fits: on a narrow terminal the labels go first, then the
        pipeline's name, so the selected date, "now" and the freshness always stay."""
        width = max(self.size.width, 1)
        forms = [self._form(level) for level in range(3)]
        return next((form for form in forms if form.cell_len <= width), forms[-1])

    def _form(self, level: int) -> Text:
        """0: every label; 1: no labels; 2: no pipeline name, "now" as a time of day."""
        parts: list[Text | tuple[str, str] | str] = []
        if level == 0:
            parts += [("orchwatch", "bold"), " │ ", (self.pipeline, "bold"), " │ source: "]
        elif level == 1:
            parts += [(self.pipeline, "bold"), " │ "]
        parts.append(self.source)
        if self.selected is not None:
            day = f"{self.selected:%Y-%m-%d (%a)}"
            parts += [" │ date " if level == 0 else " │ ", (day, "bold")]
        if self.now_text:
            now = self.now_text if level < 2 else self.now_text.split(" ", 1)[-1]
            parts += [" │ now ", now]
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
