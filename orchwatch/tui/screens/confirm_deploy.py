"""Confirm a redeploy: what runs, where, what it ships, and what the validator thinks.

Enter confirms and Esc cancels; when the validator found errors in the function's
package, confirming takes typing the service name instead.
"""

from __future__ import annotations

import shlex

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from orchwatch.plural import counted
from orchwatch.preflight import DeployPreview
from orchwatch.sanitize import inert_line
from orchwatch.tui.styles import semantic_style


class TypedConfirmation(ModalScreen[bool]):
    """A confirmation that may take a name typed: dismisses True once the name is typed
    (an empty or wrong entry says what it expects, never does nothing silently), False
    on Esc. Each screen says its title, what confirming does, and the name to type (None:
    nothing to type)."""

    BORDER_TITLE = ""
    DOING = ""

    def name_to_type(self) -> str | None:
        """The name that confirms; None when the screen confirms otherwise."""
        raise NotImplementedError

    def on_mount(self) -> None:
        self.query_one("#detail-body").border_title = self.BORDER_TITLE
        if self.name_to_type() is not None:
            self.query_one("#confirm-name", Input).focus()

    def action_cancel(self) -> None:
        """Do not go ahead."""
        self.dismiss(False)

    @on(Input.Submitted, "#confirm-name")
    def _typed(self, event: Input.Submitted) -> None:
        event.stop()
        name = self.name_to_type()
        if name is None:
            return
        typed = event.value.strip()
        if typed == name:
            self.dismiss(True)
            return
        what = "Nothing typed" if not typed else f"{typed[:60]!r} is not {name}"
        self.notify(
            f"{what}: type {name} to {self.DOING}, or Esc to cancel.",
            severity="warning",
            markup=False,
        )


class ConfirmDeployScreen(TypedConfirmation):
    """Dismisses True to deploy, False to cancel."""

    BORDER_TITLE = "Confirm redeploy"
    DOING = "deploy anyway"

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="deploy.cancel"),
        Binding("enter", "confirm", "Deploy", id="deploy.confirm"),
    ]

    def __init__(self, preview: DeployPreview) -> None:
        super().__init__()
        self.preview = preview

    @property
    def needs_typing(self) -> bool:
        """Whether confirming takes typing the service name."""
        return self.preview.validator_errors > 0

    def name_to_type(self) -> str | None:
        """The service's name, when the validator found errors."""
        return self.preview.service if self.needs_typing else None

    def compose(self) -> ComposeResult:
        p = self.preview
        table = Table(show_header=False, box=None, expand=True)
        table.add_column("what", style="dim", no_wrap=True)
        table.add_column("value")
        table.add_row("command", Text(inert_line(shlex.join(p.argv), 500), style="bold"))
        table.add_row("in", Text(inert_line(str(p.cwd))))
        serving = f"{p.serving} (commit {p.serving_commit})" if p.serving_commit else p.serving
        table.add_row("serving now", Text(inert_line(serving)))
        shipped = "\n".join(inert_line(c, 200) for c in p.commits[:20]) or p.commits_note or "—"
        if len(p.commits) > 20:
            shipped += f"\n… and {len(p.commits) - 20} more"
        table.add_row("would ship", Text(shipped))
        if p.uncommitted:
            shown = "\n".join(inert_line(path, 200) for path in p.uncommitted[:10])
            if len(p.uncommitted) > 10:
                shown += f"\n… and {len(p.uncommitted) - 10} more"
            table.add_row(
                "uncommitted",
                Text(
                    f"{counted(len(p.uncommitted), 'file')} no commit holds would ship:\n" + shown,
                    style=semantic_style(self.app, "warning", bold=True),
                ),
            )
        elif p.uncommitted_note:
            table.add_row("uncommitted", Text(inert_line(f"not checked: {p.uncommitted_note}")))
        bad = p.validator_errors > 0
        verdict = counted(p.validator_errors, "error") if bad else (p.validator_note or "clean")
        table.add_row(
            "validator",
            Text(verdict, style=semantic_style(self.app, "error" if bad else "success", bold=True)),
        )
        with VerticalScroll(id="detail-body"):
            yield Static(Text.assemble("Redeploy ", (p.service, "bold"), "?"))
            yield Static(table)
            if p.validator_lines:
                yield Static(Text("\n".join(p.validator_lines[:12]), style="dim"))
            if self.needs_typing:
                yield Static(
                    Text(
                        f"The validator found errors. Type {p.service} to deploy anyway; "
                        "Esc cancels.",
                        style=semantic_style(self.app, "error", bold=True),
                    )
                )
                yield Input(placeholder=p.service, id="confirm-name")
            else:
                yield Static(Text("Enter deploys · Esc cancels", style="dim"))

    def action_confirm(self) -> None:
        """Deploy (only without validator errors; otherwise the name must be typed)."""
        if not self.needs_typing:
            self.dismiss(True)
