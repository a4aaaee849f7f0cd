"""Why: the chain of evidence from what is on the screen to its cause, root cause first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Static

from orchwatch.analysis.explain import (
    LINK_MARK,
    ExplainInputs,
    Explanation,
    UnknownSubject,
    explain,
    link_state,
    link_when,
)
from orchwatch.sanitize import inert_line
from orchwatch.tui.failures import FailsInPlace
from orchwatch.tui.styles import semantic_style


class Explained(Message):
    """The chain is built (or why it could not be)."""

    def __init__(self, explanation: Explanation | None, error: str = "") -> None:
        self.explanation = explanation
        self.error = error
        super().__init__()


class ExplainScreen(FailsInPlace, ModalScreen[None]):
    """Reads what the chain needs off the UI thread (the validator, git), then shows it."""

    BINDINGS = [Binding("escape,q,x", "dismiss", "Close", id="explain.close")]

    def __init__(
        self, read: Callable[[], ExplainInputs], subject: dict[str, Any], zone: ZoneInfo
    ) -> None:
        super().__init__()
        self._read = read
        self._subject = subject
        self._zone = zone
        self.explanation: Explanation | None = None
        """The chain on show, once built."""

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="detail-body"):
            yield Static(Text("Reading the package and the commits…", style="dim"), id="why")

    def on_mount(self) -> None:
        self.query_one("#detail-body").border_title = "Why"
        self._build()

    @work(thread=True, exclusive=True, group="explain", exit_on_error=False)
    def _build(self) -> None:
        try:
            explanation = explain(self._read(), self._zone, **self._subject)
        except UnknownSubject as exc:
            self.post_message(Explained(None, str(exc)))
            return
        self.post_message(Explained(explanation))

    def failed(self, group: str, reason: str) -> None:
        """A source failed while the chain was built: the screen's message, never a crash."""
        self.post_message(Explained(None, reason))

    @on(Explained)
    def _explained(self, message: Explained) -> None:
        body = self.query_one("#why", Static)
        if message.explanation is None:
            body.update(Text(f"Cannot explain: {inert_line(message.error, 500)}"))
            return
        self.explanation = message.explanation
        self.query_one("#detail-body").border_title = inert_line(
            f"Why: {message.explanation.subject}", 200
        )
        body.update(self._chain_text(message.explanation))

    def _chain_text(self, explanation: Explanation) -> Group:
        """Root cause first, then each link: its mark, time and source, and indented
        under it what it shows, its evidence and its next step."""
        error = semantic_style(self.app, "error", bold=True)
        good = semantic_style(self.app, "success")
        muted = semantic_style(self.app, "muted")
        parts: list[RenderableType] = []
        root = explanation.root_cause
        if root is None:
            parts.append(Text("Nothing broken in what was read.\n", style=good))
        else:
            cause = explanation.links[root]
            head = Text.assemble(("Root cause: ", error), inert_line(cause.summary, 500))
            head.append(f"  (link {root + 1}, {cause.source})", style="dim")
            if cause.next_step:
                head.append(f"\nnext: {inert_line(cause.next_step, 500)}", style="bold")
            parts.append(head)
            parts.append(Text(""))
        styles = {
            "broken": error,
            "unavailable": semantic_style(self.app, "warning", bold=True),
            "holds": good,
        }
        for i, link in enumerate(explanation.links):
            state = link_state(link)
            mark, style = LINK_MARK[state], styles[state]
            when = link_when(link, self._zone)
            line = Text.assemble(
                (f"{i + 1} {mark} ", style),
                (f"{when + ' · ' if when else ''}{link.source}", "bold"),
            )
            if link.inference:
                line.append("  inference: joined by time", style=muted)
            parts.append(line)
            body = Text(inert_line(link.summary, 600))
            for item in link.evidence:
                body.append("\n" + inert_line(item, 400), style="dim")
            if link.next_step:
                body.append(f"\nnext: {inert_line(link.next_step, 400)}", style=muted)
            parts.append(Padding(body, (0, 0, 0, 4)))
        parts.append(Text("\nEsc closes · ✗ broken · ? could not be read · ✓ holds", style="dim"))
        return Group(*parts)
