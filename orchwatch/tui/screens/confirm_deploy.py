"""Confirm a redeploy: what runs, where, what it ships, and what the validator thinks.

Enter confirms and Esc cancels; when the validator found errors in the function's
package, confirming takes typing the service name instead. In a production environment
(`[environments.NAME] production = true`) every action's confirmation takes typing the
project id.
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
from textual.widget import Widget
from textual.widgets import Input, Static

from orchwatch.config import Environment
from orchwatch.plural import counted
from orchwatch.preflight import DeployPreview
from orchwatch.sanitize import inert_line
from orchwatch.tui.context import context
from orchwatch.tui.styles import semantic_style


class TypedConfirmation(ModalScreen[bool]):
    """A confirmation that may take a name typed: dismisses True once the name is typed
    (an empty or wrong entry says what it expects, never does nothing silently), False
    on Esc. Each screen says its title, what confirming does, and the name to type (None:
    nothing to type)."""

    BORDER_TITLE = ""
    DOING = ""

    def own_name(self) -> str | None:
        """The name that confirms this action outside production; None when it confirms
        otherwise (Enter, or only Esc)."""
        raise NotImplementedError

    @property
    def production(self) -> Environment | None:
        """The production environment the action would act in, if it is one."""
        environment = context(self).config.environment
        return environment if environment is not None and environment.production else None

    def name_to_type(self) -> str | None:
        """The name that confirms: in production the project id (for any action that can
        be confirmed), else the action's own."""
        own = self.own_name()
        production = self.production
        if production is not None and (own is not None or self.confirmable()):
            return production.project
        return own

    @property
    def doing(self) -> str:
        """What confirming does, as the prompt says it."""
        return self.DOING

    def confirmable(self) -> bool:
        """Whether the action can go ahead at all (a plan that cannot run cannot)."""
        return True

    def typing_prompt(self, reason: str = "") -> list[Widget]:
        """The line that says what to type, and the input to type it in. `reason`: why
        this action takes a name typed, outside production."""
        name = self.name_to_type()
        assert name is not None
        production = self.production
        if production is not None:
            said = (
                f"PRODUCTION ({production.name}): type the project id {name} and Enter to "
                f"{self.doing}; Esc cancels."
            )
            style = semantic_style(self.app, "error", bold=True)
        else:
            said = f"{reason}Type {name} and Enter to {self.doing}; Esc cancels."
            style = semantic_style(self.app, "warning", bold=True)
        return [Static(Text(said, style=style)), Input(placeholder=name, id="confirm-name")]

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
            f"{what}: type {name} to {self.doing}, or Esc to cancel.",
            severity="warning",
            markup=False,
        )


class ConfirmDeployScreen(TypedConfirmation):
    """Dismisses True to deploy, False to cancel."""

    BORDER_TITLE = "Confirm redeploy"
    DOING = "deploy"

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="deploy.cancel"),
        Binding("enter", "confirm", "Deploy", id="deploy.confirm"),
    ]

    def __init__(self, preview: DeployPreview) -> None:
        super().__init__()
        self.preview = preview

    @property
    def needs_typing(self) -> bool:
        """Whether confirming takes typing a name (the validator found errors, or the
        environment is production)."""
        return self.name_to_type() is not None

    @property
    def doing(self) -> str:
        """Deploying despite the validator's errors is said so."""
        return "deploy anyway" if self.preview.validator_errors else self.DOING

    def own_name(self) -> str | None:
        """The service's name, when the validator found errors."""
        return self.preview.service if self.preview.validator_errors > 0 else None

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
                reason = "The validator found errors. " if p.validator_errors else ""
                yield from self.typing_prompt(reason)
            else:
                yield Static(Text("Enter deploys · Esc cancels", style="dim"))

    def action_confirm(self) -> None:
        """Deploy (only without validator errors; otherwise the name must be typed)."""
        if not self.needs_typing:
            self.dismiss(True)
