"""The dashboard screen: the panes, the selected date, and the links between the panes.

Each pane reads and renders its own source (`orchwatch/tui/panes/`); the screen only
starts them, in one order, and carries what one pane's state means for another:

- the selected date (status bar, overview strip, grid);
- the grid's phase -> its orchestrator, marked in the revisions pane;
- the revisions -> the logs pane (which errors are new since a deploy) and the actions
  pane (a deploy's new revision is announced);
- the logs -> the revisions pane (a Ready revision that keeps exiting is CRASHING);
- a finished deploy -> the revisions pane reads again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.events import DescendantFocus, Key, Resize
from textual.reactive import reactive
from textual.screen import Screen
from textual.widget import Widget

from orchwatch.actions.audit import AuditLog
from orchwatch.analysis.fetched import Fetched
from orchwatch.analysis.revisions import ServiceVerdict
from orchwatch.analysis.runtime import rollback_choice
from orchwatch.dates import business_date
from orchwatch.model import ErrorGroup
from orchwatch.sources.base import SourceError
from orchwatch.sources.history import Moment
from orchwatch.sources.recorded import Playhead
from orchwatch.startup import settle
from orchwatch.tui.context import context
from orchwatch.tui.panes.actions import ActionsPane
from orchwatch.tui.panes.base import Pane, PaneContext, format_age
from orchwatch.tui.panes.completions import CompletionsPane
from orchwatch.tui.panes.logs import LogsPane
from orchwatch.tui.panes.revisions import RevisionsPane
from orchwatch.tui.widgets.completion_grid import CompletionGrid
from orchwatch.tui.widgets.environment import EnvironmentBanner
from orchwatch.tui.widgets.footer import SteadyFooter
from orchwatch.tui.widgets.overview import OverviewStrip
from orchwatch.tui.widgets.recording import RecordingBanner
from orchwatch.tui.widgets.revisions import ServiceTable
from orchwatch.tui.widgets.status_bar import StatusBar
from orchwatch.tui.widgets.subject import Explainable, Subject

if TYPE_CHECKING:  # loaded when first needed, after the first frame
    from orchwatch.analysis.daily import Target
    from orchwatch.analysis.explain import ExplainInputs
    from orchwatch.tui.screens.daily import WalkPlace


class DashboardScreen(Screen[None]):
    """Completions on top; revisions, logs and actions below."""

    BINDINGS = [
        # First, so that the footer keeps them on the narrowest terminal (the app's own
        # bindings, shown after the screen's, would be cut first).
        Binding("question_mark", "app.help", "Help", key_display="?", id="dashboard.help"),
        Binding("q", "app.quit", "Quit", id="dashboard.quit"),
        # A recording's moments (only on a recording: first, as they are what it is read by).
        Binding(
            "left_square_bracket",
            "step_moment(-1)",
            "Earlier",
            key_display="[",
            id="moment.earlier",
        ),
        Binding(
            "right_square_bracket",
            "step_moment(1)",
            "Later",
            key_display="]",
            id="moment.later",
        ),
        Binding(
            "left_curly_bracket",
            "step_hour(-1)",
            "An hour back",
            key_display="{",
            show=False,
            id="moment.hour_back",
        ),
        Binding(
            "right_curly_bracket",
            "step_hour(1)",
            "An hour on",
            key_display="}",
            show=False,
            id="moment.hour_on",
        ),
        Binding("at", "goto_moment", "Jump", key_display="@", id="moment.goto"),
        Binding("p", "previous_date", "Prev date", id="date.previous"),
        Binding("n", "next_date", "Next date", id="date.next"),
        Binding("t", "today", "Today", show=False, id="date.today"),
        Binding("g", "goto_date", "Go to date", id="date.goto"),
        Binding("r", "refresh", "Refresh", id="data.refresh"),
        Binding("w", "walkthrough", "Walkthrough", id="app.walkthrough"),
        Binding("x", "explain", "Why?", id="app.explain"),
        Binding("T", "timeline", "Timeline", id="app.timeline"),
        Binding("P", "pubsub", "Pub/Sub", id="app.pubsub"),
        Binding("1", "focus_completions", "Completions pane", show=False, id="pane.completions"),
        Binding("2", "focus_revisions", "Revisions pane", show=False, id="pane.revisions"),
        Binding("3", "focus_logs", "Logs pane", show=False, id="pane.logs"),
        Binding("4", "focus_actions", "Actions pane", show=False, id="pane.actions"),
        Binding("z", "zoom", "Zoom", id="pane.zoom"),
    ]

    COMPACT = (100, 30)
    """Below this width or height the panes cannot show their essentials side by side,
    so the dashboard shows one at a time, full screen (1 2 3 switch)."""
    TALL = 50
    """From this height the lower panes stack: the revisions pane takes its rows, the logs
    the rest, each the full width."""

    selected_date: reactive[date | None] = reactive(None)

    def __init__(
        self,
        context: PaneContext,
        audit: AuditLog,
        *,
        initial_date: date | None = None,
        exit_after_first_data: bool = False,
    ) -> None:
        super().__init__()
        self.context = context
        self.config = context.config
        self._audit = audit
        self._initial_date = initial_date
        self._exit_after_first_data = exit_after_first_data
        self._zoomed = False
        self._framed = False
        self._recomposing = False
        """While the panes are replaced (a recording's moment stepped to)."""
        """Whether the first frame with data was said (to a served viewer's log)."""
        self._walk_place: WalkPlace | None = None
        """Where the walkthrough was left (`w` reopens there); made on the first `w` (the
        walkthrough's module is not loaded before the first frame)."""
        """`z`: the current pane alone, full screen."""
        self._current: Widget | None = None
        """The pane the focus is in (or was sent to with 1 2 3)."""

    def compose(self) -> ComposeResult:
        environment = self.config.environment  # set for Google Cloud sources only
        if environment is not None:
            yield EnvironmentBanner(environment, self.config.gcp_region)
        if self.playhead is not None:
            recorded = self.playhead.environment()  # a recording says what it was made of
            if recorded is not None:
                yield EnvironmentBanner(*recorded)
            yield RecordingBanner(self.playhead)
        yield StatusBar(id="status")
        yield CompletionsPane(self.context)
        with Horizontal(id="lower"):
            yield RevisionsPane(self.context)
            yield LogsPane(self.context)
            yield ActionsPane(self.config, self.context.sources, self._audit)
        yield SteadyFooter()

    @property
    def completions(self) -> CompletionsPane:
        return self.query_one(CompletionsPane)

    @property
    def revisions(self) -> RevisionsPane:
        return self.query_one(RevisionsPane)

    @property
    def logs(self) -> LogsPane:
        return self.query_one(LogsPane)

    @property
    def actions(self) -> ActionsPane:
        return self.query_one(ActionsPane)

    @property
    def panes(self) -> list[Pane]:
        """The polled panes, in the order they are composed, which is the order they start:
        the grid's first frame with data comes first; the logs start after the revisions'
        first answer, so "new since the deploy" can be judged."""
        return list(self.query(Pane))

    @property
    def panes_ready(self) -> bool:
        """Whether every pane has answered once (with data or an error)."""
        return all(pane.answered for pane in self.panes)

    def on_mount(self) -> None:
        self._start(self._initial_date or self._today())
        self.set_interval(1.0, self.update_status)

    def _start(self, day: date) -> None:
        """Open on `day` with the panes composed, and start them (the first answer of each
        starts the next)."""
        status = self.query_one(StatusBar)
        status.pipeline = self.config.pipeline_name
        status.source = self.context.sources.description
        if self.selected_date == day:
            self.watch_selected_date(day)  # new panes: the same date is still news to them
        else:
            self.selected_date = day
        self._current = self.completions
        self._arrange()
        self.completions.grid.focus()
        self.panes[0].start_once()

    @on(Pane.Answered)
    def _answered(self, message: Pane.Answered) -> None:
        """A pane answered: the status bar says so, and its first answer (data or an
        error: one failing source never holds the others back) starts the next pane."""
        pane = message.pane
        if self._recomposing or pane not in self.panes:
            return  # a pane of the moment before, answering as it goes
        if pane is self.completions and self.completions.now is not None:
            now = self.completions.now.astimezone(self.config.shown_zone)
            self.query_one(StatusBar).set_now(now)
        self.update_status()
        if pane is self.logs and message.ok:
            self.revisions.judge_with(self.logs.runtime)
        if pane is self.completions and message.ok:
            self.call_after_refresh(settle)  # the first frame with data: start-up is over
            said = getattr(self.app, "viewer_event", None)
            if callable(said) and not self._framed:
                self._framed = True
                self.call_after_refresh(said, "first-frame")
            if self._exit_after_first_data:
                self.app.call_after_refresh(self.app.exit)
                return
        order = self.panes
        following = order[order.index(pane) + 1 :] if pane in order else []
        if following:
            self.call_after_refresh(following[0].start_once)

    @property
    def playhead(self) -> Playhead | None:
        """The recorded moment shown, when the dashboard reads a recording."""
        rewound = self.context.sources.rewound
        return rewound if isinstance(rewound, Playhead) else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The moment keys exist only on a recording."""
        if action in ("step_moment", "step_hour", "goto_moment"):
            return self.playhead is not None
        return True

    def action_step_moment(self, moments: int) -> None:
        """Show the recorded moment `moments` polls away."""
        playhead = self.playhead
        if playhead is None:
            return
        target = playhead.step(moments)
        if target is None:
            self.notify(
                "The recording's " + ("first" if moments < 0 else "last") + " moment is shown.",
                markup=False,
                timeout=3,
            )
            return
        self._show_moment(target)

    def action_step_hour(self, hours: int) -> None:
        """Show the moment an hour earlier or later (the first or last, past the ends)."""
        playhead = self.playhead
        if playhead is None:
            return
        first, last = playhead.span()
        wanted = playhead.moment.captured_at + timedelta(hours=hours)
        wanted = min(max(wanted, first.captured_at), last.captured_at)
        self._goto(wanted)

    def action_goto_moment(self) -> None:
        """Ask for a time and show the moment that shows it."""
        playhead = self.playhead
        if playhead is None:
            return
        from orchwatch.tui.screens.goto_moment import GotoMomentScreen

        def chosen(moment: datetime | None) -> None:
            if moment is not None:
                self._goto(moment)

        self.app.push_screen(GotoMomentScreen(playhead.moment.captured_at), chosen)

    def _goto(self, at: datetime) -> None:
        playhead = self.playhead
        assert playhead is not None
        try:
            target = playhead.at(at)
        except SourceError as exc:
            self.notify(str(exc), severity="warning", markup=False, timeout=8)
            return
        self._show_moment(target)

    def _show_moment(self, target: Moment) -> None:
        """Show `target`: a fresh dashboard on the same date, every pane read anew (a
        pane's state, such as the tail's reassembly, belongs to one moment)."""
        playhead = self.playhead
        assert playhead is not None
        try:
            playhead.go(target)
        except SourceError as exc:
            self.notify(str(exc), severity="error", markup=False, timeout=8)
            return
        self.run_worker(self._recomposed(self.selected_date or self._today()), exclusive=True)

    async def _recomposed(self, day: date) -> None:
        self._recomposing = True  # the status tick and late answers wait for the new panes
        try:
            await self.recompose()
        finally:
            self._recomposing = False
        self._start(day)

    def update_status(self) -> None:
        """The status bar's age is the oldest of the panes' last successful reads (never of
        a mere attempt); a pane whose data is older than three of its intervals is called
        stale even when no error came back (a read that hangs)."""
        if self._recomposing:
            return
        now = self.context.wall()
        panes = self.panes
        status = self.query_one(StatusBar)
        loaded = [p.loaded_at for p in panes if p.loaded_at is not None]
        if loaded:
            status.age = now - min(loaded)
        status.nothing_read = not loaded and all(p.answered for p in panes)
        problems = []
        failing = [p.LABEL for p in panes if p.failing]
        if failing:
            problems.append(f"{', '.join(failing)} unavailable")
        for pane in panes:
            stale = pane.stale_for(now)
            if stale is not None:
                problems.append(f"{pane.LABEL} stale ({format_age(stale)})")
        for pane in panes:
            problems.extend(pane.extra_problems())
        status.problem = " · ".join(problems)
        for banner in self.query(RecordingBanner):
            banner.show_moment()

    def on_key(self, event: Key) -> None:
        """`/` filters the lists (the services, the error groups) and searches the tail;
        elsewhere it says so, so the text typed next is not taken for keys unawares."""
        focused = self.focused
        in_list = focused is not None and any(
            pane in focused.ancestors_with_self for pane in (self.logs, self.revisions)
        )
        if event.key == "slash" and not in_list:  # in those panes, their binding takes it
            event.stop()
            self.notify(
                "/ filters a list: press 2 (services) or 3 (errors; in the tail, a search), "
                "then /.",
                markup=False,
                timeout=4,
            )

    # --- links between panes -------------------------------------------------------------

    def watch_selected_date(self, day: date | None) -> None:
        self.query_one(StatusBar).selected = day
        if day is not None:
            self.completions.select(day)

    @on(OverviewStrip.DateChosen)
    def _date_chosen(self, message: OverviewStrip.DateChosen) -> None:
        self.selected_date = message.day

    @on(CompletionGrid.PhaseHighlighted)
    def _phase_highlighted(self, message: CompletionGrid.PhaseHighlighted) -> None:
        try:
            orchestrator = self.config.phase(message.phase).orchestrator
        except KeyError:
            return
        self.revisions.highlight(orchestrator)

    @on(RevisionsPane.Updated)
    def _revisions_updated(self, message: RevisionsPane.Updated) -> None:
        self.logs.revisions = self.revisions.revisions_by_service()
        self.actions.revisions_updated(message.view)

    @on(ActionsPane.Deployed)
    def _deployed(self, _message: ActionsPane.Deployed) -> None:
        self.revisions.refresh_now()  # then the actions pane watches for the new revision

    # --- dates ---------------------------------------------------------------------------

    def _today(self) -> date:
        return business_date(self.context.sources.clock.now(), self.config.timezone)

    def action_previous_date(self) -> None:
        """Select the previous date."""
        if self.selected_date is not None:
            self.selected_date -= timedelta(days=1)

    def action_next_date(self) -> None:
        """Select the next date."""
        if self.selected_date is not None:
            self.selected_date += timedelta(days=1)

    def action_today(self) -> None:
        """Select today (in the pipeline's timezone)."""
        self.selected_date = self._today()

    def action_goto_date(self) -> None:
        """Ask for a date and select it."""

        def chosen(day: date | None) -> None:
            if day is not None:
                self.selected_date = day

        from orchwatch.tui.screens.goto_date import GotoDateScreen

        today = self._today()
        self.app.push_screen(GotoDateScreen(today, self.selected_date or today), chosen)

    def action_refresh(self) -> None:
        """Read every source now."""
        for pane in self.panes:
            pane.refresh_now()
        self.notify("Refreshing…", timeout=1.5)

    # --- why ---------------------------------------------------------------------------------

    def action_explain(self) -> None:
        """Why the cell, phase, service or group under the cursor is what it is: the chain
        of evidence to its cause, from what the panes have loaded (the validator and git
        are read when the chain gets there)."""
        from orchwatch.tui.screens.explain import ExplainScreen

        chosen = self._subject()
        if chosen is None:
            self.notify(
                "x explains a grid cell or phase, a service (2) or an error group (3).",
                markup=False,
                timeout=4,
            )
            return
        subject, day = chosen
        inputs = self._explain_inputs(day)
        self.app.push_screen(ExplainScreen(inputs, subject, self.config.shown_zone))

    def _subject(self) -> Subject | None:
        """What the focused list's cursor is on, as explain's keywords, and its date."""
        focused, day = self.focused, self.selected_date
        if day is None or not isinstance(focused, Explainable):
            return None
        return focused.subject(day)

    def _explain_inputs(self, day: date) -> Callable[[], ExplainInputs]:
        """What the panes hold now, and a reader (for a worker thread) that adds the
        packages and the commits."""
        from orchwatch.gather import DateReads, explain_inputs

        config = self.config
        now = self.completions.now or self.context.sources.clock.now()
        status = self.completions.status_of(day)
        view = self.revisions.view
        verdicts: Fetched[list[ServiceVerdict]] = (
            Fetched(list(view.verdicts)) if view is not None else Fetched(None, "not read yet")
        )
        groups: Fetched[list[ErrorGroup]] = (
            Fetched(list(self.logs.groups))
            if self.logs.answered and not self.logs.failing
            else Fetched(None, self.logs.last_error or "not read yet")
        )
        # Judged here, on the UI thread that feeds the tally, not in the reader's thread.
        tally = self.logs.runtime
        rollbacks = {v.service: rollback_choice(v, tally) for v in verdicts.value or ()}
        reads = DateReads(status, groups, verdicts, None)
        sources = self.context.sources
        return lambda: explain_inputs(config, day, now, reads, rollbacks, sources)

    def action_timeline(self) -> None:
        """The selected date's incident timeline: every layer on one time axis."""
        from orchwatch.tui.screens.timeline import TimelineScreen

        day = self.selected_date or self._today()
        self.app.push_screen(TimelineScreen(day, context(self).audit.path))

    # --- the walkthrough -----------------------------------------------------------------

    def action_walkthrough(self) -> None:
        """Open the morning checklist of the selected date, on the check last looked at."""
        from orchwatch.tui.screens.daily import DailyScreen, WalkPlace

        today = self._today()
        day = self.selected_date or today - timedelta(days=1)
        if self._walk_place is None:
            self._walk_place = WalkPlace()
        self.app.push_screen(DailyScreen(day, today, self._walk_place), self._show_target)

    def _show_target(self, chosen: tuple[Target, date] | None) -> None:
        """Select the evidence a checklist row points at."""
        if chosen is None:
            return
        target, day = chosen
        if target.pane == "completions":
            self.selected_date = day
            self.completions.show_phase(target.key)
        elif target.pane == "revisions":
            self.revisions.table.focus()
            self.revisions.highlight(target.key or None)
        elif target.pane == "logs":
            self.logs.show_errors_of(target.key)
        else:
            self.notify("Run `orchwatch validate` on the repo for the findings.", markup=False)

    # --- deploys ------------------------------------------------------------------------

    def selected_service(self) -> str | None:
        """The service the deploy key means: the revisions pane's row, else the grid's phase."""
        if isinstance(self.focused, ServiceTable):
            service = self.revisions.service_under_cursor()
            if service is not None:
                return service
        phase = self.completions.phase_under_cursor()
        try:
            return self.config.phase(phase).orchestrator if phase else None
        except KeyError:
            return None

    def deploy_selected(self) -> None:
        """Redeploy the selected service, after a preview and a confirmation."""
        service = self.selected_service()
        if service is None:
            self.notify("Select a service (2) or a phase first.", markup=False)
            return
        view = self.revisions.view
        verdict = view.verdict(service) if view is not None else None
        self.actions.deploy(service, self.selected_date or self._today(), verdict)

    def replay_selected(self) -> None:
        """Replay the lost completions of the grid's phase (else the selected date's first
        phase that has some), after a preview."""
        day = self.selected_date or self._today()
        phase = self.completions.phase_under_cursor()
        status = self.completions.status_of(day).value
        if status is not None and (phase is None or not status.phase(phase).untracked):
            phase = next((p.phase for p in status.phases if p.untracked), phase)
        if phase is None:
            self.notify("Select a phase in the grid (1) first.", markup=False)
            return
        self.actions.prepare_replay(phase, day)

    def action_pubsub(self) -> None:
        """The selected date's Pub/Sub hops: published, delivered, refused, dropped."""
        from orchwatch.tui.screens.pubsub import PubSubScreen

        self.app.push_screen(PubSubScreen(self.selected_date or self._today()))

    def rollback_selected(self) -> None:
        """Move the selected service's traffic to the revision before its failing one,
        when the logs show that one served cleanly; else say why not."""
        service = self.selected_service()
        view = self.revisions.view
        verdict = view.verdict(service) if view is not None and service else None
        if service is None or verdict is None:
            self.notify("Select a service (2) or a phase first.", markup=False)
            return
        choice = rollback_choice(verdict, self.logs.runtime)
        if choice.target is None:
            self.notify(f"No rollback for {service}: {choice.why}.", markup=False, timeout=8)
            return
        self.actions.rollback(choice, verdict)

    # --- focus and zoom ------------------------------------------------------------------

    def action_focus_completions(self) -> None:
        """Move the focus to the completion grid."""
        self._show(self.completions)

    def action_focus_revisions(self) -> None:
        """Move the focus to the revisions pane."""
        self._show(self.revisions)

    def action_focus_logs(self) -> None:
        """Move the focus to the log pane."""
        self._show(self.logs)

    def action_focus_actions(self) -> None:
        """Move the focus to the actions pane (once a run has shown it)."""
        if not self.actions.has_run:
            self.notify(
                "No run yet: the actions pane opens with the first one (v validates, "
                "d redeploys, b rolls back; actions need --allow-actions).",
                markup=False,
                timeout=5,
            )
            return
        self._show(self.actions)

    def action_zoom(self) -> None:
        """Show the focused pane alone, full screen, or all the panes again."""
        if self.compact:
            width, height = self.COMPACT
            self.notify(
                f"The terminal is smaller than {width}x{height}: one pane at a time "
                "(1 2 3 switch panes).",
                title="Zoom",
            )
            return
        self._zoomed = not self._zoomed
        self._arrange()

    @property
    def compact(self) -> bool:
        """Whether the terminal is too small for the panes side by side."""
        width, height = self.COMPACT
        return self.size.width < width or self.size.height < height

    @property
    def alone(self) -> Widget | None:
        """The pane shown alone (zoomed, or on a small terminal), or None when all are."""
        return self._current if self._zoomed or self.compact else None

    def _show(self, pane: Widget) -> None:
        self._current = pane
        self._arrange()
        self.call_after_refresh(self._focus_in, pane)  # once it is displayed

    def on_resize(self, event: Resize) -> None:
        self._arrange()

    def on_descendant_focus(self, event: DescendantFocus) -> None:
        pane = next((p for p in self._arranged if p in event.widget.ancestors_with_self), None)
        if pane is None or pane is self._current:
            return
        if self.alone is None:
            self._current = pane  # all panes shown: the current one is where the focus is
        elif self._current is not None and not pane.display:
            # A hidden pane's widget took the focus as its neighbour was hidden: hand it
            # back to the pane shown.
            self.call_after_refresh(self._focus_in, self._current)

    def _focus_in(self, pane: Widget) -> None:
        if isinstance(pane, Pane | ActionsPane):
            pane.focus_inside()

    @property
    def _arranged(self) -> tuple[Widget, ...]:
        return (self.completions, self.revisions, self.logs, self.actions)

    def _arrange(self) -> None:
        """One pane full screen when zoomed or compact; else all of them, the lower ones
        stacked on a tall terminal. Inline styles on the few containers concerned, not
        classes on the screen: a screen class restyles every widget (200 ms a resize)."""
        alone = self.alone
        stacked = alone is None and self.size.height >= self.TALL
        completions, revisions, logs, actions = self._arranged
        lower = self.query_one("#lower")
        completions.display = alone in (None, completions)
        completions.styles.height = "1fr" if alone is completions else None  # None: the CSS
        completions.styles.max_height = "100%" if alone is completions else None
        lower.display = alone is not completions
        lower.styles.layout = "vertical" if stacked else "horizontal"
        revisions.display = alone in (None, revisions)
        logs.display = alone in (None, logs)
        actions.display = self.actions.has_run and alone in (None, actions)
        revisions.styles.height = "auto" if stacked else None
        revisions.styles.max_height = "40%" if stacked else None
        logs.styles.height = "1fr" if stacked else None
        actions.styles.height = "1fr" if stacked else None

    @on(ActionsPane.Started)
    def _run_started(self, _message: ActionsPane.Started) -> None:
        if self.alone is not None:
            self._current = self.actions  # the run is what the user asked to see
        self._arrange()
