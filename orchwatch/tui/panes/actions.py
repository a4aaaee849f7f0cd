"""The actions pane: the package validator and redeploys, run off the UI thread, each
recorded in the audit log, their output and verdict shown here.

Hidden until the first run. A deploy is previewed (`orchwatch.preflight`), confirmed,
then run in its own process group; `c` cancels it, and quitting while it runs asks first.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Log, Static

from orchwatch.actions.audit import AuditLog
from orchwatch.actions.runner import ActionGuard, ActionRun, RunResult
from orchwatch.analysis.revisions import Marker, ServiceVerdict, short_name
from orchwatch.analysis.runtime import RollbackChoice
from orchwatch.config import Config
from orchwatch.gather import RevisionsView
from orchwatch.preflight import (
    DeployPreview,
    DeployRefused,
    Validation,
    deploy_command,
    preview_deploy,
    rollback_command,
    validate,
)
from orchwatch.sanitize import inert_line
from orchwatch.sources.base import Sources
from orchwatch.tui.styles import semantic_style


class ValidationFailed(Message):
    """The validator could not run (no function in the repo, an unreadable repo...)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__()


class ValidationDone(Message):
    """The validator (and the extra validation commands) finished."""

    def __init__(self, validation: Validation, extra: list[RunResult]) -> None:
        self.validation = validation
        self.extra = extra
        super().__init__()


class DeployPreviewReady(Message):
    """The deploy preview is ready for confirmation."""

    def __init__(self, preview: DeployPreview) -> None:
        self.preview = preview
        super().__init__()


class DeployDone(Message):
    """A deploy (or rollback) command ended."""

    def __init__(self, service: str, result: RunResult, kind: str = "deploy") -> None:
        self.service = service
        self.result = result
        self.kind = kind
        super().__init__()


