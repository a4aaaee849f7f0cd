"""The actions pane: the last validation's verdict per function, and command output."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Log, Static

from orchwatch.sanitize import inert_line
from orchwatch.validate.model import Severity, ValidationReport


def validation_lines(report: ValidationReport, show_info: bool = False) -> list[str]:
    """Per function: ok, or its findings with file:line and the fix hint."""
    lines: list[str] = []
    for function in report.functions:
        findings = [
            f
            for f in report.for_function(function.name)
            if show_info or f.severity is not Severity.INFO
        ]
        mark = "✓" if function.ok else "✗"
        lines.append(f"{mark} {function.name}" + ("" if findings else "  ok"))
        for finding in findings:
            where = f"{finding.path}:{finding.line}" if finding.line else finding.path
            lines.append(f"    {finding.severity.value} {finding.rule.value}  {where}")
            lines.append(f"      {finding.message}")
            if finding.hint:
                lines.append(f"      fix: {finding.hint}")
    return [inert_line(line, 1000) for line in lines]


class ActionsPane(Vertical):
    """Hidden until the first action runs."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="pane")
        self.summary = ""

    def compose(self) -> ComposeResult:
        yield Static(id="actions-status")
        yield Log(id="actions-log", max_lines=5000)

    def on_mount(self) -> None:
        self.border_title = "Actions"
        self.display = False

    def start(self, title: str) -> None:
        """Show the pane for a new run."""
        self.display = True
        self.border_title = f"Actions · {title}"
        self.query_one(Log).clear()
        self.set_status(Text(f"{title}: running…", style="bold"))

    def write(self, lines: Sequence[str]) -> None:
        """Append output lines (already inert), as one batch."""
        self.query_one(Log).write_lines(lines)

    def set_status(self, status: Text) -> None:
        """The one-line result shown above the output."""
        self.query_one("#actions-status", Static).update(status)
