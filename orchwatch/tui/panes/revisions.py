"""The revisions pane: each watched Cloud Run service's verdict, worst first; Enter opens
its revision history."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message

from orchwatch.analysis.revisions import Health
from orchwatch.analysis.runtime import RuntimeTally
from orchwatch.model import Revision
from orchwatch.tui.panes.base import Pane, PaneContext
from orchwatch.tui.widgets.list_filter import ListFilter
from orchwatch.tui.widgets.revisions import ServiceTable

if TYPE_CHECKING:  # gather is loaded by the first read, off the UI thread
    from orchwatch.gather import RevisionsView


class RevisionsLoaded(Message):
    """A revisions refresh finished."""

    def __init__(self, view: RevisionsView) -> None:
        self.view = view
        super().__init__()


class RevisionsPane(Pane):
    """Cloud Run services and their verdicts."""

    LABEL = "revisions"

    BINDINGS = [
        Binding("slash", "filter", "Filter", key_display="/", id="revisions.filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="revisions.clear"),
    ]

    class Updated(Message):
        """New verdicts are on screen (the logs and actions panes use them)."""

        def __init__(self, view: RevisionsView) -> None:
            self.view = view
            super().__init__()

    def __init__(self, context: PaneContext, *, id: str = "revisions") -> None:
        super().__init__(context, id=id)
        self._read: RevisionsView | None = None
        self._runtime: RuntimeTally | None = None
        self._judged_at = -1
        """The tally's change counter when the verdicts were last judged."""
        self.view: RevisionsView | None = None
        """The verdicts read last, judged against the log stream once it has begun:
        judged when either changes, not on every render (a grid keypress re-renders)."""

    def _judge(self) -> None:
        if self._read is not None and self._runtime is not None:
            from orchwatch.gather import judge_runtime

            self.view = judge_runtime(self._read, self._runtime)
        else:
            self.view = self._read

    def judge_with(self, runtime: RuntimeTally) -> None:
        """Judge the serving revisions against the log stream's exits and exceptions
        (again only when the stream brought new ones)."""
        if runtime is not self._runtime or runtime.tallied != self._judged_at:
            self._runtime = runtime
            self._judged_at = runtime.tallied
            self._judge()
            self.render_data()

    def compose(self) -> ComposeResult:
        yield ServiceTable(id="services")
        yield ListFilter(id="revisions-filter")

    def on_resize(self) -> None:
        self.table.refit()

    def action_filter(self) -> None:
        """Narrow the services to those whose name, verdict or reason hold the words."""
        self.query_one(ListFilter).open(self.table)

    def action_clear_filter(self) -> None:
        """Drop a kept filter: every service is shown again."""
        if self.query_one(ListFilter).drop_kept():
            self.app.notify("Filter cleared.", timeout=2, markup=False)

    @on(ListFilter.WordsChanged)
    def _filtered(self, message: ListFilter.WordsChanged) -> None:
        message.stop()
        self.table.words = message.words
        self.render_data()

    def on_mount(self) -> None:
        self.border_title = "Cloud Run revisions"
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.render_data())

    @property
    def table(self) -> ServiceTable:
        """The services table."""
        return self.query_one(ServiceTable)

    def fetch(self) -> None:
        self._fetch()

    @work(thread=True, exclusive=True, group="revisions", exit_on_error=False)
    def _fetch(self) -> None:
        from orchwatch.gather import gather_revisions

        self.sources.advance()
        view = gather_revisions(self.config, self.sources, read_logs=False)
        self.post_message(RevisionsLoaded(view))

    @on(RevisionsLoaded)
    def _loaded(self, message: RevisionsLoaded) -> None:
        self._read = message.view
        self._judge()
        self.render_data()
        self.loaded()
        self.post_message(self.Updated(message.view))

    def render_data(self) -> None:
        """Render the verdicts loaded last."""
        view = self.view
        if view is None:
            return
        self.table.show(view.verdicts, view.missing, view.where)
        bad = sum(1 for v in view.verdicts if v.health is Health.BAD)
        title = f"Cloud Run revisions · {bad} need attention" if bad else "Cloud Run revisions"
        if self.table.words:
            total = len(view.verdicts) + len(view.missing)
            title += f" · /{self.table.words}/ {self.table.row_count} of {total}"
        self.border_title = title

    def highlight(self, service: str | None) -> None:
        """Mark `service` (the grid phase's orchestrator) in the table."""
        self.table.highlight(service)
        self.render_data()

    def revisions_by_service(self) -> dict[str, list[Revision]]:
        """Each service's revisions, for judging which errors are new since a deploy."""
        if self._read is None:
            return {}
        return {v.service: [row.revision for row in v.rows] for v in self._read.verdicts}

    def service_under_cursor(self) -> str | None:
        """The service of the table's cursor row."""
        return self.table.service_under_cursor()

    def focus_inside(self) -> None:
        """Focus the services, on the first one that needs attention."""
        self.table.to_attention()
        self.table.focus()

    @on(ServiceTable.ServiceChosen)
    def _chosen(self, message: ServiceTable.ServiceChosen) -> None:
        view = self.view
        if view is None:
            return
        verdict = view.verdict(message.service)
        if verdict is None:
            self.notify(f"{message.service}: not found in {view.where}", severity="warning")
            return
        from orchwatch.tui.screens.revisions import RevisionHistoryScreen

        self.app.push_screen(RevisionHistoryScreen(verdict, view.now, self.config.shown_zone))