class ActionsPane(Vertical):
    """Validation and deploy runs: a status line over the run's output."""

    class Deployed(Message):
        """A deploy command ended on its own (not cancelled, timed out or unable to start):
        its new revision is worth looking for now."""

        def __init__(self, service: str) -> None:
            self.service = service
            super().__init__()

    def __init__(
        self,
        config: Config,
        sources: Sources,
        audit: AuditLog,
        *,
        id: str = "actions",
    ) -> None:
        super().__init__(id=id, classes="pane")
        self.config = config
        self.sources = sources
        self.audit = audit
        self.guard = ActionGuard()
        self.announcements: list[str] = []
        """What was announced about deploys' new revisions, newest last."""
        self._watching: dict[str, str] = {}
        """Deployed services -> their latest revision before the deploy."""
        self._kind = "deploy"
        """What the running command is (`deploy` or `rollback`), for what quitting says."""
        self._moving: dict[str, str] = {}
        """Rolled-back services -> the revision their traffic is moving to."""
        self._run: ActionRun | None = None
        self._run_id: str | None = None
        self._drain_timer: Timer | None = None
        self._quit_when_done = False
        self.has_run = False
        """Whether a run has started (the pane is shown from the first one on)."""

    def compose(self) -> ComposeResult:
        yield Static(id="actions-status")
        yield Log(id="actions-log", max_lines=5000)

    def on_mount(self) -> None:
        self.border_title = "Actions"
        self.display = False

    # --- the pane ------------------------------------------------------------------------

    class Started(Message):
        """A run started: the pane has something to show."""

    def start(self, title: str) -> None:
        """Show the pane for a new run."""
        self.has_run = True
        self.display = True
        self.post_message(self.Started())
        self.border_title = f"Actions · {title}"
        self.query_one(Log).clear()
        self.set_status(Text(f"{title}: running…", style="bold"))

    def write(self, lines: Sequence[str]) -> None:
        """Append output lines (already inert), as one batch."""
        self.query_one(Log).write_lines(lines)

    def set_status(self, status: Text) -> None:
        """The one-line result shown above the output."""
        self.query_one("#actions-status", Static).update(status)

    def _verdict(self, text: str, good: bool) -> None:
        self.set_status(
            Text(text, style=semantic_style(self.app, "success" if good else "error", bold=True))
        )

    @property
    def running(self) -> ActionRun | None:
        """The deploy running now, if any."""
        return self._run

    # --- validation ----------------------------------------------------------------------

    def validate(self) -> None:
        """Run the package validator on the configured repo."""
        repo = self.config.repo_path
        if repo is None:
            self.notify(
                "No repo to validate: set [repo] path in orchwatch.toml.",
                severity="warning",
                markup=False,
            )
            return
        if not self.guard.acquire("validate", str(repo)):
            self.notify("A validation is already running.", markup=False)
            return
        self.start("validation")
        self._validate(repo)

    @work(thread=True, group="validate", exit_on_error=False)
    def _validate(self, repo: Path) -> None:
        started = time.monotonic()
        try:
            run_id = self.audit.started("validate", ["orchwatch", "validate", str(repo)], repo)
            try:
                done = validate(self.config, repo)
            except Exception as exc:  # a state of the pane and a finished audit record
                reason = (
                    str(exc) if isinstance(exc, LookupError) else f"{type(exc).__name__}: {exc}"
                )
                self.audit.finished(
                    run_id, RunResult(2, time.monotonic() - started, (reason,), error=reason)
                )
                self.post_message(ValidationFailed(reason))
                return
            tail = tuple(done.lines[-50:])
            code = 1 if done.errors else 0
            self.audit.finished(run_id, RunResult(code, time.monotonic() - started, tail))
            extra = []
            for command in self.config.validate_commands:
                run = ActionRun(list(command), repo, timeout=self.config.action_timeout)
                extra_id = self.audit.started("validate", list(command), repo)
                result = run.run()
                self.audit.finished(extra_id, result)
                extra.append(result)
            self.post_message(ValidationDone(done, extra))
        finally:
            self.guard.release("validate", str(repo))

    @on(ValidationFailed)
    def _validation_failed(self, message: ValidationFailed) -> None:
        self.write([f"validation could not run: {message.reason}"])
        self._verdict(f"validation failed: {message.reason}"[:200], good=False)

    @on(ValidationDone)
    def _validation_done(self, message: ValidationDone) -> None:
        done = message.validation
        self.write(done.lines)
        for result in message.extra:
            self.write(
                [
                    f"$ extra validation command: {result.error or f'exit {result.exit_code}'}",
                    *(f"  {line}" for line in result.output_tail),
                ]
            )
        extra_failed = sum(1 for r in message.extra if not r.ok)
        clean = done.errors == 0 and extra_failed == 0
        verdict = (
            "clean"
            if clean
            else f"{len(done.failing)} functions failing, {done.errors} errors"
            + (f", {extra_failed} extra commands failed" if extra_failed else "")
        )
        when = datetime.now(self.config.shown_zone).strftime("%H:%M:%S %Z")
        self._verdict(f"validation at {when}: {verdict}", good=clean)
        self.notify(
            f"Validation: {verdict}", severity="information" if clean else "error", markup=False
        )

    # --- deploys -------------------------------------------------------------------------

    def deploy(self, service: str, day: date, verdict: ServiceVerdict | None) -> None:
        """Preview a redeploy of `service`, then ask for confirmation."""
        try:
            argv = deploy_command(self.config, service, day)
        except DeployRefused as exc:
            self.notify(str(exc), severity="warning", markup=False)
            return
        self._prepare_deploy(service, argv, verdict)

    @work(thread=True, group="deploy-preview", exit_on_error=False)
    def _prepare_deploy(
        self, service: str, argv: list[str], verdict: ServiceVerdict | None
    ) -> None:
        now = self.sources.clock.now()
        self.post_message(
            DeployPreviewReady(preview_deploy(self.config, service, argv, verdict, now))
        )

    @on(DeployPreviewReady)
    def _confirm_deploy(self, message: DeployPreviewReady) -> None:
        from orchwatch.tui.screens.confirm_deploy import ConfirmDeployScreen

        preview = message.preview

        def confirmed(go: bool | None) -> None:
            if go:
                self._start_deploy(preview)

        self.app.push_screen(ConfirmDeployScreen(preview), confirmed)

    def _start_deploy(self, preview: DeployPreview) -> None:
        verdict = (
            f"{preview.validator_errors} errors"
            if preview.validator_errors
            else (preview.validator_note or "clean")
        )
        if self._start_run("deploy", preview.service, preview.argv, preview.cwd, verdict):
            self._watching[preview.service] = preview.latest_revision

    def _start_run(
        self, kind: str, service: str, argv: Sequence[str], cwd: Path, verdict: str
    ) -> bool:
        """Run a deploy or a rollback of `service`, its output streamed into the pane and
        recorded in the audit log; False when one of that kind already runs for it."""
        if not self.guard.acquire(kind, service):
            self.notify(f"A {kind} of {service} is already running.", markup=False)
            return False
        self.start(f"{kind} {service}")
        self._kind = kind
        env = None
        spool = self.sources.demo_spool
        if spool is not None:  # the demo: its commands hand their work to the simulator
            env = {
                **os.environ,
                "ORCHWATCH_DEMO_SPOOL": str(spool),
                "ORCHWATCH_PYTHON": sys.executable,
            }
        run = ActionRun(list(argv), cwd, timeout=self.config.action_timeout, env=env)
        self._run = run
        self._drain_timer = self.set_interval(0.1, lambda: self._drain(run, service, kind))
        self._run_action(run, kind, service, verdict)
        return True

    @work(thread=True, group="deploy", exit_on_error=False)
    def _run_action(self, run: ActionRun, kind: str, service: str, verdict: str) -> None:
        try:
            run_id = self.audit.started(kind, list(run.argv), run.cwd, service, verdict)
            self._run_id = run_id
            run.on_start = lambda pgid: self.audit.process(run_id, pgid)
            result = run.run()
            self.audit.finished(run_id, result)
            self.post_message(DeployDone(service, result, kind))
        finally:
            self.guard.release(kind, service)

    # --- rollbacks -----------------------------------------------------------------------

    def rollback(self, choice: RollbackChoice, verdict: ServiceVerdict) -> None:
        """Preview moving `choice.service`'s traffic to `choice.target`, and run it once
        the service's name is typed."""
        from orchwatch.tui.screens.confirm_rollback import ConfirmRollbackScreen

        target = choice.target
        if target is None:
            return
        try:
            configured = rollback_command(self.config, choice.service, target)
        except DeployRefused as exc:
            self.notify(str(exc), severity="warning", markup=False)
            return
        argv = configured
        if self.sources.demo_spool is not None:  # the demo moves its own traffic
            argv = [
                sys.executable,
                "-m",
                "orchwatch",
                "demo-rollback",
                "--service",
                choice.service,
                "--revision",
                target,
            ]
        cwd = self.config.repo_path or Path.cwd()

        def confirmed(go: bool | None) -> None:
            if go and self._start_run("rollback", choice.service, argv, cwd, verdict.text):
                self._moving[choice.service] = target

        self.app.push_screen(
            ConfirmRollbackScreen(
                choice, verdict, argv, configured if argv != configured else None
            ),
            confirmed,
        )

    def _drain(self, run: ActionRun, service: str, kind: str = "deploy") -> None:
        """Move queued output into the pane: one write per tick, however many lines."""
        lines: list[str] = []
        while not run.lines.empty() and len(lines) < 2000:
            stream, line = run.lines.get_nowait()
            lines.append(inert_line(line if stream == "stdout" else f"! {line}", 1000))
        if lines:
            self.write(lines)
        self.set_status(
            Text(f"{kind} {service}: running {run.elapsed:.0f} s · c cancels", style="bold")
        )

    @on(DeployDone)
    def _deploy_done(self, message: DeployDone) -> None:
        run = self._run
        if self._drain_timer is not None:
            self._drain_timer.stop()
            self._drain_timer = None
        kind = message.kind
        if run is not None:
            self._drain(run, message.service, kind)
        self._run = None
        result = message.result
        if result.cancelled or result.timed_out or result.error:
            self._watching.pop(message.service, None)
            self._moving.pop(message.service, None)
        else:
            self.post_message(self.Deployed(message.service))
        if result.ok:
            text = f"{kind} {message.service}: exit 0 in {result.duration:.1f} s"
        elif result.error:
            text = f"{kind} {message.service}: {result.error}"
        else:
            how = (
                "timed out"
                if result.timed_out
                else "cancelled"
                if result.cancelled
                else f"exit {result.exit_code}"
            )
            text = f"{kind} {message.service}: {how} after {result.duration:.1f} s"
        self._verdict(text, good=result.ok)
        self.notify(text, severity="information" if result.ok else "error", markup=False)
        if self._quit_when_done:
            self.app.exit()

    def revisions_updated(self, view: RevisionsView) -> None:
        """After a deploy: say when its new revision is Ready and serving, or failed;
        after a rollback, when the older revision takes the traffic."""
        for service, target in list(self._moving.items()):
            verdict = view.verdict(service)
            serving = verdict.serving if verdict is not None else None
            if serving is not None and serving.name == target:
                text = f"{service}: {short_name(target)} takes the traffic."
                self.notify(text, timeout=15, markup=False)
                self.announcements.append(text)
                del self._moving[service]
        for service, before in list(self._watching.items()):
            verdict = view.verdict(service)
            if verdict is None or verdict.latest is None or verdict.latest.name == before:
                continue
            row = next(r for r in verdict.rows if r.revision == verdict.latest)
            name = short_name(verdict.latest.name)
            if row.marker is Marker.FAILED:
                text = f"{service}: new revision {name} failed: {row.reason[:160]}"
                self.notify(text, severity="error", timeout=15, markup=False)
            elif verdict.serving == verdict.latest:
                text = f"{service}: new revision {name} is Ready and serving."
                self.notify(text, timeout=15, markup=False)
            else:
                continue  # still pending
            self.announcements.append(text)
            del self._watching[service]

    # --- cancelling and quitting ---------------------------------------------------------

    def cancel(self) -> None:
        """Cancel the running deploy or rollback (SIGINT, SIGTERM, SIGKILL to its process
        group)."""
        if self._run is None:
            self.notify("Nothing is running.", markup=False)
            return
        self._run.cancel()
        self.notify("Cancelling…", markup=False)

    def quit(self) -> None:
        """Quit; with a run going, ask first (cancel it, wait, or leave it running)."""
        run = self._run
        if run is None:
            self.app.exit()
            return
        from orchwatch.tui.screens.quit_running import QuitWhileRunningScreen

        def chosen(choice: str | None) -> None:
            if choice == "cancel":
                self._quit_when_done = True
                run.cancel()
                self.notify(
                    f"Cancelling the {self._kind}; quitting when it has stopped…", markup=False
                )
            elif choice == "wait":
                self._quit_when_done = True
                self.notify(f"Quitting when the {self._kind} ends…", markup=False)
            elif choice == "leave":
                if self._run_id is not None:
                    self.audit.left_running(self._run_id, run.output_dir)
                self.app.exit()

        what = f"A {self._kind} ({shlex.join(run.argv)})"
        self.app.push_screen(QuitWhileRunningScreen(what), chosen)
