"""The logs pane: the live tail of the pipeline's logs, its tracebacks reassembled and
grouped, with the stream's health; Enter on a group opens its traceback.

Reassembly and grouping run in the pane's worker, off the UI thread. Everything from
the logs is data: it reaches the screen as `rich.text.Text`, never parsed as markup.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from datetime import datetime

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import ContentSwitcher, Input, Static

from orchwatch.analysis.runtime import RuntimeEvents, RuntimeTally, runtime_events
from orchwatch.analysis.tracebacks import Grouper, Reassembler, fingerprint
from orchwatch.model import ErrorGroup, Revision
from orchwatch.sanitize import inert_line
from orchwatch.sources.base import LogBatch, StreamHealth
from orchwatch.tui.panes.base import Pane, PaneContext
from orchwatch.tui.styles import same_look, semantic_style
from orchwatch.tui.widgets.list_filter import ListFilter
from orchwatch.tui.widgets.logs import HEALTH_LIGHT, THRESHOLDS, ErrorGroupTable, LogView


class LogsLoaded(Message):
    """A log poll finished: the batch read, the errors regrouped, and the batch's exits
    and exceptions per revision."""

    def __init__(
        self,
        batch: LogBatch,
        groups: list[ErrorGroup],
        links: dict[str, str],
        now: datetime,
        runtime: RuntimeEvents,
    ) -> None:
        self.batch = batch
        self.groups = groups
        self.links = links
        self.now = now
        self.runtime = runtime
        super().__init__()


class LogsPane(Pane):
    """Grouped errors and the raw tail, with the stream-health light in the status line."""

    LABEL = "logs"

    BINDINGS = [
        Binding("e", "show('groups')", "Errors", id="logs.errors"),
        Binding("l", "show('tail')", "Tail", id="logs.tail"),
        Binding("space", "pause", "Pause/follow", id="logs.pause"),
        Binding("slash", "search", "Filter/search", key_display="/", id="logs.search"),
        Binding("s", "severity", "Severity", id="logs.severity"),
        Binding("f", "service", "Service", id="logs.service"),
        Binding("escape", "clear_search", "Clear search", show=False, id="logs.clear"),
    ]

    health: reactive[StreamHealth] = reactive("stopped")

    def __init__(self, context: PaneContext, *, id: str = "logs") -> None:
        super().__init__(context, id=id)
        self.capacity = context.config.log_capacity
        self.zone = context.config.shown_zone
        self.groups: list[ErrorGroup] = []
        self.group_of_entry: dict[str, str] = {}
        self.notice = ""
        self.revisions: dict[str, list[Revision]] = {}
        """Each service's revisions (from the revisions pane): errors are new since which."""
        self._services: list[str] = []
        self._search_text = ""
        self._status_text: Text | None = None
        self._cursor: int | None = None
        self._lock = threading.Lock()  # the reassembler is fed by one worker at a time
        self._reassembler = Reassembler()
        self._grouper = Grouper()
        self._start: datetime | None = None
        self.runtime = RuntimeTally()
        """Each revision's exits and exceptions in the stream so far (the revisions pane
        judges crash loops on it); fed on the UI thread from each batch's findings."""

    def compose(self) -> ComposeResult:
        yield Static(id="logs-status")
        with ContentSwitcher(initial="groups", id="logs-switcher"):
            yield ErrorGroupTable(id="groups")
            yield LogView(self.capacity, self.zone, id="tail")
        yield ListFilter(id="groups-filter")
        yield Input(placeholder="regex; Enter applies, Esc clears", id="logs-search")

    def on_mount(self) -> None:
        self.query_one("#logs-search", Input).display = False
        self._update_status()

    @property
    def view(self) -> LogView:
        """The tail."""
        return self.query_one(LogView)

    @property
    def mode(self) -> str:
        """ "groups" or "tail"."""
        return self.query_one(ContentSwitcher).current or "groups"

    @property
    def interval(self) -> float:
        return self.context.log_poll_seconds

    def extra_problems(self) -> list[str]:
        return ["log stream reconnecting"] if self.health == "reconnecting" else []

    def fetch(self) -> None:
        self._fetch(self._cursor, dict(self.revisions))

    @work(thread=True, exclusive=True, group="logs", exit_on_error=False)
    def _fetch(self, cursor: int | None, revisions: dict[str, list[Revision]]) -> None:
        logs = self.sources.logs
        if logs is None:
            raise RuntimeError(f"{self.sources.description} has no logs")
        self.sources.advance()
        batch = logs.read_log(cursor, self.capacity if cursor is None else 5000)
        now = self.sources.clock.now()
        with self._lock:  # reassembly and grouping run here, off the UI thread
            if batch.entries and self._start is None:
                self._start = batch.entries[0].timestamp
            events = self._reassembler.feed(batch.entries) + self._reassembler.tick(now)
            self._grouper.add(events)
            links = {i: fingerprint(e) for e in events for i in e.entry_ids}
            groups = self._grouper.groups(revisions, self._start)
        runtime = runtime_events(batch.entries)
        self.post_message(LogsLoaded(batch, groups, links, now, runtime))

    @on(LogsLoaded)
    def _loaded(self, message: LogsLoaded) -> None:
        self._cursor = message.batch.cursor
        self.runtime.extend(message.runtime)
        self.ingest(message.batch, message.groups, message.links, message.now)
        self.loaded()

    def ingest(
        self,
        batch: LogBatch,
        groups: Sequence[ErrorGroup],
        new_links: dict[str, str],
        now: datetime,
    ) -> None:
        """One batch from the log worker: tail lines, regrouped errors, stream health."""
        self.view.append(batch.entries)
        self.group_of_entry.update(new_links)
        for entry in batch.entries:
            if entry.service and entry.service not in self._services:
                self._services.append(entry.service)
        self.groups = list(groups)
        self.query_one(ErrorGroupTable).show(self.groups, now)
        self.health = batch.health
        self.notice = batch.notice
        self._update_status()

    def show_errors_of(self, service: str | None) -> None:
        """Show the error groups, on the first one `service` logged."""
        self.action_show("groups")
        match = next((g for g in self.groups if service in g.services), None)
        if match is not None:
            self.query_one(ErrorGroupTable).select(match.fingerprint)

    def focus_inside(self) -> None:
        """Focus the view shown (the errors or the tail)."""
        self.query_one(f"#{self.mode}").focus()

    @on(ErrorGroupTable.GroupChosen)
    def _group_chosen(self, message: ErrorGroupTable.GroupChosen) -> None:
        group = next((g for g in self.groups if g.fingerprint == message.fingerprint), None)
        if group is not None:
            from orchwatch.tui.screens.traceback import TracebackScreen  # pulls in pygments

            now = self.sources.clock.now()
            self.app.push_screen(TracebackScreen(group, now, self.config.shown_zone))

    def watch_health(self) -> None:
        self._update_status()

    def _update_status(self) -> None:
        if not self.is_mounted:
            return
        glyph, colour = HEALTH_LIGHT[self.health]
        view = self.view
        # Most important first: a narrow pane cuts the end, with an ellipsis, never the
        # stream's state or that the view is paused.
        parts: list[Text | str | tuple[str, str]] = [
            Text(f"{glyph} {self.health}", style=semantic_style(self.app, colour, bold=True)),
        ]
        if not view.following:
            parts.append(
                Text(
                    f" · PAUSED (+{view.unseen} new)",
                    style=semantic_style(self.app, "warning", bold=True),
                )
            )
        parts += [
            f" · /{self._search_text}/" if self._search_text else "",
            f" · {'errors' if self.mode == 'groups' else 'tail'}",
            f" · ≥{view.threshold.lower()}" if view.threshold != "DEFAULT" else "",
            f" · {view.service}" if view.service else "",
        ]
        if self.notice:
            parts.append(Text(f" · {inert_line(self.notice, 120)}", style="dim"))
        status = Text.assemble(*parts, no_wrap=True, overflow="ellipsis")
        if not same_look(self._status_text, status):
            self._status_text = status  # an unchanged line must not cost a relayout
            self.query_one("#logs-status", Static).update(status)
        title = f"Logs · {len(self.groups)} error groups"
        table = self.query_one(ErrorGroupTable)
        if table.words:
            title += f" · /{table.words}/ {table.row_count} shown"
        if self.border_title != title:
            self.border_title = title

    # --- actions -------------------------------------------------------------------------------

    def action_show(self, mode: str) -> None:
        """Switch between the grouped errors and the tail."""
        self.query_one(ContentSwitcher).current = mode
        self.query_one(f"#{mode}").focus()
        self._update_status()

    def action_pause(self) -> None:
        """Pause or resume following the stream."""
        self.view.set_following(not self.view.following)
        self._update_status()

    def action_severity(self) -> None:
        """Cycle the severity threshold: all, info, warning, error."""
        view = self.view
        nxt = THRESHOLDS[(THRESHOLDS.index(view.threshold) + 1) % len(THRESHOLDS)]
        view.set_filters(nxt, view.service, view.search)
        self._update_status()

    def action_service(self) -> None:
        """Cycle the service filter through the services seen so far."""
        view = self.view
        options: list[str | None] = [None, *sorted(self._services)]
        nxt = (
            options[(options.index(view.service) + 1) % len(options)]
            if view.service in options
            else None
        )
        view.set_filters(view.threshold, nxt, view.search)
        self._update_status()

    def action_search(self) -> None:
        """Filter the error groups (in the errors view) or search the tail."""
        if self.mode == "groups":
            self.query_one(ListFilter).open(self.query_one(ErrorGroupTable))
            return
        self.action_show("tail")
        field = self.query_one("#logs-search", Input)
        field.display = True
        field.value = self._search_text
        field.focus()

    def on_resize(self) -> None:
        self.query_one(ErrorGroupTable).refit()

    def action_clear_search(self) -> None:
        """Drop the groups' kept filter, or the tail's search: every row is shown again."""
        if self.mode == "groups":
            if self.query_one(ListFilter).drop_kept():
                self.app.notify("Filter cleared.", timeout=2, markup=False)
            return
        field = self.query_one("#logs-search", Input)
        field.display = False
        self._search_text = ""
        self.view.set_filters(self.view.threshold, self.view.service, None)
        self.view.focus()
        self._update_status()

    @on(ListFilter.WordsChanged)
    def _filtered(self, message: ListFilter.WordsChanged) -> None:
        message.stop()
        self.query_one(ErrorGroupTable).filter(message.words)
        self._update_status()

    @on(Input.Submitted, "#logs-search")
    def _apply_search(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            pattern = re.compile(event.value, re.IGNORECASE) if event.value else None
        except re.error as exc:
            self.app.notify(f"Not a regular expression: {exc}", severity="error", markup=False)
            return
        self._search_text = event.value
        event.input.display = False
        self.view.set_filters(self.view.threshold, self.view.service, pattern)
        self.view.focus()
        self._update_status()

    @on(LogView.JumpToGroup)
    def _jump(self, event: LogView.JumpToGroup) -> None:
        event.stop()
        fingerprint = self.group_of_entry.get(event.insert_id)
        if fingerprint is None:
            self.app.notify("This line is not part of a traceback.", timeout=2)
            return
        self.action_show("groups")
        self.query_one(ErrorGroupTable).select(fingerprint)
