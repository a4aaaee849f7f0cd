"""The actions pane: the package validator, redeploys and rollbacks, run off the UI thread
by the run manager (`orchwatch.actions.manager`), their output and verdicts shown here.

Hidden until the first run. Any number of runs go at once, one per (kind, subject) as
the manager's guard keys them; each one's output is headed by its name when the writer
changes. A deploy is previewed (`orchwatch.preflight`) and confirmed first; `c` cancels
the run of the service under the cursor (or the only one), and quitting while runs go
asks first, naming them.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.events import Resize
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Log, Static

from orchwatch.actions.audit import AuditLog
from orchwatch.actions.manager import RunHandle, RunKey, RunManager
from orchwatch.actions.runner import RunResult
from orchwatch.analysis.revisions import Marker, ServiceVerdict, short_name
from orchwatch.analysis.runtime import RollbackChoice
from orchwatch.config import Config
from orchwatch.plural import counted
from orchwatch.sanitize import inert_line, wrap_at_boundaries
from orchwatch.sources.base import SourceError, Sources
from orchwatch.tui.failures import FailsInPlace
from orchwatch.tui.styles import semantic_style

if TYPE_CHECKING:  # loaded when an action first needs them, after the first frame
    from orchwatch.analysis.replay import ReplayPlan
    from orchwatch.gather import RevisionsView
    from orchwatch.preflight import DeployPreview
    from orchwatch.validate.summary import Validation


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


class ReplayPlanReady(Message):
    """What a replay would do was read: show it for confirmation."""

    def __init__(self, plan: ReplayPlan) -> None:
        self.plan = plan
        super().__init__()


class RunEnded(Message):
    """A run of a command ended (the manager has recorded it)."""

    def __init__(self, handle: RunHandle) -> None:
        self.handle = handle
        super().__init__()


class ActionsPane(FailsInPlace, Vertical):
    """Validation, deploy and rollback runs: their status lines over their output."""

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
        target = sources.actions
        self.manager = RunManager(
            audit,
            timeout=config.action_timeout,
            env=target.environment() if target is not None else None,
            on_end=self._ended_in_thread,
        )
        self.announcements: list[str] = []
        """What was announced about deploys' new revisions, newest last."""
        self._watching: dict[str, str] = {}
        """Deployed services -> their latest revision before the deploy."""
        self._moving: dict[str, str] = {}
        """Rolled-back services -> the revision their traffic is moving to."""
        self._ended: list[Text] = []
        """The verdicts of the runs that ended, newest last (the last few are shown)."""
        self._writer: RunKey | None = None
        """Whose output the log shows last (a header is written when it changes)."""
        self._ticker: Timer | None = None
        self._quit_when_done = False
        self.output: list[str] = []
        """Every output line shown (inert, unwrapped), oldest first."""
        self._wrapped_at = 0
        self.has_run = False
        """Whether a run has started (the pane is shown from the first one on)."""

    def _ended_in_thread(self, handle: RunHandle) -> None:
        self.post_message(RunEnded(handle))

    def compose(self) -> ComposeResult:
        yield Static(id="actions-status")
        yield Log(id="actions-log", max_lines=self.OUTPUT_LINES * 2)

    def on_mount(self) -> None:
        self.border_title = "Actions"
        self.display = False

    # --- the pane ------------------------------------------------------------------------

    class Started(Message):
        """A run started: the pane has something to show."""

    SHOWN_VERDICTS = 3
    """How many ended runs' verdicts stay under the running ones."""

    def _started(self, key: RunKey) -> None:
        """Show the pane for a new run, and keep its status and output moving."""
        self.has_run = True
        self.display = True
        self.post_message(self.Started())
        self._header(key)
        if self._ticker is None:
            self._ticker = self.set_interval(0.1, self._tick)
        self._refresh_status()

    def focus_inside(self) -> None:
        """Focus the runs' output."""
        self.query_one(Log).focus()

    OUTPUT_LINES = 5000
    """Output lines kept (the oldest go first)."""

    def write(self, lines: Sequence[str]) -> None:
        """Append output lines (already inert), as one batch, wrapped to the pane."""
        self.output += lines
        del self.output[: -self.OUTPUT_LINES]
        self.query_one(Log).write_lines(self._wrapped(lines))

    def _wrapped(self, lines: Sequence[str]) -> list[str]:
        """Lines wrapped to the log's width at spaces and separators (never inside a
        name), continuation lines indented under their line's text."""
        log = self.query_one(Log)
        width = max((log.scrollable_content_region.width or log.size.width) - 1, 20)
        out: list[str] = []
        for line in lines:
            text = line.lstrip()
            indent = " " * min(len(line) - len(text), width // 2)
            if len(line) <= width:
                out.append(line)
                continue
            parts = wrap_at_boundaries(text, width - len(indent) - 2)
            out.append(indent + parts[0])
            out += [f"{indent}  {part}" for part in parts[1:]]
        return out

    @on(Resize)
    def _rewrap(self, event: Resize) -> None:
        """A new width: the output wrapped again to it."""
        log = self.query_one(Log)
        if self.output and event.size.width != self._wrapped_at:
            self._wrapped_at = event.size.width
            log.clear()
            log.write_lines(self._wrapped(self.output))

    def _header(self, key: RunKey) -> None:
        if key != self._writer:
            self._writer = key
            self.write([inert_line(f"── {key} ──", 1000)])

    def set_status(self, status: Text) -> None:
        """The lines shown above the output."""
        self.query_one("#actions-status", Static).update(status)

    @staticmethod
    def _title(key: RunKey) -> str:
        return "validation" if key.kind == "validate" else str(key)

    def _refresh_status(self) -> None:
        """One line per run going, then the last runs' verdicts; the border names the runs
        going (or the last one)."""
        lines: list[Text] = []
        running = self.manager.running()
        if running:
            titles = dict.fromkeys(self._title(h.key) for h in running)
            self.border_title = "Actions · " + ", ".join(titles)
        for handle in running:
            cancel = " · c cancels" if handle.cancellable else ""
            lines.append(
                Text(f"{handle.key}: running {handle.elapsed:.0f} s{cancel}", style="bold")
            )
        lines += self._ended  # `_verdict` keeps the last SHOWN_VERDICTS
        self.set_status(Text("\n").join(lines))

    def _verdict(self, text: str, good: bool) -> None:
        style = semantic_style(self.app, "success" if good else "error", bold=True)
        self._ended.append(Text(text, style=style))
        del self._ended[: -self.SHOWN_VERDICTS]
        self._refresh_status()

    def _tick(self) -> None:
        """Move every run's queued output into the log (one write per run per tick) and
        keep the running times current; stops when nothing runs."""
        running = self.manager.running()
        for handle in running:
            self._drain(handle)
        self._refresh_status()
        if not running and self._ticker is not None:
            self._ticker.stop()
            self._ticker = None

    def _drain(self, handle: RunHandle) -> None:
        pairs = handle.drain()
        if not pairs:
            return
        self._header(handle.key)
        self.write(
            [
                inert_line(line if stream == "stdout" else f"! {line}", 1000)
                for stream, line in pairs
            ]
        )

    @property
    def running(self) -> list[RunHandle]:
        """The runs going now, oldest first."""
        return self.manager.running()

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
        key = RunKey("validate", str(repo))
        if self.manager.get(key) is not None:
            self.notify("A validation is already running.", markup=False)
            return
        self._validate(key, repo)

    @work(thread=True, group="validate", exit_on_error=False)
    def _validate(self, key: RunKey, repo: Path) -> None:
        from orchwatch.validate.summary import Validation, validate

        def job() -> tuple[RunResult, object]:
            self.app.call_from_thread(self._started, key)
            done = validate(self.config.validate, repo)
            code = 1 if done.errors else 0
            return RunResult(code, 0.0, tuple(done.lines[-50:])), done

        try:
            ran = self.manager.call(key, ["orchwatch", "validate", str(repo)], repo, job)
        except Exception as exc:  # recorded by the manager; a state of the pane
            reason = str(exc) if isinstance(exc, LookupError) else f"{type(exc).__name__}: {exc}"
            self.post_message(ValidationFailed(reason))
            return
        if ran is None:
            self.post_message(ValidationFailed("a validation is already running"))
            return
        _, done = ran
        assert isinstance(done, Validation)
        extra = [
            self.manager.run(RunKey("validate", " ".join(command)), list(command), repo)
            for command in self.config.validate_commands
        ]
        self.post_message(ValidationDone(done, extra))

    @on(ValidationFailed)
    def _validation_failed(self, message: ValidationFailed) -> None:
        self.write([inert_line(f"validation could not run: {message.reason}", 1000)])
        self._verdict(f"validation failed: {message.reason}"[:200], good=False)

    @on(ValidationDone)
    def _validation_done(self, message: ValidationDone) -> None:
        done = message.validation
        self._header(RunKey("validate", str(self.config.repo_path)))
        self.write(done.lines)
        for result in message.extra:
            self.write(
                [
                    f"$ extra validation command: {result.error or f'exit {result.exit_code}'}",
                    *(inert_line(f"  {line}", 1000) for line in result.output_tail),
                ]
            )
        extra_failed = sum(1 for r in message.extra if not r.ok)
        clean = done.errors == 0 and extra_failed == 0
        verdict = (
            "clean"
            if clean
            else f"{counted(len(done.failing), 'function')} failing, "
            f"{counted(done.errors, 'error')}"
            + (f", {counted(extra_failed, 'extra command')} failed" if extra_failed else "")
        )
        when = self.sources.clock.now().astimezone(self.config.shown_zone)
        self._verdict(f"validation at {when:%H:%M:%S %Z}: {verdict}", good=clean)
        self.notify(
            f"Validation: {verdict}", severity="information" if clean else "error", markup=False
        )

    # --- deploys -------------------------------------------------------------------------

    def deploy(self, service: str, day: date, verdict: ServiceVerdict | None) -> None:
        """Preview a redeploy of `service`, then ask for confirmation."""
        from orchwatch.preflight import DeployRefused, deploy_command

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
        from orchwatch.preflight import preview_deploy

        now = self.sources.clock.now()
        self.post_message(
            DeployPreviewReady(preview_deploy(self.config, service, argv, verdict, now))
        )

    def failed(self, group: str, reason: str) -> None:
        """A worker of the pane raised: the preview could not be made, or the validator
        failed in a way it does not report itself. Said, never a silent key."""
        what = {
            "deploy-preview": "No deploy preview",
            "replay-preview": "No replay preview",
        }.get(group, f"The {group} failed")
        self.notify(inert_line(f"{what}: {reason}", 400), severity="error", markup=False)
        if group in ("validate", "replay"):
            what = "validation" if group == "validate" else "replay"
            self._verdict(f"{what} failed: {reason}"[:200], good=False)

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
            counted(preview.validator_errors, "error")
            if preview.validator_errors
            else (preview.validator_note or "clean")
        )
        if self._start_run("deploy", preview.service, preview.argv, preview.cwd, verdict):
            self._watching[preview.service] = preview.latest_revision

    def _start_run(
        self, kind: str, service: str, argv: Sequence[str], cwd: Path, verdict: str
    ) -> bool:
        """Start a deploy or a rollback of `service` through the manager; False when one of
        that kind already runs for it."""
        key = RunKey(kind, service)
        if self.manager.start(key, argv, cwd, service=service, verdict=verdict) is None:
            self.notify(f"A {kind} of {service} is already running.", markup=False)
            return False
        self._started(key)
        return True

    # --- replays -------------------------------------------------------------------------

    def prepare_replay(self, phase: str, day: date) -> None:
        """Read what a replay of `phase` on `day` would do (Pub/Sub, the completions),
        then preview it for confirmation."""
        self._plan_replay(phase, day)

    @work(thread=True, group="replay-preview", exit_on_error=False)
    def _plan_replay(self, phase: str, day: date) -> None:
        from orchwatch.analysis.replay import plan_replay
        from orchwatch.gather import gather_pubsub

        view = gather_pubsub(self.config, self.sources, day, now_too=True)
        if view.status.value is None:
            raise SourceError(f"the completions could not be read: {view.status.error}")
        hop = view.hop(phase)
        plan = plan_replay(
            self.config, view.status.value, phase, hop, view.now, view.cannot_publish
        )
        if view.hops.error and plan.runnable:
            plan = replace(plan, why=f"{plan.why} (Pub/Sub could not be read: {view.hops.error})")
        self.post_message(ReplayPlanReady(plan))

    @on(ReplayPlanReady)
    def _confirm_replay(self, message: ReplayPlanReady) -> None:
        self.replay(message.plan)

    def replay(self, plan: ReplayPlan) -> None:
        """Preview a replay (every message), and run it once the phase's name is typed."""
        from orchwatch.tui.screens.confirm_replay import ConfirmReplayScreen

        def confirmed(go: bool | None) -> None:
            if go:
                self._replay(plan)

        self.app.push_screen(ConfirmReplayScreen(plan, self.config.shown_zone), confirmed)

    @work(thread=True, group="replay", exit_on_error=False)
    def _replay(self, plan: ReplayPlan) -> None:
        from orchwatch.actions.replay import replay_argv, run_replay

        key = RunKey("replay", f"{plan.phase} {plan.game_date}")
        stop = threading.Event()

        def say(line: str) -> None:
            self.app.call_from_thread(self._replay_said, key, line)

        def job() -> tuple[RunResult, object]:
            self.app.call_from_thread(self._started, key)
            outcome = run_replay(plan, self.config, self.sources, say, stop)
            lines = outcome.lines[-20:]
            return RunResult(0 if outcome.ok else 1, 0.0, lines, cancelled=stop.is_set()), outcome

        cwd = self.config.repo_path or Path.cwd()
        if self.manager.call(key, replay_argv(plan), cwd, job, stop=stop) is None:
            self.app.call_from_thread(self.notify, f"A {key} is already running.", markup=False)

    def _replay_said(self, key: RunKey, line: str) -> None:
        self._header(key)
        self.write([inert_line(line, 1000)])

    # --- rollbacks -----------------------------------------------------------------------

    def rollback(self, choice: RollbackChoice, verdict: ServiceVerdict) -> None:
        """Preview moving `choice.service`'s traffic to `choice.target`, and run it once
        the service's name is typed."""
        from orchwatch.preflight import DeployRefused, rollback_command
        from orchwatch.tui.screens.confirm_rollback import ConfirmRollbackScreen

        target = choice.target
        if target is None:
            return
        try:
            configured = rollback_command(self.config, choice.service, target)
        except DeployRefused as exc:
            self.notify(str(exc), severity="warning", markup=False)
            return
        here = self.sources.actions
        argv = here.rollback_argv(choice.service, target) if here is not None else configured
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

    @on(RunEnded)
    def _run_ended(self, message: RunEnded) -> None:
        handle = message.handle
        result = handle.result
        assert result is not None
        self._drain(handle)
        kind, service = handle.key.kind, handle.key.subject
        if kind in ("deploy", "rollback"):
            if result.cancelled or result.timed_out or result.error:
                self._watching.pop(service, None)
                self._moving.pop(service, None)
            else:
                self.post_message(self.Deployed(service))
        if kind == "validate":
            return  # extra validation commands: told with the validation's verdict
        if result.ok:
            text = f"{handle.key}: exit 0 in {result.duration:.1f} s"
        elif result.error:
            text = f"{handle.key}: {result.error}"
        else:
            how = (
                "timed out"
                if result.timed_out
                else "cancelled"
                if result.cancelled
                else f"exit {result.exit_code}"
            )
            text = f"{handle.key}: {how} after {result.duration:.1f} s"
        self._verdict(text, good=result.ok)
        self.notify(text, severity="information" if result.ok else "error", markup=False)
        if self._quit_when_done and not self.manager.running():
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

    def cancel(self, service: str | None = None) -> None:
        """Cancel a run (SIGINT, SIGTERM, SIGKILL to its process group): the one of
        `service` (the service under the cursor) if it has one, else the only one."""
        cancellable = [h for h in self.manager.running() if h.cancellable]
        chosen = [h for h in cancellable if service is not None and h.key.subject == service]
        if not chosen and len(cancellable) == 1:
            chosen = cancellable
        if not cancellable:
            self.notify("Nothing is running.", markup=False)
            return
        if not chosen:
            names = ", ".join(str(h.key) for h in cancellable)
            self.notify(
                f"{len(cancellable)} runs are going ({names}): put the cursor on the "
                "service whose run to cancel, then press c.",
                markup=False,
                timeout=8,
            )
            return
        for handle in chosen:
            self.manager.cancel(handle.key)
        self.notify(f"Cancelling {', '.join(str(h.key) for h in chosen)}…", markup=False)

    def quit(self) -> None:
        """Quit; with runs going, ask first (cancel them, wait, or leave them running)."""
        running = self.manager.running()
        if not running:
            self.app.exit()
            return
        from orchwatch.tui.screens.quit_running import QuitWhileRunningScreen

        def chosen(choice: str | None) -> None:
            if choice == "cancel":
                self._quit_when_done = True
                self.manager.cancel_all()
                self.notify("Cancelling; quitting when every run has stopped…", markup=False)
            elif choice == "wait":
                self._quit_when_done = True
                self.notify("Quitting when every run has ended…", markup=False)
            elif choice == "leave":
                self.manager.leave_all()
                self.app.exit()

        what = "; ".join(f"{h.key} ({h.command})" for h in running)
        plural = len(running) > 1
        self.app.push_screen(QuitWhileRunningScreen(what, plural), chosen)
