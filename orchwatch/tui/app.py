"""The orchwatch App: the dashboard screen, global keys, theme and the command palette.

Everything a pane shows and does lives in its module under `orchwatch/tui/panes/`; the
links between panes live in `orchwatch/tui/dashboard.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from functools import partial
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.events import Key
from textual.screen import Screen

from orchwatch.actions.audit import AuditLog, default_audit_path, read_audit
from orchwatch.config import Config
from orchwatch.sources.base import Sources
from orchwatch.tui.dashboard import DashboardScreen
from orchwatch.tui.panes.base import HowTo, PaneContext
from orchwatch.tui.requests import ReplayRequested


class _DetachedExecutor(ThreadPoolExecutor):
    """The threads the app's workers run in. Quitting does not wait for them: a read stuck
    on a silent backend, or a deploy the user chose to leave running, must not hold the
    terminal (asyncio joins its default executor's threads when the loop ends)."""

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait=False, cancel_futures=True)


class OrchwatchApp(App[None]):
    """The dashboard."""

    CSS_PATH = "app.tcss"
    TITLE = "orchwatch"

    BINDINGS = [
        Binding(
            "v",
            "validate",
            "Validate",
            id="actions.validate",
            tooltip="Run the package validator (off unless --allow-actions or [actions] enabled)",
        ),
        Binding(
            "d",
            "deploy",
            "Deploy",
            id="actions.deploy",
            tooltip="Redeploy the selected service (off unless actions are on)",
        ),
        Binding(
            "b",
            "rollback",
            "Roll back",
            id="actions.rollback",
            tooltip="Move the selected service's traffic back to the revision before "
            "(off unless actions are on)",
        ),
        Binding(
            "R",
            "replay",
            "Replay",
            id="actions.replay",
            tooltip="Republish the completions of the selected phase that Firestore lacks "
            "(off unless actions are on)",
        ),
        Binding("c", "cancel_action", "Cancel run", show=False, id="actions.cancel"),
        Binding("a", "audit", "Audit log", show=False, id="actions.audit"),
        Binding("question_mark", "help", "Help", key_display="?", show=False, id="app.help"),
        Binding("ctrl+t", "change_theme", "Theme", show=False, id="app.theme"),
        Binding("q", "quit", "Quit", show=False, id="app.quit"),
    ]

    def __init__(
        self,
        config: Config,
        sources: Sources,
        *,
        refresh_seconds: float | None = None,
        log_poll_seconds: float = 1.0,
        wall: Callable[[], float] = time.monotonic,
        initial_date: date | None = None,
        exit_after_first_data: bool = False,
        allow_actions: bool = False,
        audit_path: Path | None = None,
        viewer_log: Path | None = None,
    ) -> None:
        """Build the app around already-built sources (tests pass a local store).

        Args:
            config: the validated configuration.
            sources: where every pane reads from.
            refresh_seconds: poll interval (default: the config's).
            log_poll_seconds: how often the log tail polls its source.
            wall: a monotonic clock for data ages; tests freeze it.
            initial_date: the date to open on (default: today in the pipeline's zone).
            exit_after_first_data: exit once the first data is on screen (benchmarks).
            allow_actions: enable the one-key actions even if the config does not.
            audit_path: where actions are recorded (default: the user data dir).
            viewer_log: where a served viewer says what it does (`orchwatch serve
                --viewer-log`): opened, the screens it opens, the actions it refuses.
        """
        super().__init__()
        self.config = config
        self.sources = sources
        self.audit = AuditLog(audit_path or default_audit_path())
        self._pane_context = PaneContext(
            config,
            sources,
            refresh_seconds=refresh_seconds or config.refresh_seconds,
            log_poll_seconds=log_poll_seconds,
            wall=wall,
        )
        self._initial_date = initial_date
        self._exit_after_first_data = exit_after_first_data
        self._actions_enabled = (allow_actions or config.actions_enabled) and not sources.rewound
        self._actions_off = self.RECORDING_READ_ONLY if sources.rewound else self.ACTIONS_OFF
        self._viewer_log = viewer_log
        self._told: set[str] = set()
        """How-tos already shown (each is shown once)."""

    @property
    def refresh_seconds(self) -> float:
        """How often the panes (and views that poll, such as Pub/Sub's) read again."""
        return self._pane_context.refresh_seconds

    def get_default_screen(self) -> DashboardScreen:
        return DashboardScreen(
            self._pane_context,
            self.audit,
            initial_date=self._initial_date,
            exit_after_first_data=self._exit_after_first_data,
        )

    @property
    def dashboard(self) -> DashboardScreen:
        """The dashboard, under whatever detail screen is open."""
        screen = self.screen_stack[0]
        assert isinstance(screen, DashboardScreen)
        return screen

    def on_load(self) -> None:
        asyncio.get_running_loop().set_default_executor(
            _DetachedExecutor(thread_name_prefix="orchwatch-worker")
        )

    def on_mount(self) -> None:
        if self.config.theme in self.available_themes:
            self.theme = self.config.theme
        self._report_unfinished_runs()
        self.screen_change_signal.subscribe(
            self, lambda screen: self.viewer_event("screen", type(screen).__name__)
        )

    def viewer_event(self, event: str, detail: str = "") -> None:
        """Say what this viewer did, where `orchwatch serve --viewer-log` asked (one JSON
        line per event; a log that cannot be written is left alone)."""
        if self._viewer_log is None:
            return
        import json
        from datetime import UTC, datetime

        moment = getattr(self.sources.rewound, "moment", None)
        record = {
            "time": datetime.now(UTC).isoformat(),
            "pid": os.getpid(),
            "event": event,
            "detail": detail,
            "moment": moment.captured_at.isoformat() if moment is not None else None,
        }
        with contextlib.suppress(OSError), self._viewer_log.open("a") as log:
            log.write(json.dumps(record) + "\n")

    def _report_unfinished_runs(self) -> None:
        """Runs an earlier orchwatch started and never saw end (it was killed): say whether
        their process group still runs, from the audit log."""
        try:
            entries, _ = read_audit(self.audit.path)
        except OSError:
            return
        for entry in entries[-50:]:
            if entry.finished is not None or entry.pgid is None:
                continue
            what = f"{entry.started.get('action')} {entry.started.get('service', '')}".strip()
            when = str(entry.started.get("time", ""))[:16].replace("T", " ")
            self.notify(
                f"A {what} started at {when} UTC by an earlier orchwatch: {entry.outcome}. "
                "The audit log (a) has it.",
                title="Unfinished run",
                severity="warning" if "still running" in entry.outcome else "information",
                timeout=20,
                markup=False,
            )

    @on(HowTo)
    def _how_to(self, message: HowTo) -> None:
        """A pane failed for a reason the operator can fix (no credentials): say how, once."""
        if message.text not in self._told:
            self._told.add(message.text)
            self.notify(
                message.text, title="No credentials", severity="error", timeout=60, markup=False
            )

    # --- actions: global, so a run can be started or cancelled from any screen ------------

    ACTIONS_OFF = (
        "Actions are off: start orchwatch with --allow-actions, or set [actions] enabled = "
        "true in orchwatch.toml."
    )
    RECORDING_READ_ONLY = (
        "A recording is read-only: actions run from a dashboard on the live sources "
        "(orchwatch --project or --env)."
    )

    def on_key(self, event: Key) -> None:
        """Keys no binding took: a disabled action says why instead of doing nothing."""
        if event.key in ("v", "d", "b", "R") and not self._actions_enabled:
            event.stop()
            self.notify(self._actions_off, severity="warning", markup=False)
            self.viewer_event("refused", event.key)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """One-key actions are shown dimmed (disabled) while actions are off."""
        if action in ("validate", "deploy", "rollback", "replay") and not self._actions_enabled:
            return None
        return True

    def action_validate(self) -> None:
        """Run the package validator on the configured repo."""
        self.dashboard.actions.validate()

    def action_deploy(self) -> None:
        """Redeploy the selected service, after a preview and a confirmation."""
        self.dashboard.deploy_selected()

    def action_rollback(self) -> None:
        """Move the selected service's traffic back, after a preview and a typed name."""
        self.dashboard.rollback_selected()

    def action_replay(self) -> None:
        """Replay the lost completions of the selected phase (the grid's), after a preview
        of every message and the phase's name typed."""
        self.dashboard.replay_selected()

    @on(ReplayRequested)
    def _replay_requested(self, message: ReplayRequested) -> None:
        """A screen asked for a replay of a phase and date (the Pub/Sub view's `R`)."""
        if not self._actions_enabled:
            self.notify(self._actions_off, severity="warning", markup=False)
            return
        self.dashboard.actions.prepare_replay(message.phase, message.day)

    def action_cancel_action(self) -> None:
        """Cancel the run of the service under the cursor (or the only run)."""
        self.dashboard.actions.cancel(self.dashboard.selected_service())

    def action_audit(self) -> None:
        """Show the audit log."""
        from orchwatch.tui.screens.audit import AuditScreen

        self.push_screen(AuditScreen(self.audit.path, self.config.shown_zone))

    async def action_quit(self) -> None:
        """Quit; with a deploy running, ask first (cancel it, wait, or leave it running)."""
        self.dashboard.actions.quit()

    def action_help(self) -> None:
        """Show keys and legend."""
        from orchwatch.tui.screens.help import HelpScreen

        self.push_screen(HelpScreen())

    PALETTE: ClassVar[dict[str, tuple[str, str]]] = {
        "previous_date": ("Previous date", "Select the day before"),
        "next_date": ("Next date", "Select the day after"),
        "today": ("Today", "Select today in the pipeline's timezone"),
        "goto_date": ("Go to date…", "Select a date (YYYY-MM-DD, yesterday, -3)"),
        "refresh": ("Refresh now", "Re-read every source"),
        "walkthrough": ("Morning walkthrough", "The checklist of the selected date"),
        "explain": ("Why? Explain what is under the cursor", "From a red cell to its cause"),
        "timeline": ("Timeline of the selected date", "Every layer on one time axis"),
        "focus_completions": ("Completions pane", "Focus the completion grid"),
        "focus_revisions": ("Revisions pane", "Focus the Cloud Run revisions"),
        "focus_logs": ("Logs pane", "Focus the log pane (errors and tail)"),
        "focus_actions": ("Actions pane", "Focus the runs' output"),
        "zoom": ("Zoom the focused pane", "Show it alone, or every pane again"),
        "validate": ("Validate the deployment packages", "Run the package validator"),
        "deploy": ("Deploy: redeploy the selected service", "After a preview and a confirmation"),
        "rollback": ("Roll back the selected service", "Move its traffic to the revision before"),
        "replay": (
            "Replay the lost completions (Pub/Sub)",
            "Republish what BigQuery has and Firestore lacks, for the selected phase",
        ),
        "pubsub": ("Pub/Sub: where the completions went", "Each phase's hop, refusals, backlog"),
        "cancel_action": ("Cancel a run", "The run of the service under the cursor"),
        "audit": ("Audit log", "Every action run: who, what, how it ended"),
        "help": ("Help", "Keys and legend"),
    }
    """The palette's command for each key's action: a title with the words an operator
    types (explain, deploy, time...) and what it does; the key is shown beside it."""

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Textual's own commands, then one per key of the dashboard and the app, each
        named with its key, so the palette and the footer never disagree."""
        yield from super().get_system_commands(screen)
        dashboard = self.dashboard
        for node, bindings in ((dashboard, dashboard.BINDINGS), (self, self.BINDINGS)):
            for binding in bindings:
                if not isinstance(binding, Binding) or binding.action not in self.PALETTE:
                    continue
                title, help_text = self.PALETTE[binding.action]
                key = binding.key_display or binding.key.split(",")[0]
                yield SystemCommand(
                    f"{title} ({key})",
                    help_text,
                    partial(self.run_action, binding.action, node),
                )
